import { uuidv7 } from "uuidv7";
import { invalidArgument } from "./errors.js";

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
}

/** Largest serialised payload accepted unless configured otherwise: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Longest correlation id a caller may give. */
export const MAX_CORRELATION_ID_LENGTH = 128;

/** A new UUIDv7: unique, ordered by creation time. */
export function newEventId(): string {
  return uuidv7();
}

/** Validates a caller's correlation id, or generates one when none was given. */
export function resolveCorrelationId(value: unknown, param = "correlation_id"): string {
  if (value === undefined || value === null || value === "") return uuidv7();
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
    json = JSON.stringify(value, rejectNonJson);
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

function rejectNonJson(_key: string, value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new Error(`must be JSON: ${value} is not a JSON number`);
  }
  if (typeof value === "bigint" || typeof value === "function" || typeof value === "symbol") {
    throw new Error(`must be JSON: a ${typeof value} is not a JSON value`);
  }
  return value;
}

/** The current time as the contract's timestamp string. */
export function nowTimestamp(): string {
  return new Date().toISOString();
}
