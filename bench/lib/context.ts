import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  findNatsServerBinary,
  type NatsServerHandle,
  startNatsServer,
} from "../../test/helpers/nats.js";
import { type OtlpReceiver, startOtlpReceiver } from "../../test/helpers/otlp-receiver.js";
import { postgresStore, type Store, sqliteStore } from "./databases.js";
import { GC_FILE_ENV } from "./gc.js";
import { ensureH2load } from "./h2load.js";
import type { BenchOptions, DbKind, ScenarioName } from "./options.js";
import { acceptsConnections, freePort, spawnChild, waitUntilReady } from "./processes.js";
import type { LoadSample, Row } from "./report.js";
import type { Scope } from "./scope.js";

export const ROOT = join(import.meta.dirname, "../..");
/** How long a gateway may take to start (tsx compiles on load) and reach NATS. */
const GATEWAY_START_TIMEOUT_MS = 60_000;
const SERVER_START_TIMEOUT_MS = 30_000;
/**
 * Every server runs TypeScript through tsx, runs a full GC on SIGUSR2 and
 * records its GC pauses (see servers/gc-hook.ts).
 */
const NODE_ARGS = [
  "--expose-gc",
  "--import",
  "tsx",
  "--import",
  pathToFileURL(join(ROOT, "bench/servers/gc-hook.ts")).href,
];

/** A server process under load: the gateway or a baseline. */
export interface ServerProcess {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  /** A gateway's own nats-server, whose CPU is part of what a publish costs. */
  readonly busPid?: number;
  /** Where the process's `servers/gc-hook.ts` appends its GC pauses (see `lib/gc.ts`). */
  readonly gcFile?: string;
}

/** A gateway running as its own process, with direct access to its database. */
export interface Gateway extends ServerProcess {
  readonly db: DbKind;
  readonly hubId: string;
  readonly store: Store;
  /** Request headers every call needs (the API key of an `auth` gateway), as h2load's `-H` takes them. */
  readonly headers: readonly string[];
  /** The OTLP receiver a `tracing` gateway exports its spans to. */
  readonly traces?: OtlpReceiver;
}

/**
 * `plain`: the embedded defaults (metrics on); `auth`: an AUTH_FILE with one
 * API-key caller allowed the bench's subjects; `nometrics`: `METRICS=off`;
 * `retention`: `RETENTION_MAX_EVENTS` = {@link BENCH_RETENTION_MAX_EVENTS};
 * `tracing`: spans exported over OTLP to a receiver in the bench's process;
 * `stack`: `auth` and `tracing` at once, metrics on (the second release's
 * features together).
 */
export type GatewayVariant = "plain" | "auth" | "nometrics" | "retention" | "tracing" | "stack";

/**
 * The `retention` gateways' RETENTION_MAX_EVENTS: small beside a load of
 * tens of thousands of events, so the pruner deletes throughout it.
 */
export const BENCH_RETENTION_MAX_EVENTS = 10_000;

/** The API key of the `auth` gateways' one caller. */
export const BENCH_API_KEY = "hubbus-bench-api-key-0123456789";

export type BaselineServer = "bare-http" | "grpc-echo" | "connect-stream";

/** A throwaway nats-server and its pid (for its CPU). */
export interface NatsServer {
  readonly url: string;
  readonly pid: number | undefined;
}

/** What every scenario gets: the options, lazily started services, and where results go. */
export interface BenchContext {
  readonly options: BenchOptions;
  /** The run's temporary directory (SQLite files, logs, load generator files). */
  readonly dir: string;
  progress(line: string): void;
  addRow(row: Row): void;
  /** Rows so far: a later scenario may set its figure beside an earlier one. */
  readonly rows: readonly Row[];
  addLoad(sample: LoadSample): void;
  /** The nats-server of the NATS baselines; each gateway has one of its own. */
  nats(): Promise<NatsServer>;
  gateway(db: DbKind, variant?: GatewayVariant): Promise<Gateway>;
  server(kind: BaselineServer): Promise<ServerProcess>;
  /**
   * Starts, all at once, what the scenarios will need, and waits: nothing
   * starts (compiling TypeScript, migrating) while something is measured.
   * A start that fails here is tried again, and reported, by its scenario.
   */
  prestart(scenarios: readonly ScenarioName[]): Promise<void>;
  /** Installs h2load if needed (or throws saying how); returns its version. */
  h2load(): string;
  /** Versions of the tools used, for the results file. */
  readonly tools: Record<string, string>;
}

export interface ContextParts {
  readonly options: BenchOptions;
  readonly dir: string;
  /** Lives as long as the run: servers, NATS and databases go with it. */
  readonly scope: Scope;
  readonly progress: (line: string) => void;
  readonly rows: Row[];
  readonly loads: LoadSample[];
}

/** The pid of this process's child whose command line mentions `text`. */
function childPidWith(text: string): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === process.pid && readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) {
        return Number(entry);
      }
    } catch {
      // Gone while we looked.
    }
  }
  return undefined;
}

function memo<K, V>(make: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const cache = new Map<K, Promise<V>>();
  return (key) => {
    let value = cache.get(key);
    if (!value) {
      value = make(key);
      cache.set(key, value);
      // A failed start may be retried by the next scenario that needs it.
      value.catch(() => cache.delete(key));
    }
    return value;
  };
}

async function readyJson(port: number): Promise<{ services?: { nats?: string } } | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
  return res.ok ? ((await res.json()) as { services?: { nats?: string } }) : undefined;
}

/** The hub id of the gateway answering on `port` (hub.info needs no credentials). */
async function hubIdAt(port: number): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/rpc`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "hub.info" }),
    signal: AbortSignal.timeout(2000),
  });
  const body = (await res.json()) as { result?: { hub_id?: string } };
  return body.result?.hub_id;
}

export function createContext(parts: ContextParts): BenchContext {
  const { options, dir, scope, progress } = parts;
  const tools: Record<string, string> = {};

  /*
   * A nats-server per gateway and one for the baselines: gateways ingest
   * `hub.>` by default, so on a shared server each would store (and pay
   * for) every event the other publishes while the other is measured.
   */
  const nats = memo(async (owner: string): Promise<NatsServer> => {
    progress(`starting nats-server for the ${owner} (JetStream on, temporary store)`);
    tools["nats-server"] ??= execFileSync(findNatsServerBinary(), ["--version"], {
      encoding: "utf8",
    }).trim();
    const handle: NatsServerHandle = await startNatsServer();
    scope.defer(`stop the nats-server of the ${owner}`, () => handle.dispose());
    return { url: handle.url, pid: childPidWith(handle.storeDir ?? handle.url) };
  });

  const gateway = memo(async (key: `${DbKind}:${GatewayVariant}`): Promise<Gateway> => {
    const [db, variant] = key.split(":") as [DbKind, GatewayVariant];
    const name = variant === "plain" ? db : `${db}-${variant}`;
    const store =
      db === "sqlite"
        ? sqliteStore(dir, `gateway-${name}`, scope)
        : await postgresStore(options.postgresUrl, scope);
    // Each gateway its own NATS: they ingest hub.>, and would store each other's events.
    const { url: natsUrl, pid: busPid } = await nats(name);
    const hubId = `bench-${name}`;
    const variantEnv: Record<string, string> = {};
    const headers: string[] = [];
    if (variant === "auth" || variant === "stack") {
      const file = join(dir, `auth-${name}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          callers: [
            {
              name: "bench",
              api_key_sha256: createHash("sha256").update(BENCH_API_KEY).digest("hex"),
              publish: { allow: [`hub.${hubId}.bench.>`], deny: [`hub.${hubId}.bench.secret.>`] },
              subscribe: { allow: [`hub.${hubId}.>`], deny: [`hub.${hubId}.bench.secret.>`] },
            },
          ],
        }),
      );
      variantEnv.AUTH_FILE = file;
      headers.push(`authorization: Bearer ${BENCH_API_KEY}`);
    }
    // The metrics scenario's baseline: the same gateway without call counting or /metrics.
    if (variant === "nometrics") variantEnv.METRICS = "off";
    // The pruner scenario's gateway: the log kept to a cap, pruned while the load runs.
    if (variant === "retention")
      variantEnv.RETENTION_MAX_EVENTS = String(BENCH_RETENTION_MAX_EVENTS);
    // The tracing scenario's gateway: every call sampled (no traceparent, the default sampler),
    // exported to a receiver that only counts, so its CPU stays off the gateway's side.
    let traces: OtlpReceiver | undefined;
    if (variant === "tracing" || variant === "stack") {
      const receiver = await startOtlpReceiver({ decode: false });
      traces = receiver;
      scope.defer(`stop the OTLP receiver of the ${name} gateway`, () => receiver.close());
      variantEnv.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.url;
    }
    // After the receiver has its port, so the OS cannot give it the gateway's.
    const port = await freePort();
    progress(`starting the gateway on ${name} (its own process, port ${port})`);
    // From source through tsx, so the bench measures the working tree without a build step.
    // HUBBUS_BENCH_GATEWAY_ARGS adds node flags to the gateway only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
    const extra = process.env.HUBBUS_BENCH_GATEWAY_ARGS?.split(" ").filter(Boolean) ?? [];
    const gcFile = join(dir, `gc-${name}.txt`);
    const child = spawnChild(
      process.execPath,
      [...extra, ...NODE_ARGS, "src/cli/main.ts", "serve"],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          PORT: String(port),
          HOST: "127.0.0.1",
          DATABASE_URL: store.url,
          NATS_URL: natsUrl,
          HUB_ID: hubId,
          // Access logs (info) would measure the log pipe; warnings still show problems.
          LOG_LEVEL: "warn",
          [GC_FILE_ENV]: gcFile,
          ...variantEnv,
        },
        logFile: join(dir, `gateway-${name}.log`),
      },
    );
    scope.defer(`stop the ${name} gateway`, () => child.stop());
    await waitUntilReady(
      child,
      `the ${name} gateway`,
      // Its own hub id too: a gateway that lost the port to another one would
      // otherwise be taken as ready on the other's answer.
      async () =>
        (await readyJson(port))?.services?.nats === "healthy" && (await hubIdAt(port)) === hubId,
      GATEWAY_START_TIMEOUT_MS,
    );
    return {
      name: `hubbus (${name})`,
      port,
      pid: child.pid,
      ...(busPid === undefined ? {} : { busPid }),
      gcFile,
      db,
      hubId,
      store,
      headers,
      ...(traces === undefined ? {} : { traces }),
    };
  });

  const server = memo(async (kind: BaselineServer): Promise<ServerProcess> => {
    const port = await freePort();
    const gcFile = join(dir, `gc-${kind}.txt`);
    progress(`starting the ${kind} baseline server (its own process, port ${port})`);
    const child = spawnChild(process.execPath, [...NODE_ARGS, `bench/servers/${kind}.ts`], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), [GC_FILE_ENV]: gcFile },
      logFile: join(dir, `${kind}.log`),
    });
    scope.defer(`stop ${kind}`, () => child.stop());
    await waitUntilReady(child, kind, () => acceptsConnections(port), SERVER_START_TIMEOUT_MS);
    return { name: kind, port, pid: child.pid, gcFile };
  });

  return {
    options,
    dir,
    progress,
    tools,
    addRow: (row) => parts.rows.push(row),
    rows: parts.rows,
    addLoad: (sample) => parts.loads.push(sample),
    nats: () => nats("baselines"),
    gateway: (db, variant = "plain") => gateway(`${db}:${variant}`),
    server,
    async prestart(scenarios) {
      const wants = (...names: ScenarioName[]) => names.some((n) => scenarios.includes(n));
      const starts: Promise<unknown>[] = [];
      starts.push(...options.dbs.map((db) => gateway(`${db}:plain`)));
      if (wants("auth")) starts.push(...options.dbs.map((db) => gateway(`${db}:auth`)));
      if (wants("metrics", "stack"))
        starts.push(...options.dbs.map((db) => gateway(`${db}:nometrics`)));
      if (wants("stack")) starts.push(...options.dbs.map((db) => gateway(`${db}:stack`)));
      if (wants("pruner")) starts.push(...options.dbs.map((db) => gateway(`${db}:retention`)));
      if (wants("tracing")) starts.push(...options.dbs.map((db) => gateway(`${db}:tracing`)));
      if (wants("grpc")) starts.push(server("grpc-echo"));
      if (wants("jsonrpc")) starts.push(server("bare-http"));
      if (wants("fanout", "memory", "replay")) starts.push(server("connect-stream"));
      if (wants("batch", "fanout", "latency")) starts.push(nats("baselines"));
      await Promise.allSettled(starts);
    },
    h2load() {
      tools.h2load ??= ensureH2load(progress);
      return tools.h2load;
    },
  };
}
