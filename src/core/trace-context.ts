/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) as hubbus keeps
 * it: taken from a request or a NATS message, stored with the event, sent as
 * NATS headers when it is forwarded. Pure string handling: nothing here
 * loads OpenTelemetry, so a hub without tracing pays for a header lookup and
 * a regular expression, no more.
 */

/** The header (gRPC metadata key, NATS header) names, lower case as HTTP/2 has them. */
export const TRACEPARENT_HEADER = "traceparent";
export const TRACESTATE_HEADER = "tracestate";

/** A valid `traceparent`, and the `tracestate` that came with it. */
export interface TraceContext {
  /** `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lower case. */
  readonly traceparent: string;
  /** As received (at most {@link MAX_TRACESTATE_LENGTH} characters); absent when there was none. */
  readonly tracestate?: string;
}

/** The W3C limit: longer `tracestate` values may be dropped. */
export const MAX_TRACESTATE_LENGTH = 512;

// Version 00's layout; a later version starts the same way (and may carry more after a "-").
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE_ID = "00000000000000000000000000000000";
const ZERO_SPAN_ID = "0000000000000000";
// Printable ASCII: what a tracestate list member may hold, commas and spaces included.
const TRACESTATE_RE = /^[\x20-\x7e]*$/;

/**
 * The trace context of a `traceparent` header and its `tracestate`, or
 * undefined when there is no valid `traceparent` (the W3C rule: an invalid
 * one is ignored, and so is its `tracestate`). A `tracestate` that is too
 * long or holds other than printable ASCII is dropped, the `traceparent`
 * kept. Version 00 is kept as is; a later version is read as 00 asks.
 */
export function parseTraceContext(
  traceparent: unknown,
  tracestate?: unknown,
): TraceContext | undefined {
  if (typeof traceparent !== "string") return undefined;
  // Upper-case hex is invalid (W3C): only surrounding whitespace is forgiven.
  const value = traceparent.length === TRACEPARENT_LENGTH ? traceparent : traceparent.trim();
  // Every traceparent hubbus makes, and most it receives, is version 00 as
  // W3C writes it: checked by character, without the expression's match array.
  if (value.length === TRACEPARENT_LENGTH && startsWithTraceparent(value)) {
    return withTracestate(value, tracestate);
  }
  const m = TRACEPARENT_RE.exec(value);
  if (m === null) return undefined;
  const version = m[1] as string;
  // ff is forbidden; 00 has exactly four fields.
  if (version === "ff" || (version === "00" && m[5] !== undefined)) return undefined;
  if (m[2] === ZERO_TRACE_ID || m[3] === ZERO_SPAN_ID) return undefined;
  const canonical =
    version === "00" && m[5] === undefined ? value : `00-${m[2]}-${m[3]}-${m[4] as string}`;
  return withTracestate(canonical, tracestate);
}

/** A valid `traceparent` with its `tracestate`, kept when it is a usable one. */
function withTracestate(canonical: string, tracestate: unknown): TraceContext {
  if (typeof tracestate !== "string") return { traceparent: canonical };
  const state = tracestate.trim();
  if (state === "" || state.length > MAX_TRACESTATE_LENGTH || !TRACESTATE_RE.test(state)) {
    return { traceparent: canonical };
  }
  return { traceparent: canonical, tracestate: state };
}

/** The 32-hex trace id of a valid `traceparent`. */
export function traceIdOf(context: TraceContext): string {
  return context.traceparent.slice(3, 35);
}

/** The 16-hex id of the span that a valid `traceparent` names as parent. */
export function spanIdOf(context: TraceContext): string {
  return context.traceparent.slice(36, 52);
}

/** Whether the caller sampled the trace (flag 01): a parent-based sampler follows it. */
export function isSampled(context: TraceContext): boolean {
  // The flags' last hex digit holds the sampled bit.
  const digit = context.traceparent.charCodeAt(54);
  const nibble = digit <= 57 ? digit - 48 : digit - 87;
  return (nibble & 1) === 1;
}

/**
 * The trace context as one database column: the `traceparent`, then a
 * space and the `tracestate` when there is one (a `traceparent` holds no
 * space, so the first one splits them).
 */
export function formatTraceColumn(context: TraceContext | undefined): string | null {
  if (context === undefined) return null;
  return context.tracestate === undefined
    ? context.traceparent
    : `${context.traceparent} ${context.tracestate}`;
}

/** A version-00 `traceparent`'s length. */
const TRACEPARENT_LENGTH = 55;

/** Lower-case hex over [from, to), not all zeros unless `zeroOk`. */
function hexRun(value: string, from: number, to: number, zeroOk: boolean): boolean {
  let nonZero = zeroOk;
  for (let i = from; i < to; i++) {
    const c = value.charCodeAt(i);
    if (c === 48) continue;
    if (!((c > 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
    nonZero = true;
  }
  return nonZero;
}

/**
 * Whether `value` starts with a version-00 `traceparent` as W3C writes it,
 * checked by character: what {@link parseTraceContext}'s expression checks,
 * without its match array.
 */
function startsWithTraceparent(value: string): boolean {
  return (
    value.length >= TRACEPARENT_LENGTH &&
    value.startsWith("00-") &&
    hexRun(value, 3, 35, false) &&
    value.charCodeAt(35) === 45 &&
    hexRun(value, 36, 52, false) &&
    value.charCodeAt(52) === 45 &&
    hexRun(value, 53, 55, true)
  );
}

/**
 * The trace context a column written by {@link formatTraceColumn} holds, if
 * any: split at the first space (a `traceparent` holds none). The relay
 * reads it for every event it forwards; {@link parseTraceContext} checks a
 * canonical `traceparent` by character, so this is cheap too.
 */
export function parseTraceColumn(value: unknown): TraceContext | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  const space = value.indexOf(" ");
  return space < 0
    ? parseTraceContext(value)
    : parseTraceContext(value.slice(0, space), value.slice(space + 1));
}

/** The kinds of span hubbus makes: a call it serves, an event it forwards, a message it ingests. */
export type SpanKindName = "server" | "producer" | "consumer";

/** Attribute values as a span takes them; undefined ones are left out. */
export type SpanAttributes = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * A span a {@link Tracer} started. Its context is what is handed on: stored
 * with the events the call published, sent in the NATS headers of the
 * message it forwarded.
 */
export interface TraceSpan {
  /** The span's own context (its id as the parent id; flags 00 when it is not recorded). */
  readonly context: TraceContext;
  /**
   * Ends the span with its attributes, set once here; `error` (a HubError
   * code, a failure's message) marks it failed. A second call does nothing.
   */
  end(attributes: SpanAttributes, error?: string): void;
}

/**
 * Makes spans and exports them (OTLP); present only when tracing is
 * configured, so code that has none does no tracing work at all.
 */
export interface Tracer {
  /**
   * Starts a span under `parent` (a request's or message's context, the
   * context stored with an event). Undefined when the span would not be
   * recorded and there is nothing new to hand on: a parent that was not
   * sampled, under a parent-based sampler. The caller then hands the parent
   * on as it came.
   */
  start(name: string, kind: SpanKindName, parent: TraceContext | undefined): TraceSpan | undefined;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}
