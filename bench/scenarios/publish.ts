import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { BenchContext, Gateway } from "../lib/context.js";
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
import { percentile } from "../lib/stats.js";
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
async function loadGateway(
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

function notes(r: { failed: number; drainS: number; succeeded: number; seconds: number }) {
  const out = [
    `answered ${Math.round(r.succeeded / r.seconds)} calls/s; NATS had every event ${r.drainS.toFixed(2)} s after the load ended`,
  ];
  if (r.failed > 0) out.push(`${r.failed} requests failed at the HTTP level`);
  return out;
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
      notes: notes(r),
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
      notes: notes(r),
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
      notes: notes(r),
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

/**
 * Scenario: the cost of authentication and permissions. The same gRPC and
 * JSON-RPC loads as above on a gateway with an AUTH_FILE (one API-key
 * caller, publish and subscribe allow and deny lists), beside the plain
 * gateway on the same database, measured back to back.
 */
export async function authScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  for (const db of ctx.options.dbs) {
    const plain = await ctx.gateway(db);
    const secured = await ctx.gateway(db, "auth");
    for (const { name, subject, shape } of publishShapes(ctx, "auth")) {
      const off = await loadGateway(
        ctx,
        scope,
        plain,
        shape(plain),
        subject,
        `${name}: auth off (${db})`,
      );
      const on = await loadGateway(
        ctx,
        scope,
        secured,
        shape(secured),
        subject,
        `${name}: auth on (${db})`,
      );
      ctx.progress(
        `${name} (${db}): auth on ${Math.round(on.perSecond)} vs off ${Math.round(off.perSecond)} events/s`,
      );
      ctx.addRow({
        scenario: "auth",
        figure: `${name}, auth on (API key) vs off`,
        db,
        unit: "events/s",
        hubbus: on.perSecond,
        baseline: off.perSecond,
        baselineName: "the same, auth off",
        target: { of: "ratio", atLeast: 0.9, text: "ratio ≥ 0.9" },
        notes: [...notes(on), `auth off: ${notes(off)[0]}`],
      });
    }
  }
}

/** How often the metrics scenario scrapes `/metrics` while the load runs. */
export const METRICS_SCRAPE_INTERVAL_MS = 1000;

/**
 * Scrapes `/metrics` every {@link METRICS_SCRAPE_INTERVAL_MS} as Prometheus
 * would until stopped; resolves with each scrape's wall time (request to
 * last byte, ms) and the last body's size. A failed scrape fails the load.
 */
function scrapeEverySecond(gateway: Gateway) {
  const times: number[] = [];
  let bytes = 0;
  let failure: unknown;
  let inFlight: Promise<void> | undefined;
  const scrape = async () => {
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${gateway.port}/metrics`);
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${gateway.name}: /metrics answered ${res.status}`);
    times.push(performance.now() - started);
    bytes = body.length;
  };
  const timer = setInterval(() => {
    inFlight ??= scrape()
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => {
        inFlight = undefined;
      });
  }, METRICS_SCRAPE_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      if (failure !== undefined) throw failure;
      return { times: times.sort((a, b) => a - b), bytes };
    },
  };
}

/**
 * Gives PostgreSQL the statistics autovacuum keeps on a gateway that has run
 * a while. A log filled seconds ago has none, and then the outbox backlog
 * that every health check and scrape counts is planned as a scan of the
 * whole log (25 ms at 150,000 events) instead of a read of the range past
 * the cursor (under 1 ms).
 */
async function analyzed(gateway: Gateway): Promise<void> {
  if (gateway.db === "postgres") await gateway.store.run(`analyze "hub_event"`);
}

/** The gateway's CPU per call it answered during the measured period, in µs. */
function cpuPerCallUs(r: { serverCpuS: number; succeeded: number }): string {
  return r.succeeded > 0 ? ((r.serverCpuS / r.succeeded) * 1e6).toFixed(0) : "—";
}

/** Scrapes taken one after another once a load is over. */
const IDLE_SCRAPES = 5;

/** The median wall time (ms) of {@link IDLE_SCRAPES} scrapes one after another. */
async function idleScrapeMs(gateway: Gateway): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < IDLE_SCRAPES; i++) {
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${gateway.port}/metrics`);
    await res.text();
    times.push(performance.now() - started);
  }
  return percentile(
    times.sort((a, b) => a - b),
    50,
  );
}

type Load = Awaited<ReturnType<typeof loadGateway>>;

/** Loads of one side taken together: events over the time they took, CPU over the calls answered. */
function together(loads: readonly Load[]) {
  const add = (pick: (load: Load) => number) => loads.reduce((sum, load) => sum + pick(load), 0);
  const stored = add((l) => l.stored);
  return {
    stored,
    succeeded: add((l) => l.succeeded),
    failed: add((l) => l.failed),
    seconds: add((l) => l.seconds),
    serverCpuS: add((l) => l.serverCpuS),
    drainS: Math.max(...loads.map((l) => l.drainS)),
    perSecond: stored / add((l) => l.seconds + l.drainS),
  };
}

/**
 * Scenario: the cost of metrics. The same gRPC and JSON-RPC loads on the
 * plain gateway (metrics on, the default) scraped every second during the
 * load, beside a gateway started with `METRICS=off` on the same database.
 * The two sides take turns off, on, on, off, so that a machine whose other
 * load drifts during the run weighs on both alike. Also reports how long
 * the scrapes took, under load and right after it.
 */
export async function metricsScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  for (const db of ctx.options.dbs) {
    const counted = await ctx.gateway(db);
    const uncounted = await ctx.gateway(db, "nometrics");
    for (const { name, subject, shape } of publishShapes(ctx, "metrics")) {
      await analyzed(uncounted);
      await analyzed(counted);
      const offLoads: Load[] = [];
      const onLoads: Load[] = [];
      const scrapeTimes: number[] = [];
      let bytes = 0;
      const loadOff = async () => {
        offLoads.push(
          await loadGateway(
            ctx,
            scope,
            uncounted,
            shape(uncounted),
            subject,
            `${name}: metrics off (${db})`,
          ),
        );
      };
      const loadOn = async () => {
        const scraper = scrapeEverySecond(counted);
        try {
          onLoads.push(
            await loadGateway(
              ctx,
              scope,
              counted,
              shape(counted),
              subject,
              `${name}: metrics on, scraped every second (${db})`,
            ),
          );
        } catch (error) {
          await scraper.stop().catch(() => {});
          throw error;
        }
        const scrapes = await scraper.stop();
        scrapeTimes.push(...scrapes.times);
        bytes = scrapes.bytes;
      };
      await loadOff();
      await loadOn();
      await loadOn();
      await loadOff();
      const on = together(onLoads);
      const off = together(offLoads);
      scrapeTimes.sort((a, b) => a - b);
      const p50 = percentile(scrapeTimes, 50);
      const max = scrapeTimes[scrapeTimes.length - 1] ?? Number.NaN;
      // Under load a scrape waits its turn behind the calls in flight; right
      // after it, with the same series, its wall time is about its own cost.
      const idle = await idleScrapeMs(counted);
      ctx.progress(
        `${name} (${db}): metrics on ${Math.round(on.perSecond)} vs off ${Math.round(off.perSecond)} events/s; ` +
          `${scrapeTimes.length} scrapes under load, p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms, ` +
          `${idle.toFixed(1)} ms right after, ${bytes} bytes`,
      );
      ctx.addRow({
        scenario: "metrics",
        figure: `${name}, metrics on + scraped every 1 s vs METRICS=off`,
        db,
        unit: "events/s",
        hubbus: on.perSecond,
        baseline: off.perSecond,
        baselineName: "the same, METRICS=off",
        target: { of: "ratio", atLeast: 0.9, text: "ratio ≥ 0.9" },
        notes: [
          `two loads each, off, on, on, off; with metrics: ${notes(on)[0]}`,
          `metrics off: ${notes(off)[0]}`,
          ...(on.failed + off.failed > 0
            ? [`${on.failed + off.failed} requests failed at the HTTP level`]
            : []),
          // Less moved by other load on the machine than throughput is.
          `gateway CPU per answered call: ${cpuPerCallUs(on)} µs with metrics, ${cpuPerCallUs(off)} µs without`,
        ],
      });
      ctx.addRow({
        scenario: "metrics",
        figure: `/metrics scrape under the ${name} load, p50 / max`,
        db,
        unit: "ms",
        hubbus: scrapeTimes.length > 0 ? [p50, max] : "failed: no scrape completed",
        notes: [
          `${scrapeTimes.length} scrapes, ${bytes} bytes each; median of ${IDLE_SCRAPES} scrapes right after the load: ${idle.toFixed(2)} ms`,
        ],
      });
    }
  }
}

/**
 * Scenario: the cost of tracing. The same gRPC and JSON-RPC loads on a
 * gateway exporting a span per call and per forward over OTLP (no
 * `traceparent` is sent, so the default sampler records every call as a
 * root) to a receiver in the bench's process, with `/metrics` scraped every
 * second, beside the plain gateway (metrics on, no tracing, not scraped),
 * in turns off, on, on, off.
 */
export async function tracingScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  for (const db of ctx.options.dbs) {
    const plain = await ctx.gateway(db);
    const traced = await ctx.gateway(db, "tracing");
    const receiver = traced.traces;
    if (receiver === undefined) throw new Error(`${traced.name} has no OTLP receiver`);
    for (const { name, subject, shape } of publishShapes(ctx, "tracing")) {
      await analyzed(plain);
      await analyzed(traced);
      const offLoads: Load[] = [];
      const onLoads: Load[] = [];
      const ratios: number[] = [];
      const requestsBefore = receiver.requests;
      const bytesBefore = receiver.bytes;
      const loadOff = async () => {
        offLoads.push(
          await loadGateway(ctx, scope, plain, shape(plain), subject, `${name}: plain (${db})`),
        );
      };
      const loadOn = async () => {
        const scraper = scrapeEverySecond(traced);
        try {
          onLoads.push(
            await loadGateway(
              ctx,
              scope,
              traced,
              shape(traced),
              subject,
              `${name}: traced + scraped every second (${db})`,
            ),
          );
        } finally {
          await scraper.stop().catch(() => {});
        }
      };
      await loadOff();
      await loadOn();
      ratios.push((onLoads[0]?.perSecond ?? 0) / (offLoads[0]?.perSecond ?? 1));
      await loadOn();
      await loadOff();
      ratios.push((onLoads[1]?.perSecond ?? 0) / (offLoads[1]?.perSecond ?? 1));
      const on = together(onLoads);
      const off = together(offLoads);
      const exports = receiver.requests - requestsBefore;
      const kb = (receiver.bytes - bytesBefore) / 1024;
      ctx.progress(
        `${name} (${db}): traced ${Math.round(on.perSecond)} vs plain ${Math.round(off.perSecond)} events/s ` +
          `(pairs ${ratios.map((r) => r.toFixed(2)).join(", ")}); ${exports} OTLP exports, ${kb.toFixed(0)} KiB`,
      );
      ctx.addRow({
        scenario: "tracing",
        figure: `${name}, every call traced (OTLP) + /metrics scraped every 1 s vs plain`,
        db,
        unit: "events/s",
        hubbus: on.perSecond,
        baseline: off.perSecond,
        baselineName: "the same, no tracing, no scrape",
        target: { of: "ratio", atLeast: 0.9, text: "ratio ≥ 0.9" },
        notes: [
          `two loads each, off, on, on, off (pair ratios ${ratios.map((r) => r.toFixed(2)).join(", ")}); traced: ${notes(on)[0]}`,
          `plain: ${notes(off)[0]}`,
          `the receiver got ${exports} OTLP export requests, ${kb.toFixed(0)} KiB of protobuf`,
          ...(on.failed + off.failed > 0
            ? [`${on.failed + off.failed} requests failed at the HTTP level`]
            : []),
          `gateway CPU per answered call: ${cpuPerCallUs(on)} µs traced, ${cpuPerCallUs(off)} µs plain`,
        ],
      });
    }
  }
}
