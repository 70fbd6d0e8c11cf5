import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  EventBusService,
  GetHealthResponseSchema,
  GetHubInfoResponseSchema,
  ListHubsResponseSchema,
  PublishBatchRequestSchema,
  PublishRequestSchema,
  QueryEventsRequestSchema,
  SubscribeRequestSchema,
} from "../../../gen/hubbus/v1/eventbus_pb.js";
import { HubError } from "../../core/index.js";
import { type CallContext, type Pipeline, tlsSubjectOf } from "../../pipeline/index.js";
import {
  codeWord,
  connectErrorOf,
  healthToProto,
  hubsToProto,
  infoToProto,
  queryInput,
  subscribeInput,
} from "../proto/index.js";
import {
  decodePublishBatchRequest,
  decodePublishRequest,
  encodePublishBatchResponse,
  encodePublishResponse,
  encodeQueryEventsResponse,
  grpcFrame,
  subscribeResponseFrames,
} from "../wire/index.js";
import { type BodyDeadlines, createBodyDeadlines } from "./body-deadlines.js";
import {
  ACCEPT_ENCODING,
  checkEncoding,
  encodeStatusMessage,
  MAX_TIMER_MS,
  parseGrpcTimeout,
  singleMessage,
} from "./protocol.js";

/** Options of {@link createNativeGrpc}. */
export interface NativeGrpcOptions {
  /** The road to the core every call takes. */
  readonly pipeline: Pipeline;
  /** Largest request message, as connect-node's `readMaxBytes`. */
  readonly maxMessageBytes: number;
  /** Aborted when the server shuts down: open streams end with `unavailable`. */
  readonly shutdownSignal: AbortSignal;
  /**
   * A request body that has not arrived within this is answered
   * `deadline_exceeded` and its stream closed. @default no limit
   */
  readonly requestBodyTimeoutMs?: number;
  /** The shared checker of body deadlines, `requestBodyTimeoutMs`'s. @default one of its own */
  readonly bodyDeadlines?: BodyDeadlines;
}

/**
 * gRPC over HTTP/2 with binary Protobuf, served straight on node:http2
 * streams, before the compatibility API makes a request and a response
 * object for them. connect-node spends about 370 µs of CPU on a unary gRPC
 * call, a bare http2 handler about 35 µs (issue #5); this path keeps the gap
 * for the protocol most services use, while connect-node keeps serving
 * Connect, gRPC-Web and gRPC with JSON. Both take the same pipeline with the
 * same request mapping and error mapping (adapters/proto).
 */
export interface NativeGrpc {
  /**
   * Serves the stream if it is a call this path takes (a POST of
   * `application/grpc[+proto]` to an EventBusService method) and returns
   * true; false leaves the stream untouched. Never throws.
   */
  take(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean;
}

/** What a unary method does with its request message. */
type Unary = (message: Uint8Array, ctx: CallContext) => Promise<Uint8Array>;

/** A call in flight: its stream and how it ends. */
interface Call {
  readonly stream: ServerHttp2Stream;
  readonly headers: IncomingHttpHeaders;
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
    throw new HubError("invalid_argument", `protocol error: cannot decode ${typeName}: ${reason}`, {
      reason,
    });
  }
}

/** The header as one string: HTTP/2 headers may repeat. */
function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

/** Why a call's signal aborted, as the pipeline reports it. */
const CLIENT_CANCELED = new HubError("canceled", "the client canceled the call");
const TIMED_OUT = new HubError("deadline_exceeded", "the operation timed out");

export function createNativeGrpc(options: NativeGrpcOptions): NativeGrpc {
  const { pipeline, maxMessageBytes, shutdownSignal, requestBodyTimeoutMs } = options;
  const deadlines =
    requestBodyTimeoutMs === undefined
      ? undefined
      : (options.bodyDeadlines ?? createBodyDeadlines(requestBodyTimeoutMs));
  const bodyTooSlow = new ConnectError(
    `the request body did not arrive within ${requestBodyTimeoutMs} ms`,
    Code.DeadlineExceeded,
  );

  const unary: ReadonlyMap<string, Unary> = new Map<string, Unary>([
    [
      "Publish",
      async (message, ctx) =>
        encodePublishResponse(
          await pipeline.unary(ctx, "Publish", () =>
            decodeWire(decodePublishRequest, message, PublishRequestSchema.typeName),
          ),
        ),
    ],
    [
      "PublishBatch",
      async (message, ctx) =>
        encodePublishBatchResponse(
          await pipeline.unary(ctx, "PublishBatch", () =>
            decodeWire(decodePublishBatchRequest, message, PublishBatchRequestSchema.typeName),
          ),
        ),
    ],
    [
      "QueryEvents",
      async (message, ctx) =>
        encodeQueryEventsResponse(
          await pipeline.unary(ctx, "QueryEvents", () =>
            queryInput(decode(QueryEventsRequestSchema, message)),
          ),
        ),
    ],
    [
      "GetHubInfo",
      async (_message, ctx) =>
        toBinary(
          GetHubInfoResponseSchema,
          infoToProto(await pipeline.unary(ctx, "GetHubInfo", () => undefined)),
        ),
    ],
    [
      "GetHealth",
      async (_message, ctx) =>
        toBinary(
          GetHealthResponseSchema,
          healthToProto(await pipeline.unary(ctx, "GetHealth", () => undefined)),
        ),
    ],
    [
      "ListHubs",
      async (_message, ctx) =>
        toBinary(
          ListHubsResponseSchema,
          hubsToProto(await pipeline.unary(ctx, "ListHubs", () => undefined)),
        ),
    ],
  ]);

  /** A client sees a HubError from the pipeline, or the protocol's own error from the framing. */
  function clientError(reason: unknown): ConnectError {
    if (reason instanceof ConnectError) return reason;
    return connectErrorOf(HubError.from(reason));
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
      let ended = false;
      const unwatch = deadlines?.watch(() => {
        if (failed) return;
        failed = true;
        reject(bodyTooSlow);
      });
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
        ended = true;
        unwatch?.();
        if (!failed)
          resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
      });
      stream.once("error", (error) => {
        unwatch?.();
        failed = true;
        reject(error);
      });
      // A reset before the end: the call's signal says why; the read must not wait forever.
      stream.once("close", () => {
        unwatch?.();
        if (failed || ended) return;
        failed = true;
        reject(CLIENT_CANCELED);
      });
    });
  }

  async function serve(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    method: string,
  ): Promise<void> {
    const controller = new AbortController();
    const ctx = pipeline.context({
      protocol: "grpc",
      method: method as CallContext["method"],
      procedure: `${EventBusService.typeName}/${method}`,
      header: (name) => header(headers, name),
      signal: controller.signal,
      // The session's socket stands for the connection: its subject is read once, not per call.
      tlsSubject: tlsSubjectOf(stream.session?.socket),
    });
    let timer: NodeJS.Timeout | undefined;
    const onClose = () => {
      if (!controller.signal.aborted) controller.abort(CLIENT_CANCELED);
    };
    stream.once("close", onClose);
    // Only streams follow the shutdown: a unary call finishes within the grace period.
    const onShutdown = () => controller.abort(shutdownSignal.reason);
    const following = method === STREAMING;
    if (following) {
      if (shutdownSignal.aborted) onShutdown();
      else shutdownSignal.addEventListener("abort", onShutdown, { once: true });
    }
    const call: Call = { stream, headers, answered: false };
    // Until the message is read, failures are the framing's; the pipeline logs the rest itself.
    let inPipeline = false;
    try {
      const timeoutMs = parseGrpcTimeout(header(headers, "grpc-timeout"));
      const encoding = header(headers, "grpc-encoding");
      checkEncoding(encoding);
      // A deadline past the timer's range (about 24.8 days) would fire at once: it never comes.
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        timer = setTimeout(() => {
          controller.abort(TIMED_OUT);
          // A unary call answers now; a store write already under way still completes.
          if (!stream.headersSent) failEarly(call, connectErrorOf(TIMED_OUT));
        }, timeoutMs);
      }
      const message = singleMessage(await readBody(stream), encoding, maxMessageBytes);
      if (controller.signal.aborted) throw controller.signal.reason;
      inPipeline = true;
      if (method === STREAMING) {
        await subscribe(message, ctx, call);
      } else {
        const run = unary.get(method) as Unary;
        const response = await run(message, ctx);
        // Too late (the deadline answered already, or the client left): the core's work stands.
        if (controller.signal.aborted) {
          failEarly(call, clientError(controller.signal.reason));
          return;
        }
        stream.respond(responseHeaders(headers), { waitForTrailers: true });
        finish(call, undefined, grpcFrame(response));
      }
    } catch (error) {
      const outcome = clientError(
        !inPipeline && controller.signal.aborted ? controller.signal.reason : error,
      );
      if (!inPipeline)
        pipeline.refused("grpc", ctx.procedure, codeWord(outcome.code), ctx.startedAt, ctx.method);
      if (stream.headersSent) finish(call, outcome);
      else failEarly(call, outcome);
      // The answer is out; the rest of a body that stalled would hold the stream open.
      if (error === bodyTooSlow) stream.close(constants.NGHTTP2_NO_ERROR);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      stream.off("close", onClose);
      if (following) shutdownSignal.removeEventListener("abort", onShutdown);
    }
  }

  /** Subscribe: headers at once, then one write per batch; the status when the stream ends. */
  async function subscribe(message: Uint8Array, ctx: CallContext, call: Call): Promise<void> {
    const { stream } = call;
    const gone = () => stream.closed || stream.destroyed;
    stream.respond(responseHeaders(call.headers), { waitForTrailers: true });
    await pipeline.stream(
      ctx,
      () => subscribeInput(decode(SubscribeRequestSchema, message)),
      (batch) => {
        // One write per batch: a replay page of a thousand events is one write, not a thousand.
        if (stream.write(subscribeResponseFrames(batch.events, batch.shared))) return !gone();
        return drained(stream).then(() => !gone());
      },
    );
    finish(call, undefined);
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
