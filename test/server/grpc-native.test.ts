import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EventBusService,
  PublishRequestSchema,
  PublishResponseSchema,
  SubscribeRequestSchema,
} from "../../gen/hubbus/v1/eventbus_pb.js";
import { createGrpcJsClient, HUB_ID, startHub, type TestHub } from "./harness.js";

// Binary gRPC over HTTP/2 has its own path (src/adapters/grpc); the parity
// suite shows it answers like connect-node. These are the protocol's edges,
// spoken with a raw HTTP/2 client so each byte on the wire is ours to choose.

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub("sqlite", { bus: { maxPayloadBytes: 4096 } });
});
afterAll(async () => {
  await hub?.close();
});

const PUBLISH = "/hubbus.v1.EventBusService/Publish";

interface RawAnswer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
}

/** One call on a fresh HTTP/2 connection: the status is in the trailers, or in the headers (trailers-only). */
function rawCall(
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
  bodyAfterAnswer = false,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(hub.baseUrl);
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let answer: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      answer = h;
      // Sent only now: the server had to answer without it.
      if (bodyAfterAnswer && !req.closed && !req.destroyed) req.end(body);
    });
    req.on("trailers", (t) => {
      trailers = t;
    });
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      session.close();
      resolve({ headers: answer, trailers, body: Buffer.concat(chunks) });
    });
    req.on("error", reject);
    if (!bodyAfterAnswer) req.end(body);
  });
}

function frame(message: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flags;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

function publishBytes(subject: string, payload: Record<string, unknown> = { n: 1 }): Uint8Array {
  return toBinary(
    PublishRequestSchema,
    create(PublishRequestSchema, { subject, payload: payload as never }),
  );
}

/** The status of a raw answer, wherever the server put it. */
function statusOf(answer: RawAnswer): { code: number; message: string } {
  const source = answer.trailers?.["grpc-status"] !== undefined ? answer.trailers : answer.headers;
  return {
    code: Number(source?.["grpc-status"]),
    message: decodeURIComponent(String(source?.["grpc-message"] ?? "")),
  };
}

describe("native gRPC: success", () => {
  it("answers a Publish with headers, one message and grpc-status 0 in the trailers", async () => {
    const answer = await rawCall(PUBLISH, frame(publishBytes("native.ok.created")));
    expect(answer.headers[":status"]).toBe(200);
    expect(answer.headers["content-type"]).toBe("application/grpc");
    expect(answer.trailers?.["grpc-status"]).toBe("0");
    expect(answer.body.readUInt32BE(1)).toBe(answer.body.length - 5);
    const response = fromBinary(PublishResponseSchema, answer.body.subarray(5));
    expect(response.subject).toBe(`hub.${HUB_ID}.native.ok.created`);
    expect(response.sequence).toBeGreaterThan(0n);
  });

  it("takes a gzip-compressed request message", async () => {
    const answer = await rawCall(
      PUBLISH,
      frame(gzipSync(publishBytes("native.gzip.created", { big: "z".repeat(500) })), 1),
      { "grpc-encoding": "gzip" },
    );
    expect(statusOf(answer).code).toBe(0);
    const events = await hub.bus.query({ subject: `hub.${HUB_ID}.native.gzip.created` });
    expect(events[0]?.payload).toEqual({ big: "z".repeat(500) });
  });

  it("takes a request grpc-js compresses (channel default gzip)", async () => {
    const client = new (grpc.makeGenericClientConstructor({}, "x"))(
      `127.0.0.1:${hub.port}`,
      grpc.credentials.createInsecure(),
      { "grpc.default_compression_algorithm": 2 },
    );
    const answer = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        PUBLISH,
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.from(publishBytes("native.grpcjs.created", { big: "y".repeat(2000) })),
        (error, value) => (error ? reject(error) : resolve(value as Buffer)),
      ),
    );
    client.close();
    expect(fromBinary(PublishResponseSchema, answer).published).toBe(true);
    const events = await hub.bus.query({ subject: `hub.${HUB_ID}.native.grpcjs.created` });
    expect(events[0]?.payload).toEqual({ big: "y".repeat(2000) });
  });

  it("leaves gRPC with JSON messages to connect-node, which still answers it", async () => {
    const client = createClient(
      EventBusService,
      createGrpcTransport({ baseUrl: hub.baseUrl, useBinaryFormat: false }),
    );
    const ack = await client.publish({ subject: "native.json.created", payload: { j: 1 } });
    expect(ack.published).toBe(true);
  });
});

describe("native gRPC: bad input gets a status, never a crash or a hang", () => {
  const cases: Array<[string, () => Promise<RawAnswer>, number, RegExp]> = [
    [
      "an empty body",
      () => rawCall(PUBLISH, Buffer.alloc(0)),
      Code.Unimplemented,
      /missing input message/,
    ],
    [
      "a truncated prefix",
      () => rawCall(PUBLISH, Buffer.from([0, 0, 0])),
      Code.InvalidArgument,
      /incomplete envelope/,
    ],
    [
      "a length longer than the body",
      () => rawCall(PUBLISH, frame(publishBytes("native.short.x")).subarray(0, 12)),
      Code.InvalidArgument,
      /incomplete envelope/,
    ],
    [
      "two messages to a unary method",
      () =>
        rawCall(
          PUBLISH,
          Buffer.concat([frame(publishBytes("native.two.x")), frame(publishBytes("native.two.y"))]),
        ),
      Code.Unimplemented,
      /extra input message/,
    ],
    [
      "bytes that are not a PublishRequest",
      () => rawCall(PUBLISH, frame(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))),
      Code.InvalidArgument,
      /cannot decode hubbus\.v1\.PublishRequest/,
    ],
    [
      "a compressed message without grpc-encoding",
      () => rawCall(PUBLISH, frame(gzipSync(publishBytes("native.nozip.x")), 1)),
      Code.InvalidArgument,
      /compressed message without grpc-encoding/,
    ],
    [
      "an encoding the server does not speak",
      () => rawCall(PUBLISH, frame(publishBytes("native.br.x")), { "grpc-encoding": "br" }),
      Code.Unimplemented,
      /unknown compression "br"/,
    ],
    [
      "a malformed grpc-timeout",
      () => rawCall(PUBLISH, frame(publishBytes("native.timeout.x")), { "grpc-timeout": "soon" }),
      Code.InvalidArgument,
      /invalid grpc timeout/,
    ],
    [
      "a message over the size limit",
      () => rawCall(PUBLISH, frame(publishBytes("native.big.x", { big: "b".repeat(200_000) }))),
      Code.ResourceExhausted,
      /larger than configured readMaxBytes/,
    ],
    [
      "a payload over MAX_PAYLOAD_BYTES (the core's own check)",
      () => rawCall(PUBLISH, frame(publishBytes("native.payload.x", { big: "p".repeat(5000) }))),
      Code.InvalidArgument,
      /payload/,
    ],
    [
      "an invalid subject",
      () => rawCall(PUBLISH, frame(publishBytes("hub.*.bad"))),
      Code.InvalidArgument,
      /subject/,
    ],
  ];

  it.each(cases)("answers %s", async (_name, send, code, message) => {
    const answer = await send();
    const status = statusOf(answer);
    expect(status.code).toBe(code);
    expect(status.message).toMatch(message);
    // Errors before any message are trailers-only: the status rides on the headers.
    expect(answer.trailers).toBeUndefined();
    expect(answer.body.length).toBe(0);
    if (code === Code.Unimplemented && /compression/.test(status.message)) {
      expect(answer.headers["grpc-accept-encoding"]).toMatch(/gzip/);
    }
  });

  it("stores nothing for any of them and keeps serving", async () => {
    const events = await hub.bus.query({ subject: `hub.${HUB_ID}.native.*.x`, limit: 100 });
    expect(events).toEqual([]);
    const client = createGrpcJsClient(hub.port);
    try {
      const info = await client.call("GetHubInfo", {});
      expect(info.hub_id).toBe(HUB_ID);
    } finally {
      client.close();
    }
  });

  it("answers an expired deadline with DEADLINE_EXCEEDED and does not publish after it", async () => {
    // The body comes only after the answer: the deadline, not the body, must end the call.
    const answer = await rawCall(
      PUBLISH,
      frame(publishBytes("native.late.x")),
      { "grpc-timeout": "50m" },
      true,
    );
    expect(statusOf(answer).code).toBe(Code.DeadlineExceeded);
    expect(await hub.bus.query({ subject: `hub.${HUB_ID}.native.late.x` })).toEqual([]);
    const transport = createGrpcTransport({ baseUrl: hub.baseUrl });
    const error = await createClient(EventBusService, transport)
      .queryEvents({ subject: ">" }, { timeoutMs: 1 })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    // A 1 ms deadline may also expire on the client first: either side says so.
    expect(error?.code).toBe(Code.DeadlineExceeded);
  });
});

describe("native gRPC: deadlines", () => {
  it("keeps a Subscribe open under a deadline longer than Node's timers can hold", async () => {
    // 99999999H is valid gRPC (eight digits); setTimeout would cap it at 1 ms.
    const session = http2.connect(hub.baseUrl);
    try {
      const req = session.request({
        ":method": "POST",
        ":path": "/hubbus.v1.EventBusService/Subscribe",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": "99999999H",
      });
      const subject = `hub.${HUB_ID}.native.farDeadline.x`;
      // From the log's end now, so the event below is delivered however the stream's start races it.
      const afterSequence = BigInt(await hub.log.lastSequence());
      const request = create(SubscribeRequestSchema, { subject, afterSequence });
      // The stream either delivers the event or ends; ending first is the bug.
      const first = new Promise<string>((resolve) => {
        req.once("data", () => resolve("event"));
        req.once("end", () => resolve("ended"));
      });
      const answered = new Promise<http2.IncomingHttpHeaders>((resolve) =>
        req.once("response", resolve),
      );
      req.end(frame(toBinary(SubscribeRequestSchema, request)));
      const headers = await answered;
      expect(headers["grpc-status"]).toBeUndefined();
      await hub.bus.publish({ subject });
      expect(await first).toBe("event");
      req.close();
    } finally {
      session.close();
    }
  });
});
