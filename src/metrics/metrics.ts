import { type Logger, pino } from "pino";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { EventLog, HubCore, Outbox } from "../core/index.js";
import type { AccessLogEntry } from "../pipeline/index.js";
import { createCallMetrics } from "./calls.js";

/** What the metrics read at scrape time; each part that is absent leaves its metrics out. */
export interface MetricsSources {
  /** Events published and ingested, live subscriptions: counters the core keeps. */
  readonly core: Pick<HubCore, "stats" | "subscriptionCount">;
  /** The log's first and last sequence, read by primary key at each scrape. */
  readonly log?: Pick<EventLog, "lastSequence" | "readAfter">;
  /** The outbox's backlog and its oldest event's age, read at each scrape (as `/readyz` does). */
  readonly outbox?: Pick<Outbox, "backlog">;
  /** Events this instance's relay forwarded to NATS since start. */
  readonly forwarded?: () => number;
  /** Refused credentials and denied calls, when auth is on. */
  readonly auth?: () => { readonly failedAuthentications: number; readonly deniedCalls: number };
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions extends MetricsSources {
  /** Reported in `hubbus_info`. */
  readonly hubId: string;
  /** Reported in `hubbus_info`. */
  readonly version: string;
  /**
   * prom-client's process metrics (`process_*`, `nodejs_*`: CPU, memory,
   * GC, event-loop lag), kept once per process and served by every hub in it.
   * @default true
   */
  readonly processMetrics?: boolean;
  /** Failed reads at scrape time. @default a silent logger */
  readonly logger?: Logger;
}

/** A hub's metrics: counted as calls end, the rest read when scraped. */
export interface Metrics {
  /** The pipeline's `onDone` listener: counts one call or refused request. */
  readonly onDone: (entry: AccessLogEntry) => void;
  /** Every metric in the Prometheus text format, the scrape-time ones read now. */
  scrape(): Promise<string>;
  /** The content type of what {@link scrape} returns. */
  readonly contentType: string;
  /** The hub's own metrics (without the process's), e.g. to merge into an application's registry. */
  readonly registry: Registry;
}

let sharedProcessRegistry: Registry | undefined;

/**
 * One registry of process metrics per process: they describe the process,
 * not a hub, and each collector set keeps an event-loop monitor running that
 * cannot be stopped, so tests that start many hubs must not make one each.
 */
function processMetrics(): Registry {
  if (sharedProcessRegistry === undefined) {
    sharedProcessRegistry = new Registry();
    collectDefaultMetrics({ register: sharedProcessRegistry });
  }
  return sharedProcessRegistry;
}

/** What one scrape reads from the log and the outbox. */
interface StoreFigures {
  readonly firstSequence?: number;
  readonly lastSequence?: number;
  readonly backlog?: number;
  readonly oldestAgeS?: number;
}

/** Creates the metrics of one hub. */
export function createMetrics(options: MetricsOptions): Metrics {
  const { core, log, outbox, forwarded, auth } = options;
  const logger = (options.logger ?? pino({ level: "silent" })).child({ component: "metrics" });
  const registry = new Registry();
  const processRegistry = (options.processMetrics ?? true) ? processMetrics() : undefined;
  const onDone = createCallMetrics(registry);
  const registers = [registry];

  new Gauge({
    name: "hubbus_info",
    help: "Always 1; labels say which hub and version this is.",
    labelNames: ["hub_id", "version"] as const,
    registers,
  }).set({ hub_id: options.hubId, version: options.version }, 1);

  // Counters the core and bridge keep: read at scrape time, nothing on the hot path.
  const total = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  total(
    "hubbus_events_published_total",
    "Events stored through Publish and PublishBatch (any protocol, the library API) on this instance.",
    () => core.stats().publishedEvents,
  );
  total(
    "hubbus_events_ingested_total",
    "Events from NATS stored by this instance (duplicates skipped are not counted).",
    () => core.stats().ingestedEvents,
  );
  if (forwarded !== undefined) {
    total(
      "hubbus_events_forwarded_total",
      "Events this instance forwarded to NATS from the outbox (only the instance holding the outbox lease forwards).",
      forwarded,
    );
  }
  if (auth !== undefined) {
    total(
      "hubbus_authentication_failures_total",
      "Calls refused as unauthenticated (missing, unknown, expired or malformed credentials).",
      () => auth().failedAuthentications,
    );
    total(
      "hubbus_permission_denials_total",
      "Calls refused as permission_denied (a subject or pattern the caller may not use).",
      () => auth().deniedCalls,
    );
  }
  new Gauge({
    name: "hubbus_live_subscriptions",
    help: "Subscribe streams (and other live subscriptions) open on this instance.",
    registers,
    collect() {
      this.set(core.subscriptionCount());
    },
  });

  // The log's and outbox's figures: one read per scrape, shared by the gauges that show it.
  let reading: Promise<StoreFigures> | undefined;
  async function readStore(): Promise<StoreFigures> {
    const [first, last, backlog] = await Promise.all([
      log?.readAfter(0, ">", 1).then((events) => events[0]?.sequence ?? 0),
      log?.lastSequence(),
      outbox?.backlog(),
    ]);
    const oldest = backlog?.oldestTimestamp;
    return {
      ...(first === undefined ? {} : { firstSequence: first }),
      ...(last === undefined ? {} : { lastSequence: last }),
      ...(backlog === undefined ? {} : { backlog: backlog.count }),
      ...(backlog === undefined
        ? {}
        : {
            oldestAgeS:
              oldest === undefined ? 0 : Math.max(0, Date.now() - Date.parse(oldest)) / 1000,
          }),
    };
  }
  function storeFigures(): Promise<StoreFigures | undefined> {
    reading ??= readStore().finally(() => {
      reading = undefined;
    });
    return reading.catch((error: unknown) => {
      logger.warn({ err: error }, "metrics: could not read the log for a scrape");
      return undefined;
    });
  }
  const fromStore = (name: string, help: string, pick: (f: StoreFigures) => number | undefined) =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        const figures = await storeFigures();
        const value = figures === undefined ? undefined : pick(figures);
        // Unknown (the database did not answer) is no sample, not a stale or made-up one.
        if (value === undefined) this.remove();
        else this.set(value);
      },
    });
  if (log !== undefined) {
    fromStore(
      "hubbus_log_first_sequence",
      "Sequence of the oldest event in the log; 0 while it is empty.",
      (f) => f.firstSequence,
    );
    fromStore(
      "hubbus_log_last_sequence",
      "Sequence of the newest event in the log; 0 while it is empty.",
      (f) => f.lastSequence,
    );
  }
  if (outbox !== undefined) {
    fromStore(
      "hubbus_outbox_backlog_events",
      "Events stored and not yet forwarded to NATS.",
      (f) => f.backlog,
    );
    fromStore(
      "hubbus_outbox_oldest_age_seconds",
      "Age of the oldest event not yet forwarded to NATS; 0 without a backlog.",
      (f) => f.oldestAgeS,
    );
  }

  return {
    onDone,
    registry,
    contentType: registry.contentType,
    async scrape() {
      const [own, processText] = await Promise.all([
        registry.metrics(),
        processRegistry?.metrics() ?? Promise.resolve(""),
      ]);
      return own + processText;
    },
  };
}
