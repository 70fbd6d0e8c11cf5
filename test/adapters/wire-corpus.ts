import type { HubEvent, JsonObject, JsonValue } from "../../src/core/index.js";
import { seededRandom } from "../helpers/random.js";

const BASE: HubEvent = {
  id: "019a5a4e-8d2f-7c3a-9b1e-0123456789ab",
  subject: "hub.local.orders.created",
  origin: { hubId: "local", service: "orders" },
  correlationId: "corr-1",
  payload: {},
  timestamp: "2025-11-05T12:00:00.123Z",
  sequence: 1,
};

function event(name: string, changes: Partial<HubEvent>): [string, HubEvent] {
  return [name, { ...BASE, ...changes }];
}

function nested(depth: number, leaf: JsonValue): JsonObject {
  let value: JsonObject = { leaf };
  for (let i = 0; i < depth; i++) value = { [`level${i}`]: value };
  return value;
}

const manyKeys: JsonObject = {};
for (let i = 0; i < 300; i++) manyKeys[`key_${i}`] = i % 3 === 0 ? `v${i}` : i;

/** Hand-picked events: each exercises one part of the encoding. */
export const CORPUS: ReadonlyArray<[string, HubEvent]> = [
  event("empty payload", {}),
  event("flat", { payload: { a: 1, b: "two", c: true, d: null } }),
  event("nested objects", { payload: { a: { b: { c: { d: "deep" } } }, e: {} } }),
  event("arrays of mixed values", {
    payload: { list: [1, "two", false, null, { x: [] }, [1, [2, [3]]], -1.5, ""] },
  }),
  event("empty strings and zero values", { payload: { "": "", zero: 0, f: false, empty: [] } }),
  event("unicode", {
    subject: "hub.local.ünïcødé.事件",
    correlationId: "ключ-😀",
    payload: {
      ключ: "значение",
      日本語: "テキスト",
      "emoji 😀🎉": "𝄞 astral 🚀",
      mixed: "a\u00e9\u4e2d\ud83d\ude00z",
      "lone high \ud800": "lone low \udc00 and high at end \ud83d",
      bom: "\ufeffstarts with a BOM",
      nul: "a\u0000b",
    },
  }),
  event("numbers", {
    payload: {
      int: 42,
      negative: -7,
      negativeZero: -0,
      fraction: 0.1,
      big: 1e300,
      tiny: 5e-324,
      maxSafe: Number.MAX_SAFE_INTEGER,
      beyondSafe: 2 ** 53 + 2,
      huge: Number.MAX_VALUE,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      negInf: Number.NEGATIVE_INFINITY,
    },
  }),
  event("booleans and null", {
    payload: { t: true, f: false, n: null, list: [true, false, null] },
  }),
  event("deep nesting", { payload: nested(40, [1, [2, [3, { four: 4 }]]]) }),
  event("many keys", { payload: manyKeys }),
  event("integer-like keys", { payload: { b: 1, "2": 2, a: 3, "1": 1, "-1": -1, "01": 1 } }),
  event("__proto__ key", { payload: JSON.parse('{"__proto__": {"x": 1}, "y": 2}') }),
  event("long strings", {
    payload: { ascii: "x".repeat(5000), utf8: "é".repeat(3000), astral: "😀".repeat(2000) },
  }),
  event("strings at the JavaScript/native encoder boundary", {
    payload: {
      e23: "é".repeat(23),
      e24: "é".repeat(24),
      s12: "😀".repeat(12),
      a23: "a".repeat(23),
    },
  }),
  event("strings at the 127/128 boundary", {
    payload: {
      a127: "a".repeat(127),
      a128: "a".repeat(128),
      e63: "é".repeat(63),
      e64: "é".repeat(64),
    },
  }),
  event("timestamp without milliseconds", { timestamp: "2025-11-05T12:00:00Z" }),
  event("timestamp with whole seconds", { timestamp: "2025-11-05T12:00:00.000Z" }),
  event("timestamp with an offset", { timestamp: "2025-11-05T14:00:00.5+02:00" }),
  event("timestamp at the epoch", { timestamp: "1970-01-01T00:00:00.000Z" }),
  event("timestamp before the epoch", { timestamp: "1969-12-31T23:59:59.999Z" }),
  event("timestamp in year 100", { timestamp: "0100-03-01T00:00:00.000Z" }),
  event("timestamp in year 99", { timestamp: "0099-03-01T00:00:00.000Z" }),
  event("timestamp on 30 February", { timestamp: "2025-02-30T10:00:00.000Z" }),
  event("timestamp far ahead", { timestamp: "9999-12-31T23:59:59.999Z" }),
  event("sequence 0", { sequence: 0 }),
  event("sequence near 2^53", { sequence: Number.MAX_SAFE_INTEGER }),
  event("sequence 2^32", { sequence: 2 ** 32 }),
  event("sequence beyond 2^53", { sequence: 2 ** 60 }),
  event("empty service", { origin: { hubId: "local", service: "" } }),
  event("empty origin", { origin: { hubId: "", service: "" } }),
  event("empty strings everywhere", { id: "", subject: "", correlationId: "" }),
  event("large event", { payload: { blob: "z".repeat(200_000), list: Array(2000).fill(1.25) } }),
];

const CHARS = [
  "a",
  "Z",
  "0",
  " ",
  "_",
  "\n",
  "\u0000",
  "\u007f",
  "\u0080",
  "é",
  "ß",
  "\u07ff",
  "\u0800",
  "中",
  "\ufeff",
  "\uffff",
  "😀",
  "𝄞",
  "\ud800",
  "\udfff",
];

/** Random events for the differential tests: the same seed gives the same events. */
export function randomEvents(seed: number, count: number): HubEvent[] {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;

  const string = (): string => {
    // Mostly short; sometimes long enough for the native UTF-8 path and 2-byte lengths.
    const length = random() < 0.85 ? int(12) : 100 + int(300);
    const ascii = random() < 0.6;
    let text = "";
    for (let i = 0; i < length; i++) {
      text += ascii ? String.fromCharCode(0x20 + int(95)) : pick(CHARS);
    }
    return text;
  };
  const number = (): number => {
    switch (int(6)) {
      case 0:
        return int(1000) - 500;
      case 1:
        return (random() - 0.5) * 10 ** (int(600) - 300);
      case 2:
        return pick([0, -0, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 1e300, 5e-324, 0.1]);
      default:
        return random() * 1e6;
    }
  };
  const value = (depth: number): JsonValue => {
    const kind = depth > 5 ? int(5) : int(7);
    switch (kind) {
      case 0:
        return null;
      case 1:
        return random() < 0.5;
      case 2:
      case 3:
        return number();
      case 4:
        return string();
      case 5:
        return Array.from({ length: int(6) }, () => value(depth + 1));
      default:
        return object(depth + 1);
    }
  };
  const object = (depth: number): JsonObject => {
    const result: JsonObject = {};
    const keys = int(depth === 0 ? 12 : 6);
    for (let i = 0; i < keys; i++)
      result[random() < 0.2 ? String(int(20)) : string()] = value(depth);
    return result;
  };
  const timestamp = (): string => {
    const ms = Math.floor((random() - 0.3) * 4e12);
    const iso = new Date(ms).toISOString();
    return random() < 0.2 ? iso.replace(/\.\d{3}Z$/, "Z") : iso;
  };
  const sequence = (): number => {
    switch (int(4)) {
      case 0:
        return int(3);
      case 1:
        return Number.MAX_SAFE_INTEGER - int(1000);
      default:
        return int(2 ** 40);
    }
  };

  return Array.from({ length: count }, () => ({
    id: random() < 0.05 ? "" : string(),
    subject: random() < 0.05 ? "" : string(),
    origin: { hubId: random() < 0.1 ? "" : string(), service: random() < 0.2 ? "" : string() },
    correlationId: random() < 0.1 ? "" : string(),
    payload: object(0),
    timestamp: timestamp(),
    sequence: sequence(),
  }));
}
