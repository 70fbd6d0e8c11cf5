import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { createHub, type Hub, type HubEvent } from "../../src/index.js";
import {
  type OtlpReceiver,
  type ReceivedSpan,
  startOtlpReceiver,
} from "../helpers/otlp-receiver.js";
import { createGrpcJsClient, postRpc } from "../server/harness.js";
import { type RawNats, rawNats, type SeenMessage, tempSqlite, uniqueHubId } from "./support.js";

// Contract §8: the W3C trace context from a request, kept with the event,
// forwarded as NATS headers and continued by the hub that ingests it.

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID = "00f067aa0ba902b7";
const TRACESTATE = "vendor=opaque-value";
const SPAN_KIND = { server: 2, producer: 4, consumer: 5 };

const natsUrl = () => inject("natsUrl");

/** A pino logger whose lines the test reads. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

/** Resolves with the first event a hub appends on `subject`. */
function appended(hub: Hub, subject: string): Promise<HubEvent> {
  return new Promise((resolve) => {
    const stop = hub.bus.onAppended((events) => {
      const event = events.find((e) => e.subject === subject);
      if (event === undefined) return;
      stop();
      resolve(event);
    });
  });
}

/** Resolves with the first message of `seen` on `subject`, as it arrives. */
async function messageOn(nats: RawNats, subject: string): Promise<SeenMessage> {
  return new Promise((resolve) => {
    const sub = nats.nc.subscribe(subject, {
      max: 1,
      callback: (_error, msg) => {
        const headers: Record<string, string> = {};
        for (const [key, values] of msg.headers ?? []) headers[key] = values[0] ?? "";
        resolve({ subject: msg.subject, body: msg.string(), headers });
      },
    });
    void sub;
  });
}

describe("a traced publish over gRPC, forwarded to NATS and ingested by a second hub", () => {
  const dbs = [tempSqlite(), tempSqlite()];
  const hubA = uniqueHubId("trace-a");
  const hubB = uniqueHubId("trace-b");
  const subject = `hub.${hubA}.orders.created`;
  let receiver: OtlpReceiver;
  let a: Hub;
  let b: Hub;
  let nats: RawNats;
  const log = capturedLogger();

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    nats = await rawNats(natsUrl());
    const tracing = { url: receiver.url, exportDelayMs: 20 };
    a = await createHub({
      hubId: hubA,
      databaseUrl: dbs[0]?.url as string,
      natsServers: [natsUrl()],
      port: 0,
      waitForNats: true,
      bridge: { relay: { pollMs: 50 } },
      tracing,
      logger: log.logger,
    });
    b = await createHub({
      hubId: hubB,
      databaseUrl: dbs[1]?.url as string,
      natsServers: [natsUrl()],
      serve: false,
      waitForNats: true,
      // Only hub A's events: the shared NATS carries every suite's.
      ingestSubjects: [`hub.${hubA}.>`],
      tracing,
    });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await nats?.close();
    await receiver?.close();
    for (const db of dbs) db.cleanup();
  });

  it("yields the call span, the forward span and the ingest span in the caller's trace", async () => {
    const onWire = messageOn(nats, subject);
    await nats.nc.flush();
    const ingested = appended(b, subject);
    const grpc = createGrpcJsClient(a.port as number);
    try {
      await grpc.call(
        "Publish",
        { subject, payload: { fields: {} } },
        { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`, tracestate: TRACESTATE },
      );
    } finally {
      grpc.close();
    }
    const message = await onWire;
    await ingested;

    const [call, forward, ingest] = await receiver.waitFor((spans) => {
      const inTrace = (name: string) =>
        spans.find((s) => s.traceId === TRACE_ID && s.name === name);
      const found = [
        inTrace("hubbus.v1.EventBusService/Publish"),
        inTrace("forward"),
        inTrace("ingest"),
      ];
      return found.every((s) => s !== undefined) ? (found as ReceivedSpan[]) : undefined;
    });

    expect(call).toMatchObject({
      parentSpanId: CALLER_SPAN_ID,
      kind: SPAN_KIND.server,
      traceState: TRACESTATE,
      attributes: {
        "rpc.system": "grpc",
        "rpc.service": "hubbus.v1.EventBusService",
        "rpc.method": "Publish",
        "hubbus.protocol": "grpc",
        "hubbus.code": "ok",
      },
      resource: { "service.name": "hubbus", "service.instance.id": hubA },
    });
    // The relay forwarded after the call had ended: the stored context links them.
    expect(forward).toMatchObject({
      parentSpanId: call?.spanId,
      kind: SPAN_KIND.producer,
      attributes: {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
      },
      resource: { "service.instance.id": hubA },
    });
    expect(message.headers.traceparent).toBe(`00-${TRACE_ID}-${forward?.spanId}-01`);
    expect(message.headers.tracestate).toBe(TRACESTATE);
    expect(ingest).toMatchObject({
      parentSpanId: forward?.spanId,
      kind: SPAN_KIND.consumer,
      statusCode: 0,
      attributes: { "messaging.destination.name": subject, "hubbus.duplicate": false },
      resource: { "service.instance.id": hubB },
    });
    // Hub A also hears its own forward on hub.>, and refuses it before any span.
    expect(
      receiver.spans.filter((s) => s.name === "ingest" && s.traceId === TRACE_ID),
    ).toHaveLength(1);

    const line = log.lines.find((l) => l.msg === "rpc" && l.traceId === TRACE_ID);
    expect(line).toMatchObject({ protocol: "grpc", code: "ok" });
  });

  it("makes no span for a caller's trace that is not sampled, and forwards its context as it came", async () => {
    const unsampledSubject = `hub.${hubA}.orders.unsampled`;
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const traceparent = `00-${traceId}-b7ad6b7169203331-00`;
    const onWire = messageOn(nats, unsampledSubject);
    await nats.nc.flush();
    const ingested = appended(b, unsampledSubject);
    const { status, body } = await postRpc(
      `http://127.0.0.1:${a.port}`,
      { jsonrpc: "2.0", id: 1, method: "bus.publish", params: { topic: unsampledSubject } },
      { traceparent },
    );
    expect([status, body.error]).toEqual([200, undefined]);
    expect((await onWire).headers.traceparent).toBe(traceparent);
    await ingested;
    // Closing the hubs exports every span they still buffer.
    await a.close();
    await b.close();
    expect(receiver.spans.filter((s) => s.traceId === traceId)).toEqual([]);
  });
});

describe("without tracing configured", () => {
  const db = tempSqlite();
  const hubId = uniqueHubId("untraced");
  let hub: Hub;
  let nats: RawNats;

  beforeAll(async () => {
    nats = await rawNats(natsUrl());
    hub = await createHub({
      hubId,
      databaseUrl: db.url,
      natsServers: [natsUrl()],
      port: 0,
      waitForNats: true,
      bridge: { relay: { pollMs: 50 } },
    });
  });

  afterAll(async () => {
    await hub?.close();
    await nats?.close();
    db.cleanup();
  });

  const baseUrl = () => `http://127.0.0.1:${hub.port}`;
  const connectClients: Record<string, () => Transport> = {
    "gRPC (connect-node)": () => createGrpcTransport({ baseUrl: baseUrl() }),
    Connect: () => createConnectTransport({ baseUrl: baseUrl(), httpVersion: "1.1" }),
    "gRPC-Web": () => createGrpcWebTransport({ baseUrl: baseUrl(), httpVersion: "1.1" }),
  };

  it.each([["gRPC (connect-node)"], ["Connect"], ["gRPC-Web"], ["JSON-RPC"]])(
    "keeps a %s caller's traceparent and tracestate and forwards them as NATS headers",
    async (protocol) => {
      const token = protocol.replace(/[^A-Za-z]/g, "").toLowerCase();
      const subject = `hub.${hubId}.passthrough.${token}`;
      const traceparent = `00-${randomBytes(16).toString("hex")}-${CALLER_SPAN_ID}-01`;
      const headers = { traceparent, tracestate: TRACESTATE };
      const onWire = messageOn(nats, subject);
      await nats.nc.flush();
      if (protocol === "JSON-RPC") {
        const { body } = await postRpc(
          baseUrl(),
          { jsonrpc: "2.0", id: 1, method: "bus.publish", params: { topic: subject } },
          headers,
        );
        expect(body.error).toBeUndefined();
      } else {
        const client = createClient(
          EventBusService,
          (connectClients[protocol] as () => Transport)(),
        );
        await client.publish({ subject }, { headers });
      }
      const message = await onWire;
      expect(message.headers.traceparent).toBe(traceparent);
      expect(message.headers.tracestate).toBe(TRACESTATE);
    },
  );

  it("forwards no trace headers for a caller without a valid traceparent", async () => {
    const subject = `hub.${hubId}.passthrough.invalid`;
    const onWire = messageOn(nats, subject);
    await nats.nc.flush();
    const { body } = await postRpc(
      baseUrl(),
      { jsonrpc: "2.0", id: 1, method: "bus.publish", params: { topic: subject } },
      // Upper-case hex and an all-zero trace id are both invalid (W3C).
      { traceparent: `00-${TRACE_ID.toUpperCase()}-${CALLER_SPAN_ID}-01`, tracestate: TRACESTATE },
    );
    expect(body.error).toBeUndefined();
    const message = await onWire;
    expect(message.headers).not.toHaveProperty("traceparent");
    expect(message.headers).not.toHaveProperty("tracestate");
  });
});
