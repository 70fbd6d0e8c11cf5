import * as http2 from "node:http2";
import * as net from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { GetHealthResponseSchema } from "../../gen/hubbus/v1/eventbus_pb.js";
import { PATHS } from "./payload.js";
import type { Scope } from "./scope.js";

/*
 * gRPC over node:http2 with the framing done by hand. Generated clients
 * decode every message into objects; a fan-out client receiving 100k
 * messages a second would then cost more CPU than the server it measures.
 * Here a stream that only counts parses the 5-byte prefixes and nothing else.
 */

/** Per-stream and per-connection receive windows: large, as gRPC clients configure them. */
const STREAM_WINDOW_BYTES = 1 << 20;
const SESSION_WINDOW_BYTES = 16 << 20;

/** One HTTP/2 connection to a server, closed with the scope. */
export function connectH2(port: number, scope: Scope): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    settings: { initialWindowSize: STREAM_WINDOW_BYTES, enablePush: false },
    // Nagle's algorithm with delayed ACKs holds small frames for up to 40 ms: gRPC clients turn it off.
    createConnection: () => net.connect({ port, host: "127.0.0.1", noDelay: true }),
  });
  session.on("error", () => {});
  session.once("connect", () => {
    // A scope may close it before it finished connecting.
    if (!session.destroyed) session.setLocalWindowSize(SESSION_WINDOW_BYTES);
  });
  scope.defer("http/2 connection", () => session.destroy());
  return session;
}

const REQUEST_HEADERS = {
  ":method": "POST",
  "content-type": "application/grpc+proto",
  te: "trailers",
};

/** A call that ended with a gRPC status other than OK, or without one. */
export class GrpcCallError extends Error {
  override name = "GrpcCallError";
}

function statusOf(headers: http2.IncomingHttpHeaders): string | undefined {
  const status = headers["grpc-status"];
  if (status === undefined || status === "0") return status === undefined ? undefined : "0";
  return `grpc-status ${status}: ${decodeURIComponent(String(headers["grpc-message"] ?? ""))}`;
}

export interface StreamHandlers {
  /** Called once per message with its body (omit to only count). */
  readonly onMessage?: (body: Buffer) => void;
  /** Called with the number of complete messages in each chunk received. */
  readonly onCount?: (messages: number) => void;
  /** Called once the response headers arrived: the server accepted the call. */
  readonly onOpen?: () => void;
}

/** The end of a call: "0" for OK, otherwise what went wrong. */
export interface CallEnd {
  readonly status: string;
}

/** Starts a call with one request message; the response messages go to the handlers. */
export function call(
  session: http2.ClientHttp2Session,
  path: string,
  request: Buffer,
  handlers: StreamHandlers,
): { readonly stream: http2.ClientHttp2Stream; readonly ended: Promise<CallEnd> } {
  const stream = session.request({ ...REQUEST_HEADERS, ":path": path });
  stream.end(request);
  let status: string | undefined;
  stream.on("response", (headers) => {
    status = statusOf(headers) ?? status;
    handlers.onOpen?.();
  });
  stream.on("trailers", (headers) => {
    status = statusOf(headers) ?? status;
  });
  let pending: Buffer | undefined;
  stream.on("data", (chunk: Buffer) => {
    let buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
    let messages = 0;
    let offset = 0;
    while (buffer.length - offset >= 5) {
      const end = offset + 5 + buffer.readUInt32BE(offset + 1);
      if (end > buffer.length) break;
      handlers.onMessage?.(buffer.subarray(offset + 5, end));
      messages++;
      offset = end;
    }
    buffer = buffer.subarray(offset);
    pending = buffer.length > 0 ? buffer : undefined;
    if (messages > 0) handlers.onCount?.(messages);
  });
  const ended = new Promise<CallEnd>((resolve) => {
    stream.on("error", (error) => {
      status ??= `stream error: ${error.message}`;
    });
    stream.once("close", () =>
      resolve({ status: status ?? `closed without a status (rst ${stream.rstCode})` }),
    );
  });
  return { stream, ended };
}

/** A unary call: resolves with the response message, rejects on any status but OK. */
export async function unary(
  session: http2.ClientHttp2Session,
  path: string,
  request: Buffer,
): Promise<Buffer> {
  let response: Buffer | undefined;
  const { ended } = call(session, path, request, {
    onMessage: (body) => {
      response = Buffer.from(body);
    },
  });
  const { status } = await ended;
  if (status !== "0" || response === undefined) {
    throw new GrpcCallError(`${path}: ${status === "0" ? "no response message" : status}`);
  }
  return response;
}

const EMPTY_REQUEST = Buffer.alloc(5);

/** GetHealth's details (subscriptions, outbox backlog) from the gateway or a baseline server. */
export async function healthDetails(
  session: http2.ClientHttp2Session,
): Promise<Record<string, string>> {
  const body = await unary(session, PATHS.health, EMPTY_REQUEST);
  return fromBinary(GetHealthResponseSchema, body).details;
}

/** Opens `count` streams over connections of `perConnection` streams each. */
export function sessionsFor(
  port: number,
  count: number,
  perConnection: number,
  scope: Scope,
): http2.ClientHttp2Session[] {
  return Array.from({ length: Math.ceil(count / perConnection) }, () => connectH2(port, scope));
}
