// Doubles are copied byte by byte through this view, both ways: cheaper than
// DataView or Buffer's readDoubleLE/writeDoubleLE with their bounds checks.
// Encoding and decoding are synchronous, so one view serves both.

/**
 * A one-element scratch array: write a double here to read its bytes from
 * {@link f64Bytes}, or the reverse.
 */
export const f64 = new Float64Array(1);
/** The bytes of {@link f64}, in the machine's order. */
export const f64Bytes = new Uint8Array(f64.buffer);
f64[0] = 1;
/**
 * Whether {@link f64Bytes} is already protobuf's (little-endian) order. On a
 * big-endian machine the callers fall back to Buffer's LE methods instead.
 */
export const LITTLE_ENDIAN = f64Bytes[7] === 0x3f;
