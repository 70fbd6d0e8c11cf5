import { GRPC_PREFIX_BYTES } from "./encode-event.js";

/** Largest message a gRPC length prefix can state (its length is an unsigned 32-bit integer). */
const MAX_GRPC_MESSAGE_BYTES = 0xffff_ffff;

function writeFrame(target: Buffer, at: number, message: Uint8Array): number {
  if (message.length > MAX_GRPC_MESSAGE_BYTES) {
    throw new Error(`a gRPC message holds at most ${MAX_GRPC_MESSAGE_BYTES} bytes`);
  }
  // Flag 0: not compressed.
  target[at] = 0;
  target.writeUInt32BE(message.length, at + 1);
  target.set(message, at + GRPC_PREFIX_BYTES);
  return at + GRPC_PREFIX_BYTES + message.length;
}

/**
 * One gRPC length-prefixed message: a zero (uncompressed) flag byte, the
 * length as a 32-bit big-endian integer, then the message.
 */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(GRPC_PREFIX_BYTES + message.length);
  writeFrame(frame, 0, message);
  return frame;
}

/**
 * Several gRPC length-prefixed messages back to back in one Buffer, so a
 * stream can send a batch with a single write.
 */
export function grpcFrames(messages: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const message of messages) total += GRPC_PREFIX_BYTES + message.length;
  const frames = Buffer.allocUnsafe(total);
  let at = 0;
  for (const message of messages) at = writeFrame(frames, at, message);
  return frames;
}
