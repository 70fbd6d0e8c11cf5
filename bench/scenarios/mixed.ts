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
import { OpenLoop } from "./open-loop.js";
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
  const loop = new OpenLoop(
    Math.round(warmupS(ctx) * RATE_PER_S),
    Math.round(ctx.options.durationS * RATE_PER_S),
  );
  const answered: number[] = [];
  const queries: number[] = [];
  let deliveredToAll = 0;
  let failure: unknown;
  const fail = (error: unknown) => {
    failure ??= error;
  };
  const failed = () => failure !== undefined;

  await waitForSubscriptions(gateway, scope, (n) => n === 0, "no open subscriptions");
  const streamEnded = (status: string) => fail(new Error(`a subscription ended: ${status}`));
  const timer = connectH2(gateway.port, scope);
  void call(timer, PATHS.subscribe, subscribeRequest(`${hub}.>`), {
    onMessage: (body) =>
      loop.arrive(
        Number(fromBinary(SubscribeResponseSchema, body).event?.payload?.i ?? Number.NaN),
      ),
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
    while (querying && !failed()) {
      const started = performance.now();
      await unary(querier, PATHS.query, request).catch(fail);
      // The first calls fall in the publishers' warm-up and are not counted.
      if (calls++ >= 10) queries.push(performance.now() - started);
    }
  })();

  const cpu = measureCpu(gateway.pid, gateway.gcFile);
  const deliveredFrom = deliveredToAll;
  await loop.run(
    RATE_PER_S,
    (i) => {
      unary(publisher, PATHS.publish, publishRequest(`mix.d${i % DOMAINS}.x`, i)).then(() => {
        if (i >= loop.warmup) answered.push(performance.now() - (loop.sentAt[i] as number));
      }, fail);
    },
    failed,
  );
  await loop.settle(STRAGGLER_WAIT_MS, failed);
  querying = false;
  await queryLoop;
  const seconds = cpu.stop(ctx, what, "node:http2");
  const gc = await cpu.gc();
  if (failure !== undefined) throw failure;
  const lost = loop.missing();
  return {
    delivery: latencySummary(loop.delivery),
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
