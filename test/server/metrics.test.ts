import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { connect as natsConnect } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { parseAuthFile } from "../../src/auth/index.js";
import { createHub, type Hub, type HubOptions } from "../../src/hub.js";
import { waitUntil } from "../bridge/support.js";
import { type Families, parsePrometheusText, sampleValue } from "../helpers/prometheus.js";
import { createGrpcJsClient, type GrpcJsClient, postRpc } from "./harness.js";

// GET /metrics over real sockets: every call on every protocol counted once,
// by protocol, method and code; what the core, bridge and log keep read at
// scrape time; no label carrying what a caller sent.

const PROTOCOLS = ["grpc", "grpc-web", "connect", "jsonrpc"];
const METHODS = [
  "Publish",
  "PublishBatch",
  "QueryEvents",
  "GetHubInfo",
  "GetHealth",
  "Subscribe",
  "unknown",
];

/** The access-log lines a hub writes, as events a test can wait for. */
function accessLog() {
  const waiting: { want: (line: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
  const stream = {
    write(text: string) {
      const line = JSON.parse(text) as Record<string, unknown>;
      if (line.msg !== "rpc") return;
      for (const w of waiting.splice(0)) {
        if (w.want(line)) w.resolve();
        else waiting.push(w);
      }
    },
  };
  return {
    logger: pino({ level: "info" }, stream),
    /** Resolves at the next access-log line `want` accepts (metrics count it in the same turn). */
    next(want: (line: Record<string, unknown>) => boolean): Promise<void> {
      return new Promise((resolve) => waiting.push({ want, resolve }));
    },
  };
}

interface Running {
  readonly hub: Hub;
  readonly hubId: string;
  readonly baseUrl: string;
  scrape(): Promise<Families>;
  close(): Promise<void>;
}

async function start(options: Partial<HubOptions> = {}): Promise<Running> {
  const hubId = options.hubId ?? `metrics-${randomBytes(4).toString("hex")}`;
  const dir = mkdtempSync(join(tmpdir(), "hubbus-metrics-"));
  const hub = await createHub({
    databaseUrl: `sqlite:${join(dir, "hub.db")}`,
    port: 0,
    host: "127.0.0.1",
    shutdownGraceMs: 500,
    ...options,
    hubId,
  });
  const baseUrl = `http://127.0.0.1:${hub.port}`;
  return {
    hub,
    hubId,
    baseUrl,
    async scrape() {
      const res = await fetch(`${baseUrl}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      return parsePrometheusText(await res.text());
    },
    async close() {
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `protocol method code` → how much hubbus_requests_total grew between two scrapes. */
function requestDeltas(before: Families, after: Families): Record<string, number> {
  const deltas: Record<string, number> = {};
  for (const sample of after.get("hubbus_requests_total")?.samples ?? []) {
    const { protocol, method, code } = sample.labels as Record<string, string>;
    const was = sampleValue(before, "hubbus_requests_total", sample.labels as never) ?? 0;
    if (sample.value !== was) deltas[`${protocol} ${method} ${code}`] = sample.value - was;
  }
  return deltas;
}

/** How much one unlabelled sample (or one with `labels`) grew. */
function delta(before: Families, after: Families, name: string, labels = {}): number {
  return (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);
}

async function refusedCode(call: Promise<unknown>): Promise<Code | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

describe("GET /metrics", () => {
  let running: Running;
  let grpcJs: GrpcJsClient;
  let connect: ReturnType<typeof createClient<typeof EventBusService>>;
  let grpcWeb: ReturnType<typeof createClient<typeof EventBusService>>;
  let connectTransport: Transport;
  const log = accessLog();
  /** Every subject this suite publishes or names: none may appear in a label. */
  const subjects: string[] = [];

  beforeAll(async () => {
    const hubId = `metrics-${randomBytes(4).toString("hex")}`;
    running = await start({
      hubId,
      natsServers: [inject("natsUrl")],
      // Only this suite's subjects: the NATS server is shared by every suite.
      ingestSubjects: [`hub.${hubId}.>`],
      waitForNats: true,
      logger: log.logger,
    });
    grpcJs = createGrpcJsClient(running.hub.port as number);
    connectTransport = createConnectTransport({ baseUrl: running.baseUrl, httpVersion: "1.1" });
    connect = createClient(EventBusService, connectTransport);
    grpcWeb = createClient(
      EventBusService,
      createGrpcWebTransport({ baseUrl: running.baseUrl, httpVersion: "1.1" }),
    );
  });

  afterAll(async () => {
    grpcJs?.close();
    await running?.close();
  });

  it("counts every call once, by protocol, method and code, on every protocol", async () => {
    const before = await running.scrape();
    subjects.push("metrics.grpc", "metrics.connect", "metrics.web", "metrics.rpc", "bad subject");

    await grpcJs.call("Publish", { subject: "metrics.grpc" });
    await grpcJs.call("Publish", { subject: "metrics.grpc" });
    await expect(grpcJs.call("Publish", { subject: "bad subject" })).rejects.toMatchObject({
      code: 3, // INVALID_ARGUMENT
    });

    await connect.publish({ subject: "metrics.connect" });
    expect(await refusedCode(connect.queryEvents({ subject: ">", limit: 5000 }))).toBe(
      Code.InvalidArgument,
    );

    await grpcWeb.publish({ subject: "metrics.web" });
    await grpcWeb.getHubInfo({});

    const ok = await postRpc(running.baseUrl, {
      jsonrpc: "2.0",
      id: 1,
      method: "bus.publish",
      params: { topic: "metrics.rpc" },
    });
    expect(ok.body.result.published).toBe(true);
    const invalid = await postRpc(running.baseUrl, {
      jsonrpc: "2.0",
      id: 2,
      method: "bus.publish",
      params: { topic: "bad subject" },
    });
    expect(invalid.body.error.code).toBe(-32602);
    const parseError = await postRpc(running.baseUrl, '{"jsonrpc": "2.0", "id": 3, "meth');
    expect(parseError.body.error.code).toBe(-32700);
    // A method name is caller input: it must not become a label value.
    const secretMethod = `hub.${running.hubId}.secret.method`;
    subjects.push(secretMethod);
    const notFound = await postRpc(running.baseUrl, {
      jsonrpc: "2.0",
      id: 4,
      method: secretMethod,
    });
    expect(notFound.body.error.code).toBe(-32601);

    const after = await running.scrape();
    expect(requestDeltas(before, after)).toEqual({
      "grpc Publish ok": 2,
      "grpc Publish invalid_argument": 1,
      "connect Publish ok": 1,
      "connect QueryEvents invalid_argument": 1,
      "grpc-web Publish ok": 1,
      "grpc-web GetHubInfo ok": 1,
      "jsonrpc Publish ok": 1,
      "jsonrpc Publish invalid_argument": 1,
      "jsonrpc unknown parse_error": 1,
      "jsonrpc unknown method_not_found": 1,
    });
    // Each call is one observation in its protocol × method's duration histogram.
    const observed = (protocol: string, method: string) =>
      delta(before, after, "hubbus_request_duration_seconds_count", { protocol, method });
    expect(observed("grpc", "Publish")).toBe(3);
    expect(observed("connect", "QueryEvents")).toBe(1);
    expect(observed("grpc-web", "GetHubInfo")).toBe(1);
    expect(observed("jsonrpc", "Publish")).toBe(2);
    expect(observed("jsonrpc", "unknown")).toBe(2);
    expect(delta(before, after, "hubbus_events_published_total")).toBe(5);
  });

  it("counts the events of a batch as published", async () => {
    const before = await running.scrape();
    subjects.push("metrics.batch");
    await connect.publishBatch({
      events: [
        { subject: "metrics.batch" },
        { subject: "metrics.batch" },
        { subject: "metrics.batch" },
      ],
    });
    const after = await running.scrape();
    expect(delta(before, after, "hubbus_events_published_total")).toBe(3);
    expect(requestDeltas(before, after)).toEqual({ "connect PublishBatch ok": 1 });
  });

  it("shows an open Subscribe in the live subscriptions and counts it when it ends", async () => {
    subjects.push("metrics.live");
    const published = await connect.publish({ subject: "metrics.live" });
    const before = await running.scrape();
    const abort = new AbortController();
    const stream = connect.subscribe(
      { subject: "hub.*.metrics.live", afterSequence: published.sequence - 1n },
      { signal: abort.signal },
    );
    const iterator = stream[Symbol.asyncIterator]();
    // The replayed event arrives only once the subscription is registered.
    expect((await iterator.next()).value?.event?.sequence).toBe(published.sequence);
    const open = await running.scrape();
    expect(delta(before, open, "hubbus_live_subscriptions")).toBe(1);
    // A stream is counted when it ends, not when it starts.
    expect(requestDeltas(before, open)).toEqual({});

    const ended = log.next((line) => line.method === "hubbus.v1.EventBusService/Subscribe");
    abort.abort();
    await iterator.next().catch(() => undefined);
    await ended;
    const after = await running.scrape();
    expect(delta(before, after, "hubbus_live_subscriptions")).toBe(0);
    // The client went away: the server saw its stream cancelled.
    expect(requestDeltas(before, after)).toEqual({ "connect Subscribe canceled": 1 });
    // Its lifetime goes to the stream histogram, never into the unary one.
    const lifetime = { protocol: "connect", method: "Subscribe" };
    expect(delta(before, after, "hubbus_stream_duration_seconds_count", lifetime)).toBe(1);
    expect(sampleValue(after, "hubbus_request_duration_seconds_count", lifetime)).toBeUndefined();
  });

  it("counts events ingested from NATS and forwarded to it, and reads the log and outbox", async () => {
    const before = await running.scrape();
    const subject = `hub.${running.hubId}.remote.made`;
    subjects.push(subject);
    const stored = new Promise<void>((resolve) => {
      const stop = running.hub.bus.onAppended((events) => {
        if (events.some((event) => event.subject === subject)) {
          stop();
          resolve();
        }
      });
    });
    const nc = await natsConnect({ servers: inject("natsUrl") });
    try {
      nc.publish(subject, JSON.stringify({ from: "a plain NATS client" }));
      await nc.flush();
      await stored;
    } finally {
      await nc.close();
    }
    const after = await running.scrape();
    expect(delta(before, after, "hubbus_events_ingested_total")).toBe(1);
    expect(delta(before, after, "hubbus_events_published_total")).toBe(0);

    // The relay has no event to wait for; its counter reaches every published event.
    const published = sampleValue(after, "hubbus_events_published_total") as number;
    const drained = await waitUntil(async () => {
      const now = await running.scrape();
      return sampleValue(now, "hubbus_events_forwarded_total") === published && now;
    }, "every published event forwarded");
    expect(sampleValue(drained, "hubbus_outbox_backlog_events")).toBe(0);
    expect(sampleValue(drained, "hubbus_outbox_oldest_age_seconds")).toBe(0);
    // Published and ingested events are all in the log, from sequence 1.
    expect(sampleValue(drained, "hubbus_log_first_sequence")).toBe(1);
    expect(sampleValue(drained, "hubbus_log_last_sequence")).toBe(
      published + (sampleValue(drained, "hubbus_events_ingested_total") as number),
    );
  });

  it("labels only with closed sets: no subject or caller input in any label", async () => {
    const families = await running.scrape();
    for (const family of families.values()) {
      for (const sample of family.samples) {
        for (const value of Object.values(sample.labels)) {
          for (const subject of subjects) expect(value).not.toContain(subject);
          expect(value).not.toContain("secret");
        }
      }
    }
    for (const sample of families.get("hubbus_requests_total")?.samples ?? []) {
      expect(PROTOCOLS).toContain(sample.labels.protocol);
      expect(METHODS).toContain(sample.labels.method);
      expect(sample.labels.code).toMatch(/^[a-z_]+$/);
    }
    // The process metrics are there too, event-loop lag among them.
    expect(families.get("process_cpu_seconds_total")?.type).toBe("counter");
    expect(families.get("nodejs_eventloop_lag_p99_seconds")?.type).toBe("gauge");
    expect(families.get("hubbus_info")?.samples[0]?.labels.hub_id).toBe(running.hubId);
    // Auth is off: its counters are left out rather than shown as zero.
    expect(families.has("hubbus_authentication_failures_total")).toBe(false);
  });

  it("scrapes a gateway that served many calls in a few milliseconds", async () => {
    // Many series at once: every protocol × method × code seen so far, plus 500 more calls.
    const events = Array.from({ length: 100 }, () => ({ topic: "metrics.many" }));
    subjects.push("metrics.many");
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        postRpc(running.baseUrl, {
          jsonrpc: "2.0",
          id: i,
          method: "bus.publishBatch",
          params: { events },
        }),
      ),
    );
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      await running.hub.metrics?.scrape();
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const text = (await running.hub.metrics?.scrape()) ?? "";
    console.log(
      `metrics scrape: median ${times[5]?.toFixed(2)} ms, max ${times[9]?.toFixed(2)} ms, ${text.length} bytes`,
    );
    expect(text.length).toBeGreaterThan(0);
  });
});

describe("GET /metrics with auth on", () => {
  const KEY = "metrics-key-0123456789abcdef";
  let running: Running;
  let grpcJs: GrpcJsClient;

  beforeAll(async () => {
    const hubId = `metrics-${randomBytes(4).toString("hex")}`;
    const settings = parseAuthFile(
      JSON.stringify({
        callers: [
          {
            name: "writer",
            api_key_sha256: createHash("sha256").update(KEY).digest("hex"),
            publish: { allow: [`hub.${hubId}.allowed.>`] },
          },
        ],
      }),
      tmpdir(),
    );
    running = await start({ hubId, auth: { settings } });
    grpcJs = createGrpcJsClient(running.hub.port as number);
  });

  afterAll(async () => {
    grpcJs?.close();
    await running?.close();
  });

  it("counts failed authentications and denied calls, and /metrics needs no credentials", async () => {
    const before = await running.scrape();
    const bearer = { authorization: `Bearer ${KEY}` };
    await grpcJs.call("Publish", { subject: "allowed.thing" }, bearer);
    await expect(grpcJs.call("Publish", { subject: "allowed.thing" })).rejects.toMatchObject({
      code: 16, // UNAUTHENTICATED
    });
    await expect(
      grpcJs.call("Publish", { subject: "forbidden.thing" }, bearer),
    ).rejects.toMatchObject({ code: 7 }); // PERMISSION_DENIED
    const rpc = await postRpc(
      running.baseUrl,
      { jsonrpc: "2.0", id: 1, method: "bus.publish", params: { topic: "allowed.thing" } },
      { authorization: "Bearer not-a-key" },
    );
    expect(rpc.status).toBe(401);
    const after = await running.scrape();
    expect(delta(before, after, "hubbus_authentication_failures_total")).toBe(2);
    expect(delta(before, after, "hubbus_permission_denials_total")).toBe(1);
    expect(requestDeltas(before, after)).toEqual({
      "grpc Publish ok": 1,
      "grpc Publish unauthenticated": 1,
      "grpc Publish permission_denied": 1,
      "jsonrpc Publish unauthenticated": 1,
    });
  });
});

describe("METRICS off", () => {
  it("serves no /metrics", async () => {
    const running = await start({ metrics: false });
    try {
      expect(running.hub.metrics).toBeUndefined();
      const res = await fetch(`${running.baseUrl}/metrics`);
      expect(res.status).toBe(404);
      await res.text();
    } finally {
      await running.close();
    }
  });
});
