// Idempotent publishes (contract §9): the key a publish carries, whose it
// is, and what a repeat of it answers. The log's unique (scope, key) index
// decides races; these decide what the caller is told.
import { HubError, invalidArgument } from "./errors.js";
import { type HubEvent, MAX_IDEMPOTENCY_KEY_LENGTH, type NewEvent } from "./event.js";
import type { PublishResult } from "./event-bus.js";
import type { EventLog } from "./ports.js";

/** The answer to a publish of `event`, once the log stored it. */
export function publishResultOf(event: HubEvent): PublishResult {
  return {
    published: true,
    subject: event.subject,
    correlationId: event.correlationId,
    eventId: event.id,
    sequence: event.sequence,
    event,
  };
}

/** The answer to a repeat of the idempotency key whose first publish stored `event`. */
export function duplicateResultOf(event: HubEvent): PublishResult {
  return { ...publishResultOf(event), duplicate: true };
}

export function resolveIdempotencyKey(value: unknown, param: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string" || value.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalidArgument(param, `must be 1..${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  return value;
}

/** Whose idempotency keys a publish's are: the authenticated caller's, else its origin service's. */
export function keyScope(caller: string | undefined, service: string): string {
  return caller === undefined ? `service:${service}` : `caller:${caller}`;
}

/**
 * The answer to a repeat of `event`'s idempotency key, whose first publish
 * stored `first`; `already_exists` (naming `param`) when the repeat asks for
 * another subject or payload.
 */
export function repeatOf(event: NewEvent, first: HubEvent, param: string): PublishResult {
  if (first.subject !== event.subject || JSON.stringify(first.payload) !== event.payloadJson) {
    const reason = `was used for another ${first.subject !== event.subject ? "subject" : "payload"} (event ${first.id}, sequence ${first.sequence})`;
    throw new HubError("already_exists", `${param} ${reason}`, { param, reason });
  }
  return duplicateResultOf(first);
}

/**
 * Sorts a batch's events into those to append and those that repeat a
 * key: of this batch (an earlier entry) or of the log. Done before the
 * append, so that a key reused for another event refuses the whole batch
 * before any of it is stored.
 */
export async function splitRepeats(
  log: Pick<EventLog, "findKeyed">,
  events: readonly NewEvent[],
  signal: AbortSignal | undefined,
): Promise<{ fresh: NewEvent[]; answers: (PublishResult | number)[] }> {
  const keyed = events.filter((e) => e.idempotency !== undefined);
  const answers: (PublishResult | number)[] = new Array(events.length);
  if (keyed.length === 0) {
    events.forEach((_, i) => {
      answers[i] = i;
    });
    return { fresh: [...events], answers };
  }
  const scope = (keyed[0] as NewEvent).idempotency?.scope as string;
  let stored: Map<string, HubEvent>;
  try {
    stored =
      (await log.findKeyed?.(
        scope,
        keyed.map((e) => e.idempotency?.key as string),
        signal,
      )) ?? new Map();
  } catch (error) {
    throw HubError.from(error);
  }
  const fresh: NewEvent[] = [];
  const firstInBatch = new Map<string, number>();
  events.forEach((event, i) => {
    const key = event.idempotency?.key;
    const param = `events[${i}].idempotency_key`;
    if (key === undefined) {
      answers[i] = fresh.push(event) - 1;
      return;
    }
    const before = stored.get(key);
    if (before !== undefined) {
      answers[i] = repeatOf(event, before, param);
      return;
    }
    const earlier = firstInBatch.get(key);
    if (earlier !== undefined) {
      const first = events[earlier] as NewEvent;
      if (first.subject !== event.subject || first.payloadJson !== event.payloadJson) {
        throw new HubError(
          "already_exists",
          `${param} repeats events[${earlier}]'s key for another event`,
          {
            param,
            reason: `repeats events[${earlier}]'s key for another subject or payload`,
          },
        );
      }
      // Answered as a repeat of the earlier entry once that is stored.
      answers[i] = -1 - (answers[earlier] as number);
      return;
    }
    firstInBatch.set(key, i);
    answers[i] = fresh.push(event) - 1;
  });
  return { fresh, answers };
}
