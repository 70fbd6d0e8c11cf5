import { type Logger, pino } from "pino";
import { DEFAULT_HUB_ID, DEFAULT_MAX_PAYLOAD_BYTES } from "../defaults.js";
import { HubError, invalidArgument, throwIfAborted } from "./errors.js";
import {
  type HubEvent,
  type NewEvent,
  newEventId,
  nowTimestamp,
  resolveCorrelationId,
  serializePayload,
} from "./event.js";
import { hubHealth } from "./health.js";
import {
  duplicateResultOf,
  keyScope,
  publishResultOf,
  repeatOf,
  resolveIdempotencyKey,
  splitRepeats,
} from "./idempotency.js";
import { checkBatchSize, parseSubscribeInput, resolveLimit, resolveService } from "./inputs.js";
import { createLive, type EventBatch, type LiveOptions } from "./live.js";
import type { BusStatus, CommitNotices, EventLog, ServiceHealth } from "./ports.js";
import { isValidHubId, resolvePublishSubject, validatePattern } from "./subject.js";
import { parseTraceContext, type TraceContext } from "./trace-context.js";

export interface EventBusOptions {
  /** The event log (source of truth). */
  readonly log: EventLog;
  /** The bus side, for health; absent means NATS is disabled. */
  readonly bus?: BusStatus;
  /** Commit notices between instances on one log; absent for a single instance. */
  readonly notices?: CommitNotices;
  /** @default "local-hub" */
  readonly hubId?: string;
  /** Reported by `info()`. @default "0.0.0" */
  readonly version?: string;
  /** @default DEFAULT_MAX_PAYLOAD_BYTES (1 MiB) */
  readonly maxPayloadBytes?: number;
  /** @default a silent logger */
  readonly logger?: Logger;
  /** Live delivery tuning. */
  readonly live?: Pick<LiveOptions, "bufferEvents" | "pageEvents" | "pollMs" | "ringEvents">;
}

/** What a client asks to publish; values are unchecked, as they arrive from a protocol. */
export interface PublishInput {
  readonly subject: unknown;
  readonly payload?: unknown;
  readonly correlationId?: unknown;
  /** Origin service, 1..64 of `[A-Za-z0-9_.-]`; @default DEFAULT_ORIGIN_SERVICE ("hubbus") */
  readonly service?: unknown;
  /**
   * 1..128 characters; absent or empty = none. A repeat by the same caller
   * answers the first publish's result with `duplicate: true` and stores
   * nothing; the same key with another subject or payload is `already_exists`.
   */
  readonly idempotencyKey?: unknown;
  /**
   * The authenticated caller's name, whose idempotency keys these are;
   * absent = the origin service's. Set by the pipeline, never by a client.
   */
  readonly caller?: string | undefined;
  /**
   * The trace the publish belongs to (the call's span, or the caller's
   * `traceparent`), stored with the event. One that is not a valid W3C
   * context is left out, as W3C asks, not refused. @default none
   */
  readonly traceContext?: TraceContext | undefined;
}

/** The answer to a publish: the event is durably stored. */
export interface PublishResult {
  readonly published: true;
  readonly subject: string;
  readonly correlationId: string;
  readonly eventId: string;
  readonly sequence: number;
  readonly event: HubEvent;
  /**
   * True when this answers a repeat of an idempotency key: nothing was
   * stored, and the fields are the first publish's. @default false
   */
  readonly duplicate?: boolean;
}

export { duplicateResultOf, publishResultOf } from "./idempotency.js";

/** A live subscription: replay after a sequence (when given), then live. */
export interface SubscribeInput {
  /** A pattern; @default ">" */
  readonly subject?: unknown;
  /** Replay every stored matching event after this sequence first; absent = only new events. */
  readonly afterSequence?: unknown;
}

/** A query of stored events; `undefined`/`null` fields take their defaults. */
export interface QueryInput {
  /** A pattern; @default ">" */
  readonly subject?: unknown;
  /** 1..1000; @default 100 */
  readonly limit?: unknown;
  /**
   * Leaves out events whose subject this rejects (a caller's
   * `subscribe.deny`), and still answers up to `limit` events: the log is
   * read further back until enough are kept, or
   * {@link MAX_FILTERED_QUERY_ROWS} rows were read.
   */
  readonly deliverable?: ((subject: string) => boolean) | undefined;
}

/**
 * Most rows a filtered query reads before it answers with what it kept: a
 * caller denied nearly everything a pattern matches gets fewer events
 * rather than a scan of the whole log.
 */
export const MAX_FILTERED_QUERY_ROWS = 100_000;

export interface HubInfo {
  readonly hubId: string;
  readonly version: string;
  readonly status: "running";
}

export interface HubHealth {
  readonly status: "healthy" | "degraded" | "unhealthy";
  readonly services: { readonly nats: ServiceHealth; readonly database: ServiceHealth };
  /** Extra fields (outbox backlog, ...). */
  readonly details: Record<string, string>;
}

/** Counters the core keeps about its own work since it was created (metrics read them). */
export interface HubCoreStats {
  /** Events stored through `publish` and `publishBatch` on this instance. */
  readonly publishedEvents: number;
  /** Events from NATS stored by this instance (duplicates it skipped are not counted). */
  readonly ingestedEvents: number;
}

/** Called with every batch of events appended to the log through this bus, in sequence order. */
export type AppendListener = (events: readonly HubEvent[]) => void;

/**
 * The core as its callers see it: every protocol adapter, the CLI and the
 * library API call this, and nothing else of the core.
 */
export interface EventBus {
  readonly hubId: string;
  readonly maxPayloadBytes: number;
  publish(input: PublishInput, signal?: AbortSignal): Promise<PublishResult>;
  /**
   * Publishes 1..{@link MAX_BATCH_EVENTS} events all or nothing: every event
   * is validated first (one bad event refuses the batch with
   * `invalid_argument` naming `events[i].<field>`), then all are appended in
   * one transaction, so their sequences are contiguous and in input order.
   * Resolves with one result per event, in input order.
   */
  publishBatch(inputs: readonly PublishInput[], signal?: AbortSignal): Promise<PublishResult[]>;
  query(input: QueryInput, signal?: AbortSignal): Promise<HubEvent[]>;
  info(): HubInfo;
  health(signal?: AbortSignal): Promise<HubHealth>;
  /**
   * Streams matching events in sequence order: first the stored ones after
   * `afterSequence` (when given), then live ones, with no gap and no
   * duplicate. Ends when `signal` aborts; throws `unavailable` when the hub closes.
   */
  subscribe(input: SubscribeInput, signal?: AbortSignal): AsyncGenerator<HubEvent>;
  /**
   * The same stream as `subscribe`, in batches of whatever is ready at once,
   * for adapters that write many events with one write.
   */
  subscribeBatches(input: SubscribeInput, signal?: AbortSignal): AsyncGenerator<EventBatch>;
}

/**
 * The core as the hub wires it: the {@link EventBus} plus what only the
 * bridge and the hub's lifecycle use (ingest, append listeners, close).
 */
export interface HubCore extends EventBus {
  /**
   * Stores events that arrived from NATS (already on the bus: never
   * forwarded); duplicates of stored ids are skipped. Returns what was stored.
   */
  ingest(events: readonly NewEvent[], signal?: AbortSignal): Promise<HubEvent[]>;
  /** Open live subscriptions on this instance. */
  subscriptionCount(): number;
  stats(): HubCoreStats;
  /** Ends every live subscription with `unavailable`. */
  close(): void;
  /** Registers a listener for appended events; returns a function that removes it. */
  onAppended(listener: AppendListener): () => void;
}

/** Valid publish subjects remembered per bus; the memo starts over when full. */
const SUBJECT_CACHE_SIZE = 1024;

/** Validates and merges the options of {@link createEventBus}. */
export function parseEventBusOptions(options: EventBusOptions) {
  const hubId = options.hubId ?? DEFAULT_HUB_ID;
  if (!isValidHubId(hubId)) {
    throw new TypeError(`hubId "${hubId}" must be 1..64 of [A-Za-z0-9_-] and not "global"`);
  }
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 2) {
    throw new TypeError(`maxPayloadBytes must be an integer >= 2, got ${maxPayloadBytes}`);
  }
  return {
    log: options.log,
    bus: options.bus,
    hubId,
    version: options.version ?? "0.0.0",
    maxPayloadBytes,
    logger: options.logger ?? pino({ level: "silent" }),
    live: options.live ?? {},
  };
}

/** Creates the core event bus over a log. */
export function createEventBus(options: EventBusOptions): HubCore {
  const {
    log,
    bus,
    hubId,
    version,
    maxPayloadBytes,
    logger,
    live: liveOptions,
  } = parseEventBusOptions(options);
  const listeners = new Set<AppendListener>();
  let publishedEvents = 0;
  let ingestedEvents = 0;
  const live = createLive({ log, logger, ...liveOptions });

  // Other instances on the same log learn of this one's commits from a notice
  // carrying the last sequence committed, coalesced to one per turn of the
  // event loop. A tail that already has that sequence (this instance hears its
  // own notices) reads nothing.
  const notices = options.notices;
  const stopListening = notices?.listen((upTo) => live.wake(upTo));
  let noticePending = false;
  let noticeUpTo = 0;
  function announce(events: readonly HubEvent[]): void {
    if (notices === undefined || events.length === 0) return;
    const last = (events[events.length - 1] as HubEvent).sequence;
    if (last > noticeUpTo) noticeUpTo = last;
    if (noticePending) return;
    noticePending = true;
    setImmediate(() => {
      noticePending = false;
      notices.announce(noticeUpTo);
    });
  }

  // Publishers repeat a few subjects: remember the valid ones (resolving is
  // pure given the hub id) instead of splitting and checking each again.
  const resolvedSubjects = new Map<string, string>();

  function resolveSubject(subject: unknown, param: string): string {
    if (typeof subject === "string") {
      const known = resolvedSubjects.get(subject);
      if (known !== undefined) return known;
    }
    const full = resolvePublishSubject(subject, hubId, param);
    if (resolvedSubjects.size >= SUBJECT_CACHE_SIZE) resolvedSubjects.clear();
    resolvedSubjects.set(subject as string, full);
    return full;
  }

  /**
   * Validates one event of a batch into a NewEvent; errors name the field
   * under `prefix` (`events[3].subject`). The service is checked by the
   * caller, once: adapters take it from a per-call header, not per event.
   */
  function toNewEvent(
    input: PublishInput,
    prefix: string,
    service: string,
    scope: string,
  ): NewEvent {
    if (typeof input !== "object" || input === null) {
      throw invalidArgument(prefix.slice(0, -1), "must be an event object");
    }
    const key = resolveIdempotencyKey(input.idempotencyKey, `${prefix}idempotency_key`);
    const event: { -readonly [K in keyof NewEvent]: NewEvent[K] } = {
      id: newEventId(),
      subject: resolveSubject(input.subject, `${prefix}subject`),
      origin: { hubId, service },
      correlationId: resolveCorrelationId(input.correlationId, `${prefix}correlation_id`),
      payloadJson: serializePayload(input.payload, maxPayloadBytes, `${prefix}payload`),
      // serializePayload checked it is a plain object, or stood in "{}" for none.
      payload: (input.payload ?? {}) as NewEvent["payload"],
      timestamp: nowTimestamp(),
    };
    if (key !== undefined) event.idempotency = { scope, key };
    // Added only when there is one: an untraced publish keeps the event's usual shape.
    if (input.traceContext !== undefined) {
      const traceContext = traceOf(input.traceContext);
      if (traceContext !== undefined) event.traceContext = traceContext;
    }
    return event;
  }

  /**
   * The input's trace context checked again: the pipeline's is valid, but a
   * library caller's is unchecked, and it ends up in a NATS header, where a
   * line break would make every forward of the event fail.
   */
  function traceOf(value: unknown): TraceContext | undefined {
    if (value === null || typeof value !== "object") return undefined;
    const { traceparent, tracestate } = value as Record<string, unknown>;
    return parseTraceContext(traceparent, tracestate);
  }

  function notify(events: readonly HubEvent[]): void {
    live.appended(events);
    announce(events);
    for (const listener of listeners) {
      try {
        listener(events);
      } catch (error) {
        logger.error({ err: error }, "append listener failed");
      }
    }
  }

  return {
    hubId,
    maxPayloadBytes,

    async publish(input, signal) {
      throwIfAborted(signal);
      const service = resolveService(input.service);
      const event = toNewEvent(input, "", service, keyScope(input.caller, service));
      let stored: HubEvent[];
      try {
        stored = await log.append([event], signal);
      } catch (error) {
        throw HubError.from(error);
      }
      const first = stored[0];
      if (!first) throw new HubError("internal", "log returned no event");
      // Another id: the log already held an event with this idempotency key.
      if (first.id !== event.id) return repeatOf(event, first, "idempotency_key");
      publishedEvents++;
      notify(stored);
      return publishResultOf(first);
    },

    async publishBatch(inputs, signal) {
      throwIfAborted(signal);
      checkBatchSize(inputs);
      // Services usually repeat (one header per call): check each distinct value once.
      const services = new Map<unknown, string>();
      const events = inputs.map((input, i) => {
        const raw = (input as PublishInput | null)?.service;
        let service = services.get(raw);
        if (service === undefined) {
          service = resolveService(raw);
          services.set(raw, service);
        }
        const caller = (input as PublishInput | null)?.caller;
        return toNewEvent(input, `events[${i}].`, service, keyScope(caller, service));
      });
      const { fresh, answers } = await splitRepeats(log, events, signal);
      let stored: HubEvent[] = [];
      try {
        // One append is one group-commit submission, which is never split
        // across transactions: the batch commits whole or not at all.
        if (fresh.length > 0) stored = await log.append(fresh, signal);
      } catch (error) {
        throw HubError.from(error);
      }
      // Fresh UUIDv7 ids are never duplicates, so the log returns every event.
      if (stored.length !== fresh.length) {
        throw new HubError("internal", `log stored ${stored.length} of ${fresh.length} events`);
      }
      // An event of another id: another instance stored the key between the
      // look-up and the append (the rest of the batch is stored by then).
      const added = stored.filter((e, i) => e.id === (fresh[i] as NewEvent).id);
      const freshResults = stored.map((e, i) =>
        e.id === (fresh[i] as NewEvent).id
          ? publishResultOf(e)
          : repeatOf(fresh[i] as NewEvent, e, "idempotency_key"),
      );
      publishedEvents += added.length;
      if (added.length > 0) notify(added);
      return answers.map((answer) => {
        if (typeof answer !== "number") return answer;
        if (answer >= 0) return freshResults[answer] as PublishResult;
        // A repeat within the batch: the earlier entry's result.
        const first = freshResults[-1 - answer] as PublishResult;
        return duplicateResultOf(first.event);
      });
    },

    async ingest(events, signal) {
      let stored: HubEvent[];
      try {
        stored = await log.append(
          events.map((e) => ({ ...e, ingested: true })),
          signal,
        );
      } catch (error) {
        throw HubError.from(error);
      }
      ingestedEvents += stored.length;
      if (stored.length > 0) notify(stored);
      return stored;
    },

    async query(input, signal) {
      throwIfAborted(signal);
      const pattern = input.subject === undefined || input.subject === null ? ">" : input.subject;
      validatePattern(pattern);
      const limit = resolveLimit(input.limit);
      const { deliverable } = input;
      try {
        if (deliverable === undefined) return await log.query(pattern as string, limit, signal);
        // Newest first, so a longer read's head is the shorter read: read 4x further each time.
        for (let rows = limit; ; rows = Math.min(rows * 4, MAX_FILTERED_QUERY_ROWS)) {
          const read = await log.query(pattern as string, rows, signal);
          const kept = read.filter((event) => deliverable(event.subject));
          if (kept.length >= limit || read.length < rows || rows >= MAX_FILTERED_QUERY_ROWS) {
            return kept.length > limit ? kept.slice(0, limit) : kept;
          }
        }
      } catch (error) {
        throw HubError.from(error);
      }
    },

    subscribe(input, signal) {
      const { pattern, after } = parseSubscribeInput(input);
      return live.subscribe(pattern, after, signal);
    },

    subscribeBatches(input, signal) {
      const { pattern, after } = parseSubscribeInput(input);
      return live.subscribeBatches(pattern, after, signal);
    },

    subscriptionCount: () => live.count(),

    stats: () => ({ publishedEvents, ingestedEvents }),

    close() {
      stopListening?.();
      live.close();
    },

    info() {
      return { hubId, version, status: "running" };
    },

    health: (signal) => hubHealth({ log, bus, logger, subscriptions: () => live.count() }, signal),

    onAppended(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
