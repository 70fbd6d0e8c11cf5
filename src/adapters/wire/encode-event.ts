import type { HubEvent, PublishResult } from "../../core/index.js";
import * as w from "./byte-writer.js";
import * as tags from "./tags.js";
import { timestampMs, writeTimestamp } from "./timestamp.js";

/**
 * Writes `event` as hubbus.v1.Event into the scratch buffer from offset 0,
 * byte for byte what `toBinary(EventSchema, eventToProto(event))` gives:
 * fields in number order, proto3 zero values left out, map entries in
 * `Object.keys` order. Returns the length.
 */
export function writeEvent(event: HubEvent): number {
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
