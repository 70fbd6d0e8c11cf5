import { parseArgs } from "node:util";

/** The scenarios `--only` can name, in the order a run measures them. */
export const SCENARIOS = [
  "grpc",
  "jsonrpc",
  "auth",
  "metrics",
  "idempotency",
  "pruner",
  "tracing",
  "stack",
  "batch",
  "insert",
  "fanout",
  "latency",
  "mixed",
  "memory",
  "query",
  "replay",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
export type DbKind = "sqlite" | "postgres";

/** Seconds each throughput measurement lasts unless `--duration` says otherwise. */
export const DEFAULT_DURATION_S = 10;
export const DEFAULT_QUICK_DURATION_S = 2;
/** Events in the log that QueryEvents and replay read (the 1,000,000). */
export const DEFAULT_LOG_EVENTS = 1_000_000;
/** Quick mode seeds fewer: replaying 1M events alone takes longer than the whole quick budget. */
export const QUICK_LOG_EVENTS = 50_000;
export const DEFAULT_MEMORY_SUBSCRIBERS = 10_000;
export const QUICK_MEMORY_SUBSCRIBERS = 2_000;
/** Concurrent calls (gRPC streams on one HTTP/2 connection) or connections (HTTP/1.1). */
export const DEFAULT_CONCURRENCY = 64;
export const DEFAULT_FANOUT_SUBSCRIBERS = 1_000;
/** Streams per HTTP/2 connection, and subscriptions per NATS connection, for many subscribers. */
export const STREAMS_PER_CONNECTION = 100;

/** What one run measures and how long it may take. */
export interface BenchOptions {
  readonly quick: boolean;
  /** Exit non-zero only when a scenario fails to run (numbers never fail a run). */
  readonly check: boolean;
  readonly scenarios: readonly ScenarioName[];
  readonly durationS: number;
  readonly dbs: readonly DbKind[];
  readonly concurrency: number;
  readonly logEvents: number;
  readonly fanoutSubscribers: number;
  readonly memorySubscribers: number;
  /** Longest time spent sampling one query pattern on one target. */
  readonly queryBudgetS: number;
  /** Longest time one replay may take before it is cut and reported as partial. */
  readonly replayBudgetS: number;
  /** The PostgreSQL server whose databases the run creates and drops. */
  readonly postgresUrl: string;
}

export const USAGE = `usage: npm run bench -- [options]

  --quick               everything in under 2 minutes (smaller log and subscriber counts)
  --check               exit non-zero only if a scenario fails to run, never on numbers
  --only <a,b,...>      scenarios: ${SCENARIOS.join(", ")}
  --duration <s>        seconds per throughput measurement (default ${DEFAULT_DURATION_S}, quick ${DEFAULT_QUICK_DURATION_S})
  --db <kind>           sqlite | postgres | both (default both)
  --help                this text

environment: HUBBUS_BENCH_POSTGRES_URL (else HUBBUS_TEST_POSTGRES_URL, else
postgres://postgres@127.0.0.1:5432/test): the server on which the run creates
and drops its own databases.`;

/** A bad command line; the message says which option and why. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Parses the command line (without node and the script); throws UsageError. Returns undefined for --help. */
export function parseBenchOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): BenchOptions | undefined {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(argv).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return undefined;
  const quick = values.quick === true;

  let scenarios: ScenarioName[] = [...SCENARIOS];
  if (values.only !== undefined) {
    const wanted = values.only
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    const unknown = wanted.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
    if (unknown.length > 0 || wanted.length === 0) {
      throw new UsageError(
        `--only: unknown scenario "${unknown.join(",")}"; known: ${SCENARIOS.join(", ")}`,
      );
    }
    // Keep the run's own order whatever order they were named in.
    scenarios = SCENARIOS.filter((s) => wanted.includes(s));
  }

  const durationS =
    values.duration === undefined
      ? quick
        ? DEFAULT_QUICK_DURATION_S
        : DEFAULT_DURATION_S
      : Number(values.duration);
  if (!Number.isFinite(durationS) || durationS < 0.5 || durationS > 600) {
    throw new UsageError(`--duration: "${values.duration}" is not a number of seconds in 0.5..600`);
  }

  const db = values.db ?? "both";
  if (db !== "sqlite" && db !== "postgres" && db !== "both") {
    throw new UsageError(`--db: "${db}" is not sqlite, postgres or both`);
  }
  const dbs: DbKind[] = db === "both" ? ["sqlite", "postgres"] : [db];

  return {
    quick,
    check: values.check === true,
    scenarios,
    durationS,
    dbs,
    concurrency: DEFAULT_CONCURRENCY,
    logEvents: quick ? QUICK_LOG_EVENTS : DEFAULT_LOG_EVENTS,
    fanoutSubscribers: DEFAULT_FANOUT_SUBSCRIBERS,
    memorySubscribers: quick ? QUICK_MEMORY_SUBSCRIBERS : DEFAULT_MEMORY_SUBSCRIBERS,
    queryBudgetS: quick ? 0.5 : 5,
    replayBudgetS: quick ? 15 : 90,
    postgresUrl:
      env.HUBBUS_BENCH_POSTGRES_URL ??
      env.HUBBUS_TEST_POSTGRES_URL ??
      "postgres://postgres@127.0.0.1:5432/test",
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean" },
      check: { type: "boolean" },
      only: { type: "string" },
      duration: { type: "string" },
      db: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}
