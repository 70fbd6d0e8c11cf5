import { setTimeout as sleep } from "node:timers/promises";
import type { BenchContext, ServerProcess } from "../lib/context.js";
import { DEFAULT_MEMORY_SUBSCRIBERS, STREAMS_PER_CONNECTION } from "../lib/options.js";
import { rssBytes } from "../lib/processes.js";
import type { Scope } from "../lib/scope.js";
import { grpcStreamTarget, waitForSubscriptions } from "./streams.js";

/** Time for a server to settle (allocations done, timers idle) before its RSS is read. */
const SETTLE_MS = 500;

/**
 * RSS after full GCs in the server (servers/gc-hook.ts) and a moment to
 * settle: V8 returns freed pages to the system in the background, so one
 * collection right before the reading still leaves some behind.
 */
async function settledRss(pid: number): Promise<number> {
  for (let i = 0; i < 2; i++) {
    process.kill(pid, "SIGUSR2");
    await sleep(SETTLE_MS);
  }
  return rssBytes(pid);
}

/**
 * RSS of the server process (after a full GC) with no stream, with half of
 * `count` idle Subscribe streams (nothing is published on their subjects),
 * then with all of them. The figure is the second half's cost per stream:
 * the first half also pays for one-time growth (compiled code, pools, heap
 * headroom). The connections the streams share are part of the cost, 1/100th each.
 */
async function rssPerSubscriber(
  parent: Scope,
  server: ServerProcess,
  count: number,
  subject: string,
) {
  const scope = parent.child(`idle streams on ${server.name}`);
  try {
    await waitForSubscriptions(server, scope, (n) => n === 0, "no open subscriptions");
    const empty = await settledRss(server.pid);
    const half = Math.floor(count / 2);
    const first = grpcStreamTarget(server, scope, { subscribe: subject, publish: "unused" });
    await first.open(half, () => {}, false);
    const atHalf = await settledRss(server.pid);
    const second = grpcStreamTarget(server, scope, { subscribe: subject, publish: "unused" });
    await second.open(count - half, () => {}, false, half);
    const full = await settledRss(server.pid);
    const failed = first.failure() ?? second.failure();
    if (failed) throw new Error(`${server.name}: ${failed}`);
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
    return {
      perSubscriberKB: (full - atHalf) / (count - half) / 1024,
      rss: `${mb(empty)} MB with no stream, ${mb(atHalf)} with ${half}, ${mb(full)} with ${count}`,
    };
  } finally {
    await scope.close();
  }
}

/** Scenario 7: resident memory per idle streaming subscriber. */
export async function memoryScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  const n = ctx.options.memorySubscribers;
  const connect = await ctx.server("connect-stream");
  const bare = await rssPerSubscriber(scope, connect, n, "hub.bench.idle.>");
  ctx.progress(`idle streams: bare connect-node ${bare.perSubscriberKB.toFixed(1)} KB each`);
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const hub = await rssPerSubscriber(scope, gateway, n, `hub.${gateway.hubId}.idle.>`);
    ctx.progress(`idle streams: hubbus (${db}) ${hub.perSubscriberKB.toFixed(1)} KB each`);
    ctx.addRow({
      scenario: "memory",
      figure: `RSS per idle subscriber, ${n.toLocaleString("en-US")} streams`,
      db,
      unit: "KB",
      hubbus: hub.perSubscriberKB,
      baseline: bare.perSubscriberKB,
      baselineName: "bare connect-node stream",
      target: { of: "hubbus", atMost: 10, text: "≤ 10 KB each" },
      notes: [
        `RSS ${hub.rss} (after full GCs); the figure is the second half's growth per stream; ${STREAMS_PER_CONNECTION} streams per HTTP/2 connection`,
        ...(ctx.options.quick
          ? [
              `quick mode: ${n.toLocaleString("en-US")} subscribers (full runs: ${DEFAULT_MEMORY_SUBSCRIBERS.toLocaleString("en-US")})`,
            ]
          : []),
      ],
    });
  }
}
