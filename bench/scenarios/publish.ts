import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { BenchContext, Gateway } from "../lib/context.js";
import { type GcPause, gcNote, summarizeGc } from "../lib/gc.js";
import { connectH2 } from "../lib/h2.js";
import type { H2loadOptions } from "../lib/h2load.js";
import {
  benchPayload,
  jsonRpcPublishBody,
  PATHS,
  publishBatchRequest,
  publishRequest,
} from "../lib/payload.js";
import type { Scope } from "../lib/scope.js";
import {
  closedLoop,
  h2loadServer,
  measureCpu,
  outboxDrained,
  storedCount,
  warmupS,
} from "./measure.js";

type LoadShape = Omit<H2loadOptions, "durationS" | "dir">;

/** Share of answered calls that must be in the log: gRPC and JSON-RPC errors both answer HTTP 200. */
const MIN_STORED_SHARE = 0.99;
/** Events in each PublishBatch call of the batch scenario. */
export const BATCH_EVENTS_PER_CALL = 100;
/** PublishBatch calls in flight on one HTTP/2 connection. */
export const BATCH_CONCURRENCY = 8;

/**
 * Publishes under load through the gateway and counts what the log holds
 * afterwards. The figure is events stored and forwarded to NATS per second:
 * the measured period runs until the outbox is empty.
 */
export async function loadGateway(
  ctx: BenchContext,
  scope: Scope,
  gateway: Gateway,
  shape: LoadShape,
  subject: string,
  what: string,
  eventsPerCall = 1,
) {
  const session = connectH2(gateway.port, scope);
  const fullSubject = `hub.${gateway.hubId}.${subject}`;
  let before = 0;
  const result = await h2loadServer(ctx, scope, gateway, shape, what, async () => {
    await outboxDrained(session, gateway);
    before = await storedCount(gateway, fullSubject);
  });
  const drainS = await outboxDrained(session, gateway);
  const stored = (await storedCount(gateway, fullSubject)) - before;
  if (stored < result.succeeded * eventsPerCall * MIN_STORED_SHARE) {
    throw new Error(
      `${what}: h2load counted ${result.succeeded} answers (${eventsPerCall} events each) but the log gained ${stored} events ` +
        "(the calls answered errors; see the gateway log)",
    );
  }
  return { ...result, stored, drainS, perSecond: stored / (result.seconds + drainS) };
}

/** A gateway load's notes, and its GC pauses for the results file. */
function notes(r: {
  failed: number;
  drainS: number;
  succeeded: number;
  seconds: number;
  gc: readonly GcPause[] | undefined;
}) {
  const out = [
    `answered ${Math.round(r.succeeded / r.seconds)} calls/s; NATS had every event ${r.drainS.toFixed(2)} s after the load ended`,
  ];
  if (r.failed > 0) out.push(`${r.failed} requests failed at the HTTP level`);
  out.push(`gateway: ${gcNote(r.gc)}`);
  return { notes: out, ...(r.gc === undefined ? {} : { gc: { hubbus: summarizeGc(r.gc) } }) };
}

/** Scenario 1: gRPC Publish, 64 concurrent calls on one HTTP/2 connection, against a bare grpc-js echo. */
export async function grpcScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  const { concurrency } = ctx.options;
  const shape = (port: number): LoadShape => ({
    url: `http://127.0.0.1:${port}${PATHS.publish}`,
    http1: false,
    connections: 1,
    streamsPerConnection: concurrency,
    body: publishRequest("bench.grpc"),
    headers: ["content-type: application/grpc", "te: trailers"],
  });
  const echo = await ctx.server("grpc-echo");
  const base = await h2loadServer(ctx, scope, echo, shape(echo.port), "gRPC unary: grpc-js echo");
  ctx.progress(`grpc-js echo: ${Math.round(base.perSecond)} calls/s`);
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const what = `gRPC Publish: hubbus (${db})`;
    const r = await loadGateway(ctx, scope, gateway, shape(gateway.port), "bench.grpc", what);
    ctx.progress(`${what}: ${Math.round(r.perSecond)} events/s stored + forwarded`);
    const figure = `gRPC Publish, ${concurrency} calls on 1 HTTP/2 conn`;
    ctx.addRow({
      scenario: "grpc",
      figure,
      db,
      unit: "events/s",
      hubbus: r.perSecond,
      baseline: base.perSecond,
      baselineName: "grpc-js echo",
      target: { of: "ratio", atLeast: 0.5, text: "ratio ≥ 0.5" },
      ...notes(r),
    });
    ctx.addRow({
      scenario: "grpc",
      figure: "gRPC Publish latency p50 / p99",
      db,
      unit: "ms",
      hubbus: [r.p50Ms, r.p99Ms],
      baseline: [base.p50Ms, base.p99Ms],
      baselineName: "grpc-js echo",
    });
  }
}

/** Scenario 2: JSON-RPC bus.publish over 64 HTTP/1.1 keep-alive connections, against a bare Node HTTP server. */
export async function jsonRpcScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  const { concurrency } = ctx.options;
  const shape = (port: number): LoadShape => ({
    url: `http://127.0.0.1:${port}/rpc`,
    http1: true,
    connections: concurrency,
    streamsPerConnection: 1,
    body: jsonRpcPublishBody("bench.jsonrpc"),
    headers: ["content-type: application/json"],
  });
  const bare = await ctx.server("bare-http");
  const base = await h2loadServer(
    ctx,
    scope,
    bare,
    shape(bare.port),
    "HTTP/1.1 JSON: bare node:http",
  );
  ctx.progress(`bare node:http: ${Math.round(base.perSecond)} requests/s`);
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const what = `JSON-RPC bus.publish: hubbus (${db})`;
    const r = await loadGateway(ctx, scope, gateway, shape(gateway.port), "bench.jsonrpc", what);
    ctx.progress(`${what}: ${Math.round(r.perSecond)} events/s stored + forwarded`);
    ctx.addRow({
      scenario: "jsonrpc",
      figure: `JSON-RPC bus.publish, ${concurrency} HTTP/1.1 conns`,
      db,
      unit: "events/s",
      hubbus: r.perSecond,
      baseline: base.perSecond,
      baselineName: "bare node:http",
      target: { of: "ratio", atLeast: 0.5, text: "ratio ≥ 0.5" },
      ...notes(r),
    });
    ctx.addRow({
      scenario: "jsonrpc",
      figure: "JSON-RPC publish latency p50 / p99",
      db,
      unit: "ms",
      hubbus: [r.p50Ms, r.p99Ms],
      baseline: [base.p50Ms, base.p99Ms],
      baselineName: "bare node:http",
    });
  }
}

/** Raw JetStream publish: acknowledged publishes per second, the PublishBatch target's baseline. */
async function jetStreamBaseline(ctx: BenchContext, scope: Scope): Promise<number> {
  const nats = await ctx.nats();
  const nc = await connect({ servers: nats.url, name: "hubbus-bench-jetstream" });
  scope.defer("close the JetStream baseline connection", () => nc.close());
  const jsm = await jetstreamManager(nc);
  const stream = "BENCH_JETSTREAM";
  await jsm.streams.add({ name: stream, subjects: ["bench.js.>"], storage: StorageType.File });
  scope.defer("delete the JetStream baseline stream", () => jsm.streams.delete(stream));
  const js = jetstream(nc);
  const data = new TextEncoder().encode(JSON.stringify(benchPayload()));
  let id = 0;
  let cpu: ReturnType<typeof measureCpu> | undefined;
  let seconds = 0;
  const acked = await closedLoop(
    ctx.options.concurrency,
    async () => {
      await js.publish("bench.js.events", data, { msgID: `bench-${++id}` });
    },
    { warmupS: warmupS(ctx), durationS: ctx.options.durationS },
    {
      start: () => {
        cpu = measureCpu(nats.pid);
      },
      end: () => {
        seconds = cpu?.stop(ctx, "JetStream publish: nats.js → nats-server", "nats.js") ?? 0;
      },
    },
  );
  return acked / seconds;
}

/**
 * Scenario 3: gRPC PublishBatch through the gateway, {@link BATCH_CONCURRENCY}
 * calls of {@link BATCH_EVENTS_PER_CALL} events in flight on one HTTP/2
 * connection, counted as events stored and forwarded to NATS per second,
 * against raw JetStream publish: acknowledged publishes, 64 in flight from
 * one Node process (nats.js v3), with a Nats-Msg-Id each as the gateway's
 * relay sends them, into a file-backed stream.
 */
export async function batchScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  const rate = await jetStreamBaseline(ctx, scope);
  ctx.progress(`raw JetStream publish: ${Math.round(rate)} acks/s`);
  const shape = (port: number): LoadShape => ({
    url: `http://127.0.0.1:${port}${PATHS.publishBatch}`,
    http1: false,
    connections: 1,
    streamsPerConnection: BATCH_CONCURRENCY,
    body: publishBatchRequest("bench.batch", BATCH_EVENTS_PER_CALL),
    headers: ["content-type: application/grpc", "te: trailers"],
  });
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const what = `gRPC PublishBatch: hubbus (${db})`;
    const r = await loadGateway(
      ctx,
      scope,
      gateway,
      shape(gateway.port),
      "bench.batch",
      what,
      BATCH_EVENTS_PER_CALL,
    );
    ctx.progress(`${what}: ${Math.round(r.perSecond)} events/s stored + forwarded`);
    ctx.addRow({
      scenario: "batch",
      figure: `PublishBatch events/s, ${BATCH_CONCURRENCY} calls × ${BATCH_EVENTS_PER_CALL} events on 1 HTTP/2 conn`,
      db,
      unit: "events/s",
      hubbus: r.perSecond,
      baseline: rate,
      baselineName: "raw JetStream publish",
      target: { of: "ratio", atLeast: 0.5, text: "ratio ≥ 0.5" },
      ...notes(r),
    });
    ctx.addRow({
      scenario: "batch",
      figure: `PublishBatch call latency p50 / p99 (${BATCH_EVENTS_PER_CALL} events)`,
      db,
      unit: "ms",
      hubbus: [r.p50Ms, r.p99Ms],
    });
  }
}

/** The gRPC and JSON-RPC publish loads of the on/off comparisons, on subjects under `bench.<what>.`. */
export function publishShapes(ctx: BenchContext, what: string) {
  const { concurrency } = ctx.options;
  return [
    {
      name: "gRPC Publish",
      subject: `bench.${what}.grpc`,
      shape: (gateway: Gateway): LoadShape => ({
        url: `http://127.0.0.1:${gateway.port}${PATHS.publish}`,
        http1: false,
        connections: 1,
        streamsPerConnection: concurrency,
        body: publishRequest(`bench.${what}.grpc`),
        headers: ["content-type: application/grpc", "te: trailers", ...gateway.headers],
      }),
    },
    {
      name: "JSON-RPC bus.publish",
      subject: `bench.${what}.jsonrpc`,
      shape: (gateway: Gateway): LoadShape => ({
        url: `http://127.0.0.1:${gateway.port}/rpc`,
        http1: true,
        connections: concurrency,
        streamsPerConnection: 1,
        body: jsonRpcPublishBody(`bench.${what}.jsonrpc`),
        headers: ["content-type: application/json", ...gateway.headers],
      }),
    },
  ];
}
