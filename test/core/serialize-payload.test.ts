import { describe, expect, it } from "vitest";
import { HubError } from "../../src/core/errors.js";
import { newEventId, nowTimestamp, serializePayload } from "../../src/core/event.js";

// serializePayload skips JSON.stringify's replacer for payloads that hold
// only plain JSON values; everything else must still get the replacer's
// verdict, with the same messages.

const LIMIT = 1024 * 1024;

function refusal(value: unknown, maxBytes = LIMIT): HubError {
  try {
    serializePayload(value, maxBytes);
  } catch (error) {
    expect(error).toBeInstanceOf(HubError);
    return error as HubError;
  }
  throw new Error("serializePayload accepted the payload");
}

describe("serializePayload", () => {
  it("serialises plain JSON exactly as JSON.stringify does", () => {
    const payloads = [
      {},
      { a: 1, b: "x", c: true, d: null, e: [1, "2", [3, { f: -0 }]], g: { h: { i: 1.5e300 } } },
      { skipped: undefined, holes: [1, undefined, 3], sparse: new Array<number>(3) },
      Object.assign(Object.create(null), { bare: "prototype-less" }),
      JSON.parse('{"from":"JSON.parse","nested":[{"x":1}]}'),
    ];
    for (const payload of payloads) {
      expect(serializePayload(payload, LIMIT)).toBe(JSON.stringify(payload));
    }
    expect(serializePayload(undefined, LIMIT)).toBe("{}");
    expect(serializePayload(null, LIMIT)).toBe("{}");
  });

  it("refuses non-JSON values at any depth, with the replacer's messages", () => {
    const cases: [unknown, string][] = [
      [{ n: Number.NaN }, "NaN is not a JSON number"],
      [{ a: [1, { b: Number.POSITIVE_INFINITY }] }, "Infinity is not a JSON number"],
      [{ a: { b: Number.NEGATIVE_INFINITY } }, "-Infinity is not a JSON number"],
      [{ f: () => 1 }, "a function is not a JSON value"],
      [{ a: [Symbol("s")] }, "a symbol is not a JSON value"],
      [{ big: 1n }, "a bigint is not a JSON value"],
    ];
    for (const [payload, message] of cases) {
      const error = refusal(payload);
      expect(error.code).toBe("invalid_argument");
      expect(error.detail).toMatchObject({ param: "payload" });
      expect(error.message).toContain(message);
    }
  });

  it("gives values with their own serialisation to JSON.stringify as before", () => {
    const when = new Date(Date.UTC(2025, 0, 2, 3, 4, 5));
    expect(serializePayload({ when }, LIMIT)).toBe(JSON.stringify({ when }));
    const custom = { toJSON: () => ({ replaced: true }) };
    expect(serializePayload({ custom }, LIMIT)).toBe('{"custom":{"replaced":true}}');
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    expect(serializePayload({ p: new Point(1, 2) }, LIMIT)).toBe('{"p":{"x":1,"y":2}}');
    expect(refusal({ p: new Point(Number.NaN, 2) }).message).toContain("NaN");
  });

  it("refuses a cycle, and walks deep or wide payloads to the same verdict", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    expect(refusal(cyclic).code).toBe("invalid_argument");

    // Deeper than the walk goes: JSON.stringify with the replacer decides.
    let deep: Record<string, unknown> = { leaf: Number.NaN };
    for (let i = 0; i < 200; i++) deep = { d: deep };
    expect(refusal(deep).message).toContain("NaN");
    let fine: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 200; i++) fine = { d: fine };
    expect(serializePayload(fine, LIMIT)).toBe(JSON.stringify(fine));

    // More values than the byte limit: too large, whatever the path.
    const wide = { list: Array.from({ length: 100 }, () => 1) };
    expect(refusal(wide, 64).message).toContain("the limit is 64");
    const shared = [1, 2, 3];
    const fanned = { a: shared, b: shared, c: [shared, shared] };
    expect(serializePayload(fanned, LIMIT)).toBe(JSON.stringify(fanned));
  });

  it("refuses what is not a plain object, as before", () => {
    expect(refusal([1, 2]).message).toContain("not an array");
    expect(refusal("text").message).toContain("not string");
    expect(refusal(new Date()).code).toBe("invalid_argument");
  });
});

describe("event ids and timestamps", () => {
  it("makes distinct, ordered UUIDv7s", () => {
    const ids = Array.from({ length: 20_000 }, () => newEventId());
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids.slice(0, 50)) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it("formats the current millisecond", () => {
    const before = Date.now();
    const stamp = nowTimestamp();
    const after = Date.now();
    expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const ms = Date.parse(stamp);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
  });
});
