import type { HubEvent, PublishResult } from "../../core/index.js";
import * as w from "./byte-writer.js";
import { encodeEvent } from "./encode-event.js";
import * as tags from "./tags.js";

// The unary answers, assembled from messages encoded on their own: a
// repeated field's length prefixes need each message's size first, and the
// sizes together give the one array of exact size the answer is copied into.

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
  if (result.duplicate === true) {
    w.ensure(2);
    w.byte(tags.PUBLISH_DUPLICATE);
    w.byte(1);
  }
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
