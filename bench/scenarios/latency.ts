import { monitorEventLoopDelay } from "node:perf_hooks";
import type { BenchContext } from "../lib/context.js";
import { gcNote, summarizeGc } from "../lib/gc.js";
import type { Scope } from "../lib/scope.js";
import { formatNumber, latencySummary } from "../lib/stats.js";
import { measureCpu, warmupS } from "./measure.js";
import { OpenLoop } from "./open-loop.js";
import {
  grpcStreamTarget,
  type MeasuredTarget,
  measureTarget,
  natsTarget,
  type StreamTarget,
} from "./streams.js";

/** The publishing rate for the latency figure. */
const RATE_PER_S = 1000;
/** How long events still in flight after the last publish may take to arrive (a gateway that cannot keep up queues). */
const STRAGGLER_WAIT_MS = 15_000;
const QUICK_STRAGGLER_WAIT_MS = 5_000;

/** Publishes at 1,000/s and times each event to its arrival at one subscriber of the target. */
async function driveLatency(ctx: BenchContext, target: StreamTarget, what: string) {
  const loop = new OpenLoop(
    Math.round(warmupS(ctx) * RATE_PER_S),
    Math.round(ctx.options.durationS * RATE_PER_S),
  );
  // Publish call → its answer: how much of the latency is the gateway's accepting (commit included).
  const answered: number[] = [];
  let failure: unknown;
  const failed = () => failure !== undefined;
  let acked = 0;
  let lastAck = 0;
  await target.open(
    1,
    (_i, _n, body) => loop.arrive(body ? target.indexOf(body) : Number.NaN),
    true,
  );
  const cpu = measureCpu(target.pid, target.gcFile);
  // The client's own stalls (its GC, decoding every event) delay the
  // arrival times it takes: reported beside the figure, not subtracted.
  const clientDelay = monitorEventLoopDelay({ resolution: 1 });
  clientDelay.enable();
  await loop.run(
    RATE_PER_S,
    (i) => {
      target.publish(i).then(
        () => {
          acked++;
          lastAck = performance.now();
          if (i >= loop.warmup) answered.push(lastAck - (loop.sentAt[i] as number));
        },
        (error: unknown) => {
          failure ??= error;
        },
      );
    },
    failed,
  );
  const waitMs = ctx.options.quick ? QUICK_STRAGGLER_WAIT_MS : STRAGGLER_WAIT_MS;
  await loop.settle(waitMs, failed);
  cpu.stop(ctx, what, "node:http2 / nats.js");
  clientDelay.disable();
  if (failure !== undefined) throw failure;
  const gc = await cpu.gc();
  const lost = loop.missing();
  const acceptedPerS = acked / ((lastAck - loop.started) / 1000);
  const publish = latencySummary(answered);
  return {
    ...latencySummary(loop.delivery),
    answerP50Ms: publish.p50Ms,
    answerP99Ms: publish.p99Ms,
    samples: loop.expected,
    lost,
    acceptedPerS,
    waitMs,
    gc,
    // The histogram is in nanoseconds.
    clientDelayP99Ms: clientDelay.percentile(99) / 1e6,
    clientDelayMaxMs: clientDelay.max / 1e6,
  };
}

/** Scenario 4: publish → subscriber latency at 1,000 events/s; NATS core as the baseline. */
export async function latencyScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  const measure = (what: string, make: (s: Scope) => Promise<MeasuredTarget>) =>
    measureTarget(ctx, scope, {
      what,
      make,
      drive: (target) => driveLatency(ctx, target, what),
      summary: (r) => `${what}: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`,
    });
  const nats = await ctx.nats();
  const raw = await measure("latency at 1k/s: NATS core", (s) =>
    natsTarget(nats.url, nats.pid, s, "bench.latency"),
  );
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const hub = await measure(`latency at 1k/s: hubbus (${db})`, async (s) =>
      grpcStreamTarget(gateway, s, { subscribe: `hub.${gateway.hubId}.lat.>`, publish: "lat.x" }),
    );
    ctx.addRow({
      scenario: "latency",
      figure: "publish → subscriber at 1k/s, p50 / p99",
      db,
      unit: "ms",
      hubbus: [hub.p50Ms, hub.p99Ms],
      baseline: [raw.p50Ms, raw.p99Ms],
      baselineName: "NATS core",
      target: { of: "hubbus", atMost: 2, text: "p99 ≤ 2 ms" },
      notes: [
        `${hub.samples} events over gRPC (Publish, then a Subscribe stream); the time includes the durable commit`,
        `Publish answered after p50 ${formatNumber(hub.answerP50Ms)} / p99 ${formatNumber(hub.answerP99Ms)} ms`,
        ...(hub.acceptedPerS < RATE_PER_S * 0.95
          ? [`the gateway accepted only ${Math.round(hub.acceptedPerS)} publishes/s: events queued`]
          : []),
        ...(hub.lost > 0
          ? [
              `${hub.lost} events not delivered ${hub.waitMs / 1000} s after the last publish (counted with that wait)`,
            ]
          : []),
        `gateway: ${gcNote(hub.gc)}`,
        `the measuring client's event-loop delay: p99 ${formatNumber(hub.clientDelayP99Ms)} ms, max ${formatNumber(hub.clientDelayMaxMs)} ms (NATS core run: p99 ${formatNumber(raw.clientDelayP99Ms)}, max ${formatNumber(raw.clientDelayMaxMs)})`,
      ],
      ...(hub.gc === undefined ? {} : { gc: { hubbus: summarizeGc(hub.gc) } }),
    });
  }
}
