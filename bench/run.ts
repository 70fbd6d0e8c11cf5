import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BenchContext, createContext, ROOT } from "./lib/context.js";
import { postgresVersion } from "./lib/databases.js";
import {
  type BenchOptions,
  parseBenchOptions,
  type ScenarioName,
  USAGE,
  UsageError,
} from "./lib/options.js";
import {
  gitRevision,
  judge,
  type LoadSample,
  machineInfo,
  type Row,
  renderNotes,
  renderTable,
  writeResults,
} from "./lib/report.js";
import { bounded, Scope } from "./lib/scope.js";
import { SCENARIO_PLANS } from "./scenarios/index.js";

const RESULTS_DIR = join(ROOT, "bench/results");

interface Failure {
  readonly scenario: ScenarioName | "set-up";
  readonly error: string;
}

function elapsed(t0: number): string {
  const s = Math.floor((performance.now() - t0) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

/** Pino levels worth a look: warn, error, fatal. */
const WORRYING_LEVEL = /"level":(40|50|60)\b/;

/** Says whether the gateways logged warnings or errors: a figure may stand on a failing gateway. */
async function reportServerLogs(dir: string, progress: (line: string) => void): Promise<void> {
  for (const file of await readdir(dir)) {
    if (!file.endsWith(".log") || file.startsWith("h2load")) continue;
    const lines = (await readFile(join(dir, file), "utf8")).split("\n");
    const worrying = lines.filter((line) => WORRYING_LEVEL.test(line));
    if (worrying.length === 0) continue;
    progress(
      `${file}: ${worrying.length} warning/error lines; the first: ${worrying[0]?.slice(0, 300)}`,
    );
  }
}

async function runScenarios(
  ctx: BenchContext,
  options: BenchOptions,
  interrupt: AbortSignal,
  failures: Failure[],
): Promise<void> {
  for (const name of options.scenarios) {
    if (interrupt.aborted) break;
    const plan = SCENARIO_PLANS[name];
    const timeoutS = plan.timeoutS(options);
    ctx.progress(`== ${name}: ${plan.title} (at most ${timeoutS} s)`);
    try {
      await bounded(name, timeoutS * 1000, interrupt, (scope) => plan.run(ctx, scope));
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      failures.push({ scenario: name, error: message });
      ctx.progress(`!! ${name} failed: ${message.split("\n")[0]}`);
      ctx.addRow({ scenario: name, figure: plan.title, unit: "", hubbus: "failed to run" });
    }
  }
}

async function main(): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (!options) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const startedAt = new Date();
  const t0 = performance.now();
  const progress = (line: string) => process.stdout.write(`[${elapsed(t0)}] ${line}\n`);
  const dir = await mkdtemp(join(tmpdir(), "hubbus-bench-"));
  const scope = new Scope();
  let keepDir = false;
  scope.defer("remove the run's directory", async () => {
    await reportServerLogs(dir, progress);
    if (!keepDir) return rm(dir, { recursive: true, force: true });
    // Logs stay for a look at what failed; databases are large and say nothing more.
    for (const file of await readdir(dir)) {
      if (/\.db(-wal|-shm)?$|\.body$/.test(file)) await rm(join(dir, file), { force: true });
    }
  });

  const failures: Failure[] = [];
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal means "now": the exit hook still kills every child.
    if (interrupt.signal.aborted) process.exit(130);
    progress(`${signal}: stopping the scenario and cleaning up (again to quit at once)`);
    interrupt.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // A bug in a client callback must not skip the cleanup: the run stops the way Ctrl-C stops it.
  const onUnexpected = (error: unknown) => {
    failures.push({ scenario: "set-up", error: `unexpected: ${(error as Error)?.stack ?? error}` });
    progress(`!! unexpected error, stopping: ${(error as Error)?.message ?? error}`);
    interrupt.abort();
  };
  process.on("uncaughtException", onUnexpected);
  process.on("unhandledRejection", onUnexpected);

  const rows: Row[] = [];
  const loads: LoadSample[] = [];
  const ctx = createContext({ options, dir, scope, progress, rows, loads });
  const machine = machineInfo();
  progress(
    `hubbus bench${options.quick ? " --quick" : ""}: ${options.scenarios.join(", ")} on ${options.dbs.join(" and ")}; ` +
      `${options.durationS} s per measurement; ${machine.cores} × ${machine.cpuModel}, load ${machine.loadAverage.join(" ")}`,
  );
  let pgVersion = "not used";
  try {
    if (options.dbs.includes("postgres")) pgVersion = await postgresVersion(options.postgresUrl);
    await ctx.prestart(options.scenarios);
    progress("everything started; measuring");
    await runScenarios(ctx, options, interrupt.signal, failures);
  } catch (error) {
    failures.push({ scenario: "set-up", error: (error as Error).message });
    progress(`!! ${(error as Error).message}`);
  } finally {
    keepDir = failures.length > 0;
    progress("cleaning up: clients, servers, gateways, NATS, databases");
    for (const problem of await scope.close()) progress(`!! cleanup: ${problem}`);
  }

  const judged = rows.map(judge);
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  process.stdout.write(`\n${renderTable(judged)}\n\n${renderNotes(judged, loads)}\n\n`);
  for (const f of failures) process.stdout.write(`FAILED ${f.scenario}: ${f.error}\n`);
  if (keepDir) process.stdout.write(`logs kept in ${dir}\n`);
  const path = await writeResults(RESULTS_DIR, startedAt, {
    startedAt: startedAt.toISOString(),
    seconds,
    interrupted: interrupt.signal.aborted,
    options: { ...options, postgresUrl: undefined },
    machine: { ...machine, loadAverageAtEnd: machineInfo().loadAverage },
    node: process.version,
    git: gitRevision(ROOT),
    tools: { ...ctx.tools, postgres: pgVersion },
    rows: judged,
    load: loads,
    failures,
  });
  process.stdout.write(`finished in ${seconds} s; results in ${path}\n`);

  if (interrupt.signal.aborted)
    return failures.some((f) => f.error.startsWith("unexpected")) ? 1 : 130;
  if (failures.length > 0) return 1;
  // --check asks only whether everything ran; a plain run also fails on a missed target.
  return !options.check && judged.some((r) => r.verdict === "fail") ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
