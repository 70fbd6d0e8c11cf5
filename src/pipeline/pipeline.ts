import { type Logger, pino } from "pino";
import {
  type EventBatch,
  type EventBus,
  type HubDirectory,
  HubError,
  type HubEvent,
  type HubHealth,
  type HubInfo,
  type HubListing,
  type PublishInput,
  type PublishResult,
  type QueryInput,
  type SpanAttributes,
  type SubscribeInput,
  type Tracer,
  traceIdOf,
} from "../core/index.js";
import { type AccessLogEntry, writeAccessLog } from "./access-log.js";
import {
  CallContext,
  type CallInit,
  type MethodName,
  type Protocol,
  type UnaryMethod,
} from "./context.js";

/**
 * A publish as an adapter decodes it; the origin service and the caller
 * (whose idempotency keys these are) come from the call, not the message.
 */
export type PublishRequestInput = Omit<PublishInput, "service" | "caller">;

/** What each unary method takes (as decoded by an adapter) and answers. */
export interface UnaryCalls {
  Publish: { input: PublishRequestInput; output: PublishResult };
  PublishBatch: { input: readonly PublishRequestInput[]; output: PublishResult[] };
  QueryEvents: { input: QueryInput; output: HubEvent[] };
  GetHubInfo: { input: undefined; output: HubInfo };
  GetHealth: { input: undefined; output: HubHealth };
  ListHubs: { input: undefined; output: HubListing[] };
}

/** A unary call in the pipeline; a stage may replace `input` before passing the call on. */
export interface UnaryCall<M extends UnaryMethod = UnaryMethod> {
  readonly ctx: CallContext;
  readonly method: M;
  input: UnaryCalls[M]["input"];
}

/** A `Subscribe` call in the pipeline; a stage may replace `input` or filter what comes back. */
export interface StreamCall {
  readonly ctx: CallContext;
  readonly method: "Subscribe";
  input: SubscribeInput;
}

/** The rest of the pipeline after a stage, ending in the core. */
export type UnaryNext = (call: UnaryCall) => Promise<unknown>;
export type StreamNext = (call: StreamCall) => AsyncIterable<EventBatch>;

/**
 * A step every call passes through, on every protocol: authentication,
 * permissions, metrics, tracing. Each hook wraps the rest of the pipeline,
 * as a Connect interceptor does; it throws a HubError to refuse the call.
 * A stage without a hook for a kind of call is skipped for it.
 */
export interface Stage {
  /** For logs and tests. */
  readonly name: string;
  unary?(call: UnaryCall, next: UnaryNext): Promise<unknown>;
  stream?(call: StreamCall, next: StreamNext): AsyncIterable<EventBatch>;
}

/** Options of {@link createPipeline}. */
export interface PipelineOptions {
  /** The core every call ends in. */
  readonly bus: EventBus;
  /** Access log and internal errors. @default a silent logger */
  readonly logger?: Logger;
  /** Run in order, outermost first, between the access log and the core. @default [] */
  readonly stages?: readonly Stage[];
  /**
   * Called once for every call and every refused request, where its access
   * log line is written (a stream's when it ends), whatever the log level:
   * metrics count calls here, so none is counted twice or missed. It runs on
   * the call's path: it must be cheap, and what it throws is logged, never
   * sent to the client. @default none
   */
  readonly onDone?: (entry: AccessLogEntry) => void;
  /**
   * A span per call (protocol, method, code, caller), under the caller's
   * `traceparent`; the events a call publishes keep the span's context.
   * Absent: no span, and the caller's context is kept as it came. @default none
   */
  readonly tracer?: Tracer | undefined;
  /**
   * What `ListHubs` answers: the federation's registry. @default this hub
   * alone, online since the pipeline was created
   */
  readonly hubs?: HubDirectory;
}

/**
 * The one road from every protocol to the core. An adapter decodes a
 * request, makes a call context and hands both over; what comes back is the
 * core's answer or a HubError, which the adapter maps to its protocol's
 * error. The access log, the logging of internal errors' causes and every
 * stage live here, so no protocol can miss one.
 */
export interface Pipeline {
  /** A call context for `init`, with the pipeline's logger as the parent of its own. */
  context(init: CallInit): CallContext;
  /**
   * Runs a unary call. `decode` runs first, inside the pipeline, so that a
   * request the core would never see (a malformed message, bad params) is
   * logged like any other; it throws a HubError naming what is wrong.
   * Rejects with a HubError only.
   */
  unary<M extends UnaryMethod>(
    ctx: CallContext,
    method: M,
    decode: () => UnaryCalls[M]["input"],
  ): Promise<UnaryCalls[M]["output"]>;
  /**
   * Runs a `Subscribe`: the core's stream in batches. When the call's signal
   * aborts the stream throws why (deadline, shutdown, client gone), so every
   * adapter ends it the same way. Throws HubErrors only.
   */
  subscribe(ctx: CallContext, decode: () => SubscribeInput): AsyncIterableIterator<EventBatch>;
  /**
   * Runs a `Subscribe` as {@link Pipeline.subscribe} does, handing each batch
   * to `write` instead of to an iterator's caller: `write` answers whether to
   * go on (false: the client is gone), or a promise of that while the
   * transport drains. Resolves when the stream has ended and been logged.
   * For adapters that own their transport's writes: it saves the iterator's
   * promise per batch, and a batch per subscriber per event is the fan-out's
   * hot path. Rejects with a HubError only.
   */
  stream(
    ctx: CallContext,
    decode: () => SubscribeInput,
    write: (batch: EventBatch) => boolean | Promise<boolean>,
  ): Promise<void>;
  /**
   * Logs a request the protocol layer refused before it became a call (a
   * broken frame, a body that is not JSON-RPC); `code` is the protocol's word,
   * `method` the EventBusService method when the request named a known one.
   */
  refused(
    protocol: Protocol,
    procedure: string,
    code: string,
    startedAt: number,
    method?: MethodName,
  ): void;
}

/** The service every call's span names, as gRPC spans do: `<service>/<method>`. */
const SERVICE_NAME = "hubbus.v1.EventBusService";

const SPAN_NAMES: Readonly<Record<MethodName, string>> = {
  Publish: `${SERVICE_NAME}/Publish`,
  PublishBatch: `${SERVICE_NAME}/PublishBatch`,
  QueryEvents: `${SERVICE_NAME}/QueryEvents`,
  GetHubInfo: `${SERVICE_NAME}/GetHubInfo`,
  GetHealth: `${SERVICE_NAME}/GetHealth`,
  ListHubs: `${SERVICE_NAME}/ListHubs`,
  Subscribe: `${SERVICE_NAME}/Subscribe`,
};

/** OpenTelemetry's `rpc.system` of each protocol (gRPC-Web is gRPC's framing over HTTP/1.1). */
const RPC_SYSTEMS: Readonly<Record<Protocol, string>> = {
  grpc: "grpc",
  "grpc-web": "grpc",
  connect: "connect_rpc",
  jsonrpc: "jsonrpc",
};

/** Distinct call-span attribute sets kept; past it (JWT callers by the thousand) each call makes its own. */
const MAX_SPAN_ATTRIBUTE_SETS = 1024;

/** Creates the pipeline over a core. */
export function createPipeline(options: PipelineOptions): Pipeline {
  const { bus, tracer } = options;
  const logger = options.logger ?? pino({ level: "silent" });
  const stages = options.stages ?? [];
  const { onDone } = options;
  const hubs = options.hubs ?? soloDirectory(bus);

  const core: UnaryNext = (call) => {
    const { ctx } = call;
    switch (call.method) {
      case "Publish": {
        const input = call.input as PublishRequestInput;
        return bus.publish(
          { ...input, service: ctx.service, caller: ctx.caller, traceContext: ctx.traceContext },
          ctx.signal,
        );
      }
      case "PublishBatch": {
        const { service, caller, traceContext } = ctx;
        const inputs = call.input as readonly PublishRequestInput[];
        // The core checks the size; a non-array is its invalid_argument too.
        const events = Array.isArray(inputs)
          ? inputs.map((input) => ({ ...input, service, caller, traceContext }))
          : inputs;
        return bus.publishBatch(events, ctx.signal);
      }
      case "QueryEvents":
        return bus.query(call.input as QueryInput, ctx.signal);
      case "GetHubInfo":
        return Promise.resolve(bus.info());
      case "GetHealth":
        return bus.health(ctx.signal);
      case "ListHubs":
        return Promise.resolve(hubs.list());
    }
  };
  const coreStream: StreamNext = (call) => bus.subscribeBatches(call.input, call.ctx.signal);

  // Composed once: with no stages a call goes straight to the core.
  let unaryChain = core;
  let streamChain = coreStream;
  for (const stage of [...stages].reverse()) {
    const { unary, stream } = stage;
    if (unary !== undefined) {
      const next = unaryChain;
      unaryChain = (call) => unary.call(stage, call, next);
    }
    if (stream !== undefined) {
      const next = streamChain;
      streamChain = (call) => stream.call(stage, call, next);
    }
  }

  /**
   * What the client is told: the abort's reason once the signal aborted
   * (the core then only says `canceled`), else what was thrown. An
   * unforeseen error's cause is logged here, once, and never sent.
   */
  function failure(error: unknown, ctx: CallContext): HubError {
    let reason = error;
    if (ctx.signal.aborted) {
      reason = ctx.abortReason ? ctx.abortReason(ctx.signal.reason) : ctx.signal.reason;
    }
    const hubError = HubError.from(reason);
    if (hubError.code === "internal") {
      ctx.logger.error({ err: hubError.cause ?? hubError }, "internal error");
    }
    return hubError;
  }

  function record(entry: AccessLogEntry): void {
    writeAccessLog(logger, entry);
    if (onDone === undefined) return;
    try {
      onDone(entry);
    } catch (error) {
      // A listener's bug must not turn an answered call into a failed one.
      logger.error({ err: error }, "call listener failed");
    }
  }

  /** Starts the call's span when tracing is on; before any stage, so refusals are traced too. */
  function startSpan(ctx: CallContext): void {
    if (tracer === undefined) return;
    ctx.span = tracer.start(SPAN_NAMES[ctx.method], "server", ctx.callerTrace);
  }

  // One frozen object per protocol × method × code × caller (closed sets, the
  // callers of the AUTH_FILE): the tracer encodes a frozen object's attributes once.
  const spanAttributes = new Map<string, SpanAttributes>();
  function attributesOf(ctx: CallContext, code: string): SpanAttributes {
    const key = `${ctx.protocol} ${ctx.method} ${code} ${ctx.caller ?? ""}`;
    let attributes = spanAttributes.get(key);
    if (attributes === undefined) {
      attributes = Object.freeze({
        "rpc.system": RPC_SYSTEMS[ctx.protocol],
        "rpc.service": SERVICE_NAME,
        "rpc.method": ctx.method,
        "hubbus.protocol": ctx.protocol,
        "hubbus.code": code,
        "hubbus.caller": ctx.caller,
      });
      if (spanAttributes.size < MAX_SPAN_ATTRIBUTE_SETS) spanAttributes.set(key, attributes);
    }
    return attributes;
  }

  function done(ctx: CallContext, code: string): void {
    const { span } = ctx;
    if (span !== undefined) span.end(attributesOf(ctx, code), code === "ok" ? undefined : code);
    // The headers are read for the trace id only when the line is written.
    const trace = logger.isLevelEnabled("info") ? ctx.traceContext : undefined;
    record({
      protocol: ctx.protocol,
      method: ctx.method,
      procedure: ctx.procedure,
      code,
      caller: ctx.caller,
      startedAt: ctx.startedAt,
      traceId: trace === undefined ? undefined : traceIdOf(trace),
    });
  }

  return {
    context: (init) => new CallContext(init, logger),

    async unary(ctx, method, decode) {
      startSpan(ctx);
      try {
        const call: UnaryCall = { ctx, method, input: decode() };
        const output = await unaryChain(call);
        done(ctx, "ok");
        return output as never;
      } catch (error) {
        const hubError = failure(error, ctx);
        done(ctx, hubError.code);
        throw hubError;
      }
    },

    subscribe(ctx, decode) {
      // An iterator object, not an async generator around the chain's: a
      // generator's `yield*` costs a resumption per batch, and a batch per
      // subscriber per event is the fan-out's hot path.
      let inner: AsyncIterator<EventBatch> | undefined;
      let ended = false;
      startSpan(ctx);
      const end = (code: string) => {
        if (ended) return;
        ended = true;
        done(ctx, code);
      };
      const fail = (error: unknown): HubError => {
        const hubError = failure(error, ctx);
        end(hubError.code);
        return hubError;
      };
      const onResult = (result: IteratorResult<EventBatch>) => {
        if (result.done) {
          // The core ends its stream quietly when the signal aborts; the client is told why.
          if (ctx.signal.aborted) throw fail(ctx.signal.reason);
          end("ok");
        }
        return result;
      };
      const onError = (error: unknown): never => {
        throw ended ? HubError.from(error) : fail(error);
      };
      const iterator: AsyncIterableIterator<EventBatch> = {
        [Symbol.asyncIterator]() {
          return iterator;
        },
        next() {
          if (ended) return Promise.resolve({ done: true, value: undefined });
          try {
            inner ??= streamChain({ ctx, method: "Subscribe", input: decode() })[
              Symbol.asyncIterator
            ]();
            return inner.next().then(onResult, onError);
          } catch (error) {
            return Promise.reject(fail(error));
          }
        },
        // A consumer that stopped reading (the client went away) ends here without an error.
        return(value?: unknown) {
          end(ctx.signal.aborted ? failure(undefined, ctx).code : "ok");
          const closing = inner?.return?.(value);
          return closing ?? Promise.resolve({ done: true, value: undefined });
        },
      };
      return iterator;
    },

    async stream(ctx, decode, write) {
      let batches: AsyncIterator<EventBatch> | undefined;
      try {
        batches = streamChain({ ctx, method: "Subscribe", input: decode() })[
          Symbol.asyncIterator
        ]();
        for (;;) {
          const result = await batches.next();
          if (result.done) {
            // The core ends its stream quietly when the signal aborts; the client is told why.
            if (ctx.signal.aborted) throw ctx.signal.reason;
            done(ctx, "ok");
            return;
          }
          const more = write(result.value);
          if (more === true || (more !== false && (await more))) continue;
          done(ctx, ctx.signal.aborted ? failure(undefined, ctx).code : "ok");
          await batches.return?.();
          return;
        }
      } catch (error) {
        const hubError = failure(error, ctx);
        done(ctx, hubError.code);
        throw hubError;
      }
    },

    refused(protocol, procedure, code, startedAt, method) {
      record({ protocol, method, procedure, code, startedAt });
    },
  };
}

/** A hub without federation lists itself only: it is online for as long as it answers. */
function soloDirectory(bus: EventBus): HubDirectory {
  const startedAt = new Date().toISOString();
  return {
    list() {
      const { hubId, version } = bus.info();
      const lastSeen = new Date().toISOString();
      return [{ hubId, version, url: "", status: "online", lastSeen, startedAt, instances: 1 }];
    },
  };
}
