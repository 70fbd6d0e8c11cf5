import type { Logger } from "pino";
import {
  type HubError,
  parseTraceContext,
  TRACEPARENT_HEADER,
  TRACESTATE_HEADER,
  type TraceContext,
  type TraceSpan,
} from "../core/index.js";

/**
 * The request header (gRPC metadata key alike) that names the publishing
 * service, on every protocol: gRPC, Connect, gRPC-Web and JSON-RPC.
 */
export const SERVICE_HEADER = "hub-service";

/** The wire protocol a call arrived on. */
export type Protocol = "grpc" | "grpc-web" | "connect" | "jsonrpc";

/** The EventBusService methods that answer once. */
export type UnaryMethod =
  | "Publish"
  | "PublishBatch"
  | "QueryEvents"
  | "GetHubInfo"
  | "GetHealth"
  | "ListHubs";
/** Every EventBusService method; JSON-RPC methods are named after the one they call. */
export type MethodName = UnaryMethod | "Subscribe";

/** What an adapter knows of a call when it hands it to the pipeline. */
export interface CallInit {
  readonly protocol: Protocol;
  readonly method: MethodName;
  /** The name the client called, as logs show it: `hubbus.v1.EventBusService/Publish`, `bus.publish`. */
  readonly procedure: string;
  /** A request header (gRPC metadata) by lower-case name, as received; repeated values joined by ",". */
  readonly header: (name: string) => string | undefined;
  /** Aborts when the client goes away, the deadline passes or the server shuts down. */
  readonly signal: AbortSignal;
  /**
   * Turns the reason a protocol runtime aborted `signal` with (connect-node
   * aborts with its own errors) into a HubError; absent when every reason
   * already is one.
   */
  readonly abortReason?: (reason: unknown) => HubError;
  /**
   * The subject of the client certificate the connection presented and the
   * server verified (mutual TLS), as `tlsSubjectOf` formats it:
   * `CN=billing`, `CN=billing, O=Acme`. Absent without one.
   */
  readonly tlsSubject?: string;
}

/**
 * One call on any protocol, as the pipeline and its stages see it: who
 * called (credentials as received, in the headers and the connection's
 * client certificate), what, until when, and
 * the logger scoped to it. Stages keep what they learn (the caller's
 * identity, a span) in `values`.
 */
export class CallContext {
  readonly protocol: Protocol;
  readonly method: MethodName;
  readonly procedure: string;
  readonly signal: AbortSignal;
  /** `performance.now()` when the call reached the pipeline. */
  readonly startedAt: number;
  readonly abortReason: ((reason: unknown) => HubError) | undefined;
  /** @see CallInit.tlsSubject */
  readonly tlsSubject: string | undefined;
  /**
   * The authenticated caller's name, once authentication has run; the
   * access log (and metrics, traces) name the caller by it.
   */
  caller: string | undefined;
  /** The call's span, once the pipeline started one (tracing on, the trace sampled). */
  span: TraceSpan | undefined;
  readonly #header: (name: string) => string | undefined;
  /** `null` until the headers were read. */
  #callerTrace: TraceContext | undefined | null = null;
  readonly #parentLogger: Logger;
  #logger: Logger | undefined;
  #values: Map<symbol, unknown> | undefined;
  #service: string | undefined;
  #serviceSet = false;

  constructor(init: CallInit, parentLogger: Logger) {
    this.protocol = init.protocol;
    this.method = init.method;
    this.procedure = init.procedure;
    this.signal = init.signal;
    this.abortReason = init.abortReason;
    this.tlsSubject = init.tlsSubject;
    this.caller = undefined;
    this.span = undefined;
    this.#header = init.header;
    this.#parentLogger = parentLogger;
    this.startedAt = performance.now();
  }

  /** A request header by lower-case name, as the client sent it. */
  header(name: string): string | undefined {
    return this.#header(name);
  }

  /**
   * The origin service events published by this call get: the
   * `hub-service` header unless a stage (authentication) decided otherwise.
   * Unchecked: the core validates it.
   */
  get service(): string | undefined {
    return this.#serviceSet ? this.#service : this.#header(SERVICE_HEADER);
  }

  set service(value: string | undefined) {
    this.#service = value;
    this.#serviceSet = true;
  }

  /**
   * The caller's W3C trace context (`traceparent`, `tracestate` headers or
   * gRPC metadata), when it sent a valid one. Read on first use.
   */
  get callerTrace(): TraceContext | undefined {
    if (this.#callerTrace === null) {
      const traceparent = this.#header(TRACEPARENT_HEADER);
      this.#callerTrace =
        traceparent === undefined
          ? undefined
          : parseTraceContext(traceparent, this.#header(TRACESTATE_HEADER));
    }
    return this.#callerTrace;
  }

  /**
   * The trace context the call hands on (stored with the events it
   * publishes): its span's, else the caller's as it came.
   */
  get traceContext(): TraceContext | undefined {
    return this.span !== undefined ? this.span.context : this.callerTrace;
  }

  /** Scoped with protocol and method; made on first use (a child logger per call is a visible cost). */
  get logger(): Logger {
    this.#logger ??= this.#parentLogger.child({
      protocol: this.protocol,
      method: this.procedure,
    });
    return this.#logger;
  }

  /** What stages keep per call, keyed by a symbol each stage owns. */
  get values(): Map<symbol, unknown> {
    this.#values ??= new Map();
    return this.#values;
  }
}
