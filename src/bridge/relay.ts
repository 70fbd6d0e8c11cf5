import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Outbox, OutboxEvent, Tracer } from "../core/index.js";
import type { Transport } from "./transport.js";

/** Events read from the outbox and published per round. */
export const DEFAULT_RELAY_BATCH = 256;
/** How long a relay's lease on the outbox lasts; renewed at a third of it. */
export const DEFAULT_RELAY_LEASE_MS = 10_000;
/** How often an idle relay looks at the outbox (other instances' appends, a lost lease). */
export const DEFAULT_RELAY_POLL_MS = 1000;
/** Longest wait between retries while NATS refuses events. */
export const DEFAULT_RELAY_MAX_BACKOFF_MS = 5000;

/** Options of {@link createRelay}. */
export interface RelayOptions {
  readonly outbox: Outbox;
  /** Resolves to the transport once connected. */
  readonly transport: () => Transport | undefined;
  readonly logger: Logger;
  /** @default DEFAULT_RELAY_BATCH */
  readonly batch?: number;
  /** @default DEFAULT_RELAY_LEASE_MS */
  readonly leaseMs?: number;
  /** @default DEFAULT_RELAY_POLL_MS */
  readonly pollMs?: number;
  /** @default DEFAULT_RELAY_MAX_BACKOFF_MS */
  readonly maxBackoffMs?: number;
  /**
   * Makes a span per forwarded event that carries a trace, a child of the
   * publishing call's; its context goes in the message's headers. Absent:
   * the stored trace context is sent as it is. @default none
   */
  readonly tracer?: Tracer | undefined;
}

/** Forwards the outbox to the bus in sequence order. */
export interface Relay {
  /** Wakes the relay now (an event was appended here). */
  wake(): void;
  /** Events forwarded by this relay since start. */
  forwarded(): number;
  /** Stops after the round in flight and gives the lease up. */
  stop(): Promise<void>;
}

/**
 * The outbox relay. One relay among all instances on a log holds the lease;
 * it reads unforwarded events in sequence order, publishes them pipelined
 * and waits for every acknowledgement, then moves the cursor past the
 * longest acknowledged prefix. A failed publish is retried with backoff from
 * the cursor: events already stored by JetStream come back as duplicates of
 * their Nats-Msg-Id and are dropped there. A relay that crashes keeps
 * nothing: its successor starts from the cursor.
 */
export function createRelay(options: RelayOptions): Relay {
  const { outbox, logger } = options;
  const batch = options.batch ?? DEFAULT_RELAY_BATCH;
  const leaseMs = options.leaseMs ?? DEFAULT_RELAY_LEASE_MS;
  const pollMs = options.pollMs ?? DEFAULT_RELAY_POLL_MS;
  const maxBackoffMs = options.maxBackoffMs ?? DEFAULT_RELAY_MAX_BACKOFF_MS;
  const { tracer } = options;
  const owner = `relay-${randomUUID()}`;
  let stopped = false;
  let leader = false;
  let leaseRenewedAt = 0;
  let forwardedCount = 0;
  let failures = 0;
  let wakeUp: (() => void) | undefined;
  let woken = false;

  function sleep(delayMs: number): Promise<void> {
    if (woken) {
      woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, delayMs);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        woken = false;
        resolve();
      }
      wakeUp = done;
    });
  }

  async function holdLease(): Promise<boolean> {
    const now = Date.now();
    if (leader && now - leaseRenewedAt < leaseMs / 3) return true;
    const had = leader;
    leader = await outbox.claim(owner, leaseMs);
    if (leader) leaseRenewedAt = now;
    if (leader !== had)
      logger.info(
        { owner },
        leader ? "outbox relay took the lease" : "outbox relay lost the lease",
      );
    return leader;
  }

  /**
   * Publishes one event: with a forward span when tracing is on and the
   * event's trace is sampled, else with its stored context as it is.
   */
  function forward(transport: Transport, event: OutboxEvent): Promise<void> {
    const stored = event.traceContext;
    if (tracer === undefined || stored === undefined) return transport.publish(event, stored);
    const span = tracer.start("forward", "producer", stored);
    if (span === undefined) return transport.publish(event, stored);
    const attributes = {
      "messaging.system": "nats",
      "messaging.operation.type": "send",
      "messaging.destination.name": event.subject,
      "messaging.message.id": event.id,
      "hubbus.sequence": event.sequence,
    };
    return transport.publish(event, span.context).then(
      () => span.end(attributes),
      (error: unknown) => {
        span.end(attributes, error instanceof Error ? error.message : String(error));
        throw error;
      },
    );
  }

  /** One round: returns true when there may be more to forward at once. */
  async function round(): Promise<boolean> {
    const transport = options.transport();
    if (!transport || !(await holdLease())) return false;
    const events = await outbox.pending(batch);
    if (events.length === 0) return false;
    const results = await Promise.allSettled(events.map((event) => forward(transport, event)));
    let acknowledged = 0;
    while (acknowledged < results.length && results[acknowledged]?.status === "fulfilled")
      acknowledged++;
    if (acknowledged > 0) {
      const last = events[acknowledged - 1]?.sequence as number;
      if (!(await outbox.markForwarded(owner, last))) {
        leader = false;
        return false;
      }
      forwardedCount += acknowledged;
    }
    if (acknowledged < results.length) {
      const failed = results[acknowledged] as PromiseRejectedResult;
      throw failed.reason;
    }
    failures = 0;
    return events.length === batch;
  }

  const loop = (async () => {
    while (!stopped) {
      let more = false;
      try {
        more = await round();
      } catch (error) {
        failures++;
        const delay = Math.min(maxBackoffMs, 100 * 2 ** Math.min(failures, 10));
        if (failures === 1 || failures % 20 === 0) {
          logger.warn(
            { err: error, failures, retryInMs: delay },
            "forwarding to NATS failed; will retry",
          );
        }
        await sleep(delay);
        continue;
      }
      if (!more) await sleep(pollMs);
    }
  })();

  return {
    wake() {
      if (wakeUp) wakeUp();
      else woken = true;
    },
    forwarded: () => forwardedCount,
    async stop() {
      stopped = true;
      wakeUp?.();
      await loop;
      if (leader) await outbox.release(owner).catch(() => {});
    },
  };
}
