import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";
import {
  codeFromString,
  codeToHttpStatus,
  codeToString,
} from "@connectrpc/connect/protocol-connect";
import { EventBusService } from "../../../gen/hubbus/v1/eventbus_pb.js";
import type { MethodName, Pipeline } from "../../pipeline/index.js";
import { codeWord, MAX_TIMER_MS, parseGrpcTimeout } from "../proto/index.js";
import { protocolOf, REACHED_PIPELINE } from "./routes.js";

/**
 * connect-node answers these client mistakes with `internal`: a body that
 * is not the method's Protobuf message ("parse binary: illegal tag"), a
 * message flagged compressed without an encoding, and a body that does not
 * decompress. Both are the client's,
 * as native gRPC answers them: `invalid_argument`.
 */
function isClientInternal(message: string): boolean {
  return (
    message.startsWith("parse binary: ") ||
    message === "received compressed envelope, but do not know how to decompress" ||
    // A body its content-encoding cannot decode (garbage under `br`), where zlib names no known code.
    message === "decompression failed"
  );
}

const GRPC_INTERNAL = String(Code.Internal);
const GRPC_INVALID_ARGUMENT = String(Code.InvalidArgument);
const FLAG_COMPRESSED = 0x01;
const FLAG_CONNECT_END = 0x02;
const FLAG_GRPC_WEB_TRAILER = 0x80;

/** What a response says about how its call ended, as far as the wrapper could read it. */
interface Outcome {
  /** 0 for OK. */
  code: number | undefined;
}

/** Rewrites a `grpc-status` header set (gRPC trailers) in place; returns the code it carries. */
function fixGrpcStatus(headers: Headers | undefined): number | undefined {
  const status = headers?.get("grpc-status");
  if (headers === undefined || status == null) return undefined;
  if (status === GRPC_INTERNAL) {
    const message = decodeURIComponent(headers.get("grpc-message") ?? "");
    if (isClientInternal(message)) {
      headers.set("grpc-status", GRPC_INVALID_ARGUMENT);
      return Code.InvalidArgument;
    }
  }
  return Number(status);
}

/** A gRPC-Web trailer frame (`key: value\r\n` lines), rewritten when it carries a client's `internal`. */
function fixGrpcWebTrailer(frame: Uint8Array, outcome: Outcome): Uint8Array {
  const text = Buffer.from(frame.subarray(5)).toString("latin1");
  const headers = new Headers();
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const before = headers.get("grpc-status");
  outcome.code = fixGrpcStatus(headers);
  if (headers.get("grpc-status") === before) return frame;
  let lines = "";
  headers.forEach((value, key) => {
    lines += `${key}: ${value}\r\n`;
  });
  return envelope(FLAG_GRPC_WEB_TRAILER, Buffer.from(lines, "latin1"));
}

/** A Connect end-of-stream message (JSON), rewritten when it carries a client's `internal`. */
function fixConnectEnd(frame: Uint8Array, outcome: Outcome): Uint8Array {
  let end: { error?: { code?: string; message?: string } };
  try {
    end = JSON.parse(Buffer.from(frame.subarray(5)).toString("utf8"));
  } catch {
    return frame;
  }
  const error = end.error;
  if (error === undefined) {
    outcome.code = 0;
    return frame;
  }
  outcome.code = codeFromString(error.code ?? "") ?? Code.Unknown;
  if (outcome.code !== Code.Internal || !isClientInternal(error.message ?? "")) return frame;
  error.code = codeToString(Code.InvalidArgument);
  outcome.code = Code.InvalidArgument;
  return envelope(FLAG_CONNECT_END, Buffer.from(JSON.stringify(end), "utf8"));
}

function envelope(flags: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + data.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, data.length);
  out.set(data, 5);
  return out;
}

/** Passes the body through, fixing the frame that ends an enveloped stream; `done` when it ends. */
function watchBody(
  body: AsyncIterable<Uint8Array>,
  protocol: "grpc" | "grpc-web" | "connect",
  outcome: Outcome,
  done: () => void,
): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const inner = body[Symbol.asyncIterator]();
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        done();
      };
      return {
        async next() {
          let result: IteratorResult<Uint8Array>;
          try {
            result = await inner.next();
          } catch (error) {
            finish();
            throw error;
          }
          if (result.done) {
            finish();
            return result;
          }
          const chunk = result.value;
          const flags = chunk[0] ?? 0;
          // A compressed end frame stays as it is: it cannot be read without its codec.
          if (chunk.length >= 5 && (flags & FLAG_COMPRESSED) === 0) {
            if (protocol === "grpc-web" && flags === FLAG_GRPC_WEB_TRAILER) {
              return { done: false, value: fixGrpcWebTrailer(chunk, outcome) };
            }
            if (protocol === "connect" && flags === FLAG_CONNECT_END) {
              return { done: false, value: fixConnectEnd(chunk, outcome) };
            }
          }
          return result;
        },
        async return(value?: unknown) {
          finish();
          return (await inner.return?.(value)) ?? { done: true, value: undefined };
        },
      };
    },
  };
}

/** A Connect unary error (JSON body, HTTP status) rewritten when it is a client's `internal`. */
async function fixConnectUnary(res: UniversalServerResponse, outcome: Outcome): Promise<void> {
  if (res.status === 200) {
    outcome.code = 0;
    return;
  }
  if (res.body === undefined || res.header?.has("content-encoding")) return;
  const chunks: Uint8Array[] = [];
  for await (const chunk of res.body) chunks.push(chunk);
  let bytes: Uint8Array = Buffer.concat(chunks);
  try {
    const error = JSON.parse(Buffer.from(bytes).toString("utf8")) as {
      code?: string;
      message?: string;
    };
    outcome.code = codeFromString(error.code ?? "") ?? Code.Unknown;
    if (outcome.code === Code.Internal && isClientInternal(error.message ?? "")) {
      error.code = codeToString(Code.InvalidArgument);
      outcome.code = Code.InvalidArgument;
      bytes = Buffer.from(JSON.stringify(error), "utf8");
      res.status = codeToHttpStatus(Code.InvalidArgument);
      res.header?.set("content-length", String(bytes.byteLength));
    }
  } catch {
    // Not an error body: passed on as it came.
  }
  const body = bytes;
  res.body = (async function* () {
    yield body;
  })();
}

/** Options of {@link guardConnectRoutes}. */
export interface GuardOptions {
  /** Where refused EventBusService requests are counted (its `refused`). */
  readonly pipeline: Pipeline;
}

/**
 * Wraps every handler registered on `router` so far: a client's mistake
 * that connect-node answers `internal` is answered `invalid_argument`, and
 * an EventBusService request connect-node refused before it reached the
 * pipeline is logged and counted through `pipeline.refused`, with its method.
 * Call it last in `routes`.
 */
export function guardConnectRoutes(router: ConnectRouter, options: GuardOptions): void {
  const { pipeline } = options;
  const handlers = router.handlers;
  for (let i = 0; i < handlers.length; i++) {
    const inner = handlers[i] as UniversalHandler;
    const ours = inner.service.typeName === EventBusService.typeName;
    const method = inner.method.name as MethodName;
    const procedure = `${EventBusService.typeName}/${method}`;
    const wrapped = async (req: Parameters<UniversalHandler>[0]) => {
      const startedAt = performance.now();
      const marker = { reached: false };
      req.contextValues?.set(REACHED_PIPELINE, marker);
      const protocol = protocolOf(req.header.get("content-type"));
      const res = await inner(req);
      const outcome: Outcome = { code: undefined };
      const settle = () => {
        if (protocol === "grpc") outcome.code = fixGrpcStatus(res.trailer) ?? outcome.code;
        const code = outcome.code;
        if (!ours || marker.reached || code === undefined || code === 0) return;
        const count = (as: number) =>
          pipeline.refused(protocol, procedure, codeWord(as as Code), startedAt, method);
        if (code !== Code.Internal) {
          count(code);
          return;
        }
        // A body cut short (the client left, the body time-out reset it) fails its read with
        // `internal`; the request's signal says so once the stream's close has been seen.
        setImmediate(() => count(req.signal.aborted ? Code.Canceled : code));
      };
      const unaryConnect = protocol === "connect" && inner.method.methodKind === "unary";
      if (unaryConnect) {
        await fixConnectUnary(res, outcome);
        settle();
      } else if (res.body !== undefined) {
        res.body = watchBody(res.body, protocol, outcome, settle);
      } else {
        settle();
      }
      return res;
    };
    handlers[i] = Object.assign(wrapped, inner);
  }
}

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

/** A deadline header's value in milliseconds, as connect-node reads it; undefined when malformed. */
function deadlineMs(
  name: "grpc-timeout" | "connect-timeout-ms",
  value: string,
): number | undefined {
  if (name === "connect-timeout-ms") return /^\d{1,10}$/.test(value) ? Number(value) : undefined;
  try {
    return parseGrpcTimeout(value);
  } catch {
    // connect-node answers it with invalid_argument itself.
    return undefined;
  }
}

/**
 * What connect-node must not be handed, checked before it is: an HTTP/1.0
 * request without `Host` (connect-node throws out of the request listener
 * for want of an authority, which would end the process) is answered 400
 * here, and returns false. A deadline longer than node's timers reach
 * (about 24.8 days) is dropped from the headers, as native gRPC ignores it:
 * connect-node's `setTimeout` would otherwise fire it at once (node sets an
 * overflowing delay to 1 ms). A deadline that far off never comes.
 */
export function admitConnectRequest(req: NodeRequest, res: NodeResponse): boolean {
  const headers = req.headers;
  if (!("authority" in req) && headers.host === undefined) {
    res.writeHead(400, { "content-type": "application/json", connection: "close" });
    res.end(JSON.stringify({ error: "the request has no Host header" }));
    return false;
  }
  for (const name of ["grpc-timeout", "connect-timeout-ms"] as const) {
    const value = headers[name];
    if (typeof value !== "string") continue;
    const ms = deadlineMs(name, value);
    if (ms !== undefined && ms > MAX_TIMER_MS) delete headers[name];
  }
  return true;
}
