import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  EventBusService,
  GetHealthResponseSchema,
  GetHubInfoResponseSchema,
  PublishBatchRequestSchema,
  PublishRequestSchema,
  QueryEventsRequestSchema,
  SubscribeRequestSchema,
} from "../../../gen/hubbus/v1/eventbus_pb.js";
import type { EventBus } from "../../core/index.js";
import { healthToProto, infoToProto } from "../connect/convert.js";
import { toConnectError } from "../connect/errors.js";
import { queryInput, SERVICE_HEADER, subscribeInput } from "../connect/inputs.js";
import {
  decodePublishBatchRequest,
  decodePublishRequest,
  encodePublishBatchResponse,
  encodePublishResponse,
  encodeQueryEventsResponse,
  grpcFrame,
  subscribeResponseFrames,
} from "../wire/index.js";
import {
  ACCEPT_ENCODING,
  checkEncoding,
  encodeStatusMessage,
  parseGrpcTimeout,
  singleMessage,
} from "./protocol.js";

/** Options of {@link createNativeGrpc}. */
export interface NativeGrpcOptions {
  /** The core every call goes to. */
  readonly bus: EventBus;
  /** Access log (info) and internal errors. */
  readonly logger: Logger;
  /** Largest request message, as connect-node's `readMaxBytes`. */
  readonly maxMessageBytes: number;
  /** Aborted when the server shuts down: open streams end with `unavailable`. */
  readonly shutdownSignal: AbortSignal;
}

/**
 * gRPC over HTTP/2 with binary Protobuf, served straight on node:http2
 * streams, before the compatibility API makes a request and a response
 * object for them. connect-node spends about 370 µs of CPU on a unary gRPC
 * call, a bare http2 handler about 35 µs (issue #5); this path keeps the gap
 * for the protocol most services use, while connect-node keeps serving
 * Connect, gRPC-Web and gRPC with JSON. Both call the same core through the
 * same request mapping (connect/inputs.ts) and error mapping (connect/errors.ts).
 */
export interface NativeGrpc {
  /**
   * Serves the stream if it is a call this path takes (a POST of
   * `application/grpc[+proto]` to an EventBusService method) and returns
   * true; false leaves the stream untouched. Never throws.
   */
  take(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean;
}

/** What a unary method does with its decoded request. */
type Unary = (message: Uint8Array, call: Call) => Promise<Uint8Array>;

/** A call in flight: its stream, deadline and cancellation, and how it ends. */
interface Call {
  readonly stream: ServerHttp2Stream;
  readonly headers: IncomingHttpHeaders;
  readonly method: string;
  readonly signal: AbortSignal;
  /** The status went out (or the stream is gone): nothing more may be written. */
  answered: boolean;
}

const PATH_PREFIX = `/${EventBusService.typeName}/`;
const STREAMING = "Subscribe";

function isGrpcProto(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.toLowerCase();
  return type === "application/grpc" || type === "application/grpc+proto";
}

/** Decodes a request message with protobuf-es. */
function decode<Desc extends DescMessage>(schema: Desc, message: Uint8Array): MessageShape<Desc> {
  return decodeWire((bytes) => fromBinary(schema, bytes), message, schema.typeName);
}

/** Runs a decoder on a request message; malformed input is the client's error, not ours. */
function decodeWire<T>(run: (bytes: Uint8Array) => T, message: Uint8Array, typeName: string): T {
  try {
    return run(message);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConnectError(
      `protocol error: cannot decode ${typeName}: ${reason}`,
      Code.InvalidArgument,
    );
  }
}

/** The header as one string: HTTP/2 headers may repeat. */
function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

export function createNativeGrpc(options: NativeGrpcOptions): NativeGrpc {
  const { bus, logger, maxMessageBytes, shutdownSignal } = options;
  const accessLog = logger.isLevelEnabled("info");

  const unary: ReadonlyMap<string, Unary> = new Map<string, Unary>([
    [
      "Publish",
      async (message, call) => {
        const req = decodeWire(decodePublishRequest, message, PublishRequestSchema.typeName);
        const result = await bus.publish(
          { ...req, service: header(call.headers, SERVICE_HEADER) },
          call.signal,
        );
        return encodePublishResponse(result);
      },
    ],
    [
      "PublishBatch",
      async (message, call) => {
        const events = decodeWire(
          decodePublishBatchRequest,
          message,
          PublishBatchRequestSchema.typeName,
        );
        // The header names the publishing service of the whole call, as on connect-node's route.
        const service = header(call.headers, SERVICE_HEADER);
        const results = await bus.publishBatch(
          events.map((event) => ({ ...event, service })),
          call.signal,
        );
        return encodePublishBatchResponse(results);
      },
    ],
    [
      "QueryEvents",
      async (message, call) => {
        const req = decode(QueryEventsRequestSchema, message);
        const events = await bus.query(queryInput(req), call.signal);
        return encodeQueryEventsResponse(events);
      },
    ],
    ["GetHubInfo", async () => toBinary(GetHubInfoResponseSchema, infoToProto(bus.info()))],
    [
      "GetHealth",
      async (_message, call) =>
        toBinary(GetHealthResponseSchema, healthToProto(await bus.health(call.signal))),
    ],
  ]);

  function logCall(method: string, started: number, error: ConnectError | undefined): void {
    if (!accessLog) return;
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    const code = error === undefined ? "ok" : Code[error.code];
    logger.info(
      { protocol: "grpc", method: `${EventBusService.typeName}/${method}`, code, durationMs },
      "rpc",
    );
  }

  function clientError(reason: unknown, method: string): ConnectError {
    return toConnectError(reason, logger.child({ protocol: "grpc", method }));
  }

  function statusHeaders(error: ConnectError): Record<string, string> {
    return {
      "grpc-status": String(error.code),
      "grpc-message": encodeStatusMessage(error.rawMessage),
    };
  }

  function responseHeaders(headers: IncomingHttpHeaders): Record<string, string> {
    return {
      ":status": "200",
      "content-type": header(headers, "content-type") ?? "application/grpc",
      "grpc-accept-encoding": ACCEPT_ENCODING,
    };
  }

  /** Ends a call that has sent no headers yet with a trailers-only response. */
  function failEarly(call: Call, error: ConnectError): void {
    const { stream } = call;
    if (call.answered || stream.destroyed || stream.headersSent) return;
    call.answered = true;
    stream.respond(
      { ...responseHeaders(call.headers), ...statusHeaders(error) },
      { endStream: true },
    );
  }

  /** Ends a call whose headers went out: the status goes in the trailers. */
  function finish(call: Call, error: ConnectError | undefined, last?: Buffer): void {
    const { stream } = call;
    if (call.answered || stream.destroyed || stream.closed) return;
    call.answered = true;
    stream.once("wantTrailers", () => {
      stream.sendTrailers(error === undefined ? { "grpc-status": "0" } : statusHeaders(error));
    });
    stream.end(last);
  }

  /** Reads the body: one message, at most maxMessageBytes plus its prefix. */
  function readBody(stream: ServerHttp2Stream): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      stream.on("data", (chunk: Buffer) => {
        if (failed) return;
        size += chunk.length;
        // Past one message and its prefix the call is lost anyway; keep reading to drain.
        if (size > maxMessageBytes + 5) {
          failed = true;
          reject(
            new ConnectError(
              `message size ${size - 5} is larger than configured readMaxBytes ${maxMessageBytes}`,
              Code.ResourceExhausted,
            ),
          );
          return;
        }
        chunks.push(chunk);
      });
      stream.once("end", () => {
        if (!failed)
          resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
      });
      stream.once("error", (error) => {
        failed = true;
        reject(error);
      });
    });
  }

  async function serve(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    method: string,
  ): Promise<void> {
    const started = performance.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const onClose = () => {
      if (!controller.signal.aborted) {
        controller.abort(new ConnectError("the client canceled the call", Code.Canceled));
      }
    };
    stream.once("close", onClose);
    // Only streams follow the shutdown: a unary call finishes within the grace period.
    const onShutdown = () => controller.abort(shutdownSignal.reason);
    const following = method === STREAMING;
    if (following) {
      if (shutdownSignal.aborted) onShutdown();
      else shutdownSignal.addEventListener("abort", onShutdown, { once: true });
    }
    const call: Call = { stream, headers, method, signal: controller.signal, answered: false };
    let outcome: ConnectError | undefined;
    try {
      const timeoutMs = parseGrpcTimeout(header(headers, "grpc-timeout"));
      const encoding = header(headers, "grpc-encoding");
      checkEncoding(encoding);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const error = new ConnectError("the operation timed out", Code.DeadlineExceeded);
          controller.abort(error);
          // A unary call answers now; a store write already under way still completes.
          if (!stream.headersSent) failEarly(call, error);
        }, timeoutMs);
      }
      const message = singleMessage(await readBody(stream), encoding, maxMessageBytes);
      if (controller.signal.aborted) throw controller.signal.reason;
      if (method === STREAMING) {
        outcome = await subscribe(message, call);
      } else {
        const run = unary.get(method) as Unary;
        const response = await run(message, call);
        if (controller.signal.aborted) {
          outcome = ConnectError.from(controller.signal.reason);
          failEarly(call, outcome);
        } else {
          stream.respond(responseHeaders(headers), { waitForTrailers: true });
          finish(call, undefined, grpcFrame(response));
        }
      }
    } catch (error) {
      outcome = clientError(controller.signal.aborted ? controller.signal.reason : error, method);
      if (stream.headersSent) finish(call, outcome);
      else failEarly(call, outcome);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      stream.off("close", onClose);
      if (following) shutdownSignal.removeEventListener("abort", onShutdown);
      logCall(method, started, outcome);
    }
  }

  /** Subscribe: headers at once, then one frame per event; the status when the stream ends. */
  async function subscribe(message: Uint8Array, call: Call): Promise<ConnectError | undefined> {
    const { stream, signal } = call;
    const batches = bus.subscribeBatches(
      subscribeInput(decode(SubscribeRequestSchema, message)),
      signal,
    );
    stream.respond(responseHeaders(call.headers), { waitForTrailers: true });
    let error: ConnectError | undefined;
    try {
      for await (const batch of batches) {
        // One write per batch: a replay page of a thousand events is one write, not a thousand.
        if (!stream.write(subscribeResponseFrames(batch.events, batch.shared))) {
          await drained(stream);
        }
        if (stream.closed || stream.destroyed) break;
      }
      // The core ends the stream when the signal aborts: shutdown says unavailable, a deadline says so.
      if (signal.aborted) error = ConnectError.from(signal.reason);
    } catch (caught) {
      error = clientError(signal.aborted ? signal.reason : caught, STREAMING);
    }
    finish(call, error);
    return error;
  }

  return {
    take(stream, headers) {
      const path = headers[":path"];
      if (headers[":method"] !== "POST" || path === undefined || !path.startsWith(PATH_PREFIX))
        return false;
      const method = path.slice(PATH_PREFIX.length);
      if (!(unary.has(method) || method === STREAMING)) return false;
      if (!isGrpcProto(header(headers, "content-type"))) return false;
      // Without a listener a stream error (a reset from the client) would be thrown at the process.
      stream.on("error", ignoreStreamError);
      void serve(stream, headers, method);
      return true;
    },
  };
}

/** A stream's own error ends it with 'close', which ends the call; there is nothing more to do. */
function ignoreStreamError(): void {}

/** Resolves when the stream can take more, or is gone. */
function drained(stream: ServerHttp2Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}
