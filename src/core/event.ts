import { V7Generator } from "uuidv7";
import { invalidArgument } from "./errors.js";
import type { TraceContext } from "./trace-context.js";

/** A JSON value as it appears in a payload. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };
/** A JSON object: the only shape a payload may have. */
export type JsonObject = { [key: string]: JsonValue };

/** The hub and service that published an event. */
export interface Origin {
  readonly hubId: string;
  readonly service: string;
}

/** An event as stored in the log (contract section 2). */
export interface HubEvent {
  /** UUIDv7. */
  readonly id: string;
  readonly subject: string;
  readonly origin: Origin;
  readonly correlationId: string;
  readonly payload: JsonObject;
  /** RFC 3339 UTC with milliseconds, e.g. `2025-11-05T12:00:00.000Z`. */
  readonly timestamp: string;
  /** Position in the hub's log; strictly increasing. */
  readonly sequence: number;
}

/**
 * An event before the log has given it a sequence. The payload travels
 * serialised: it was serialised once to check its size, and the store and
 * NATS both want it as text.
 */
export interface NewEvent {
  readonly id: string;
  readonly subject: string;
  readonly origin: Origin;
  readonly correlationId: string;
  readonly payloadJson: string;
  /**
   * The object `payloadJson` was made from, when the caller has it: the log
   * returns it in the stored event instead of parsing `payloadJson` again.
   * It must serialise to `payloadJson` and not change afterwards.
   */
  readonly payload?: JsonObject;
  readonly timestamp: string;
  /** Arrived from NATS: it is already on the bus and is never forwarded. @default false */
  readonly ingested?: boolean;
  /**
   * The publisher's idempotency key and whose it is: the log stores at most
   * one event per (scope, key). Absent for events published without a key.
   */
  readonly idempotency?: IdempotencyKey;
  /**
   * The trace the event belongs to: the publishing call's span (or its
   * caller's context), or the ingest of the message it came in. Stored with
   * it, so the relay, which forwards after the call ended, continues the trace.
   */
  readonly traceContext?: TraceContext;
}

/**
 * A stored event as the relay forwards it: with the trace context stored
 * beside it. Only the outbox reads it; queries and subscribers never see it.
 */
export interface OutboxEvent extends HubEvent {
  readonly traceContext?: TraceContext;
  /** The payload as stored, when the reader has it: the bus sends it as it is. */
  readonly payloadJson?: string;
}

/** An idempotency key as the log stores it: unique per scope. */
export interface IdempotencyKey {
  /** Whose key it is: `caller:<authenticated name>`, else `service:<origin service>`. */
  readonly scope: string;
  /** 1..{@link MAX_IDEMPOTENCY_KEY_LENGTH} characters, as the publisher gave it. */
  readonly key: string;
}

/** Longest idempotency key a publisher may give. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

/** Longest correlation id a caller may give. */
export const MAX_CORRELATION_ID_LENGTH = 128;

/** 32-bit words of randomness fetched at once for UUIDv7s (16 KiB). */
const RANDOM_WORDS = 4096;

/**
 * uuidv7's default source asks `crypto.getRandomValues` for 8 words at a
 * time, one system call every two or three ids; publishing takes two ids
 * per event (event and correlation), so a larger buffer is worth its 16 KiB.
 */
function createBufferedRandom(): { nextUint32(): number } {
  const words = new Uint32Array(RANDOM_WORDS);
  let cursor = RANDOM_WORDS;
  return {
    nextUint32() {
      if (cursor === RANDOM_WORDS) {
        crypto.getRandomValues(words);
        cursor = 0;
      }
      return words[cursor++] as number;
    },
  };
}

const idGenerator = new V7Generator(createBufferedRandom());

/** A new UUIDv7: unique, ordered by creation time. */
export function newEventId(): string {
  return idGenerator.generate().toString();
}

/** Validates a caller's correlation id, or generates one when none was given. */
export function resolveCorrelationId(value: unknown, param = "correlation_id"): string {
  if (value === undefined || value === null || value === "") return newEventId();
  if (typeof value !== "string") throw invalidArgument(param, "must be a string");
  if (value.length > MAX_CORRELATION_ID_LENGTH) {
    throw invalidArgument(param, `longer than ${MAX_CORRELATION_ID_LENGTH} characters`);
  }
  // It travels in a NATS header: control characters would break the header block.
  if (hasControlCharacter(value))
    throw invalidArgument(param, "must not contain control characters");
  return value;
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that a payload is a JSON object no larger than `maxBytes` when
 * serialised, and returns its serialisation. `undefined`/`null` mean `{}`.
 */
export function serializePayload(value: unknown, maxBytes: number, param = "payload"): string {
  if (value === undefined || value === null) return "{}";
  if (!isPlainObject(value)) {
    const kind = Array.isArray(value) ? "an array" : typeof value;
    throw invalidArgument(param, `must be a JSON object, not ${kind}`);
  }
  let json: string;
  try {
    // A replacer function costs a call out of the serialiser for every
    // value; most payloads (all that came from JSON.parse) hold nothing it
    // could reject, which one walk in JavaScript finds out for less.
    json =
      countPlainJson(value, maxBytes, 0) >= 0
        ? JSON.stringify(value)
        : JSON.stringify(value, rejectNonJson);
  } catch (error) {
    throw invalidArgument(
      param,
      error instanceof Error ? error.message : "not serialisable as JSON",
    );
  }
  // UTF-8 length is at most 3 bytes per UTF-16 unit: skip the exact count when clearly small.
  const bytes = json.length * 3 <= maxBytes ? json.length : Buffer.byteLength(json, "utf8");
  if (bytes > maxBytes) {
    throw invalidArgument(
      param,
      `${bytes} bytes serialised; the limit is ${maxBytes} (MAX_PAYLOAD_BYTES)`,
    );
  }
  return json;
}

/** Deeper payloads skip the walk: its recursion must not run out of stack before JSON.stringify does. */
const MAX_WALK_DEPTH = 64;

/**
 * Walks a value that `JSON.stringify` serialises exactly as it is: strings,
 * finite numbers, booleans, null, undefined, and arrays and plain objects of
 * those. Returns what is left of `budget` (one per value visited), or -1 for
 * anything else (NaN, a bigint, a Date, a class instance, a `toJSON`…) and
 * for payloads nested deeper than {@link MAX_WALK_DEPTH}; those go through
 * the replacer, for its verdict and its error message as before. Nearly
 * every value adds a byte to the serialisation, so a payload that runs out
 * of budget is too large anyway; the budget also ends cycles and shared
 * subtrees, which would otherwise be walked without bound.
 */
function countPlainJson(value: unknown, budget: number, depth: number): number {
  if (--budget < 0) return -1;
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return budget;
    case "number":
      return Number.isFinite(value) ? budget : -1;
    case "object": {
      if (value === null) return budget;
      if (depth === MAX_WALK_DEPTH) return -1;
      const proto = Object.getPrototypeOf(value);
      if (Array.isArray(value)) {
        if (proto !== Array.prototype) return -1;
        for (let i = 0; i < value.length && budget >= 0; i++) {
          budget = countPlainJson(value[i], budget, depth + 1);
        }
        return budget;
      }
      if (proto !== Object.prototype && proto !== null) return -1;
      const object = value as Record<string, unknown>;
      // Own enumerable string keys: what JSON.stringify serialises.
      for (const key of Object.keys(object)) {
        budget = countPlainJson(object[key], budget, depth + 1);
        if (budget < 0) return -1;
      }
      return budget;
    }
    default:
      return -1;
  }
}

function rejectNonJson(_key: string, value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new Error(`must be JSON: ${value} is not a JSON number`);
  }
  if (typeof value === "bigint" || typeof value === "function" || typeof value === "symbol") {
    throw new Error(`must be JSON: a ${typeof value} is not a JSON value`);
  }
  return value;
}

let lastTimestampMs = -1;
let lastTimestamp = "";

/** The current time as the contract's timestamp string. */
export function nowTimestamp(): string {
  // Events arrive many per millisecond under load: format each millisecond once.
  const ms = Date.now();
  if (ms !== lastTimestampMs) {
    lastTimestamp = new Date(ms).toISOString();
    lastTimestampMs = ms;
  }
  return lastTimestamp;
}
