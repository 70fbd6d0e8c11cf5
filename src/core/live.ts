import type { Logger } from "pino";
import { HubError } from "./errors.js";
import type { HubEvent } from "./event.js";
import type { EventLog } from "./ports.js";
import { compilePattern, type SubjectMatcher } from "./subject.js";

/** Events a live subscriber may have queued before it falls back to reading the log itself. */
export const DEFAULT_SUBSCRIBER_BUFFER_EVENTS = 1024;
/** Events per read of the log, for the tail and for catching up. */
export const DEFAULT_LIVE_PAGE_EVENTS = 1000;
/** How often the tail looks at the log without a commit notice (a safety net). */
export const DEFAULT_LIVE_POLL_MS = 1000;
/**
 * Recently tailed events kept so a subscriber can join the tail without
 * reading again. Small on purpose: every event in the ring outlives V8's
 * young generation, so under a burst the ring's size decides how much
 * garbage piles up in the old generation before a full collection (4096
 * measured +78-118 MB peak RSS in the slow-subscriber test, 1024 +56-74 MB).
 */
export const DEFAULT_LIVE_RING_EVENTS = 1024;

/** Options of {@link createLive}. */
export interface LiveOptions {
  readonly log: EventLog;
  readonly logger: Logger;
  /** @default DEFAULT_SUBSCRIBER_BUFFER_EVENTS */
  readonly bufferEvents?: number;
  /** @default DEFAULT_LIVE_PAGE_EVENTS */
  readonly pageEvents?: number;
  /** @default DEFAULT_LIVE_POLL_MS */
  readonly pollMs?: number;
  /** @default DEFAULT_LIVE_RING_EVENTS */
  readonly ringEvents?: number;
}

/** Live delivery: replay from the log, then the tail, as one stream. */
export interface Live {
  /** Every matching event after `after` (or after now), oldest first, then live; ends when `signal` aborts. */
  subscribe(
    pattern: string,
    after: number | undefined,
    signal?: AbortSignal,
  ): AsyncGenerator<HubEvent>;
  /**
   * The same stream in batches: whatever is ready at once (a page of the
   * log, or the events queued since the consumer last asked). A consumer
   * that writes each batch with one write saves a write per event.
   */
  subscribeBatches(
    pattern: string,
    after: number | undefined,
    signal?: AbortSignal,
  ): AsyncGenerator<EventBatch>;
  /**
   * Something was committed (on another instance, or here by a path that
   * does not call `appended`): read the log now, unless the tail already
   * has every event up to `upTo`.
   */
  wake(upTo?: number): void;
  /**
   * This instance committed these events (sequence order). When they
   * continue the tail exactly they are handed to live subscribers as they
   * are, without reading them back; otherwise the tail reads the log.
   */
  appended(events: readonly HubEvent[]): void;
  /** Open subscriptions. */
  count(): number;
  /** Ends every subscription with `unavailable` and stops the tail. */
  close(): void;
}

/** Events a subscription has ready at once. */
export interface EventBatch {
  /** Oldest first. */
  readonly events: readonly HubEvent[];
  /**
   * The event objects are the live tail's, handed to every live subscriber
   * alike (so work done per object, such as encoding, can be shared);
   * false for events read from the log for this subscriber alone.
   */
  readonly shared: boolean;
}

interface Subscriber {
  readonly matches: SubjectMatcher;
  /** Events queued for the consumer, oldest first. */
  queue: HubEvent[];
  /** Log position up to which this subscriber has every matching event (queued or delivered). */
  position: number;
  /** The buffer overflowed: the tail stopped feeding it; it reads the log once the queue is empty. */
  lagging: boolean;
  wakeConsumer: (() => void) | undefined;
}

/**
 * One tail per instance, shared by every subscriber. The tail reads the log
 * after its cursor whenever woken (a local commit, a notice from another
 * instance, or the poll) and hands each event to the live subscribers whose
 * pattern matches. A subscriber first catches up from the log on its own,
 * then joins the tail at a position the tail has not passed, so the
 * hand-over has no gap; it accepts only events after its position, so no
 * duplicate. A subscriber whose queue is full is dropped from the tail and
 * reads the log at its own pace until it catches up again: it costs the
 * others nothing and its memory stays bounded.
 */
export function createLive(options: LiveOptions): Live {
  const { log, logger } = options;
  const bufferEvents = options.bufferEvents ?? DEFAULT_SUBSCRIBER_BUFFER_EVENTS;
  const pageEvents = options.pageEvents ?? DEFAULT_LIVE_PAGE_EVENTS;
  const ringEvents = options.ringEvents ?? DEFAULT_LIVE_RING_EVENTS;
  const subscribers = new Set<Subscriber>();
  const live = new Set<Subscriber>();
  /** The tail's cursor; undefined while nobody is live. */
  let tailAt: number | undefined;
  let ring: HubEvent[] = [];
  /** The ring holds every event after this position up to tailAt. */
  let ringFrom = 0;
  let tailing = false;
  let tailAgain = false;
  let closed = false;

  /**
   * Throws `out_of_range` when retention pruned events after `position`: a
   * read from there may have skipped some. Asked only when the read does
   * not continue `position` exactly (a gap is what a prune leaves), and
   * after the read: the pruner raises its watermark before it deletes.
   */
  async function checkRetained(
    position: number,
    page: readonly HubEvent[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (log.prunedThrough === undefined) return;
    if (page.length > 0 && (page[0] as HubEvent).sequence === position + 1) return;
    const through = await log.prunedThrough(signal);
    if (through <= position) return;
    const first = (await log.firstSequence?.(signal)) ?? through + 1;
    const reason = `sequence ${position} is older than the first retained sequence ${first} (retention pruned the log through ${through}); resume with after_sequence ${first - 1} or later`;
    throw new HubError("out_of_range", `after_sequence out of range: ${reason}`, {
      param: "after_sequence",
      reason,
    });
  }

  /** Retention pruned the log under the tail: every live subscriber reads on its own (and is told). */
  function dropLive(): void {
    for (const sub of live) {
      sub.lagging = true;
      sub.wakeConsumer?.();
    }
    live.clear();
    tailAt = undefined;
    ring = [];
    ringFrom = 0;
  }

  const poll = setInterval(() => {
    if (live.size > 0) void tail();
  }, options.pollMs ?? DEFAULT_LIVE_POLL_MS);
  poll.unref();

  function offer(sub: Subscriber, event: HubEvent): void {
    if (event.sequence <= sub.position || !sub.matches(event.subject)) return;
    if (sub.queue.length >= bufferEvents) {
      sub.lagging = true;
      live.delete(sub);
    } else {
      sub.queue.push(event);
      sub.position = event.sequence;
    }
    sub.wakeConsumer?.();
  }

  /** Moves the tail over events after its cursor, handing each to the live subscribers. */
  function advance(events: readonly HubEvent[]): void {
    for (const event of events) {
      if (tailAt === undefined || event.sequence <= tailAt) continue;
      tailAt = event.sequence;
      ring.push(event);
      for (const sub of live) offer(sub, event);
    }
    if (ring.length > ringEvents * 2) {
      ringFrom = ring[ring.length - ringEvents - 1]?.sequence ?? ringFrom;
      ring = ring.slice(-ringEvents);
    }
  }

  /**
   * True when `events` are exactly the ones after the tail's cursor: no
   * sequence between (a gap is another instance's commit, or a rolled-back
   * sequence on PostgreSQL, and only the log can tell which). Commit order
   * is sequence order, so nothing before them can still appear.
   */
  function continuesTail(events: readonly HubEvent[]): boolean {
    if (tailAt === undefined || tailing) return false;
    let expected = tailAt + 1;
    for (const event of events) {
      if (event.sequence !== expected) return false;
      expected++;
    }
    return true;
  }

  async function tail(): Promise<void> {
    if (tailing) {
      tailAgain = true;
      return;
    }
    tailing = true;
    try {
      do {
        tailAgain = false;
        while (live.size > 0 && tailAt !== undefined) {
          const from = tailAt;
          const batch = await log.readAfter(from, ">", pageEvents);
          // While the read was out every subscriber may have left and another
          // joined, resetting the cursor to where its catch-up ended, possibly
          // behind `from`: this batch does not continue that cursor, and
          // advancing over it would skip the events between for good.
          if (tailAt !== from) continue;
          if (live.size === 0) break;
          if (batch.length > 0 && (batch[0] as HubEvent).sequence !== from + 1) {
            try {
              await checkRetained(from, batch, undefined);
            } catch (error) {
              if (!(error instanceof HubError) || error.code !== "out_of_range") throw error;
              dropLive();
              break;
            }
            // The same across the pruning check's reads.
            if (tailAt !== from) continue;
            if (live.size === 0) break;
          }
          advance(batch);
          if (batch.length < pageEvents) break;
        }
      } while (tailAgain);
    } catch (error) {
      logger.warn(
        { err: error },
        "reading the log for live subscribers failed; retrying on the next poll",
      );
    } finally {
      tailing = false;
    }
  }

  /** Joins the tail if the subscriber has everything up to where the tail is (or the ring covers the rest). */
  function join(sub: Subscriber, covered: number): boolean {
    // Released while catching up: it must not reach the tail again.
    if (!subscribers.has(sub)) return false;
    sub.lagging = false;
    if (tailAt === undefined || live.size === 0) {
      tailAt = covered;
      ring = [];
      ringFrom = covered;
    } else if (covered < tailAt) {
      // Sequences may have gaps (PostgreSQL skips rolled-back ones): compare with ringFrom, not ring[0].
      if (covered < ringFrom) return false;
      sub.position = covered;
      for (const event of ring) offer(sub, event);
      if (sub.lagging) return false;
      sub.position = Math.max(sub.position, tailAt);
    }
    sub.position = Math.max(sub.position, covered);
    live.add(sub);
    void tail();
    return true;
  }

  function unregister(sub: Subscriber): void {
    subscribers.delete(sub);
    live.delete(sub);
    if (live.size === 0) {
      tailAt = undefined;
      ring = [];
      ringFrom = 0;
    }
  }

  async function* subscribe(pattern: string, after: number | undefined, signal?: AbortSignal) {
    for await (const batch of subscribeBatches(pattern, after, signal)) {
      for (const event of batch.events) {
        if (signal?.aborted) return;
        yield event;
      }
    }
  }

  async function* subscribeBatches(
    pattern: string,
    after: number | undefined,
    signal?: AbortSignal,
  ): AsyncGenerator<EventBatch> {
    if (closed) throw new HubError("unavailable", "the hub is shutting down");
    const last = await log.lastSequence(signal);
    const sub: Subscriber = {
      matches: compilePattern(pattern),
      queue: [],
      // Beyond the end is "live from now".
      position: after === undefined ? last : Math.min(after, last),
      lagging: false,
      wakeConsumer: undefined,
    };
    subscribers.add(sub);
    // Released on the signal itself, not only in `finally`: a consumer can be
    // parked for good in a write that never completes (connect-node waits for
    // 'drain' alone, and a client that dropped the connection never drains),
    // and then never asks for the next event.
    const onAbort = () => {
      unregister(sub);
      sub.wakeConsumer?.();
    };
    signal?.addEventListener("abort", onAbort);
    try {
      let catchingUp = true;
      while (!signal?.aborted && !closed) {
        if (sub.queue.length > 0) {
          // The queue's bound counts what the consumer has not taken yet; a taken batch is its own.
          const events = sub.queue;
          sub.queue = [];
          yield { events, shared: true };
          continue;
        }
        if (catchingUp) {
          // Everything up to `end` is visible once lastSequence says so (commit order is sequence order).
          const end = await log.lastSequence(signal);
          const from = sub.position;
          const page = await log.readAfter(from, pattern, pageEvents, signal);
          // At or past the end there is nothing a prune could have taken (live from now).
          if (from < end) await checkRetained(from, page, signal);
          let visible = 0;
          while (visible < page.length && (page[visible] as HubEvent).sequence <= end) visible++;
          if (visible > 0) {
            sub.position = (page[visible - 1] as HubEvent).sequence;
            yield {
              events: visible === page.length ? page : page.slice(0, visible),
              shared: false,
            };
            if (signal?.aborted || closed) break;
          }
          const lastRead = page[page.length - 1]?.sequence ?? 0;
          const complete = page.length < pageEvents || lastRead > end;
          if (complete && join(sub, Math.max(sub.position, end))) catchingUp = false;
          continue;
        }
        if (sub.lagging) {
          catchingUp = true;
          continue;
        }
        await new Promise<void>((resolve) => {
          sub.wakeConsumer = resolve;
        });
        sub.wakeConsumer = undefined;
      }
      if (closed) throw new HubError("unavailable", "the hub is shutting down");
    } finally {
      signal?.removeEventListener("abort", onAbort);
      unregister(sub);
    }
  }

  return {
    subscribe,
    subscribeBatches,
    wake(upTo) {
      if (live.size === 0) return;
      if (upTo !== undefined && tailAt !== undefined && upTo <= tailAt && !tailing) return;
      void tail();
    },
    appended(events) {
      if (live.size === 0 || events.length === 0) return;
      if (continuesTail(events)) advance(events);
      else void tail();
    },
    count: () => subscribers.size,
    close() {
      closed = true;
      clearInterval(poll);
      for (const sub of subscribers) sub.wakeConsumer?.();
    },
  };
}
