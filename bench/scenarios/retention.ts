import type { BenchContext, Gateway } from "../lib/context.js";
import { BENCH_RETENTION_MAX_EVENTS } from "../lib/context.js";
import { connectH2, healthDetails, unary } from "../lib/h2.js";
import { keyedPublishRequest, PATHS } from "../lib/payload.js";
import { followCpu } from "../lib/processes.js";
import type { Scope } from "../lib/scope.js";
import { addComparisonRow, type Measured, rateOf, takeTurns } from "./compare.js";
import { closedLoop, h2loadServer, measureCpu, outboxDrained, warmupS } from "./measure.js";
import { publishShapes } from "./publish.js";

/**
 * Scenario: the cost of idempotency keys. A closed loop of gRPC Publish
 * calls (64 in flight on one HTTP/2 connection, from this process, since
 * h2load sends one fixed body and a key must differ per call) on the plain
 * gateway, each call with a fresh key beside the same calls without one.
 * The sides take turns off, on, on, off; the figure is calls answered per
 * second (each answer means stored), and the gateway's CPU per call.
 */
export async function idempotencyScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const session = connectH2(gateway.port, scope);
    const subject = "bench.idempotency.grpc";
    let n = 0;
    const run = async (keyed: boolean): Promise<Measured> => {
      await outboxDrained(session, gateway);
      let cpu: ReturnType<typeof measureCpu> | undefined;
      let gatewayCpu: ReturnType<typeof followCpu> | undefined;
      let serverCpuS = 0;
      let seconds = 0;
      const what = `gRPC Publish ${keyed ? "with" : "without"} idempotency keys (${db})`;
      const calls = await closedLoop(
        ctx.options.concurrency,
        async () => {
          const i = ++n;
          await unary(
            session,
            PATHS.publish,
            keyedPublishRequest(subject, i, keyed ? `bench-key-${i}` : ""),
          );
        },
        { warmupS: warmupS(ctx), durationS: ctx.options.durationS },
        {
          start: () => {
            cpu = measureCpu(gateway.pid, gateway.gcFile);
            gatewayCpu = followCpu(gateway.pid);
          },
          end: () => {
            seconds = cpu?.stop(ctx, what, "node:http2 closed loop") ?? 0;
            serverCpuS = gatewayCpu?.stop() ?? 0;
          },
        },
      );
      const gc = await cpu?.gc();
      return { stored: calls, succeeded: calls, failed: 0, seconds, serverCpuS, gc };
    };
    const comparison = await takeTurns(
      () => run(false),
      () => run(true),
    );
    const rates = (side: readonly Measured[]) => side.map((r) => Math.round(rateOf(r))).join(", ");
    ctx.progress(
      `gRPC Publish (${db}): with keys ${rates(comparison.on)} vs without ${rates(comparison.off)} calls/s`,
    );
    addComparisonRow(ctx, comparison, {
      scenario: "idempotency",
      figure: "gRPC Publish, a fresh idempotency key per call vs none",
      db,
      unit: "calls/s",
      baselineName: "the same calls without a key",
      target: { of: "ratio", atLeast: 0.85, text: "ratio ≥ 0.85 (≤ 15 % cost)" },
      onLabel: "with keys",
      offLabel: "without",
      notes: [
        `${ctx.options.concurrency} calls in flight on one HTTP/2 connection from a Node closed loop`,
      ],
    });
  }
}

/** The log's last sequence as GetHealth reports it. */
async function lastSequence(session: ReturnType<typeof connectH2>): Promise<number> {
  return Number((await healthDetails(session)).log_last_sequence ?? 0);
}

/**
 * Scenario: the cost of the pruner. The gRPC and JSON-RPC publish loads
 * on a gateway with `RETENTION_MAX_EVENTS` small enough that the pruner
 * deletes throughout the load, beside the plain gateway (whose pruner finds
 * nothing to do) on the same kind of database. Events are counted by the
 * log's last sequence (the pruned gateway's log loses rows as it goes),
 * until the outbox has forwarded them all. Turns: off, on, on, off.
 */
export async function prunerScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  for (const db of ctx.options.dbs) {
    const plain = await ctx.gateway(db);
    const pruned = await ctx.gateway(db, "retention");
    for (const { name, shape } of publishShapes(ctx, "pruner")) {
      const load = async (gateway: Gateway, what: string) => {
        const session = connectH2(gateway.port, scope);
        let before = 0;
        const result = await h2loadServer(ctx, scope, gateway, shape(gateway), what, async () => {
          await outboxDrained(session, gateway);
          before = await lastSequence(session);
        });
        const drainS = await outboxDrained(session, gateway);
        const stored = (await lastSequence(session)) - before;
        const details = await healthDetails(session);
        return {
          ...result,
          stored,
          drainS,
          kept: Number(details.log_last_sequence) - Number(details.log_first_sequence) + 1,
        };
      };
      const offWhat = `${name}: pruner idle (${db})`;
      const onWhat = `${name}: pruner deleting, RETENTION_MAX_EVENTS=${BENCH_RETENTION_MAX_EVENTS} (${db})`;
      const comparison = await takeTurns(
        () => load(plain, offWhat),
        () => load(pruned, onWhat),
      );
      const rates = (side: readonly Measured[]) =>
        side.map((r) => Math.round(rateOf(r))).join(" / ");
      ctx.progress(
        `${name} (${db}): pruning ${rates(comparison.on)} vs not ${rates(comparison.off)} events/s`,
      );
      addComparisonRow(ctx, comparison, {
        scenario: "pruner",
        figure: `${name}, pruner deleting during the load vs idle`,
        db,
        unit: "events/s",
        baselineName: "the same load, nothing to prune",
        target: { of: "ratio", atLeast: 0.9, text: "ratio ≥ 0.9 (≤ 10 % cost)" },
        onLabel: "pruning",
        offLabel: "not",
        notes: [
          `the pruned log held ${comparison.on.map((r) => r.kept).join(" / ")} events after each load (cap ${BENCH_RETENTION_MAX_EVENTS} + one step)`,
        ],
      });
    }
  }
}
