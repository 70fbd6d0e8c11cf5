import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import type { SpanAttributes, SpanKindName } from "../../src/core/index.js";
import {
  type ExportIdentity,
  encodeIdentity,
  type FinishedSpan,
  SpanBatch,
} from "../../src/tracing/otlp-encode.js";
import { decodeExportRequest } from "../helpers/otlp-receiver.js";
import { seededRandom } from "../helpers/random.js";

/**
 * The request as @bufbuild/protobuf's own writer makes it, field by field
 * from trace.proto: what the in-place encoder must produce byte for byte.
 */
function reference(identity: ExportIdentity, spans: readonly FinishedSpan[]): Uint8Array {
  const kinds: Record<SpanKindName, number> = { server: 2, producer: 4, consumer: 5 };
  const attributes = (w: BinaryWriter, field: number, list: SpanAttributes) => {
    for (const [key, value] of Object.entries(list)) {
      if (value === undefined) continue;
      w.tag(field, WireType.LengthDelimited).fork();
      w.tag(1, WireType.LengthDelimited).string(key);
      w.tag(2, WireType.LengthDelimited).fork();
      if (typeof value === "string") w.tag(1, WireType.LengthDelimited).string(value);
      else if (typeof value === "boolean") w.tag(2, WireType.Varint).bool(value);
      else if (Number.isSafeInteger(value)) w.tag(3, WireType.Varint).int64(value);
      else w.tag(4, WireType.Bit64).double(value);
      w.join().join();
    }
  };
  const nanos = (ms: number) => BigInt(Math.round(ms * 1000)) * 1000n;
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).fork();
  attributes(w, 1, identity.resource);
  w.join();
  w.tag(2, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).string(identity.scopeName);
  w.tag(2, WireType.LengthDelimited).string(identity.scopeVersion);
  w.join();
  for (const s of spans) {
    w.tag(2, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).bytes(Buffer.from(s.traceId, "hex"));
    w.tag(2, WireType.LengthDelimited).bytes(Buffer.from(s.spanId, "hex"));
    if (s.tracestate !== undefined) w.tag(3, WireType.LengthDelimited).string(s.tracestate);
    if (s.parentSpanId !== "") {
      w.tag(4, WireType.LengthDelimited).bytes(Buffer.from(s.parentSpanId, "hex"));
    }
    w.tag(5, WireType.LengthDelimited).string(s.name);
    w.tag(6, WireType.Varint).int32(kinds[s.kind]);
    w.tag(7, WireType.Bit64).fixed64(nanos(s.startMs));
    w.tag(8, WireType.Bit64).fixed64(nanos(s.endMs));
    attributes(w, 9, s.attributes);
    if (s.error !== undefined) {
      w.tag(15, WireType.LengthDelimited).fork();
      w.tag(2, WireType.LengthDelimited).string(s.error);
      w.tag(3, WireType.Varint).int32(2);
      w.join();
    }
    const remote = s.parentSpanId !== "" && s.parentRemote ? 0x200 : 0;
    w.tag(16, WireType.Bit32).fixed32(0x101 | remote);
    w.join();
  }
  w.join().join();
  return w.finish();
}

/**
 * Where two encodings first differ, -1 if they are the same: compared this
 * way because a deep equality over a large buffer walks it key by key.
 */
function firstDifference(actual: Uint8Array, expected: Uint8Array): number {
  const a = Buffer.from(actual);
  if (a.equals(expected)) return -1;
  let i = 0;
  while (i < a.length && i < expected.length && a[i] === expected[i]) i++;
  return i;
}

/** A request of `spans` from a batch of their own. */
function encodeExportRequest(identity: ExportIdentity, spans: readonly FinishedSpan[]) {
  const batch = new SpanBatch(encodeIdentity(identity));
  for (const s of spans) batch.add(s);
  return batch.request();
}

const identity: ExportIdentity = {
  resource: { "service.name": "hubbus", "service.instance.id": "hub-é", pid: 4242 },
  scopeName: "hubbus",
  scopeVersion: "1.2.3",
};

function generator(seed: number) {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const hex = (bytes: number) =>
    Array.from({ length: bytes }, () => int(256).toString(16).padStart(2, "0")).join("");
  // Lengths around the varint boundaries (127/128, 16383/16384), and text
  // of one, two, three and four UTF-8 bytes per character.
  const lengths = [0, 1, 5, 40, 126, 127, 128, 129, 300, 5000, 16_380, 16_384, 20_000];
  const alphabets = ["abcxyz.-_", "éüß", "€中文", "😀🚀", "a€😀é"];
  const text = () => {
    const chars = [...(alphabets[int(alphabets.length)] as string)];
    const length = random() < 0.7 ? int(30) : (lengths[int(lengths.length)] as number);
    return Array.from({ length }, () => chars[int(chars.length)]).join("");
  };
  const value = (): string | number | boolean => {
    switch (int(6)) {
      case 0:
        return random() < 0.5;
      case 1:
        return int(2 ** 31);
      case 2:
        return -int(2 ** 40) - 1;
      case 3:
        return (random() - 0.5) * 1e6;
      case 4:
        return Number.MAX_SAFE_INTEGER - int(1000);
      default:
        return text();
    }
  };
  const attributes = (): SpanAttributes => {
    const out: Record<string, string | number | boolean | undefined> = {};
    for (let i = int(8); i > 0; i--) out[`${text()}${i}`] = random() < 0.1 ? undefined : value();
    return random() < 0.3 ? Object.freeze(out) : out;
  };
  const kinds: SpanKindName[] = ["server", "producer", "consumer"];
  const span = (): FinishedSpan => {
    const startMs = 1_700_000_000_000 + random() * 1e11;
    return {
      name: text() || "call",
      kind: kinds[int(3)] as SpanKindName,
      traceId: hex(16),
      spanId: hex(8),
      parentSpanId: random() < 0.3 ? "" : hex(8),
      parentRemote: random() < 0.5,
      tracestate: random() < 0.5 ? undefined : text(),
      startMs,
      endMs: startMs + random() * 5000,
      attributes: attributes(),
      error: random() < 0.8 ? undefined : text(),
    };
  };
  return { span, int };
}

describe("the OTLP encoder", () => {
  it("writes every request byte for byte as protobuf-es's writer does (400 seeded batches)", () => {
    const { span, int } = generator(20261207);
    for (let round = 0; round < 400; round++) {
      const spans = Array.from({ length: int(12) }, span);
      expect(
        firstDifference(encodeExportRequest(identity, spans), reference(identity, spans)),
      ).toBe(-1);
    }
  });

  it("reuses a batch after reset and grows past its first capacity", () => {
    const { span } = generator(7);
    // A small batch, so that growing happens many times over the rounds.
    const batch = new SpanBatch(encodeIdentity(identity), 16);
    for (let round = 0; round < 30; round++) {
      const spans = Array.from({ length: round * 3 }, span);
      for (const s of spans) batch.add(s);
      expect(batch.count).toBe(spans.length);
      expect(firstDifference(batch.request(), reference(identity, spans))).toBe(-1);
      // Asking twice gives the same bytes: the head is written in place, not added to.
      expect(firstDifference(batch.request(), reference(identity, spans))).toBe(-1);
      batch.reset();
    }
  });

  it("leaves a batch as it was when a span cannot be encoded, and the receiver reads it", () => {
    const { span } = generator(11);
    const batch = new SpanBatch(encodeIdentity(identity));
    const good = [span(), span()];
    batch.add(good[0] as FinishedSpan);
    expect(() => batch.add({ ...span(), traceId: "not hex at all, not at all!!" })).toThrow(
      /not an id in hex/,
    );
    batch.add(good[1] as FinishedSpan);
    expect(batch.count).toBe(2);
    const bytes = batch.request();
    expect(firstDifference(bytes, reference(identity, good))).toBe(-1);
    const received = decodeExportRequest(bytes);
    expect(received.map((s) => s.spanId)).toEqual(good.map((s) => s.spanId));
    expect(received[0]?.resource["service.instance.id"]).toBe("hub-é");
  });
});
