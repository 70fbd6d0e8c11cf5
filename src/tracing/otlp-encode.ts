import type { SpanAttributes, SpanKindName } from "../core/index.js";

/**
 * A finished span as the exporter is handed it: ids in hex as they travel
 * in `traceparent`, times in milliseconds since the epoch with a fraction
 * (performance.now()'s resolution).
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

/** Who exported the spans: the resource's attributes and the instrumentation scope. */
export interface ExportIdentity {
  readonly resource: SpanAttributes;
  readonly scopeName: string;
  readonly scopeVersion: string;
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

/** Protobuf wire types. */
const VARINT = 0;
const BIT64 = 1;
const LENGTH_DELIMITED = 2;
const BIT32 = 5;

const TWO_32 = 0x1_0000_0000;

/** Strings up to this length are tried as ASCII by a loop before Buffer#write. */
const ASCII_LOOP_MAX = 256;

/** Each hex digit's value by character code, -1 for any other character below 128. */
const NIBBLES: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let d = 0; d < 16; d++) {
    table[d.toString(16).charCodeAt(0)] = d;
    table[d.toString(16).toUpperCase().charCodeAt(0)] = d;
  }
  return table;
})();

function notHex(digits: string): Error {
  return new Error(`not an id in hex: ${JSON.stringify(digits)}`);
}

/** Bytes of `n` (0 ≤ n < 2^35) as a varint. */
function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x20_0000) return 3;
  if (n < 0x1000_0000) return 4;
  return 5;
}

/**
 * A protobuf writer over one growing Buffer, written in place: a nested
 * message's length is reserved before it and fixed after, moving the
 * message only in the rare case the length needs another number of bytes.
 * @bufbuild/protobuf's BinaryWriter makes an array per fork and chunk and
 * copies everything at finish; for a span queued on every call that was
 * about 1.5 KB of garbage per event.
 */
class ProtoWriter {
  buf: Buffer;
  pos: number;

  constructor(capacity: number, start = 0) {
    this.buf = Buffer.allocUnsafe(capacity);
    this.pos = start;
  }

  ensure(bytes: number): void {
    const need = this.pos + bytes;
    if (need <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  varint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    // Numbers here are below 2^53: the low 7-bit groups by arithmetic, not 32-bit shifts.
    while (n >= 0x80) {
      buf[pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /** A negative int64: ten bytes of two's complement, as protobuf has it. */
  negative(n: number): void {
    let rest = BigInt.asUintN(64, BigInt(n));
    this.ensure(10);
    while (rest >= 0x80n) {
      this.buf[this.pos++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    this.buf[this.pos++] = Number(rest);
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** Reserves room for a length of `reserve` bytes; returns where the message starts. */
  begin(reserve: number): number {
    this.ensure(reserve);
    this.pos += reserve;
    return this.pos;
  }

  /** Writes the length of the message from `start` in front of it. */
  end(start: number, reserve: number): void {
    const length = this.pos - start;
    const size = varintSize(length);
    if (size !== reserve) {
      this.ensure(size - reserve);
      this.buf.copyWithin(start + size - reserve, start, this.pos);
      this.pos += size - reserve;
    }
    const end = this.pos;
    this.pos = start - reserve;
    this.varint(length);
    this.pos = end;
  }

  string(field: number, value: string): void {
    this.tag(field, LENGTH_DELIMITED);
    // UTF-8 is at least one byte per UTF-16 unit and at most three.
    const reserve = varintSize(value.length);
    const start = this.begin(reserve);
    this.ensure(value.length * 3);
    if (!this.#ascii(value)) this.pos += this.buf.write(value, this.pos, "utf8");
    this.end(start, reserve);
  }

  /**
   * Copies a short ASCII string byte by byte; false, having written nothing,
   * for any other. Span names, ids' hex and most attributes are short ASCII,
   * and for them Buffer#write's argument handling cost more than the copy.
   */
  #ascii(value: string): boolean {
    const length = value.length;
    if (length > ASCII_LOOP_MAX) return false;
    const buf = this.buf;
    const pos = this.pos;
    for (let i = 0; i < length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[pos + i] = c;
    }
    this.pos = pos + length;
    return true;
  }

  /** A bytes field from hex digits (a trace or span id). */
  hex(field: number, digits: string): void {
    const length = digits.length >>> 1;
    if ((digits.length & 1) !== 0) throw notHex(digits);
    this.tag(field, LENGTH_DELIMITED);
    this.varint(length);
    this.ensure(length);
    const buf = this.buf;
    const pos = this.pos;
    for (let i = 0; i < length; i++) {
      const high = digits.charCodeAt(2 * i);
      const low = digits.charCodeAt(2 * i + 1);
      const byte = ((NIBBLES[high] ?? -1) << 4) | (NIBBLES[low] ?? -1);
      if (byte < 0) throw notHex(digits);
      buf[pos + i] = byte;
    }
    this.pos = pos + length;
  }

  /** A fixed64 of nanoseconds from milliseconds since the epoch. */
  nanos(field: number, ms: number): void {
    this.tag(field, BIT64);
    this.ensure(8);
    // A double holds these milliseconds to about a microsecond, so that is
    // what is kept; ms × 1e6 would pass 2^53, so the product is made in
    // two 32-bit halves, each exact.
    const micros = Math.round(ms * 1000);
    const microsHigh = Math.floor(micros / TWO_32);
    const low = (micros - microsHigh * TWO_32) * 1000;
    const carry = Math.floor(low / TWO_32);
    this.buf.writeUInt32LE(low - carry * TWO_32, this.pos);
    this.buf.writeUInt32LE(microsHigh * 1000 + carry, this.pos + 4);
    this.pos += 8;
  }

  fixed32(field: number, value: number): void {
    this.tag(field, BIT32);
    this.ensure(4);
    this.buf.writeUInt32LE(value, this.pos);
    this.pos += 4;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A copy of what was written from `from`. */
  copy(from = 0): Buffer {
    return Buffer.from(this.buf.subarray(from, this.pos));
  }
}

function keyValue(w: ProtoWriter, key: string, value: string | number | boolean): void {
  w.string(1, key);
  w.tag(2, LENGTH_DELIMITED);
  const start = w.begin(1);
  // AnyValue: string 1, bool 2, int64 3, double 4.
  if (typeof value === "string") w.string(1, value);
  else if (typeof value === "boolean") {
    w.tag(2, VARINT);
    w.varint(value ? 1 : 0);
  } else if (Number.isSafeInteger(value)) {
    w.tag(3, VARINT);
    if (value >= 0) w.varint(value);
    else w.negative(value);
  } else {
    w.tag(4, BIT64);
    w.ensure(8);
    w.buf.writeDoubleLE(value, w.pos);
    w.pos += 8;
  }
  w.end(start, 1);
}

function attributesOf(w: ProtoWriter, field: number, attributes: SpanAttributes): void {
  for (const key in attributes) {
    const value = attributes[key];
    if (value === undefined) continue;
    w.tag(field, LENGTH_DELIMITED);
    const start = w.begin(1);
    keyValue(w, key, value);
    w.end(start, 1);
  }
}

/**
 * The encoded attributes of frozen attribute objects. The pipeline ends
 * every call's span with one frozen object per protocol × method × code ×
 * caller, so a call span's attributes are encoded once, not per span.
 */
const encodedAttributes = new WeakMap<SpanAttributes, Buffer>();

function spanAttributes(w: ProtoWriter, attributes: SpanAttributes): void {
  if (!Object.isFrozen(attributes)) {
    attributesOf(w, 9, attributes);
    return;
  }
  let bytes = encodedAttributes.get(attributes);
  if (bytes === undefined) {
    const own = new ProtoWriter(256);
    attributesOf(own, 9, attributes);
    bytes = own.copy();
    encodedAttributes.set(attributes, bytes);
  }
  w.raw(bytes);
}

/** ScopeSpans.spans: one `Span` message with its tag and length. */
function span(w: ProtoWriter, s: FinishedSpan): void {
  w.tag(2, LENGTH_DELIMITED);
  // A span is 128 bytes to 16 KB but for a long tracestate or error.
  const start = w.begin(2);
  w.hex(1, s.traceId);
  w.hex(2, s.spanId);
  if (s.tracestate !== undefined) w.string(3, s.tracestate);
  if (s.parentSpanId !== "") w.hex(4, s.parentSpanId);
  w.string(5, s.name);
  w.tag(6, VARINT);
  w.varint(KIND_NUMBERS[s.kind]);
  w.nanos(7, s.startMs);
  w.nanos(8, s.endMs);
  spanAttributes(w, s.attributes);
  if (s.error !== undefined) {
    w.tag(15, LENGTH_DELIMITED);
    const status = w.begin(1);
    w.string(2, s.error);
    w.tag(3, VARINT);
    w.varint(STATUS_ERROR);
    w.end(status, 1);
  }
  const remote = s.parentSpanId !== "" && s.parentRemote ? FLAG_IS_REMOTE : 0;
  w.fixed32(16, FLAG_SAMPLED | FLAG_HAS_IS_REMOTE | remote);
  w.end(start, 2);
}

/**
 * The fixed parts of every request of one exporter: `ResourceSpans.resource`
 * and `ScopeSpans.scope`, each with its tag and length. Encoded once, by
 * {@link encodeIdentity}, and shared by the exporter's batches.
 */
export interface IdentityBytes {
  readonly resource: Buffer;
  readonly scope: Buffer;
}

export function encodeIdentity(identity: ExportIdentity): IdentityBytes {
  const w = new ProtoWriter(512);
  // ResourceSpans.resource → Resource.attributes
  w.tag(1, LENGTH_DELIMITED);
  let start = w.begin(1);
  attributesOf(w, 1, identity.resource);
  w.end(start, 1);
  const resource = w.copy();
  const scopeFrom = w.pos;
  // ScopeSpans.scope → InstrumentationScope name, version
  w.tag(1, LENGTH_DELIMITED);
  start = w.begin(1);
  w.string(1, identity.scopeName);
  w.string(2, identity.scopeVersion);
  w.end(start, 1);
  return { resource, scope: w.copy(scopeFrom) };
}

/**
 * Spans on their way to one OTLP `ExportTraceServiceRequest`
 * (opentelemetry/proto/collector/trace/v1), all of one resource and one
 * scope. Each span is encoded when it is added, so no span object outlives
 * its call (and none is promoted to the old generation while it waits); the
 * request's head is written into room left in front of the spans.
 */
export class SpanBatch {
  readonly #identity: IdentityBytes;
  /** Room for the head: two tags, two lengths of at most five bytes, and the identity. */
  readonly #headRoom: number;
  readonly #w: ProtoWriter;
  #count = 0;

  constructor(identity: IdentityBytes, capacity = 64 * 1024) {
    this.#identity = identity;
    this.#headRoom = 12 + this.#identity.resource.length + this.#identity.scope.length;
    this.#w = new ProtoWriter(this.#headRoom + capacity, this.#headRoom);
  }

  /** Spans added since the last reset. */
  get count(): number {
    return this.#count;
  }

  /** Encodes `s` into the batch; on a throw the batch is as it was. */
  add(s: FinishedSpan): void {
    const w = this.#w;
    const from = w.pos;
    try {
      span(w, s);
    } catch (error) {
      w.pos = from;
      throw error;
    }
    this.#count++;
  }

  /**
   * The request's bytes: a view of the batch's own buffer, valid until the
   * next add or reset.
   */
  request(): Uint8Array {
    const { resource, scope } = this.#identity;
    const w = this.#w;
    const scopeSpans = scope.length + (w.pos - this.#headRoom);
    const resourceSpans = resource.length + 1 + varintSize(scopeSpans) + scopeSpans;
    const head = 1 + varintSize(resourceSpans) + resource.length + 1 + varintSize(scopeSpans);
    const from = this.#headRoom - head - scope.length;
    const end = w.pos;
    w.pos = from;
    // ExportTraceServiceRequest.resource_spans
    w.tag(1, LENGTH_DELIMITED);
    w.varint(resourceSpans);
    w.raw(resource);
    // ResourceSpans.scope_spans
    w.tag(2, LENGTH_DELIMITED);
    w.varint(scopeSpans);
    w.raw(scope);
    w.pos = end;
    return w.buf.subarray(from, end);
  }

  /** Empties the batch, keeping its buffer for the next one. */
  reset(): void {
    this.#w.pos = this.#headRoom;
    this.#count = 0;
  }
}
