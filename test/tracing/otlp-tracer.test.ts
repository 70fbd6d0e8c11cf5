import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { TraceContext, Tracer } from "../../src/core/index.js";
import type { TracingOptions } from "../../src/tracing/index.js";
import { createOtlpExporter } from "../../src/tracing/otlp-exporter.js";
import { createOtlpTracer } from "../../src/tracing/otlp-tracer.js";
import { decodeExportRequest, startOtlpReceiver } from "../helpers/otlp-receiver.js";

const identity = { hubId: "tracer-test", version: "9.9.9", logger: pino({ level: "silent" }) };
// A long delay: only a full batch or shutdown sends, so what is sent is what the test chose.
const NEVER = 600_000;
const PARENT: TraceContext = {
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  tracestate: "vendor=opaque",
};
const UNSAMPLED: TraceContext = {
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
};

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function tracer(options: Partial<TracingOptions> & { url: string }): Tracer {
  const t = createOtlpTracer({ exportDelayMs: NEVER, ...options }, identity);
  closers.push(() => t.shutdown());
  return t;
}

/** A server answering every request with `answer`; resolves each request's body in order. */
async function endpoint(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push(Buffer.concat(chunks));
      server.emit("body");
      answer(req, res);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1/traces`, bodies, server };
}

describe("the OTLP tracer", () => {
  it("exports a span with its parent, tracestate, kind, attributes of each type and error status", async () => {
    const receiver = await startOtlpReceiver();
    closers.push(() => receiver.close());
    const t = tracer({ url: receiver.url, serviceName: "svc" });
    const span = t.start("forward", "producer", PARENT);
    expect(span?.context.traceparent).toMatch(
      /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/,
    );
    expect(span?.context.tracestate).toBe("vendor=opaque");
    span?.end({ text: "a", whole: 42, ratio: 0.5, flag: true, skipped: undefined }, "boom");
    // A second end records nothing more.
    span?.end({});
    await t.shutdown();
    const [got] = await receiver.waitFor((spans) => (spans.length > 0 ? spans : undefined));
    expect(receiver.spans).toHaveLength(1);
    expect(got).toMatchObject({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: span?.context.traceparent.slice(36, 52),
      parentSpanId: "00f067aa0ba902b7",
      traceState: "vendor=opaque",
      name: "forward",
      kind: 4,
      statusCode: 2,
      attributes: { text: "a", whole: 42, ratio: 0.5, flag: true },
      resource: {
        "service.name": "svc",
        "service.version": "9.9.9",
        "service.instance.id": "tracer-test",
      },
    });
  });

  it("starts a new trace without a parent, and sends a full batch without waiting for the delay", async () => {
    const receiver = await startOtlpReceiver();
    closers.push(() => receiver.close());
    const t = tracer({ url: receiver.url, maxExportBatchSpans: 4 });
    const ids = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const span = t.start("call", "server", undefined);
      ids.add(span?.context.traceparent.slice(3, 35) as string);
      span?.end({ i });
    }
    // Two full batches go on their own; the delay (10 minutes) never passes.
    const spans = await receiver.waitFor((s) => (s.length === 8 ? s : undefined));
    expect(receiver.requests).toBe(2);
    expect(ids.size).toBe(8);
    expect(new Set(spans.map((s) => s.traceId))).toEqual(ids);
    expect(spans.every((s) => s.parentSpanId === "" && s.kind === 2)).toBe(true);
  });

  it("follows the parent's sampled flag under the default sampler, and the ratio otherwise", async () => {
    const receiver = await startOtlpReceiver();
    closers.push(() => receiver.close());
    expect(tracer({ url: receiver.url }).start("x", "server", UNSAMPLED)).toBeUndefined();
    const off = tracer({ url: receiver.url, sampler: "always_off" }).start("x", "server", PARENT);
    // Not recorded, but a context is handed on, unsampled, in the same trace.
    expect(off?.context.traceparent).toMatch(
      /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/,
    );
    const none = tracer({ url: receiver.url, sampler: "traceidratio", samplerRatio: 0 });
    expect(none.start("x", "server", undefined)?.context.traceparent).toMatch(/-00$/);
    // As the OTel JS SDK decides: the id's 8-hex words XORed, below ratio × 0xffffffff.
    const half = tracer({ url: receiver.url, sampler: "traceidratio", samplerRatio: 0.5 });
    const sampled = (id: string) =>
      half
        .start("x", "server", { traceparent: `00-${id}-00f067aa0ba902b7-01` })
        ?.context.traceparent.endsWith("-01");
    expect(sampled("7ffffffe000000000000000000000000")).toBe(true);
    expect(sampled("00000000000000000000000080000000")).toBe(false);
    // 0x80000000 ^ 0x00000001 = 0x80000001, over the bound; ^ 0x80000000 again = 1, under it.
    expect(sampled("80000000000000010000000000000000")).toBe(false);
    expect(sampled("80000000000000018000000000000000")).toBe(true);
  });

  it("drops spans past the queue, and the ones of a request the endpoint refused, without throwing", async () => {
    const refusing = await endpoint((_req, res) => res.writeHead(503).end());
    const t = tracer({ url: refusing.url, maxQueueSpans: 3, maxExportBatchSpans: 3 });
    for (let i = 0; i < 10; i++) t.start("x", "server", undefined)?.end({});
    await t.shutdown();
    // The first three filled the queue and went in one request; the rest were dropped.
    expect(refusing.bodies).toHaveLength(1);
    expect(decodeExportRequest(refusing.bodies[0] as Buffer)).toHaveLength(3);
  });

  it("keeps full batches in order behind a slow request, and fills sent ones again", async () => {
    const held: ServerResponse[] = [];
    const slow = await endpoint((_req, res) => held.push(res));
    const t = tracer({ url: slow.url, maxQueueSpans: 6, maxExportBatchSpans: 2 });
    const body = () => once(slow.server, "body");
    const names = (i: number) => decodeExportRequest(slow.bodies[i] as Buffer).map((s) => s.name);
    let arrived = body();
    // Three full batches: the first goes, two wait; the queue is then full.
    for (let i = 0; i < 8; i++) t.start(`s${i}`, "server", undefined)?.end({ i });
    await arrived;
    expect(names(0)).toEqual(["s0", "s1"]);
    for (const expected of [
      ["s2", "s3"],
      ["s4", "s5"],
    ]) {
      arrived = body();
      held.shift()?.writeHead(200).end();
      await arrived;
      expect(names(slow.bodies.length - 1)).toEqual(expected);
    }
    // s6 and s7 found the queue full. The batches sent so far are filled
    // again (s8-s11) while the request of s4 and s5 is still open.
    for (let i = 8; i < 12; i++) t.start(`s${i}`, "server", undefined)?.end({ i });
    arrived = body();
    held.shift()?.writeHead(200).end();
    await arrived;
    expect(names(3)).toEqual(["s8", "s9"]);
    arrived = body();
    held.shift()?.writeHead(200).end();
    await arrived;
    expect(names(4)).toEqual(["s10", "s11"]);
    held.shift()?.writeHead(200).end();
  });

  it("drops a span it cannot encode alone, and exports the ones around it", async () => {
    const receiver = await startOtlpReceiver();
    closers.push(() => receiver.close());
    const exporter = createOtlpExporter({
      url: receiver.url,
      headers: {},
      delayMs: NEVER,
      maxQueue: 10,
      maxBatch: 10,
      timeoutMs: 10_000,
      identity: { resource: { "service.name": "svc" }, scopeName: "hubbus", scopeVersion: "1" },
      logger: identity.logger,
    });
    const span = (name: string, spanId: string) => ({
      name,
      kind: "server" as const,
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId,
      parentSpanId: "",
      parentRemote: false,
      tracestate: undefined,
      startMs: 1_700_000_000_000,
      endMs: 1_700_000_000_001,
      attributes: {},
      error: undefined,
    });
    exporter.add(span("before", "00f067aa0ba902b7"));
    exporter.add(span("broken", "not-hex!"));
    exporter.add(span("after", "00f067aa0ba902b8"));
    await exporter.shutdown();
    expect(receiver.spans.map((s) => s.name)).toEqual(["before", "after"]);
    expect(exporter.stats()).toEqual({ exported: 2, dropped: 1, failedRequests: 0 });
  });

  it("gives up on an endpoint that does not answer within the timeout, and shuts down", async () => {
    const silent = await endpoint(() => {});
    const t = tracer({ url: silent.url, exportTimeoutMs: 50 });
    t.start("x", "server", undefined)?.end({});
    await t.shutdown();
    expect(silent.bodies).toHaveLength(1);
  });

  it("shuts down when nothing listens at the endpoint", async () => {
    const gone = await endpoint(() => {});
    await new Promise((resolve) => gone.server.close(resolve));
    const t = tracer({ url: gone.url });
    t.start("x", "server", undefined)?.end({});
    await expect(t.shutdown()).resolves.toBeUndefined();
  });
});
