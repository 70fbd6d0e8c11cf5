import { setTimeout as sleep } from "node:timers/promises";
import type { BenchContext } from "../lib/context.js";
import { gcNote, summarizeGc } from "../lib/gc.js";
import type { Scope } from "../lib/scope.js";
import { measureCpu, warmupS } from "./measure.js";
import {
  grpcStreamTarget,
  type MeasuredTarget,
  measureTarget,
  natsTarget,
  type StreamTarget,
} from "./streams.js";

/**
 * Events published but not yet delivered to every subscriber. The
 * publisher waits at this bound, so each server runs at what it can
 * deliver, not at what it can queue (and the gateway's subscribers, whose
 * buffers hold 1,024 events, stay live instead of falling back to the log).
 */
const WINDOW_EVENTS = 32;
const PUBLISHES_IN_FLIGHT = 4;

/**
 * One publisher, N subscribers: publishes as fast as the slowest
 * subscriber allows within the window; counts deliveries per second.
 */
async function driveFanout(
  ctx: BenchContext,
  target: StreamTarget,
  subscribers: number,
  what: string,
) {
  const received = new Uint32Array(subscribers);
  // reached[c % size]: subscribers that have at least c messages, for c in (frontier, published].
  const reached = new Uint32Array(WINDOW_EVENTS * 2 + 2);
  let frontier = 0;
  let published = 0;
  let inFlight = 0;
  let delivered = 0;
  let stopped = false;
  let failure: unknown;

  const pump = () => {
    while (!stopped && inFlight < PUBLISHES_IN_FLIGHT && published - frontier < WINDOW_EVENTS) {
      published++;
      inFlight++;
      target.publish(published).then(
        () => {
          inFlight--;
          pump();
        },
        (error: unknown) => {
          failure ??= error;
          stopped = true;
        },
      );
    }
  };
  const onMessages = (i: number, n: number) => {
    for (let j = 0; j < n; j++) {
      const c = ++received[i];
      if (c > published)
        failure ??= new Error(`subscriber ${i} got more events than were published`);
      reached[c % reached.length]++;
    }
    delivered += n;
    while (reached[(frontier + 1) % reached.length] === subscribers) {
      reached[(frontier + 1) % reached.length] = 0;
      frontier++;
    }
    pump();
  };

  await target.open(subscribers, onMessages, false);
  pump();
  await sleep(warmupS(ctx) * 1000);
  const cpu = measureCpu(target.pid, target.gcFile);
  const from = delivered;
  await sleep(ctx.options.durationS * 1000);
  const count = delivered - from;
  const seconds = cpu.stop(ctx, what, "node:http2 / nats.js");
  stopped = true;
  if (failure !== undefined) throw failure;
  if (count === 0) {
    const slowest = received.reduce((min, v) => Math.min(min, v), Number.POSITIVE_INFINITY);
    throw new Error(
      `${what}: stalled; ${published} published, the slowest subscriber has ${slowest}`,
    );
  }
  const gc = await cpu.gc();
  return { deliveredPerS: count / seconds, eventsPerS: count / subscribers / seconds, gc };
}

/** Scenario 3: fan-out to 1,000 streaming subscribers from one publisher. */
export async function fanoutScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  const n = ctx.options.fanoutSubscribers;
  const measure = (what: string, make: (s: Scope) => Promise<MeasuredTarget>) =>
    measureTarget(ctx, scope, {
      what,
      make,
      drive: (target) => driveFanout(ctx, target, n, what),
      summary: (r) =>
        `${what}: ${Math.round(r.deliveredPerS)} delivered/s (${Math.round(r.eventsPerS)} events/s)`,
    });
  const nats = await ctx.nats();
  const raw = await measure("fan-out: NATS core", (s) =>
    natsTarget(nats.url, nats.pid, s, "bench.fanout"),
  );
  const connect = await ctx.server("connect-stream");
  const bare = await measure("fan-out: bare connect-node", async (s) =>
    grpcStreamTarget(connect, s, { subscribe: "hub.bench.fan.>", publish: "fan.out" }),
  );
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const hub = await measure(`fan-out: hubbus (${db})`, async (s) =>
      grpcStreamTarget(gateway, s, { subscribe: `hub.${gateway.hubId}.fan.>`, publish: "fan.out" }),
    );
    const figure = `fan-out, ${n.toLocaleString("en-US")} subscribers, 1 publisher`;
    ctx.addRow({
      scenario: "fanout",
      figure,
      db,
      unit: "delivered/s",
      hubbus: hub.deliveredPerS,
      baseline: bare.deliveredPerS,
      baselineName: "bare connect-node stream",
      target: { of: "ratio", atLeast: 0.7, text: "ratio ≥ 0.7" },
      notes: [
        `${n / 100} HTTP/2 connections of 100 streams; at most ${WINDOW_EVENTS} events in flight`,
        `gateway: ${gcNote(hub.gc)}`,
      ],
      ...(hub.gc === undefined ? {} : { gc: { hubbus: summarizeGc(hub.gc) } }),
    });
    ctx.addRow({
      scenario: "fanout",
      figure: `${figure} vs NATS core`,
      db,
      unit: "delivered/s",
      hubbus: hub.deliveredPerS,
      baseline: raw.deliveredPerS,
      baselineName: "NATS core subs",
    });
  }
}
