import type { HubEvent, PublishResult } from "../../core/index.js";
import * as w from "./byte-writer.js";
import * as tags from "./tags.js";
import { timestampMs, writeTimestamp } from "./timestamp.js";

/** The gRPC message prefix: a compressed flag and a 32-bit big-endian length. */
export const GRPC_PREFIX_BYTES = 5;

/**
 * Writes `event` as hubbus.v1.Event into the scratch buffer from offset 0,
 * byte for byte what `toBinary(EventSchema, eventToProto(event))` gives:
 * fields in number order, proto3 zero values left out, map entries in
 * `Object.keys` order. Returns the length.
 */
function writeEvent(event: HubEvent): number {
  // Validated before writing, so a bad event never leaves half an encoding.
  const ms = timestampMs(event.timestamp);
  if (!Number.isFinite(ms)) {
    throw new Error(`cannot encode event ${event.id}: invalid timestamp ${event.timestamp}`);
  }
  const sequence = event.sequence;
  if (!w.isUint64(sequence)) {
    throw new Error(`cannot encode event ${event.id}: invalid sequence ${sequence}`);
  }
  w.reset();
  w.stringField(tags.EVENT_ID, event.id);
  w.stringField(tags.EVENT_SUBJECT, event.subject);

  // eventToProto always sets origin, so it is present even when both strings are empty.
  w.ensure(1);
  w.byte(tags.EVENT_ORIGIN);
  const origin = w.fork();
  w.stringField(tags.ORIGIN_HUB_ID, event.origin.hubId);
  w.stringField(tags.ORIGIN_SERVICE, event.origin.service);
  w.join(origin);

  w.stringField(tags.EVENT_CORRELATION_ID, event.correlationId);

  // create() leaves an undefined payload unset; anything else becomes a Struct.
  if (event.payload !== undefined) {
    w.ensure(1);
    w.byte(tags.EVENT_PAYLOAD);
    const payload = w.fork();
    writeStruct(event.payload);
    w.join(payload);
  }

  writeTimestamp(tags.EVENT_TIMESTAMP, ms);

  w.uint64Field(tags.EVENT_SEQUENCE, sequence);
  return w.position();
}

/**
 * google.protobuf.Struct from a JSON object, as protobuf-es converts it:
 * every own enumerable key, in `Object.keys` order.
 */
function writeStruct(object: { readonly [key: string]: unknown }): void {
  const keys = Object.keys(object);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    w.ensure(2);
    w.byte(tags.STRUCT_FIELDS);
    const entry = w.fork();
    // The key is written even when empty: map entries always carry it.
    w.byte(tags.ENTRY_KEY);
    w.string(key);
    w.ensure(2);
    w.byte(tags.ENTRY_VALUE);
    const value = w.fork();
    writeValue(object[key]);
    w.join(value);
    w.join(entry);
  }
}

/**
 * google.protobuf.Value. `kind` is a oneof, so even zero values (0, "",
 * false, null) are written. A value that is not JSON (undefined, a function,
 * a bigint) becomes an empty Value, as in protobuf-es.
 */
function writeValue(value: unknown): void {
  switch (typeof value) {
    case "number":
      w.ensure(9);
      w.byte(tags.VALUE_NUMBER);
      w.double(value);
      return;
    case "string":
      w.ensure(1);
      w.byte(tags.VALUE_STRING);
      w.string(value);
      return;
    case "boolean":
      w.ensure(2);
      w.byte(tags.VALUE_BOOL);
      w.byte(value ? 1 : 0);
      return;
    case "object": {
      w.ensure(2);
      if (value === null) {
        w.byte(tags.VALUE_NULL);
        w.byte(0);
        return;
      }
      if (Array.isArray(value)) {
        w.byte(tags.VALUE_LIST);
        const list = w.fork();
        for (let i = 0; i < value.length; i++) {
          w.ensure(1);
          w.byte(tags.LIST_VALUES);
          const item = w.fork();
          writeValue(value[i]);
          w.join(item);
        }
        w.join(list);
        return;
      }
      w.byte(tags.VALUE_STRUCT);
      const struct = w.fork();
      writeStruct(value as { readonly [key: string]: unknown });
      w.join(struct);
      return;
    }
    default:
      return;
  }
}

/**
 * The binary encoding of hubbus.v1.Event, byte for byte what
 * `toBinary(EventSchema, eventToProto(event))` produces, without building a
 * message or walking its descriptor.
 *
 * @throws Error when the timestamp does not parse or the sequence is not an
 *   unsigned 64-bit integer (where `eventToProto`/`toBinary` also throw).
 */
export function encodeEvent(event: HubEvent): Uint8Array {
  const length = writeEvent(event);
  const out = new Uint8Array(length);
  w.copyTo(out, 0);
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
  target[at] = 0;
  target.writeUInt32BE(messageLength, at + 1);
  target[at + GRPC_PREFIX_BYTES] = tags.SUBSCRIBE_RESPONSE_EVENT;
  const p = w.putVarint(target, at + GRPC_PREFIX_BYTES + 1, length);
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

/** Output of {@link subscribeResponseFrames}; reused, so a batch costs one allocation. */
let frames: Buffer = Buffer.allocUnsafe(64 * 1024);

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
  if (frames.length > MAX_RETAINED_FRAMES_BYTES) frames = Buffer.allocUnsafe(64 * 1024);
  return out;
}

/** A batch buffer grown past this (pages of large events) is dropped after use. */
const MAX_RETAINED_FRAMES_BYTES = 8 * 1024 * 1024;

/**
 * The binary encoding of `QueryEventsResponse{events, count}`, byte for
 * byte what protobuf-es writes for `eventsToProto(events)`.
 */
export function encodeQueryEventsResponse(events: readonly HubEvent[]): Uint8Array {
  // proto3 leaves a zero count out.
  const countBytes = events.length > 0 ? 1 + w.varintSize(events.length) : 0;
  const { out, at } = repeatedMessage(tags.QUERY_EVENTS, events.map(encodeEvent), countBytes);
  if (countBytes > 0) {
    out[at] = tags.QUERY_COUNT;
    w.putVarint(out, at + 1, events.length);
  }
  return out;
}

/**
 * Encoded messages as one repeated field (tag, length, bytes each) at the
 * start of a new array with `room` bytes left after them; `at` is where
 * that room starts.
 */
function repeatedMessage(
  tag: number,
  messages: readonly Uint8Array[],
  room: number,
): { out: Uint8Array; at: number } {
  let total = room;
  for (const message of messages) total += 1 + w.varintSize(message.length) + message.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const message of messages) {
    out[at++] = tag;
    at = w.putVarint(out, at, message.length);
    out.set(message, at);
    at += message.length;
  }
  return { out, at };
}

/** Writes `PublishResponse` into the scratch buffer from offset 0; returns its length. */
function writePublishResponse(result: PublishResult): number {
  const sequence = result.sequence;
  if (!w.isUint64(sequence)) {
    throw new Error(`cannot encode the answer for ${result.eventId}: invalid sequence ${sequence}`);
  }
  w.reset();
  if (result.published) {
    w.ensure(2);
    w.byte(tags.PUBLISH_PUBLISHED);
    w.byte(1);
  }
  w.stringField(tags.PUBLISH_SUBJECT, result.subject);
  w.stringField(tags.PUBLISH_CORRELATION_ID, result.correlationId);
  w.stringField(tags.PUBLISH_EVENT_ID, result.eventId);
  w.uint64Field(tags.PUBLISH_SEQUENCE, sequence);
  return w.position();
}

/**
 * The binary encoding of `PublishResponse`, byte for byte what
 * `toBinary(PublishResponseSchema, publishResultToProto(result))` gives.
 */
export function encodePublishResponse(result: PublishResult): Uint8Array {
  const out = new Uint8Array(writePublishResponse(result));
  w.copyTo(out, 0);
  return out;
}

/** The binary encoding of `PublishBatchResponse{results}`, as protobuf-es writes it. */
export function encodePublishBatchResponse(results: readonly PublishResult[]): Uint8Array {
  return repeatedMessage(tags.BATCH_RESPONSE_RESULTS, results.map(encodePublishResponse), 0).out;
}
