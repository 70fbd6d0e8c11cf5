import { isIP } from "node:net";
import { type Logger, pino } from "pino";
import { type Auth, type AuthSettings, createAuth } from "./auth/index.js";
import {
  type Bridge,
  type BridgeOptions,
  createBridge,
  createLink,
  type StreamOptions,
} from "./bridge/index.js";
import { createEventBus, type EventBusOptions, type HubCore, type Tracer } from "./core/index.js";
import {
  DEFAULT_DATABASE_URL,
  DEFAULT_HOST,
  DEFAULT_HUB_ID,
  DEFAULT_PORT,
  DEFAULT_SHUTDOWN_GRACE_MS,
} from "./defaults.js";
import { createFederation, type Federation, type FederationOptions } from "./federation/index.js";
import { createMetrics, type Metrics } from "./metrics/index.js";
import {
  type ConnectionLimits,
  createServer,
  type HubServer,
  type TlsOptions,
} from "./server/index.js";
import { openEventLog, type PrunerOptions, type SqlEventLog } from "./store/index.js";
import { createTracer, type TracingOptions } from "./tracing/index.js";
import { VERSION } from "./version.js";

export { TlsFileError, type TlsFileOption, type TlsOptions } from "./server/index.js";

/** Options of {@link createHub}; every one has a default that works on one machine. */
export interface HubOptions {
  /** @default "local-hub" */
  readonly hubId?: string;
  /** `sqlite:<path>` or `postgres://…`. @default DEFAULT_DATABASE_URL */
  readonly databaseUrl?: string;
  /** NATS servers; empty = the in-process bus (one instance only). @default [] */
  readonly natsServers?: readonly string[];
  /** Path of a NATS credentials file. */
  readonly natsCreds?: string;
  /** JetStream domain, for a hub on a leaf node using its hub cluster's JetStream. @default none */
  readonly natsJsDomain?: string;
  /** NATS patterns whose messages from other clients are stored. @default DEFAULT_INGEST_SUBJECTS (["hub.>"]) */
  readonly ingestSubjects?: readonly string[];
  /** @default DEFAULT_MAX_PAYLOAD_BYTES */
  readonly maxPayloadBytes?: number;
  /** Serve the protocols on a port; `false` embeds the hub without a server. @default true */
  readonly serve?: boolean;
  /** 0 picks a free port. @default 9001 */
  readonly port?: number;
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** @default 3000 */
  readonly shutdownGraceMs?: number;
  /**
   * Serve TLS only, with these certificate files (mutual TLS with
   * `clientCaFile`); `reload()` reads them again. A file that cannot be used
   * makes `createHub` reject with a `TlsFileError`. @default unset (cleartext)
   */
  readonly tls?: TlsOptions;
  /** Limits against abusive connections (streams, header size, body time-out). @default DEFAULT_* of each */
  readonly limits?: ConnectionLimits;
  /** Wait for the first NATS connection before resolving. @default false (the outbox holds events meanwhile) */
  readonly waitForNats?: boolean;
  /** Live-tail tuning: subscriber buffers, replay pages, the fallback poll. */
  readonly live?: EventBusOptions["live"];
  /** JetStream and relay tuning. */
  readonly bridge?: { readonly streams?: StreamOptions; readonly relay?: BridgeOptions["relay"] };
  /**
   * Callers and permissions (contract §7): every call but the open ones
   * needs credentials. `file` is what {@link Hub.reload} re-reads.
   * @default absent: open to anyone who reaches the port
   */
  readonly auth?: { readonly settings: AuthSettings; readonly file?: string };
  /**
   * Prometheus metrics (`hubbus_*` and the process's): every call counted,
   * served at `GET /metrics`, also readable as {@link Hub.metrics}.
   * @default true
   */
  readonly metrics?: boolean;
  /**
   * Retention and the idempotency window (contract §9): the pruner runs in
   * the background on every hub (one at a time among the instances on a
   * log), forgetting keys older than the window and, when set, pruning
   * events beyond `maxEvents` or older than `maxAgeMs`.
   * @default keep every event; forget keys after 24 hours
   */
  readonly retention?: PrunerOptions;
  /**
   * Spans over OTLP (contract §8): one per call, per forwarded event and per
   * ingested message. Without it, no OpenTelemetry code is loaded; trace
   * contexts are still stored and forwarded as they came.
   * @default absent: no spans
   */
  readonly tracing?: TracingOptions;
  /**
   * Federation (contract §10), on NATS only: presence (announced, departed,
   * heartbeats), the registry `ListHubs` answers, the federation metrics.
   * `false`: this hub lists itself alone and publishes no presence (global
   * events are still shared: that is the bridge's). @default on, with the defaults below
   */
  readonly federation?:
    | false
    | Pick<
        FederationOptions,
        | "publicUrl"
        | "presenceIntervalMs"
        | "presenceTimeoutMs"
        | "goneRetentionMs"
        | "metricsIntervalMs"
      >;
  /** @default a silent logger */
  readonly logger?: Logger;
}

/** A running hub: its core, its bridge, its log and (when serving) its port. */
export interface Hub {
  readonly bus: HubCore;
  readonly bridge: Bridge;
  readonly log: SqlEventLog;
  /** The bound port, or undefined when not serving. */
  readonly port: number | undefined;
  /** Authentication and permissions, when `auth` was given. */
  readonly auth: Auth | undefined;
  /** The hub's metrics, unless `metrics: false`. */
  readonly metrics: Metrics | undefined;
  /** Presence and the hubs this one knows of (its `ListHubs`). */
  readonly federation: Federation;
  /**
   * Re-reads what may change while the hub runs (`hubbus serve` calls it on
   * SIGHUP): the `AUTH_FILE` and the TLS certificate files. Open connections
   * stay up. Each step that fails is logged and keeps what it had; the
   * others still run; then it rejects with an AggregateError of the failures.
   */
  reload(): Promise<void>;
  /** Stops serving (draining calls and streams), stops the bridge, then closes the log. */
  close(): Promise<void>;
}

/** One thing `reload()` re-reads, named for its log line. */
interface ReloadStep {
  readonly name: string;
  readonly run: () => Promise<void>;
}

/** Runs every step, one after the other, whatever the others did. */
async function runReload(steps: readonly ReloadStep[], logger: Logger): Promise<void> {
  const failures: Error[] = [];
  for (const step of steps) {
    try {
      await step.run();
    } catch (error) {
      logger.error({ err: error, step: step.name }, `reload: ${step.name} kept its current state`);
      failures.push(error instanceof Error ? error : new Error(String(error)));
    }
  }
  if (failures.length > 0) {
    throw new AggregateError(
      failures,
      `reload failed: ${failures.map((f) => f.message).join("; ")}`,
    );
  }
  logger.info({ steps: steps.map((s) => s.name) }, "reloaded");
}

/**
 * Starts a hub: opens the log (applying migrations), creates the core,
 * starts the bridge (NATS or in-process) and serves every protocol on one port.
 */
export async function createHub(options: HubOptions = {}): Promise<Hub> {
  const logger = options.logger ?? pino({ level: "silent" });
  const log = await openEventLog({ url: options.databaseUrl ?? DEFAULT_DATABASE_URL, logger });
  if (log.appliedMigrations.length > 0) {
    logger.info({ migrations: log.appliedMigrations }, "applied database migrations");
  }
  let bridge: Bridge | undefined;
  let federation: Federation | undefined;
  let server: HubServer | undefined;
  let port: number | undefined;
  let tracer: Tracer | undefined;
  try {
    if (options.tracing !== undefined) {
      tracer = await createTracer(options.tracing, {
        hubId: options.hubId ?? DEFAULT_HUB_ID,
        version: VERSION,
        logger,
      });
      logger.info({ url: options.tracing.url }, "tracing: spans exported over OTLP");
    }
    // In dependency order: the link needs nothing, the core reports its
    // health and hears its commit notices, the bridge runs on both.
    const link = createLink({
      hubId: options.hubId ?? DEFAULT_HUB_ID,
      outbox: log.outbox,
      logger,
      natsServers: options.natsServers ?? [],
      ...(options.natsCreds === undefined ? {} : { natsCreds: options.natsCreds }),
      ...(options.natsJsDomain === undefined ? {} : { natsJsDomain: options.natsJsDomain }),
      ...(options.bridge?.streams === undefined ? {} : { streams: options.bridge.streams }),
    });
    const bus = createEventBus({
      log,
      bus: link,
      ...(link.notices === undefined ? {} : { notices: link.notices }),
      version: VERSION,
      logger,
      ...(options.hubId === undefined ? {} : { hubId: options.hubId }),
      ...(options.live === undefined ? {} : { live: options.live }),
      ...(options.maxPayloadBytes === undefined
        ? {}
        : { maxPayloadBytes: options.maxPayloadBytes }),
    });
    bridge = createBridge({
      core: bus,
      link,
      outbox: log.outbox,
      logger,
      ...(options.ingestSubjects === undefined ? {} : { ingestSubjects: options.ingestSubjects }),
      ...(options.bridge?.relay === undefined ? {} : { relay: options.bridge.relay }),
      tracer,
    });
    const connected = bridge.connect();
    if (options.waitForNats) await connected;
    else connected.catch((error) => logger.error({ err: error }, "NATS bridge failed to start"));
    const auth =
      options.auth === undefined
        ? undefined
        : createAuth({
            settings: options.auth.settings,
            ...(options.auth.file === undefined ? {} : { file: options.auth.file }),
            hubId: bus.info().hubId,
            logger,
          });
    const started = bridge;
    log.startPruner(options.retention ?? {});
    const federationOptions = options.federation === false ? {} : (options.federation ?? {});
    const fed = createFederation({
      core: bus,
      transport: link.transport,
      active: link.kind === "nats" && options.federation !== false,
      outbox: log.outbox,
      forwarded: () => started.forwardedCount(),
      logger,
      ...federationOptions,
    });
    federation = fed;
    const metrics =
      options.metrics === false
        ? undefined
        : createMetrics({
            core: bus,
            log,
            outbox: log.outbox,
            forwarded: () => started.forwardedCount(),
            ...(auth === undefined ? {} : { auth: () => auth.stats() }),
            hubId: bus.info().hubId,
            version: VERSION,
            logger,
          });
    if (options.serve ?? true) {
      const host = options.host ?? DEFAULT_HOST;
      if (auth === undefined && !isLoopback(host)) {
        logger.warn(
          { host },
          "auth is off and the port is not on loopback: anyone who reaches it can publish and read every event (set AUTH_FILE)",
        );
      }
      server = createServer({
        bus,
        logger,
        stages: auth === undefined ? [] : [auth.stage],
        ...(metrics === undefined ? {} : { metrics }),
        tracer,
        hubs: fed,
        shutdownGraceMs: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
        ...(options.tls === undefined ? {} : { tls: options.tls }),
        ...options.limits,
      });
      port = (await server.listen(options.port ?? DEFAULT_PORT, host)).port;
    }
    await fed.start();
    const serving = server;
    let closing: Promise<void> | undefined;
    const reloadSteps: ReloadStep[] = [];
    if (auth !== undefined) reloadSteps.push({ name: "AUTH_FILE", run: async () => auth.reload() });
    if (serving?.tls) reloadSteps.push({ name: "tls", run: () => serving.reloadTls() });
    return {
      bus,
      bridge: started,
      log,
      port,
      auth,
      metrics,
      federation: fed,
      reload: () => runReload(reloadSteps, logger),
      close() {
        closing ??= (async () => {
          // First, so the other hubs hear of the departure while the bridge still runs.
          await fed.stop();
          // The server's shutdown ends streams with `unavailable`; then nothing new may subscribe.
          await server?.close();
          bus.close();
          await started.disconnect();
          await log.close();
          // Last: the spans of everything above are exported.
          await tracer?.shutdown();
        })();
        return closing;
      },
    };
  } catch (error) {
    await federation?.stop();
    await server?.close();
    await bridge?.disconnect();
    await log.close();
    await tracer?.shutdown();
    throw error;
  }
}

/** True for an address only this machine can reach. */
function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}
