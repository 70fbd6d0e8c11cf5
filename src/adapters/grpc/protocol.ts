import { gunzipSync, inflateSync } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import { GRPC_PREFIX_BYTES } from "../wire/index.js";

export { MAX_TIMER_MS, parseGrpcTimeout } from "../proto/index.js";

/** Request encodings this server accepts, as sent in `grpc-accept-encoding`. */
export const ACCEPT_ENCODING = "gzip,deflate";

const FLAG_COMPRESSED = 0x01;

/**
 * Checks a request's `grpc-encoding` up front, so an unknown one fails
 * before the body is read: the client learns what we accept.
 */
export function checkEncoding(encoding: string | undefined): void {
  if (encoding === undefined || encoding === "identity" || encoding === "gzip") return;
  if (encoding === "deflate") return;
  throw new ConnectError(
    `unknown compression "${encoding}": supported encodings are ${ACCEPT_ENCODING}`,
    Code.Unimplemented,
  );
}

/**
 * The one message of a unary (or server-streaming) request body: exactly
 * one length-prefixed message, decompressed when flagged, no larger than
 * `maxBytes` either way.
 */
export function singleMessage(
  body: Buffer,
  encoding: string | undefined,
  maxBytes: number,
): Uint8Array {
  if (body.length === 0) {
    throw new ConnectError("protocol error: missing input message", Code.Unimplemented);
  }
  if (body.length < GRPC_PREFIX_BYTES) {
    throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  }
  const flags = body[0] as number;
  const length = body.readUInt32BE(1);
  if (length > maxBytes) {
    throw new ConnectError(
      `message size ${length} is larger than configured readMaxBytes ${maxBytes}`,
      Code.ResourceExhausted,
    );
  }
  const end = GRPC_PREFIX_BYTES + length;
  if (body.length < end) {
    throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  }
  if (body.length > end) {
    throw new ConnectError("protocol error: received extra input message", Code.Unimplemented);
  }
  const message = body.subarray(GRPC_PREFIX_BYTES, end);
  if ((flags & FLAG_COMPRESSED) === 0) return message;
  if (encoding === undefined || encoding === "identity") {
    throw new ConnectError(
      "protocol error: received compressed message without grpc-encoding",
      // The client's mistake, whatever some servers answer; never `internal`, which is ours.
      Code.InvalidArgument,
    );
  }
  try {
    const options = { maxOutputLength: maxBytes };
    return encoding === "gzip" ? gunzipSync(message, options) : inflateSync(message, options);
  } catch (error) {
    if (error instanceof RangeError) {
      throw new ConnectError(
        `message is larger than configured readMaxBytes ${maxBytes} after decompression`,
        Code.ResourceExhausted,
      );
    }
    throw new ConnectError(`protocol error: cannot decompress (${encoding})`, Code.InvalidArgument);
  }
}

/**
 * `grpc-message` is percent-encoded (gRPC over HTTP/2, "Status-Message");
 * encodeURIComponent is what connect-node sends, and any gRPC client decodes it.
 */
export function encodeStatusMessage(message: string): string {
  return encodeURIComponent(message);
}
