import { randomUUID } from "node:crypto";
import { type Logger, pino } from "pino";
import { decodeBody, HEADER, type Transport, type Unsubscribe } from "../bridge/index.js";
import {
  FEDERATION_METRICS_PREFIX,
  type HubCore,
  type HubDirectory,
  type HubEvent,
  type HubListing,
  type Outbox,
  PRESENCE_ANNOUNCED_SUBJECT,
  PRESENCE_DEPARTED_SUBJECT,
  PRESENCE_HEARTBEAT_SUBJECT,
  PRESENCE_PATTERN,
} from "../core/index.js";
import {
  DEFAULT_FEDERATION_METRICS_INTERVAL_MS,
  DEFAULT_PRESENCE_GONE_RETENTION_MS,
  DEFAULT_PRESENCE_INTERVAL_MS,
  DEFAULT_PRESENCE_TIMEOUT_MS,
} from "../defaults.js";
import { createRegistry, type Presence, presenceOf, presencePayload } from "./registry.js";

/** How long a clean stop waits for JetStream to take the departure. */
export const DEFAULT_DEPART_TIMEOUT_MS = 2_000;
/** Presence events read from the log at start to seed the registry. */
const SEED_EVENTS = 1000;

/** Options of {@link createFederation}. */
export interface FederationOptions {
  readonly core: HubCore;
  /** The bus once connected (the link's). */
  readonly transport: () => Transport | undefined;
  /** Publish presence and metrics and listen to others; false lists this hub alone (no NATS). */
  readonly active: boolean;
  /** Its backlog goes into the federation metrics. */
  readonly outbox?: Pick<Outbox, "backlog">;
  /** Events this instance forwarded (the bridge's counter). */
  readonly forwarded?: () => number;
  /** Where others reach this hub (`PUBLIC_URL`). @default "" */
  readonly publicUrl?: string;
  /** @default DEFAULT_PRESENCE_INTERVAL_MS (5 s) */
  readonly presenceIntervalMs?: number;
  /** @default DEFAULT_PRESENCE_TIMEOUT_MS (30 s) */
  readonly presenceTimeoutMs?: number;
  /** @default DEFAULT_PRESENCE_GONE_RETENTION_MS (1 h) */
  readonly goneRetentionMs?: number;
  /** 0 = no federation metrics. @default DEFAULT_FEDERATION_METRICS_INTERVAL_MS (30 s) */
  readonly metricsIntervalMs?: number;
  /** @default a silent logger */
  readonly logger?: Logger;
}

/** Presence, the registry and the federation metrics of one instance. */
export interface Federation extends HubDirectory {
  /** This process's id in presence messages. */
  readonly instanceId: string;
  /** Seeds the registry from the log, announces this instance and starts the heartbeats. */
  start(): Promise<void>;
  /** Stops the timers and publishes the departure (stored, and straight to JetStream). Idempotent. */
  stop(): Promise<void>;
}

/** Rejects unusable timings, naming the option. */
function checkMs(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min)
    throw new TypeError(`${name} must be an integer >= ${min} ms, got ${value}`);
  return value;
}

/**
 * Creates the federation of a hub (contract §10). Presence travels twice:
 * the stored `announced` / `departed` events (forwarded through the outbox,
 * seeding a restarted hub from its log) and heartbeats on core NATS, which
 * every instance of every hub hears and nothing stores. All three arrive on
 * one core NATS subscription to `hub.global.presence.*` without a queue
 * group, because every instance keeps its own registry.
 */
export function createFederation(options: FederationOptions): Federation {
  const { core } = options;
  const logger = (options.logger ?? pino({ level: "silent" })).child({ component: "federation" });
  const intervalMs = checkMs(
    "presenceIntervalMs",
    options.presenceIntervalMs ?? DEFAULT_PRESENCE_INTERVAL_MS,
    1,
  );
  const timeoutMs = checkMs(
    "presenceTimeoutMs",
    options.presenceTimeoutMs ?? DEFAULT_PRESENCE_TIMEOUT_MS,
    1,
  );
  if (timeoutMs <= intervalMs)
    throw new TypeError(
      `presenceTimeoutMs (${timeoutMs}) must be longer than presenceIntervalMs (${intervalMs})`,
    );
  const metricsIntervalMs = checkMs(
    "metricsIntervalMs",
    options.metricsIntervalMs ?? DEFAULT_FEDERATION_METRICS_INTERVAL_MS,
    0,
  );
  const instanceId = randomUUID();
  const { hubId, version } = core.info();
  const self: Presence = {
    hubId,
    version,
    url: options.publicUrl ?? "",
    startedAt: new Date().toISOString(),
    instanceId,
  };
  const payload = presencePayload(self);
  const heartbeat = JSON.stringify(payload);
  // JetStream's HUB_GLOBAL captures hub.global.> and so the heartbeats too; one
  // message id per instance lets its duplicate window drop all but one in each window.
  const heartbeatHeaders = { [HEADER.origin]: hubId, [HEADER.msgId]: `heartbeat-${instanceId}` };
  const registry = createRegistry({
    self,
    timeoutMs,
    goneRetentionMs: options.goneRetentionMs ?? DEFAULT_PRESENCE_GONE_RETENTION_MS,
  });
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe: Unsubscribe | undefined;
  let stopAppended: (() => void) | undefined;
  let started = false;
  let stopping: Promise<void> | undefined;

  function apply(subject: string, body: ReturnType<typeof decodeBody>, atMs: number): void {
    const presence = presenceOf(body);
    if (presence === undefined || presence.instanceId === instanceId) return;
    if (subject === PRESENCE_DEPARTED_SUBJECT) registry.departed(presence, atMs);
    else if (subject === PRESENCE_ANNOUNCED_SUBJECT || subject === PRESENCE_HEARTBEAT_SUBJECT)
      registry.heard(presence, atMs);
  }

  /** From the log: what was stored while this instance did not run, or arrives in a catch-up. */
  function applyStored(event: HubEvent): void {
    if (!event.subject.startsWith("hub.global.presence.")) return;
    apply(event.subject, event.payload, Date.parse(event.timestamp));
  }

  async function seed(): Promise<void> {
    const stored = await core.query({ subject: PRESENCE_PATTERN, limit: SEED_EVENTS });
    for (const event of stored.reverse()) applyStored(event);
  }

  async function publishMetrics(): Promise<void> {
    const stats = core.stats();
    const backlog = await options.outbox?.backlog().catch(() => undefined);
    await core.publish({
      subject: `${FEDERATION_METRICS_PREFIX}${hubId}`,
      payload: {
        hub_id: hubId,
        instance_id: instanceId,
        events_published: stats.publishedEvents,
        events_ingested: stats.ingestedEvents,
        events_forwarded: options.forwarded?.() ?? 0,
        outbox_backlog: backlog?.count ?? null,
        subscriptions: core.subscriptionCount(),
      },
    });
  }

  async function start(): Promise<void> {
    if (started || !options.active) return;
    started = true;
    try {
      await seed();
    } catch (error) {
      logger.warn({ err: error }, "presence not seeded from the log");
    }
    stopAppended = core.onAppended((events) => {
      for (const event of events) applyStored(event);
    });
    await core.publish({ subject: PRESENCE_ANNOUNCED_SUBJECT, payload });
    logger.info({ instanceId, intervalMs, timeoutMs }, "presence announced");
    let listening = false;
    const beat = () => {
      const transport = options.transport();
      if (transport === undefined) return;
      if (!listening) {
        listening = true;
        unsubscribe = transport.subscribe(PRESENCE_PATTERN, (message) =>
          apply(message.subject, decodeBody(message.data), Date.now()),
        );
      }
      transport.notify(PRESENCE_HEARTBEAT_SUBJECT, heartbeat, heartbeatHeaders);
    };
    beat();
    timers.push(setInterval(beat, intervalMs).unref());
    if (metricsIntervalMs > 0) {
      const tick = () =>
        void publishMetrics().catch((error: unknown) =>
          logger.warn({ err: error }, "federation metrics not published"),
        );
      timers.push(setInterval(tick, metricsIntervalMs).unref());
    }
  }

  async function stop(): Promise<void> {
    for (const timer of timers) clearInterval(timer);
    timers.length = 0;
    unsubscribe?.();
    stopAppended?.();
    if (!started) return;
    let departed: HubEvent;
    try {
      departed = (await core.publish({ subject: PRESENCE_DEPARTED_SUBJECT, payload })).event;
    } catch (error) {
      logger.warn({ err: error }, "departure not stored");
      return;
    }
    // Not left to the relay, which may be about to stop: the others should hear it now.
    // The relay's later copy has the same Nats-Msg-Id, which JetStream drops.
    const transport = options.transport();
    if (transport === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      transport.publish(departed),
      new Promise((resolve) => {
        timer = setTimeout(resolve, DEFAULT_DEPART_TIMEOUT_MS);
      }),
    ])
      .catch((error: unknown) => logger.warn({ err: error }, "departure not sent to NATS"))
      .finally(() => clearTimeout(timer));
    logger.info({ instanceId }, "presence departed");
  }

  return {
    instanceId,
    start,
    stop() {
      stopping ??= stop();
      return stopping;
    },
    list: (): HubListing[] => registry.list(),
  };
}
