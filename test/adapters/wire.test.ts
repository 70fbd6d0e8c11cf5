import { create, fromBinary, type JsonObject, toBinary } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import {
  EventSchema,
  PublishBatchResponseSchema,
  PublishRequestSchema,
  PublishResponseSchema,
  QueryEventsResponseSchema,
  SubscribeResponseSchema,
} from "../../gen/hubbus/v1/eventbus_pb.js";
import {
  eventsToProto,
  eventToProto,
  publishResultsToProto,
  publishResultToProto,
} from "../../src/adapters/proto/index.js";
import {
  decodePublishRequest,
  encodeEvent,
  encodePublishBatchResponse,
  encodePublishResponse,
  encodeQueryEventsResponse,
  grpcFrame,
  grpcFrames,
  subscribeResponseBytes,
  subscribeResponseFrame,
  subscribeResponseFrames,
  WireDecodeError,
} from "../../src/adapters/wire/index.js";
import { duplicateResultOf, type HubEvent, publishResultOf } from "../../src/core/index.js";
import { seededRandom } from "../helpers/random.js";
import { CORPUS, randomEvents } from "./wire-corpus.js";

const SEED = 0x5eed_0b17;
const RANDOM_EVENTS = 3000;
const FUZZ_CASES = 3000;

/** The reference: what the Connect adapter sends today. */
function protobufEsEvent(event: HubEvent): Uint8Array {
  return toBinary(EventSchema, eventToProto(event));
}

function publishRequestBytes(event: HubEvent): Uint8Array {
  return toBinary(
    PublishRequestSchema,
    create(PublishRequestSchema, {
      subject: event.subject,
      payload: event.payload,
      correlationId: event.correlationId,
      // Some requests carry a key, some none: the id stands in for one.
      idempotencyKey: event.sequence % 2 === 0 ? event.id : "",
    }),
  );
}

/** The reference decoding: fromBinary, with the Struct as protobuf-es's JSON object. */
function protobufEsDecode(bytes: Uint8Array) {
  const message = fromBinary(PublishRequestSchema, bytes);
  return {
    subject: message.subject,
    payload: message.payload,
    correlationId: message.correlationId,
    idempotencyKey: message.idempotencyKey,
  };
}

/** Every object's keys, depth first: toStrictEqual ignores key order, the wire does not. */
function keyOrder(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const item of value) keyOrder(item, out);
  } else if (typeof value === "object" && value !== null) {
    out.push(`{${Object.keys(value).join(",")}}`);
    for (const item of Object.values(value)) keyOrder(item, out);
  }
  return out;
}

/** Buffer.equals first: toEqual on a large Buffer compares element by element, slowly. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  if (Buffer.from(actual).equals(Buffer.from(expected))) return;
  expect(Buffer.from(actual), message).toEqual(Buffer.from(expected));
}

function expectSameDecoding(bytes: Uint8Array): void {
  const expected = protobufEsDecode(bytes);
  const actual = decodePublishRequest(bytes);
  expect(actual).toStrictEqual(expected);
  expect(keyOrder(actual.payload)).toEqual(keyOrder(expected.payload));
}

const randomCorpus = randomEvents(SEED, RANDOM_EVENTS);

function sample(name: string): HubEvent {
  const found = CORPUS.find(([n]) => n === name);
  if (!found) throw new Error(`no corpus event ${name}`);
  return found[1];
}

describe("encodeEvent", () => {
  it.each(CORPUS)("matches protobuf-es byte for byte: %s", (_name, event) => {
    expectSameBytes(encodeEvent(event), protobufEsEvent(event));
  });

  it(`matches protobuf-es on ${RANDOM_EVENTS} random events`, () => {
    for (const [i, event] of randomCorpus.entries()) {
      const actual = Buffer.from(encodeEvent(event));
      const expected = Buffer.from(protobufEsEvent(event));
      if (!actual.equals(expected)) {
        expect.fail(`random event ${i} differs: ${JSON.stringify(event)}`);
      }
    }
  });

  it("matches the Date parser on every day 28-31 of every month", () => {
    for (let month = 1; month <= 12; month++) {
      for (let day = 28; day <= 31; day++) {
        const timestamp = `2024-${String(month).padStart(2, "0")}-${day}T23:59:59.999Z`;
        const event = { ...sample("flat"), timestamp };
        expectSameBytes(encodeEvent(event), protobufEsEvent(event), timestamp);
      }
    }
  });

  it.each([
    ["an unparsable timestamp", { timestamp: "yesterday" }],
    ["day 32", { timestamp: "2025-01-32T00:00:00.000Z" }],
    ["hour 24 and a minute", { timestamp: "2025-01-01T24:01:00.000Z" }],
    ["a negative sequence", { sequence: -1 }],
    ["a fractional sequence", { sequence: 1.5 }],
    ["a sequence of 2^64", { sequence: 2 ** 64 }],
  ])("throws where protobuf-es throws: %s", (_name, changes) => {
    const event = { ...sample("flat"), ...changes };
    expect(() => protobufEsEvent(event)).toThrow();
    expect(() => encodeEvent(event)).toThrow(/cannot encode event/);
  });

  it("treats non-JSON values as protobuf-es does (an empty Value)", () => {
    const payload = {
      u: undefined,
      f: () => 1,
      holes: new Array(3).fill(1, 0, 1),
    } as unknown as JsonObject;
    const event = { ...sample("flat"), payload };
    expectSameBytes(encodeEvent(event), protobufEsEvent(event));
  });
});

describe("subscribeResponseBytes", () => {
  it("is SubscribeResponse{event}, encoded once per event object", () => {
    for (const [, event] of CORPUS) {
      const bytes = subscribeResponseBytes(event);
      const expected = toBinary(
        SubscribeResponseSchema,
        create(SubscribeResponseSchema, { event: eventToProto(event) }),
      );
      expectSameBytes(bytes, expected);
      expect(subscribeResponseBytes(event)).toBe(bytes);
    }
  });

  it("caches by object, not by content", () => {
    const event = sample("flat");
    const copy = { ...event };
    expect(subscribeResponseBytes(copy)).not.toBe(subscribeResponseBytes(event));
    expectSameBytes(subscribeResponseBytes(copy), subscribeResponseBytes(event));
  });

  it("shares its memory with the cached gRPC frame", () => {
    const event = sample("nested objects");
    const frame = subscribeResponseFrame(event);
    const message = subscribeResponseBytes(event);
    expect(subscribeResponseFrame(event)).toBe(frame);
    expect(frame).toEqual(grpcFrame(message));
    expect(message.buffer).toBe(frame.buffer);
    expect(message.byteOffset).toBe(frame.byteOffset + 5);
  });
});

describe("encodeQueryEventsResponse", () => {
  it("is QueryEventsResponse{events, count} as protobuf-es writes it, empty included", () => {
    const events = [...CORPUS.map(([, event]) => event), ...randomEvents(11, 100)];
    for (const slice of [events, events.slice(0, 1), []]) {
      const expected = toBinary(QueryEventsResponseSchema, eventsToProto(slice));
      expectSameBytes(encodeQueryEventsResponse(slice), expected);
    }
  });
});

describe("encodePublishResponse", () => {
  it(`is PublishResponse as protobuf-es writes it, for ${RANDOM_EVENTS} random events`, () => {
    const events = [...CORPUS.map(([, event]) => event), ...randomEvents(SEED, RANDOM_EVENTS)];
    for (const event of events) {
      for (const result of [publishResultOf(event), duplicateResultOf(event)]) {
        expectSameBytes(
          encodePublishResponse(result),
          toBinary(PublishResponseSchema, publishResultToProto(result)),
        );
      }
    }
  });

  it("is PublishBatchResponse{results} as protobuf-es writes it, empty included", () => {
    const results = randomEvents(13, 50).map((event, i) =>
      i % 3 === 0 ? duplicateResultOf(event) : publishResultOf(event),
    );
    for (const slice of [results, results.slice(0, 1), []]) {
      expectSameBytes(
        encodePublishBatchResponse(slice),
        toBinary(PublishBatchResponseSchema, publishResultsToProto(slice)),
      );
    }
  });

  it("refuses a sequence no uint64 holds", () => {
    const [event] = randomEvents(17, 1) as [HubEvent];
    for (const sequence of [-1, 1.5, 2 ** 64]) {
      const result = { ...publishResultOf(event), sequence };
      expect(() => encodePublishResponse(result)).toThrow(/invalid sequence/);
    }
  });
});

describe("subscribeResponseFrames", () => {
  it("gives the same bytes with and without the cache, for any mix of cached events", () => {
    const events = [...CORPUS.map(([, event]) => event), ...randomEvents(7, 300)];
    const expected = Buffer.concat(
      events.map((event) =>
        grpcFrame(
          toBinary(
            SubscribeResponseSchema,
            create(SubscribeResponseSchema, { event: eventToProto(event) }),
          ),
        ),
      ),
    );
    // Uncached first (nothing cached yet), then with some cached, then all cached.
    expectSameBytes(
      subscribeResponseFrames(
        events.map((e) => ({ ...e })),
        false,
      ),
      expected,
    );
    for (const event of events.filter((_, i) => i % 3 === 0)) subscribeResponseFrame(event);
    expectSameBytes(subscribeResponseFrames(events, false), expected);
    expectSameBytes(subscribeResponseFrames(events, true), expected);
    expectSameBytes(
      subscribeResponseFrames(events.slice(0, 1), true),
      expected.subarray(0, subscribeResponseFrame(events[0] as HubEvent).length),
    );
  });
});

describe("gRPC frames", () => {
  it("prefixes a flag byte and a big-endian length", () => {
    const frame = grpcFrame(new Uint8Array([1, 2, 3]));
    expect([...frame]).toEqual([0, 0, 0, 0, 3, 1, 2, 3]);
    expect([...grpcFrame(new Uint8Array(0))]).toEqual([0, 0, 0, 0, 0]);
    const big = grpcFrame(new Uint8Array(70_000));
    expect(big.readUInt32BE(1)).toBe(70_000);
  });

  it("puts many frames back to back", () => {
    const messages = CORPUS.slice(0, 5).map(([, event]) => encodeEvent(event));
    expect(grpcFrames(messages)).toEqual(Buffer.concat(messages.map((m) => grpcFrame(m))));
    expect(grpcFrames([]).length).toBe(0);
  });
});

/** A hand writer for crafted inputs that protobuf-es would never produce. */
function craft(build: (w: BinaryWriter) => void): Uint8Array {
  const writer = new BinaryWriter();
  build(writer);
  return writer.finish();
}

/** Appends one unknown field of every wire type, a nested group included. */
function unknownFields(w: BinaryWriter): void {
  w.tag(100, WireType.Varint).uint64(2n ** 63n);
  w.tag(101, WireType.Bit64).fixed64(123n);
  w.tag(102, WireType.LengthDelimited).bytes(new Uint8Array([0xff, 0xfe, 0x80]));
  w.tag(103, WireType.StartGroup);
  w.tag(1, WireType.Varint).int32(-1);
  w.tag(2, WireType.StartGroup).tag(3, WireType.Bit32).fixed32(7).tag(2, WireType.EndGroup);
  w.tag(103, WireType.EndGroup);
  w.tag(104, WireType.Bit32).fixed32(9);
  w.tag(536_870_911, WireType.Varint).int32(1);
}

/** A Value (as bytes of its body) built field by field. */
function value(build: (w: BinaryWriter) => void): Uint8Array {
  return craft(build);
}

function entry(w: BinaryWriter, key: string | undefined, ...values: Uint8Array[]): void {
  w.tag(1, WireType.LengthDelimited).fork();
  if (key !== undefined) w.tag(1, WireType.LengthDelimited).string(key);
  for (const v of values) w.tag(2, WireType.LengthDelimited).bytes(v);
  w.join();
}

function payload(w: BinaryWriter, build: (w: BinaryWriter) => void): void {
  w.tag(2, WireType.LengthDelimited).fork();
  build(w);
  w.join();
}

const numberValue = (n: number) => value((w) => w.tag(2, WireType.Bit64).double(n));
const stringValue = (s: string) => value((w) => w.tag(3, WireType.LengthDelimited).string(s));
const structValue = (build: (w: BinaryWriter) => void) =>
  value((w) => {
    w.tag(5, WireType.LengthDelimited).fork();
    build(w);
    w.join();
  });
const listValue = (...items: Uint8Array[]) =>
  value((w) => {
    w.tag(6, WireType.LengthDelimited).fork();
    for (const item of items) w.tag(1, WireType.LengthDelimited).bytes(item);
    w.join();
  });

const CRAFTED: ReadonlyArray<[string, Uint8Array]> = [
  ["empty message", new Uint8Array(0)],
  ["empty payload", craft((w) => payload(w, () => {}))],
  [
    "unknown fields of every wire type at every level",
    craft((w) => {
      unknownFields(w);
      w.tag(1, WireType.LengthDelimited).string("hub.a.b");
      payload(w, (s) => {
        unknownFields(s);
        s.tag(1, WireType.LengthDelimited).fork();
        unknownFields(s);
        s.tag(1, WireType.LengthDelimited).string("k");
        s.tag(2, WireType.LengthDelimited).bytes(
          value((v) => {
            unknownFields(v);
            v.tag(6, WireType.LengthDelimited).fork();
            unknownFields(v);
            v.tag(1, WireType.LengthDelimited).bytes(
              value((i) => {
                i.tag(4, WireType.Varint).bool(true);
                unknownFields(i);
              }),
            );
            v.join();
          }),
        );
        s.join();
      });
      unknownFields(w);
    }),
  ],
  [
    "repeated subject and correlation id: the last wins",
    craft((w) => {
      w.tag(1, WireType.LengthDelimited).string("first");
      w.tag(3, WireType.LengthDelimited).string("c1");
      w.tag(1, WireType.LengthDelimited).string("second");
      w.tag(3, WireType.LengthDelimited).string("");
    }),
  ],
  [
    "repeated payload: the maps merge, a repeated key keeps its first place",
    craft((w) => {
      payload(w, (s) => {
        entry(s, "a", numberValue(1));
        entry(
          s,
          "b",
          structValue((t) => entry(t, "x", numberValue(1))),
        );
      });
      w.tag(1, WireType.LengthDelimited).string("between");
      payload(w, (s) => {
        entry(s, "c", numberValue(3));
        entry(s, "a", stringValue("replaced"));
        entry(
          s,
          "b",
          structValue((t) => entry(t, "y", numberValue(2))),
        );
      });
    }),
  ],
  [
    "a repeated key within one Struct",
    craft((w) =>
      payload(w, (s) => {
        entry(s, "k", numberValue(1));
        entry(s, "other", numberValue(2));
        entry(s, "k", numberValue(3));
      }),
    ),
  ],
  [
    "an entry's value repeated: struct values merge, list values append",
    craft((w) =>
      payload(w, (s) => {
        entry(
          s,
          "merged",
          structValue((t) => entry(t, "x", numberValue(1))),
          structValue((t) => entry(t, "y", numberValue(2))),
        );
        entry(s, "appended", listValue(numberValue(1)), listValue(stringValue("two")));
        entry(
          s,
          "replaced",
          structValue(() => {}),
          numberValue(5),
          listValue(numberValue(6)),
        );
        entry(s, "restarted", listValue(numberValue(1)), numberValue(0), listValue(numberValue(2)));
      }),
    ),
  ],
  [
    "one Value with several kinds: the last wins, structs merge",
    craft((w) =>
      payload(w, (s) =>
        entry(
          s,
          "v",
          value((v) => {
            v.tag(5, WireType.LengthDelimited).fork();
            entry(v, "a", numberValue(1));
            v.join();
            v.tag(5, WireType.LengthDelimited).fork();
            entry(v, "b", numberValue(2));
            v.join();
          }),
        ),
      ),
    ),
  ],
  [
    "entries without a key or without a value",
    craft((w) =>
      payload(w, (s) => {
        entry(s, undefined, numberValue(1));
        entry(s, "no value");
        entry(s, "empty value", new Uint8Array(0));
      }),
    ),
  ],
  [
    "null with a non-zero enum number, bool as a long varint",
    craft((w) =>
      payload(w, (s) => {
        entry(
          s,
          "n",
          value((v) => v.tag(1, WireType.Varint).int32(5)),
        );
        entry(
          s,
          "b",
          value((v) => v.tag(4, WireType.Varint).uint64(2n ** 40n)),
        );
        entry(s, "list of empty values", listValue(new Uint8Array(0), new Uint8Array(0)));
      }),
    ),
  ],
  [
    "non-canonical varint lengths",
    new Uint8Array([0x0a, 0x81, 0x80, 0x80, 0x00, 0x61, 0x1a, 0x80, 0x00]),
  ],
  [
    "a __proto__ key",
    craft((w) =>
      payload(w, (s) => {
        entry(
          s,
          "__proto__",
          structValue((t) => entry(t, "polluted", numberValue(1))),
        );
        entry(s, "constructor", numberValue(2));
      }),
    ),
  ],
  [
    "NaN, Infinity and -0",
    craft((w) =>
      payload(w, (s) => {
        entry(s, "nan", numberValue(Number.NaN));
        entry(s, "inf", numberValue(Number.NEGATIVE_INFINITY));
        entry(s, "negZero", numberValue(-0));
      }),
    ),
  ],
  [
    "a string starting with a BOM",
    craft((w) => w.tag(1, WireType.LengthDelimited).string("\ufeffbom")),
  ],
];

/** Where each top-level field ends, by protobuf-es's reader: a prefix ending there is a whole message. */
function fieldBoundaries(bytes: Uint8Array): Set<number> {
  const reader = new BinaryReader(bytes);
  const ends = new Set([0]);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    reader.skip(wireType, fieldNo);
    ends.add(reader.pos);
  }
  return ends;
}

function utf8Bytes(...bytes: number[]): Uint8Array {
  return new Uint8Array(bytes);
}

describe("decodePublishRequest", () => {
  it.each(CORPUS)("matches fromBinary: %s", (_name, event) => {
    expectSameDecoding(publishRequestBytes(event));
  });

  it(`matches fromBinary on ${RANDOM_EVENTS} random requests`, () => {
    for (const event of randomCorpus) expectSameDecoding(publishRequestBytes(event));
  });

  it.each(CRAFTED)("matches fromBinary on crafted input: %s", (_name, bytes) => {
    expectSameDecoding(bytes);
  });

  it("takes a Buffer, a Uint8Array and a view into a larger buffer alike", () => {
    const bytes = publishRequestBytes(sample("unicode"));
    const padded = new Uint8Array(bytes.length + 20);
    padded.set(bytes, 10);
    const view = padded.subarray(10, 10 + bytes.length);
    expect(decodePublishRequest(view)).toStrictEqual(protobufEsDecode(bytes));
    expect(decodePublishRequest(Buffer.from(bytes))).toStrictEqual(protobufEsDecode(bytes));
  });

  it("throws on every truncation that is not a whole message, and matches on those that are", () => {
    const samples = [
      ...CORPUS.filter(([name]) => name !== "large event" && name !== "long strings").map(
        ([, event]) => publishRequestBytes(event),
      ),
      ...CRAFTED.map(([, bytes]) => bytes),
    ];
    for (const bytes of samples) {
      const whole = fieldBoundaries(bytes);
      for (let length = 0; length < bytes.length; length++) {
        const prefix = bytes.subarray(0, length);
        if (whole.has(length)) {
          expectSameDecoding(prefix);
        } else {
          expect(() => decodePublishRequest(prefix), `prefix of ${length}`).toThrow(
            WireDecodeError,
          );
          expect(() => protobufEsDecode(prefix)).toThrow();
        }
      }
    }
  });

  it.each([
    ["a lone continuation byte", utf8Bytes(0x80)],
    ["an overlong NUL", utf8Bytes(0xc0, 0x80)],
    ["an encoded surrogate", utf8Bytes(0xed, 0xa0, 0x80)],
    ["a cut multi-byte sequence", utf8Bytes(0x61, 0xe4, 0xb8)],
    ["a code point past U+10FFFF", utf8Bytes(0xf4, 0x90, 0x80, 0x80)],
    ["0xff", utf8Bytes(0xff)],
  ])("rejects invalid UTF-8 (%s) in the subject, a key and a string value", (_name, bad) => {
    const inputs = [
      craft((w) => w.tag(1, WireType.LengthDelimited).bytes(bad)),
      craft((w) => w.tag(3, WireType.LengthDelimited).bytes(bad)),
      craft((w) =>
        payload(w, (s) => {
          s.tag(1, WireType.LengthDelimited).fork();
          s.tag(1, WireType.LengthDelimited).bytes(bad);
          s.join();
        }),
      ),
      craft((w) =>
        payload(w, (s) =>
          entry(
            s,
            "k",
            value((v) => v.tag(3, WireType.LengthDelimited).bytes(bad)),
          ),
        ),
      ),
      // Long enough for the native path.
      craft((w) =>
        w
          .tag(1, WireType.LengthDelimited)
          .bytes(new Uint8Array([...Buffer.from("x".repeat(40)), ...bad])),
      ),
    ];
    for (const bytes of inputs) {
      expect(() => protobufEsDecode(bytes)).toThrow();
      expect(() => decodePublishRequest(bytes)).toThrow(/not valid UTF-8/);
    }
  });

  it.each([
    ["field number 0", utf8Bytes(0x02, 0x00)],
    ["wire type 6", utf8Bytes(0x0e)],
    ["wire type 7", utf8Bytes(0x0f)],
    ["a tag over 32 bits", utf8Bytes(0xf8, 0xff, 0xff, 0xff, 0x1f, 0x00)],
    ["an end-group without a start", utf8Bytes(0x24)],
    ["a group closed by another field's end", utf8Bytes(0x23, 0x2c)],
    ["an unclosed group", utf8Bytes(0x23, 0x08, 0x01)],
    ["a length past the end", utf8Bytes(0x0a, 0x05, 0x61)],
    ["a huge length", utf8Bytes(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f)],
    ["a truncated fixed64", utf8Bytes(0x29, 1, 2, 3)],
    ["a truncated fixed32", utf8Bytes(0x2d, 1, 2)],
  ])("rejects malformed wire data: %s", (_name, bytes) => {
    expect(() => protobufEsDecode(bytes)).toThrow();
    expect(() => decodePublishRequest(bytes)).toThrow(WireDecodeError);
  });

  it("rejects a varint over 10 bytes, which protobuf-es skips", () => {
    const bytes = utf8Bytes(0x28, ...Array(10).fill(0xff), 0x01);
    expect(() => decodePublishRequest(bytes)).toThrow(/longer than 10 bytes/);
  });

  it("rejects what protobuf-es would misread: a known field with another wire type", () => {
    for (const bytes of [
      utf8Bytes(0x08, 0x01), // subject as a varint
      utf8Bytes(0x11, 0, 0, 0, 0, 0, 0, 0, 0), // payload as a fixed64
      craft((w) => payload(w, (s) => s.tag(1, WireType.Varint).int32(1))),
      craft((w) =>
        payload(w, (s) =>
          entry(
            s,
            "k",
            value((v) => v.tag(2, WireType.Bit32).fixed32(1)),
          ),
        ),
      ),
    ]) {
      expect(() => decodePublishRequest(bytes)).toThrow(/has wire type/);
    }
  });

  it("agrees with protobuf-es's recursion limit", () => {
    for (let depth = 44; depth <= 52; depth++) {
      let objects: JsonObject = { leaf: 1 };
      let lists: JsonObject = { leaf: 1 };
      for (let i = 0; i < depth; i++) {
        objects = { o: objects };
        lists = { l: [lists] };
      }
      for (const payload of [objects, lists]) {
        const bytes = toBinary(PublishRequestSchema, create(PublishRequestSchema, { payload }));
        let expected: unknown;
        try {
          expected = protobufEsDecode(bytes);
        } catch {
          expect(() => decodePublishRequest(bytes)).toThrow(/nested too deeply/);
          continue;
        }
        expect(decodePublishRequest(bytes)).toStrictEqual(expected);
      }
    }
  });

  it(`agrees with fromBinary wherever it accepts ${FUZZ_CASES} mutated requests`, () => {
    const random = seededRandom(SEED + 1);
    const sources = randomCorpus.slice(0, 200).map(publishRequestBytes);
    let accepted = 0;
    for (let i = 0; i < FUZZ_CASES; i++) {
      const bytes = new Uint8Array(sources[i % sources.length] ?? []);
      const flips = 1 + Math.floor(random() * 3);
      for (let f = 0; f < flips; f++) {
        bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      }
      let actual: unknown;
      try {
        actual = decodePublishRequest(bytes);
      } catch (error) {
        // Only our error, never a RangeError or a TypeError from reading past the end.
        expect(error).toBeInstanceOf(WireDecodeError);
        continue;
      }
      // Accepting is only right where protobuf-es accepts too, with the same result.
      const expected = protobufEsDecode(bytes);
      expect(actual).toStrictEqual(expected);
      expect(keyOrder(actual)).toEqual(keyOrder(expected));
      accepted++;
    }
    expect(accepted).toBeGreaterThan(0);
  });
});
