import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { SpanAttributes, SpanKindName } from "../core/index.js";

/**
 * A finished span as the exporter keeps it until it is sent: ids in hex as
 * they travel in `traceparent`, times in milliseconds since the epoch with
 * a fraction (performance.now()'s resolution).
 */
export interface FinishedSpan {
  readonly name: string;
  readonly kind: SpanKindName;
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  /** Whether the parent came from outside this process (a request, a message, the log). */
  readonly parentRemote: boolean;
  readonly tracestate: string | undefined;
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: SpanAttributes;
  /** Set when the span failed: the status message. */
  readonly error: string | undefined;
}

/** OTLP's SpanKind numbers (opentelemetry/proto/trace/v1/trace.proto). */
const KIND_NUMBERS: Readonly<Record<SpanKindName, number>> = {
  server: 2,
  producer: 4,
  consumer: 5,
};
/** Status.code ERROR. */
const STATUS_ERROR = 2;
/** Span.flags: the W3C sampled bit, and bits 8-9 saying whether the parent is remote. */
const FLAG_SAMPLED = 0x01;
const FLAG_HAS_IS_REMOTE = 0x100;
const FLAG_IS_REMOTE = 0x200;

/**
 * Nanoseconds since the epoch as fixed64 wants it. A double holds
 * milliseconds to about a microsecond here; that is what is kept, since
 * ms × 1e6 would pass 2^53 and round anyway.
 */
function unixNanos(ms: number): bigint {
  return BigInt(Math.round(ms * 1000)) * 1000n;
}

function keyValue(w: BinaryWriter, key: string, value: string | number | boolean): void {
  w.tag(1, WireType.LengthDelimited).string(key);
  w.tag(2, WireType.LengthDelimited).fork();
  // AnyValue: string 1, bool 2, int64 3, double 4.
  if (typeof value === "string") w.tag(1, WireType.LengthDelimited).string(value);
  else if (typeof value === "boolean") w.tag(2, WireType.Varint).bool(value);
  else if (Number.isSafeInteger(value)) w.tag(3, WireType.Varint).int64(value);
  else w.tag(4, WireType.Bit64).double(value);
  w.join();
}

function attributesOf(w: BinaryWriter, field: number, attributes: SpanAttributes): void {
  for (const key in attributes) {
    const value = attributes[key];
    if (value === undefined) continue;
    w.tag(field, WireType.LengthDelimited).fork();
    keyValue(w, key, value);
    w.join();
  }
}

/**
 * The encoded attributes of frozen attribute objects. The pipeline ends
 * every call's span with one frozen object per protocol × method × code ×
 * caller, so a call span's six attributes are encoded once, not per span.
 */
const encodedAttributes = new WeakMap<SpanAttributes, Uint8Array>();

function spanAttributes(w: BinaryWriter, attributes: SpanAttributes): void {
  if (!Object.isFrozen(attributes)) {
    attributesOf(w, 9, attributes);
    return;
  }
  let bytes = encodedAttributes.get(attributes);
  if (bytes === undefined) {
    const own = new BinaryWriter();
    attributesOf(own, 9, attributes);
    bytes = own.finish();
    encodedAttributes.set(attributes, bytes);
  }
  w.raw(bytes);
}

function span(w: BinaryWriter, s: FinishedSpan): void {
  w.tag(1, WireType.LengthDelimited).bytes(Buffer.from(s.traceId, "hex"));
  w.tag(2, WireType.LengthDelimited).bytes(Buffer.from(s.spanId, "hex"));
  if (s.tracestate !== undefined) w.tag(3, WireType.LengthDelimited).string(s.tracestate);
  if (s.parentSpanId !== "") {
    w.tag(4, WireType.LengthDelimited).bytes(Buffer.from(s.parentSpanId, "hex"));
  }
  w.tag(5, WireType.LengthDelimited).string(s.name);
  w.tag(6, WireType.Varint).int32(KIND_NUMBERS[s.kind]);
  w.tag(7, WireType.Bit64).fixed64(unixNanos(s.startMs));
  w.tag(8, WireType.Bit64).fixed64(unixNanos(s.endMs));
  spanAttributes(w, s.attributes);
  if (s.error !== undefined) {
    w.tag(15, WireType.LengthDelimited).fork();
    w.tag(2, WireType.LengthDelimited).string(s.error);
    w.tag(3, WireType.Varint).int32(STATUS_ERROR);
    w.join();
  }
  const remote = s.parentSpanId !== "" && s.parentRemote ? FLAG_IS_REMOTE : 0;
  w.tag(16, WireType.Bit32).fixed32(FLAG_SAMPLED | FLAG_HAS_IS_REMOTE | remote);
}

const requestWriter = new BinaryWriter();

/** Who exported the spans: the resource's attributes and the instrumentation scope. */
export interface ExportIdentity {
  readonly resource: SpanAttributes;
  readonly scopeName: string;
  readonly scopeVersion: string;
}

/**
 * An OTLP `ExportTraceServiceRequest` (opentelemetry/proto/collector/trace/v1)
 * holding `spans`, all of one resource and one scope, as the protobuf body
 * of an OTLP/HTTP export.
 */
export function encodeExportRequest(
  identity: ExportIdentity,
  spans: readonly FinishedSpan[],
): Uint8Array {
  // One writer for every request: its buffer stays grown to a batch's size
  // (finish() copies the bytes out), where a new one doubles up to it each time.
  const w = requestWriter;
  try {
    // ExportTraceServiceRequest.resource_spans
    w.tag(1, WireType.LengthDelimited).fork();
    // ResourceSpans.resource → Resource.attributes
    w.tag(1, WireType.LengthDelimited).fork();
    attributesOf(w, 1, identity.resource);
    w.join();
    // ResourceSpans.scope_spans
    w.tag(2, WireType.LengthDelimited).fork();
    // ScopeSpans.scope → InstrumentationScope name, version
    w.tag(1, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string(identity.scopeName);
    w.tag(2, WireType.LengthDelimited).string(identity.scopeVersion);
    w.join();
    for (const s of spans) {
      // ScopeSpans.spans
      w.tag(2, WireType.LengthDelimited).fork();
      span(w, s);
      w.join();
    }
    w.join();
    w.join();
  } catch (error) {
    // A half-written request must not be the start of the next one.
    w.finish();
    throw error;
  }
  return w.finish();
}
