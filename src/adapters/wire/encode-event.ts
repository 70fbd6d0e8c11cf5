import type { HubEvent } from "../../core/index.js";
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
    writeValueField(tags.ENTRY_VALUE, object[key]);
    w.join(entry);
  }
}

/** A google.protobuf.Value field: a map entry's value or a list item. */
function writeValueField(tag: number, value: unknown): void {
  w.ensure(1);
  w.byte(tag);
  const start = w.fork();
  writeValue(value);
  w.join(start);
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
        for (let i = 0; i < value.length; i++) writeValueField(tags.LIST_VALUES, value[i]);
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
