import { DEFAULT_ORIGIN_SERVICE } from "../defaults.js";
import { invalidArgument } from "./errors.js";
import type { SubscribeInput } from "./event-bus.js";
import { validatePattern } from "./subject.js";

/*
 * The checks of the client port's inputs that need nothing of a bus: each
 * throws invalid_argument naming the field, as every protocol reports it.
 */

/** Events a query returns when the caller names no limit. */
export const DEFAULT_QUERY_LIMIT = 100;
/** Most events one query may return. */
export const MAX_QUERY_LIMIT = 1000;
/**
 * Most events one `publishBatch` call takes: the log's default group-commit
 * batch, so a full batch is one transaction of the usual size.
 */
export const MAX_BATCH_EVENTS = 1000;

/** Options of {@link createEventBus}. */
const SERVICE_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** True for an acceptable origin service name: 1..64 of `[A-Za-z0-9_.-]`. */
export function isValidServiceName(name: string): boolean {
  return SERVICE_RE.test(name);
}

export function resolveService(value: unknown): string {
  if (value === undefined || value === null || value === "") return DEFAULT_ORIGIN_SERVICE;
  if (typeof value !== "string" || !SERVICE_RE.test(value)) {
    throw invalidArgument("service", "must be 1..64 characters of [A-Za-z0-9_.-]");
  }
  return value;
}

/**
 * Throws `invalid_argument` (param `events`) unless `events` is an array of
 * 1..{@link MAX_BATCH_EVENTS} entries. Exported so an adapter can check the
 * size before converting the entries.
 */
export function checkBatchSize(events: unknown): void {
  if (!Array.isArray(events)) throw invalidArgument("events", "must be an array of events");
  if (events.length === 0) throw invalidArgument("events", "must hold at least one event");
  if (events.length > MAX_BATCH_EVENTS) {
    throw invalidArgument(
      "events",
      `holds ${events.length} events; at most ${MAX_BATCH_EVENTS} per batch`,
    );
  }
}

export function resolveLimit(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_QUERY_LIMIT;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw invalidArgument("limit", "must be an integer");
  }
  if (value < 1 || value > MAX_QUERY_LIMIT) {
    throw invalidArgument("limit", `must be between 1 and ${MAX_QUERY_LIMIT}, got ${value}`);
  }
  return value;
}

/** Checks a subscription's pattern and starting point; throws invalid_argument naming the field. */
export function parseSubscribeInput(input: SubscribeInput): {
  pattern: string;
  after: number | undefined;
} {
  const pattern = input.subject === undefined || input.subject === null ? ">" : input.subject;
  validatePattern(pattern);
  const after = input.afterSequence;
  if (
    after !== undefined &&
    after !== null &&
    (typeof after !== "number" || !Number.isSafeInteger(after) || after < 0)
  ) {
    throw invalidArgument("after_sequence", "must be a whole number >= 0");
  }
  return { pattern: pattern as string, after: (after ?? undefined) as number | undefined };
}
