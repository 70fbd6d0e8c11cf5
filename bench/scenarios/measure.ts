import type { ClientHttp2Session } from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import type { BenchContext, Gateway, ServerProcess } from "../lib/context.js";
import { followGc, type GcPause, summarizeGc } from "../lib/gc.js";
import { healthDetails } from "../lib/h2.js";
import { type H2loadOptions, type H2loadResult, runH2load } from "../lib/h2load.js";
import { followCpu, ownCpuSeconds } from "../lib/processes.js";
import type { LoadSample } from "../lib/report.js";
import type { Scope } from "../lib/scope.js";
import { cpuPercent } from "../lib/stats.js";

/** Unmeasured load before each measurement: JIT, connection setup, pools and caches warm up. */
export function warmupS(ctx: BenchContext): number {
  return ctx.options.quick ? 0.5 : 2;
}

/**
 * h2load against a server process: a warm-up run, then the measured run
 * with both sides' CPU and the server's GC pauses during it.
 */
export async function h2loadServer(
  ctx: BenchContext,
  scope: Scope,
  server: ServerProcess,
  options: Omit<H2loadOptions, "durationS" | "dir">,
  what: string,
  beforeMeasuring?: () => Promise<void>,
): Promise<H2loadResult & { serverCpuS: number; gc: GcPause[] | undefined }> {
  await runH2load({ ...options, durationS: warmupS(ctx), dir: ctx.dir }, scope);
  await beforeMeasuring?.();
  const cpu = followCpu(server.pid);
  const bus = server.busPid === undefined ? undefined : followCpu(server.busPid);
  const gcWindow = followGc(server.gcFile);
  const result = await runH2load(
    { ...options, durationS: ctx.options.durationS, dir: ctx.dir },
    scope,
  );
  const serverCpuS = cpu.stop();
  const busCpuS = bus?.stop();
  gcWindow.stop();
  const gc = await gcWindow.pauses();
  ctx.addLoad({
    what,
    seconds: result.seconds,
    serverCpuPct: cpuPercent(serverCpuS, result.seconds),
    ...(busCpuS === undefined ? {} : { busCpuPct: cpuPercent(busCpuS, result.seconds) }),
    clientCpuPct: cpuPercent(result.clientCpuS, result.seconds),
    client: "h2load",
    ...(gc === undefined ? {} : { gc: summarizeGc(gc) }),
  });
  return { ...result, serverCpuS, gc };
}

/**
 * Follows this process's CPU (the in-process clients) and a server's over
 * one measurement, and the server's GC pauses when it records them
 * (`gcFile`): `stop()` ends the window, `gc()` then reads its pauses and
 * adds them to the measurement's sample.
 */
export function measureCpu(serverPid: number | undefined, gcFile?: string) {
  const started = performance.now();
  const client = ownCpuSeconds();
  const server = serverPid === undefined ? undefined : followCpu(serverPid);
  const gcWindow = followGc(gcFile);
  let sample: LoadSample | undefined;
  return {
    stop(ctx: BenchContext, what: string, clientName: string): number {
      const seconds = (performance.now() - started) / 1000;
      const serverCpuS = server?.stop();
      gcWindow.stop();
      sample = {
        what,
        seconds,
        clientCpuPct: cpuPercent(ownCpuSeconds() - client, seconds),
        ...(serverCpuS === undefined ? {} : { serverCpuPct: cpuPercent(serverCpuS, seconds) }),
        client: clientName,
      };
      ctx.addLoad(sample);
      return seconds;
    },
    async gc(): Promise<GcPause[] | undefined> {
      const pauses = await gcWindow.pauses();
      // The sample is in the run's list already; the results file is written at the end.
      if (sample !== undefined && pauses !== undefined) sample.gc = summarizeGc(pauses);
      return pauses;
    },
  };
}

/** Longest wait for the gateway's outbox to reach NATS after a load. */
const DRAIN_TIMEOUT_MS = 120_000;

/**
 * Waits until the gateway has forwarded everything to NATS; resolves with
 * the seconds it took. Publishing is "done" only then: events/s figures
 * count the time until the last event is both stored and forwarded.
 */
export async function outboxDrained(
  session: ClientHttp2Session,
  gateway: Gateway,
): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < DRAIN_TIMEOUT_MS) {
    const details = await healthDetails(session);
    if (details.outbox_backlog === "0") return (performance.now() - started) / 1000;
    await sleep(20);
  }
  throw new Error(`${gateway.name}: the outbox still had a backlog after ${DRAIN_TIMEOUT_MS} ms`);
}

/** Events the gateway stored under one subject (read from its database directly). */
export async function storedCount(gateway: Gateway, subject: string): Promise<number> {
  const [row] = await gateway.store.all<{ n: number | string }>(
    `select count(*) as n from "hub_event" where "subject" = ?`,
    [subject],
  );
  return Number(row?.n ?? 0);
}

/**
 * Runs `loops` closed-loop workers through a warm-up and a measured phase;
 * resolves with the completions in the measured phase. The first failure
 * stops every worker and is thrown once the phases are over.
 */
export async function closedLoop(
  loops: number,
  once: () => Promise<void>,
  phases: { warmupS: number; durationS: number },
  hooks: { start(): void; end(): void },
): Promise<number> {
  let counting = false;
  let stopped = false;
  let failure: unknown;
  let done = 0;
  const worker = async () => {
    try {
      while (!stopped) {
        await once();
        if (counting) done++;
      }
    } catch (error) {
      failure ??= error;
      stopped = true;
    }
  };
  const workers = Array.from({ length: loops }, worker);
  await sleep(phases.warmupS * 1000);
  hooks.start();
  counting = true;
  await sleep(phases.durationS * 1000);
  counting = false;
  hooks.end();
  stopped = true;
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
  return done;
}
