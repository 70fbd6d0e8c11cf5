import * as http2 from "node:http2";
import * as net from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import {
  SubscribeRequestSchema,
  SubscribeResponseSchema,
} from "../../gen/hubbus/v1/eventbus_pb.js";
import type { LiveEvent, StreamEnd, SubscribeOptions, Subscription } from "./subscribers.js";

/** A Subscribe stream whose reading the test controls. */
export interface RawSubscription extends Subscription {
  /** Stops reading: node:http2 then stops sending WINDOW_UPDATEs, so the server must stop sending. */
  pause(): void;
  resume(): void;
  /** Bytes received on the TCP connection so far: what the server actually sent. */
  bytesReceived(): number;
}

/**
 * Subscribe over node:http2 with the gRPC framing done by hand, on a TCP
 * socket of its own. A grpc-js client keeps reading into its own buffers
 * when paused (stack.md), and Connect's iterators hide the socket; here
 * `pause()` really stops the reading and `bytesReceived()` shows whether
 * the server kept sending anyway.
 */
export function openRawSubscription(port: number, options: SubscribeOptions): RawSubscription {
  const socket = net.connect(port, "127.0.0.1");
  const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => socket });
  session.on("error", () => {});
  const headers: http2.OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": "/hubbus.v1.EventBusService/Subscribe",
    "content-type": "application/grpc+proto",
    te: "trailers",
  };
  if (options.timeoutMs !== undefined) headers["grpc-timeout"] = `${options.timeoutMs}m`;
  const stream = session.request(headers);
  stream.on("error", () => {});
  const message = toBinary(
    SubscribeRequestSchema,
    create(SubscribeRequestSchema, {
      subject: options.subject,
      ...(options.afterSequence === undefined
        ? {}
        : { afterSequence: BigInt(options.afterSequence) }),
    }),
  );
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  stream.end(frame);

  let stopped = false;
  let status: { code: string; message: string } | undefined;
  let resolveEnd!: (end: StreamEnd) => void;
  const ended = new Promise<StreamEnd>((resolve) => {
    resolveEnd = resolve;
  });
  const takeStatus = (h: http2.IncomingHttpHeaders) => {
    const raw = h["grpc-status"];
    if (raw === undefined) return;
    const code = Number(raw);
    status = {
      code: code === 0 ? "OK" : (Code[code] ?? `code ${code}`),
      message: decodeURIComponent(String(h["grpc-message"] ?? "")),
    };
  };
  stream.on("response", takeStatus);
  stream.on("trailers", takeStatus);

  const subscription: RawSubscription = {
    protocol: "raw-h2",
    sequences: [],
    events: [],
    ended,
    cancel() {
      stopped = true;
      stream.close(http2.constants.NGHTTP2_CANCEL);
    },
    cut() {
      stopped = true;
      socket.destroy();
      session.destroy();
    },
    pause: () => stream.pause(),
    resume: () => stream.resume(),
    bytesReceived: () => socket.bytesRead,
  };

  let pending: Buffer = Buffer.alloc(0);
  stream.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (pending.length < 5 + length) break;
      const body = pending.subarray(5, 5 + length);
      pending = pending.subarray(5 + length);
      if (stopped) continue;
      const event = fromBinary(SubscribeResponseSchema, body).event;
      if (!event) continue;
      const live: LiveEvent = {
        sequence: Number(event.sequence),
        subject: event.subject,
        id: event.id,
        payload: (event.payload ?? {}) as Record<string, unknown>,
      };
      subscription.sequences.push(live.sequence);
      if (options.keepEvents) subscription.events.push(live);
      options.onEvent?.(live, subscription);
    }
  });
  stream.on("close", () => {
    resolveEnd(status ?? { code: `reset ${stream.rstCode ?? "?"}`, message: "" });
    session.close();
  });
  return subscription;
}
