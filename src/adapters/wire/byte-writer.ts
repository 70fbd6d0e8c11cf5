/**
 * A growable scratch buffer with the few protobuf primitives the encoders
 * need. It is module state rather than an object: encoding is synchronous,
 * so one buffer serves every call, and V8 keeps the hot loops monomorphic. The same encoder written on `BinaryWriter` from
 * "@bufbuild/protobuf/wire" was about 3.5× slower on the bench payload.
 */

import { f64, f64Bytes, LITTLE_ENDIAN } from "./float64.js";

/** Bytes the scratch buffer starts with; most events fit several times over. */
const INITIAL_BYTES = 16 * 1024;
/** A buffer grown past this (a near-limit payload) is dropped after use instead of kept. */
const MAX_RETAINED_BYTES = 1024 * 1024;
/**
 * Strings shorter than this are encoded in JavaScript; longer ones by
 * `Buffer.write`. Measured: JavaScript wins below about 20 units (a call to
 * `Buffer.write` costs about 80 ns, a JavaScript loop about 4 ns a unit).
 */
const JS_UTF8_MAX_UNITS = 24; // × 3 bytes must stay under 0x80: string() writes a one-byte length.

const TWO_POW_32 = 2 ** 32;
const TWO_POW_64 = 2 ** 64;

let buf: Buffer = Buffer.allocUnsafe(INITIAL_BYTES);
let pos = 0;

/** Starts a new encoding at offset 0 of the scratch buffer. */
export function reset(): void {
  pos = 0;
}

/** Bytes written since {@link reset}. */
export function position(): number {
  return pos;
}

/** Copies the bytes `[0, position())` to `target` at `offset`. */
export function copyTo(target: Uint8Array, offset: number): void {
  buf.copy(target, offset, 0, pos);
  if (buf.length > MAX_RETAINED_BYTES) buf = Buffer.allocUnsafe(INITIAL_BYTES);
}

/** Makes room for `extra` more bytes. */
export function ensure(extra: number): void {
  if (pos + extra > buf.length) grow(pos + extra);
}

function grow(needed: number): void {
  buf = grown(buf, needed, pos);
}

/**
 * A new buffer of at least `needed` bytes (doubling `buffer`'s size, so a
 * buffer that is grown again and again costs amortized linear time) with the
 * first `used` bytes of `buffer` copied in.
 */
export function grown(buffer: Buffer, needed: number, used: number): Buffer {
  let size = buffer.length * 2;
  while (size < needed) size *= 2;
  const next = Buffer.allocUnsafe(size);
  buffer.copy(next, 0, 0, used);
  return next;
}

/** Writes one byte; the caller has ensured room. */
export function byte(value: number): void {
  buf[pos++] = value;
}

/** Writes an unsigned 32-bit varint; the caller has ensured room (5 bytes). */
export function varint32(value: number): void {
  // One varint loop for both. It then sees two array types, but it runs only
  // for long strings and messages and for nanos: no difference in the bench.
  pos = putVarint(buf, pos, value);
}

/**
 * Writes `value` (an unsigned 32-bit integer) as a varint into any array at
 * `at`, not the scratch buffer; returns the offset after it. For the
 * prefixes of messages that are copied, not written, into their place.
 */
export function putVarint(target: Uint8Array, at: number, value: number): number {
  let p = at;
  let v = value >>> 0;
  while (v > 0x7f) {
    target[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  target[p++] = v;
  return p;
}

/** Writes a 64-bit varint given as unsigned 32-bit halves; ensures its own room. */
export function varint64(lo: number, hi: number): void {
  ensure(10);
  let l = lo >>> 0;
  let h = hi >>> 0;
  while (h !== 0 || l > 0x7f) {
    buf[pos++] = (l & 0x7f) | 0x80;
    l = ((l >>> 7) | (h << 25)) >>> 0;
    h >>>= 7;
  }
  buf[pos++] = l;
}

/**
 * Whether `value` fits a uint64 field. Callers test before they write, so a
 * bad value never leaves half an encoding behind.
 */
export function isUint64(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < TWO_POW_64;
}

/** Writes a uint64 field, left out when 0 as proto3 does; `value` has passed {@link isUint64}. */
export function uint64Field(tag: number, value: number): void {
  if (value === 0) return;
  ensure(1);
  byte(tag);
  varint64(value >>> 0, Math.floor(value / TWO_POW_32));
}

/** Writes an int64 field, left out when 0; `value` is a safe integer. */
export function int64Field(tag: number, value: number): void {
  if (value === 0) return;
  ensure(1);
  byte(tag);
  // A negative value is its 64-bit two's complement: >>> 0 takes each half.
  varint64(value >>> 0, Math.floor(value / TWO_POW_32) >>> 0);
}

/** Writes a string field, left out when empty as proto3 does. */
export function stringField(tag: number, value: string): void {
  if (value === "") return;
  ensure(1);
  byte(tag);
  string(value);
}

/** Writes a little-endian double; the caller has ensured room (8 bytes). */
export function double(value: number): void {
  if (!LITTLE_ENDIAN) {
    buf.writeDoubleLE(value, pos);
    pos += 8;
    return;
  }
  f64[0] = value;
  buf[pos] = f64Bytes[0] as number;
  buf[pos + 1] = f64Bytes[1] as number;
  buf[pos + 2] = f64Bytes[2] as number;
  buf[pos + 3] = f64Bytes[3] as number;
  buf[pos + 4] = f64Bytes[4] as number;
  buf[pos + 5] = f64Bytes[5] as number;
  buf[pos + 6] = f64Bytes[6] as number;
  buf[pos + 7] = f64Bytes[7] as number;
  pos += 8;
}

/**
 * Reserves one byte for the length of a length-delimited field and returns
 * where it is. Most nested messages are under 128 bytes; {@link join} widens
 * the prefix when they are not (as protobuf-es does), since the length has to
 * be the shortest varint to match its bytes.
 */
export function fork(): number {
  ensure(1);
  return pos++;
}

/** Writes the length of everything written since `start` (from {@link fork}). */
export function join(start: number): void {
  const length = pos - start - 1;
  if (length < 0x80) {
    buf[start] = length;
    return;
  }
  const size = varintSize(length);
  ensure(size - 1);
  buf.copyWithin(start + size, start + 1, pos);
  const end = pos + size - 1;
  pos = start;
  varint32(length);
  pos = end;
}

/** Writes a length-prefixed UTF-8 string; lone surrogates become U+FFFD, as TextEncoder does. */
export function string(value: string): void {
  const units = value.length;
  ensure(units * 3 + 5);
  if (units < JS_UTF8_MAX_UNITS) {
    // ASCII first: the common case needs one pass and a known 1-byte prefix.
    let p = pos + 1;
    let i = 0;
    for (; i < units; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) break;
      buf[p++] = c;
    }
    if (i < units) p = utf8Tail(value, i, p);
    // At most 3 bytes a unit: under 0x80 bytes, so the length is one byte.
    buf[pos] = p - pos - 1;
    pos = p;
    return;
  }
  // UTF-8 is never shorter than UTF-16 in units, so the guess is a lower bound.
  const guess = varintSize(units);
  const written = buf.write(value, pos + guess);
  const size = varintSize(written);
  if (size !== guess) buf.copyWithin(pos + size, pos + guess, pos + guess + written);
  varint32(written);
  pos += written;
}

/** Encodes `value` from unit `from` on at byte `at`; returns the end (short strings only). */
function utf8Tail(value: string, from: number, at: number): number {
  const units = value.length;
  let p = at;
  for (let i = from; i < units; i++) {
    let c = value.charCodeAt(i);
    if (c < 0x80) {
      buf[p++] = c;
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    } else {
      const next = i + 1 < units ? value.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        buf[p++] = 0xf0 | (c >> 18);
        buf[p++] = 0x80 | ((c >> 12) & 0x3f);
        buf[p++] = 0x80 | ((c >> 6) & 0x3f);
        buf[p++] = 0x80 | (c & 0x3f);
      } else {
        // A lone surrogate: U+FFFD, like TextEncoder and Buffer.write.
        buf[p++] = 0xef;
        buf[p++] = 0xbf;
        buf[p++] = 0xbd;
      }
    }
  }
  return p;
}

/** Bytes of `value` (an unsigned 32-bit integer) as a varint. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}
