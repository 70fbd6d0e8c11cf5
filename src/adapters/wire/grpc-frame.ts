import type { HubEvent } from "../../core/index.js";
import * as w from "./byte-writer.js";
import { writeEvent } from "./encode-event.js";
import * as tags from "./tags.js";

// gRPC length-prefixed messages, and the cache of SubscribeResponse frames:
// a subscriber's event is sent as a frame, so the frame, not the message, is
// what is worth encoding once and sharing.

/** The gRPC message prefix: a compressed flag and a 32-bit big-endian length. */
export const GRPC_PREFIX_BYTES = 5;

/** Largest message a gRPC length prefix can state (its length is an unsigned 32-bit integer). */
const MAX_GRPC_MESSAGE_BYTES = 0xffff_ffff;

/**
 * Writes the prefix of an uncompressed gRPC message of `length` bytes at
 * `at`; returns where the message goes.
 */
function writeHeader(target: Buffer, at: number, length: number): number {
  // Flag 0: not compressed.
  target[at] = 0;
  target.writeUInt32BE(length, at + 1);
  return at + GRPC_PREFIX_BYTES;
}

/** Writes `message` as a gRPC frame at `at`; returns the offset after it. */
function writeFrame(target: Buffer, at: number, message: Uint8Array): number {
  if (message.length > MAX_GRPC_MESSAGE_BYTES) {
    throw new Error(`a gRPC message holds at most ${MAX_GRPC_MESSAGE_BYTES} bytes`);
  }
  const body = writeHeader(target, at, message.length);
  target.set(message, body);
  return body + message.length;
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
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const message of messages) at = writeFrame(out, at, message);
  return out;
}

/**
 * Writes the event just encoded in the scratch writer (`length` bytes) as a
 * gRPC frame of `SubscribeResponse{event}` at `at`; returns the offset after it.
 */
function copySubscribeFrame(
  target: Buffer,
  at: number,
  length: number,
  messageLength: number,
): number {
  const message = writeHeader(target, at, messageLength);
  target[message] = tags.SUBSCRIBE_RESPONSE_EVENT;
  const p = w.putVarint(target, message + 1, length);
  w.copyTo(target, p);
  return p + length;
}

/** An encoded SubscribeResponse in its gRPC frame; the two views share the bytes. */
interface Encoded {
  readonly frame: Buffer;
  readonly message: Uint8Array;
}

// Keyed by the event object: the live tail hands the same HubEvent to every
// subscriber, so fan-out encodes each event once, and the entry goes when the
// event does.
const encoded = new WeakMap<HubEvent, Encoded>();

function encodeSubscribeResponse(event: HubEvent): Encoded {
  let entry = encoded.get(event);
  if (entry !== undefined) return entry;
  const length = writeEvent(event);
  const header = 1 + w.varintSize(length);
  const messageLength = header + length;
  // One allocation holds the gRPC prefix too, so a native gRPC writer needs no copy.
  const frame = Buffer.allocUnsafe(GRPC_PREFIX_BYTES + messageLength);
  copySubscribeFrame(frame, 0, length, messageLength);
  entry = { frame, message: frame.subarray(GRPC_PREFIX_BYTES) };
  encoded.set(event, entry);
  return entry;
}

/**
 * The binary encoding of `SubscribeResponse{event}`, encoded once per
 * HubEvent object and cached while the object lives: call it once per
 * subscriber and the event is encoded once. The same Uint8Array comes back
 * each time; callers must not modify it.
 */
export function subscribeResponseBytes(event: HubEvent): Uint8Array {
  return encodeSubscribeResponse(event).message;
}

/**
 * {@link subscribeResponseBytes} as a gRPC length-prefixed message
 * (uncompressed), from the same cache and the same memory: ready to write to
 * an HTTP/2 stream as it is. Callers must not modify it.
 */
export function subscribeResponseFrame(event: HubEvent): Buffer {
  return encodeSubscribeResponse(event).frame;
}

/** Bytes the batch buffer starts with. */
const INITIAL_FRAMES_BYTES = 64 * 1024;
/** A batch buffer grown past this (pages of large events) is dropped after use. */
const MAX_RETAINED_FRAMES_BYTES = 8 * 1024 * 1024;
/** Output of {@link subscribeResponseFrames}; reused, so a batch costs one allocation. */
let frames: Buffer = Buffer.allocUnsafe(INITIAL_FRAMES_BYTES);

function roomForFrames(needed: number, used: number): void {
  if (needed > frames.length) frames = w.grown(frames, needed, used);
}

/**
 * The gRPC frames of `SubscribeResponse{event}` for a batch, in one Buffer.
 * With `cache`, each event's frame comes from (and goes to) the per-object
 * cache, for events many subscribers get; without, events are encoded
 * straight into the batch: a replay reads its own objects, and caching a
 * million of them would only feed the garbage collector.
 */
export function subscribeResponseFrames(events: readonly HubEvent[], cache: boolean): Buffer {
  if (cache) {
    if (events.length === 1) return subscribeResponseFrame(events[0] as HubEvent);
    return Buffer.concat(events.map(subscribeResponseFrame));
  }
  let at = 0;
  for (const event of events) {
    const known = encoded.get(event);
    if (known !== undefined) {
      roomForFrames(at + known.frame.length, at);
      known.frame.copy(frames, at);
      at += known.frame.length;
      continue;
    }
    const length = writeEvent(event);
    const messageLength = 1 + w.varintSize(length) + length;
    roomForFrames(at + GRPC_PREFIX_BYTES + messageLength, at);
    at = copySubscribeFrame(frames, at, length, messageLength);
  }
  const out = Buffer.allocUnsafe(at);
  frames.copy(out, 0, 0, at);
  if (frames.length > MAX_RETAINED_FRAMES_BYTES) frames = Buffer.allocUnsafe(INITIAL_FRAMES_BYTES);
  return out;
}
