import { setTimeout as sleep } from "node:timers/promises";
import { fromBinary } from "@bufbuild/protobuf";
import { SubscribeResponseSchema } from "../../gen/hubbus/v1/eventbus_pb.js";
import type { BenchContext, Gateway } from "../lib/context.js";
import { gcNote, summarizeGc } from "../lib/gc.js";
import { call, connectH2, sessionsFor, unary } from "../lib/h2.js";
import { STREAMS_PER_CONNECTION } from "../lib/options.js";
import { PATHS, publishRequest, queryRequest, subscribeRequest } from "../lib/payload.js";
import type { Scope } from "../lib/scope.js";
import { formatNumber, latencySummary } from "../lib/stats.js";
import { measureCpu, warmupS } from "./measure.js";
import { waitForSubscriptions } from "./streams.js";

/** Publishes per second, open loop, as the latency scenario's. */
const RATE_PER_S = 1000;
/** Subscribers, each on one of {@link DOMAINS} domains, so each event reaches a tenth of them. */
const SUBSCRIBERS = 1000;
const DOMAINS = 10;
const QUERY_LIMIT = 100;
const STRAGGLER_WAIT_MS = 15_000;

/**
 * Publishes at 1,000/s over ten domains while 1,000 `Subscribe` streams
 * (a hundred per domain, as dashboards filter) receive them and one more
 * stream on every domain times each event, and a client runs `QueryEvents`
 * one call after another. Every side's p99 is the figure: what each kind of
 * user sees while the others load the same gateway.
 */
async function driveMixed(ctx: BenchContext, gateway: Gateway, scope: Scope, what: string) {
  const hub = `hub.${gateway.hubId}.mix`;
  const warmup = Math.round(warmupS(ctx) * RATE_PER_S);
  const total = warmup + Math.round(ctx.options.durationS * RATE_PER_S);
  const sentAt = new Float64Array(total).fill(Number.NaN);
  const arrived = new Uint8Array(total);
  const delivery: number[] = [];
  const answered: number[] = [];
  const queries: number[] = [];
  let deliveredToAll = 0;
  let failure: unknown;
  const fail = (error: unknown) => {
    failure ??= error;
  };

  await waitForSubscriptions(gateway, scope, (n) => n === 0, "no open subscriptions");
  const streamEnded = (status: string) => fail(new Error(`a subscription ended: ${status}`));
  const timer = connectH2(gateway.port, scope);
  void call(timer, PATHS.subscribe, subscribeRequest(`${hub}.>`), {
    onMessage: (body) => {
      const i = Number(fromBinary(SubscribeResponseSchema, body).event?.payload?.i ?? Number.NaN);
      const sent = sentAt[i];
      if (i >= warmup && sent !== undefined && !Number.isNaN(sent) && arrived[i] === 0) {
        arrived[i] = 1;
        delivery.push(performance.now() - sent);
      }
    },
  }).ended.then(({ status }) => streamEnded(status));
  const sessions = sessionsFor(gateway.port, SUBSCRIBERS, STREAMS_PER_CONNECTION, scope);
  for (let s = 0; s < SUBSCRIBERS; s++) {
    const session = sessions[Math.floor(s / STREAMS_PER_CONNECTION)];
    if (session === undefined) throw new Error("no session for a stream");
    const request = subscribeRequest(`${hub}.d${s % DOMAINS}.>`);
    void call(session, PATHS.subscribe, request, {
      onCount: (n) => {
        deliveredToAll += n;
      },
    }).ended.then(({ status }) => streamEnded(status));
  }
  await waitForSubscriptions(gateway, scope, (n) => n >= SUBSCRIBERS + 1, "every subscription");

  const publisher = connectH2(gateway.port, scope);
  const querier = connectH2(gateway.port, scope);
  let querying = true;
  const queryLoop = (async () => {
    const request = queryRequest(`${hub}.d3.>`, QUERY_LIMIT);
    let calls = 0;
    while (querying && failure === undefined) {
      const started = performance.now();
      await unary(querier, PATHS.query, request).catch(fail);
      // The first calls fall in the publishers' warm-up and are not counted.
      if (calls++ >= 10) queries.push(performance.now() - started);
    }
  })();

  const cpu = measureCpu(gateway.pid, gateway.gcFile);
  const started = performance.now();
  const deliveredFrom = deliveredToAll;
  let sent = 0;
  await new Promise<void>((resolve) => {
    // A 1 ms timer fires late now and then: each tick sends whatever is due.
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * RATE_PER_S) / 1000));
      while (sent < due && failure === undefined) {
        const i = sent++;
        sentAt[i] = performance.now();
        unary(publisher, PATHS.publish, publishRequest(`mix.d${i % DOMAINS}.x`, i)).then(() => {
          if (i >= warmup) answered.push(performance.now() - (sentAt[i] as number));
        }, fail);
      }
      if (sent >= total || failure !== undefined) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  const expected = total - warmup;
  const deadline = performance.now() + STRAGGLER_WAIT_MS;
  while (delivery.length < expected && performance.now() < deadline && failure === undefined) {
    await sleep(10);
  }
  querying = false;
  await queryLoop;
  const seconds = cpu.stop(ctx, what, "node:http2");
  const gc = await cpu.gc();
  if (failure !== undefined) throw failure;
  // Events still missing count with the time waited: a lower bound, never left out.
  const lost = expected - delivery.length;
  const now = performance.now();
  for (let i = warmup; i < total; i++) {
    if (arrived[i] === 0) delivery.push(now - (sentAt[i] as number));
  }
  return {
    delivery: latencySummary(delivery),
    publish: latencySummary(answered),
    query: latencySummary(queries),
    queries: queries.length,
    lost,
    deliveredPerS: (deliveredToAll - deliveredFrom) / seconds,
    gc,
  };
}

/** Scenario: publishes, queries and 1,000 live subscribers on one gateway at once. */
export async function mixedScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const what = `mixed load: hubbus (${db})`;
    const own = scope.child(what);
    let r: Awaited<ReturnType<typeof driveMixed>>;
    try {
      r = await driveMixed(ctx, gateway, own, what);
    } finally {
      await own.close();
    }
    ctx.progress(
      `${what}: delivery p99 ${formatNumber(r.delivery.p99Ms)} ms, Publish p99 ${formatNumber(r.publish.p99Ms)} ms, QueryEvents p99 ${formatNumber(r.query.p99Ms)} ms`,
    );
    const notes = [
      `${RATE_PER_S} publishes/s over ${DOMAINS} domains; ${SUBSCRIBERS} Subscribe streams, ${SUBSCRIBERS / DOMAINS} per domain, received ${Math.round(r.deliveredPerS)} events/s in all; QueryEvents (limit ${QUERY_LIMIT}) one call after another`,
      `gateway: ${gcNote(r.gc)}`,
      ...(r.lost > 0
        ? [`${r.lost} events not delivered ${STRAGGLER_WAIT_MS / 1000} s after the last publish`]
        : []),
    ];
    const row = (figure: string, value: { p50Ms: number; p99Ms: number }, rowNotes: string[]) =>
      ctx.addRow({
        scenario: "mixed",
        figure: `mixed load: ${figure}, p50 / p99`,
        db,
        unit: "ms",
        hubbus: [value.p50Ms, value.p99Ms],
        notes: rowNotes,
      });
    ctx.addRow({
      scenario: "mixed",
      figure: "mixed load: publish → subscriber, p50 / p99",
      db,
      unit: "ms",
      hubbus: [r.delivery.p50Ms, r.delivery.p99Ms],
      notes: ["from the Publish call to its arrival on a stream of every domain", ...notes],
      ...(r.gc === undefined ? {} : { gc: { hubbus: summarizeGc(r.gc) } }),
    });
    row("Publish answered", r.publish, ["the same run"]);
    row("QueryEvents", r.query, [`the same run: ${r.queries} calls`]);
  }
}
