import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { type Logger, pino } from "pino";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import type { EventBus } from "../core/index.js";

/** How often the hub's health is read while at least one `Watch` is open. */
export const DEFAULT_HEALTH_WATCH_INTERVAL_MS = 1000;
/** How long one reading of the hub's health may wait for the database. */
export const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 5000;

/** The names `Check` and `Watch` answer for: the server as a whole, and the one service it exists for. */
export const HEALTH_SERVICE_NAMES: readonly string[] = ["", EventBusService.typeName];

/** Options of {@link createHealthRoutes}. */
export interface HealthRoutesOptions {
  /** Whose health is reported: `healthy` and `degraded` are SERVING, `unhealthy` NOT_SERVING. */
  readonly bus: Pick<EventBus, "health">;
  /** Aborted when the server begins to shut down: from then on every answer is NOT_SERVING. */
  readonly shutdownSignal: AbortSignal;
  /** @default DEFAULT_HEALTH_WATCH_INTERVAL_MS (1 s) */
  readonly watchIntervalMs?: number;
  /** @default DEFAULT_HEALTH_CHECK_TIMEOUT_MS (5 s) */
  readonly checkTimeoutMs?: number;
  /** @default a silent logger */
  readonly logger?: Logger;
}

/**
 * `grpc.health.v1.Health` for connect-node (gRPC, and Connect and gRPC-Web
 * as well), following gRPC's health-checking protocol: `Check` answers
 * NOT_FOUND for a name it does not know, `Watch` sends SERVICE_UNKNOWN for
 * one and stays open. The core has no change signal for its health (the
 * database's part is a ping), so the open `Watch` streams share one poll,
 * which runs only while there is one.
 *
 * These calls do not take the call pipeline: probes carry no credentials,
 * and a health check answered from the access log's and the auth stage's
 * point of view would be noise at every probe interval.
 */
export function createHealthRoutes(options: HealthRoutesOptions): (router: ConnectRouter) => void {
  const { bus, shutdownSignal } = options;
  const intervalMs = options.watchIntervalMs ?? DEFAULT_HEALTH_WATCH_INTERVAL_MS;
  const timeoutMs = options.checkTimeoutMs ?? DEFAULT_HEALTH_CHECK_TIMEOUT_MS;
  const logger = (options.logger ?? pino({ level: "silent" })).child({ component: "health" });
  const known = new Set(HEALTH_SERVICE_NAMES);

  async function readStatus(signal: AbortSignal): Promise<ServingStatus> {
    if (shutdownSignal.aborted) return ServingStatus.NOT_SERVING;
    try {
      const health = await bus.health(AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]));
      if (shutdownSignal.aborted) return ServingStatus.NOT_SERVING;
      return health.status === "unhealthy" ? ServingStatus.NOT_SERVING : ServingStatus.SERVING;
    } catch (error) {
      // health() reports a failing database itself; reaching here is unforeseen, and not serving.
      if (!signal.aborted) logger.warn({ err: error }, "reading the hub's health failed");
      return ServingStatus.NOT_SERVING;
    }
  }

  const monitor = createStatusMonitor(readStatus, intervalMs, shutdownSignal);

  function unknownService(service: string): ConnectError {
    return new ConnectError(`unknown service "${service}"`, Code.NotFound);
  }

  function shuttingDown(): ConnectError {
    return new ConnectError("the server is shutting down", Code.Unavailable);
  }

  return (router) => {
    router.service(Health, {
      async check(req, ctx) {
        if (!known.has(req.service)) throw unknownService(req.service);
        return { status: await readStatus(ctx.signal) };
      },

      async list(_req, ctx) {
        const status = await readStatus(ctx.signal);
        const statuses: Record<string, { status: ServingStatus }> = {};
        for (const name of known) statuses[name] = { status };
        return { statuses };
      },

      async *watch(req, ctx) {
        if (!known.has(req.service)) {
          // The spec keeps the call open: the name might become known later (here it never does).
          yield { status: ServingStatus.SERVICE_UNKNOWN };
          await untilAborted(ctx.signal);
          if (shutdownSignal.aborted) throw shuttingDown();
          return;
        }
        const latest = latestValue<ServingStatus>();
        const leave = monitor.join(latest.put);
        try {
          let sent: ServingStatus | undefined;
          for (;;) {
            const status = await latest.take(ctx.signal);
            if (status === undefined) break;
            if (status !== sent) {
              sent = status;
              yield { status };
            }
          }
          // Whichever shutdown listener ran first, the client hears NOT_SERVING before the end.
          if (shutdownSignal.aborted) {
            if (sent !== ServingStatus.NOT_SERVING) yield { status: ServingStatus.NOT_SERVING };
            throw shuttingDown();
          }
        } finally {
          leave();
        }
      },
    });
  };
}

/** Shares one poll of a status between watchers. */
interface StatusMonitor {
  /** Calls `heard` with the status now (as soon as it is known) and on every change; returns leave. */
  join(heard: (status: ServingStatus) => void): () => void;
}

function createStatusMonitor(
  read: (signal: AbortSignal) => Promise<ServingStatus>,
  intervalMs: number,
  shutdownSignal: AbortSignal,
): StatusMonitor {
  const watchers = new Set<(status: ServingStatus) => void>();
  /** The last status read by the running poll; undefined when none runs, so no stale status is handed out. */
  let latest: ServingStatus | undefined;
  let polling: AbortController | undefined;

  function tell(status: ServingStatus): void {
    latest = status;
    for (const heard of watchers) heard(status);
  }

  async function poll(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      const status = await read(stop);
      if (stop.aborted) return;
      if (status !== latest) tell(status);
      await sleep(intervalMs, undefined, { signal: stop }).catch(() => {});
    }
  }

  function stopPolling(): void {
    polling?.abort();
    polling = undefined;
  }

  shutdownSignal.addEventListener(
    "abort",
    () => {
      stopPolling();
      tell(ServingStatus.NOT_SERVING);
    },
    { once: true },
  );

  return {
    join(heard) {
      watchers.add(heard);
      if (shutdownSignal.aborted) {
        heard(ServingStatus.NOT_SERVING);
      } else if (polling === undefined) {
        latest = undefined;
        polling = new AbortController();
        void poll(polling.signal);
      } else if (latest !== undefined) {
        heard(latest);
      }
      return () => {
        watchers.delete(heard);
        if (watchers.size === 0 && !shutdownSignal.aborted) stopPolling();
      };
    },
  };
}

/**
 * The newest value put and not yet taken: a watcher that reads slowly skips
 * the states in between, and so never holds more than one.
 */
function latestValue<T>() {
  let value: T | undefined;
  let has = false;
  let wake: (() => void) | undefined;
  return {
    put(next: T): void {
      value = next;
      has = true;
      wake?.();
    },
    /** The next value, or undefined once `signal` aborts with none waiting. */
    async take(signal: AbortSignal): Promise<T | undefined> {
      while (!has) {
        if (signal.aborted) return undefined;
        await new Promise<void>((resolve) => {
          const done = () => {
            wake = undefined;
            signal.removeEventListener("abort", done);
            resolve();
          };
          wake = done;
          signal.addEventListener("abort", done, { once: true });
        });
      }
      has = false;
      return value;
    },
  };
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true }),
  );
}
