import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublishRequestSchema, SubscribeRequestSchema } from "../../gen/hubbus/v1/eventbus_pb.js";
import { createHub, type Hub } from "../../src/hub.js";
import { FLAG, FRAME, h2Frame, openRawH2, postHeaders, settingsOf } from "../helpers/h2-frames.js";
import { parsePrometheusText, sampleValue } from "../helpers/prometheus.js";
import { uniqueHubId, waitUntil } from "../live/support.js";

// The limits against abusive connections, over real sockets: streams per
// HTTP/2 connection, header size on both HTTP versions, and the request
// body time-out, which answers a stalled body but never cuts a Subscribe
// whose request has arrived.

const BODY_TIMEOUT_MS = 300;
const MAX_STREAMS = 4;
const MAX_HEADER_BYTES = 4096;
const HUB = uniqueHubId("limits");
const SUBJECT = `hub.${HUB}.limits.x`;
const SUBSCRIBE = "/hubbus.v1.EventBusService/Subscribe";

let hub: Hub;
let port: number;

beforeAll(async () => {
  hub = await createHub({
    hubId: HUB,
    databaseUrl: "sqlite::memory:",
    port: 0,
    shutdownGraceMs: 500,
    limits: {
      maxStreamsPerConnection: MAX_STREAMS,
      maxHeaderBytes: MAX_HEADER_BYTES,
      requestBodyTimeoutMs: BODY_TIMEOUT_MS,
    },
  });
  port = hub.port as number;
});
afterAll(async () => {
  await hub?.close();
});

function frame(message: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flags;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

const publishMessage = () =>
  toBinary(PublishRequestSchema, create(PublishRequestSchema, { subject: SUBJECT }));
const subscribeMessage = () =>
  toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { subject: SUBJECT }));

/** Writes `head` on a raw TCP socket and resolves with everything the server sent until it closed. */
function rawHttp1(head: string, body = ""): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let out = "";
    socket.on("data", (d: Buffer) => {
      out += d.toString("latin1");
    });
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
    // The body stays unfinished: the socket is never ended by the client.
    socket.write(head + body);
  });
}

async function requestsCounted(labels: Record<string, string>): Promise<number> {
  const families = parsePrometheusText(await (hub.metrics as NonNullable<Hub["metrics"]>).scrape());
  return sampleValue(families, "hubbus_requests_total", labels) ?? 0;
}

/** A native gRPC Subscribe on its own session; resolves `events` as messages arrive. */
function openNativeSubscribe(extra: http2.OutgoingHttpHeaders = {}) {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  const stream = session.request({
    ":method": "POST",
    ":path": "/hubbus.v1.EventBusService/Subscribe",
    "content-type": "application/grpc+proto",
    te: "trailers",
    ...extra,
  });
  stream.on("error", () => {});
  let bytes = 0;
  let closed = false;
  stream.on("data", (d: Buffer) => {
    bytes += d.length;
  });
  stream.on("close", () => {
    closed = true;
  });
  stream.end(frame(subscribeMessage()));
  return {
    received: () => bytes,
    closed: () => closed,
    close: () => session.destroy(),
  };
}

/** A gRPC-Web Subscribe over HTTP/1.1 (served by connect-node) with its own headers. */
function openGrpcWebSubscribe(extra: http.OutgoingHttpHeaders = {}) {
  let bytes = 0;
  let ended = false;
  let text = "";
  const req = http.request({
    host: "127.0.0.1",
    port,
    method: "POST",
    path: "/hubbus.v1.EventBusService/Subscribe",
    headers: { "content-type": "application/grpc-web+proto", ...extra },
  });
  req.on("response", (res) => {
    res.on("data", (d: Buffer) => {
      bytes += d.length;
      text += d.toString("latin1");
    });
    res.on("end", () => {
      ended = true;
    });
    res.on("error", () => {});
  });
  req.on("error", () => {});
  req.end(frame(subscribeMessage()));
  return {
    received: () => bytes,
    ended: () => ended,
    text: () => text,
    close: () => req.destroy(),
  };
}

describe("MAX_STREAMS_PER_CONNECTION", () => {
  it("is announced in SETTINGS and a stream past it is refused with REFUSED_STREAM", async () => {
    const raw = openRawH2(port);
    try {
      const settings = await raw.next((f) => f.type === FRAME.SETTINGS && f.flags === 0);
      // SETTINGS_MAX_CONCURRENT_STREAMS is identifier 3.
      expect(settingsOf(settings).get(3)).toBe(MAX_STREAMS);
      await raw.next((f) => f.type === FRAME.SETTINGS && f.flags === FLAG.ACK);
      const body = frame(subscribeMessage());
      // Subscribe streams stay open: MAX_STREAMS of them fill the connection.
      for (let i = 0; i <= MAX_STREAMS; i++) {
        const id = 1 + 2 * i;
        raw.send(
          h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, id, postHeaders(SUBSCRIBE, "application/grpc")),
        );
        raw.send(h2Frame(FRAME.DATA, FLAG.END_STREAM, id, body));
      }
      const lastId = 1 + 2 * MAX_STREAMS;
      // nghttp2 may refuse the stream (RST_STREAM REFUSED_STREAM) or, once the client
      // acknowledged the limit, end the connection that broke it (GOAWAY): RFC 9113 §5.1.2.
      const refusal = await raw.next(
        (f) =>
          (f.type === FRAME.RST_STREAM && f.streamId === lastId) ||
          (f.type === FRAME.GOAWAY && f.streamId === 0),
      );
      if (refusal.type === FRAME.RST_STREAM) expect(refusal.payload.readUInt32BE(0)).toBe(7);
      else expect(refusal.payload.readUInt32BE(0)).toBeLessThan(lastId);
      const answered = raw.frames.filter((f) => f.type === FRAME.HEADERS).map((f) => f.streamId);
      expect(answered).not.toContain(lastId);
      // Only that connection pays: the gateway serves others.
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      raw.destroy();
    }
  });
});

describe("MAX_HEADER_BYTES", () => {
  it("answers 431 to an HTTP/1.1 head larger than the limit, and serves one within it", async () => {
    const big = "x".repeat(MAX_HEADER_BYTES);
    const refused = await rawHttp1(
      `GET /healthz HTTP/1.1\r\nhost: a\r\nx-big: ${big}\r\nconnection: close\r\n\r\n`,
    );
    expect(refused).toMatch(/^HTTP\/1\.1 431 /);
    const small = "x".repeat(MAX_HEADER_BYTES / 2);
    const served = await rawHttp1(
      `GET /healthz HTTP/1.1\r\nhost: a\r\nx-big: ${small}\r\nconnection: close\r\n\r\n`,
    );
    expect(served).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("refuses an HTTP/2 header list larger than the limit", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": "/hubbus.v1.EventBusService/GetHubInfo",
      "content-type": "application/grpc+proto",
      "x-big": "x".repeat(MAX_HEADER_BYTES * 2),
    });
    const outcome = await new Promise<string>((resolve) => {
      stream.on("error", (error) => resolve(`error ${error.message}`));
      stream.on("response", (h) => resolve(`answered ${h[":status"]}`));
      stream.on("close", () => resolve(`closed ${stream.rstCode}`));
      stream.end(frame(new Uint8Array()));
    });
    expect(outcome).toBe("answered 431");
    session.destroy();
  });
});

describe("REQUEST_BODY_TIMEOUT_MS", () => {
  it("answers an unfinished HTTP/1.1 body with 408 and closes the connection", async () => {
    const answer = await rawHttp1(
      "POST /rpc HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n",
      '{"jsonrpc":"2.0",',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("answers a native gRPC call whose body stalls with DEADLINE_EXCEEDED, counted with its method", async () => {
    const before = await requestsCounted({
      protocol: "grpc",
      method: "Publish",
      code: "deadline_exceeded",
    });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": "/hubbus.v1.EventBusService/Publish",
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    stream.on("error", () => {});
    // Half a message, and the stream left open.
    const whole = frame(publishMessage());
    stream.write(whole.subarray(0, 8));
    const status = await new Promise<unknown>((resolve) => {
      stream.on("response", (h) => resolve(h["grpc-status"]));
      stream.on("close", () => resolve(`closed ${stream.rstCode}`));
    });
    expect(status).toBe("4");
    await new Promise<void>((resolve) =>
      stream.closed ? resolve() : stream.once("close", () => resolve()),
    );
    session.destroy();
    expect(
      await requestsCounted({ protocol: "grpc", method: "Publish", code: "deadline_exceeded" }),
    ).toBe(before + 1);
    expect(await hub.bus.query({ subject: SUBJECT })).toEqual([]);
  });

  it("resets an HTTP/2 Connect stream whose body stalls", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": "/hubbus.v1.EventBusService/Publish",
      "content-type": "application/json",
    });
    stream.on("error", () => {});
    stream.write('{"subject":');
    const code = await new Promise<number>((resolve) =>
      stream.on("close", () => resolve(stream.rstCode ?? -1)),
    );
    expect(code).toBe(http2.constants.NGHTTP2_CANCEL);
    session.destroy();
  });

  it("never cuts Subscribe streams, nor one with a deadline past node's timer range", async () => {
    const native = openNativeSubscribe();
    const nativeHuge = openNativeSubscribe({ "grpc-timeout": "99999999H" });
    const web = openGrpcWebSubscribe();
    const webHuge = openGrpcWebSubscribe({ "grpc-timeout": "99999999H" });
    const connectHuge = openGrpcWebSubscribe({ "grpc-timeout": "2147484S" });
    const all = [native, nativeHuge, web, webHuge, connectHuge];
    try {
      // A body that stalls after these opened: its 408 proves the time-out has passed for them too.
      const answer = await rawHttp1(
        "POST /rpc HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n",
        "{",
      );
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      await hub.bus.publish({ subject: SUBJECT, payload: { n: 1 } });
      await waitUntil(() => all.every((s) => s.received() > 0), "the event on every stream", {
        describe: () => all.map((s) => s.received()),
      });
      expect(native.closed()).toBe(false);
      expect(nativeHuge.closed()).toBe(false);
      expect([web.ended(), webHuge.ended(), connectHuge.ended()]).toEqual([false, false, false]);
      expect(webHuge.text()).not.toMatch(/grpc-status/);
    } finally {
      for (const s of all) s.close();
    }
  });
});
