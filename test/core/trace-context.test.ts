import { describe, expect, it } from "vitest";
import {
  formatTraceColumn,
  parseTraceColumn,
  parseTraceContext,
} from "../../src/core/trace-context.js";

const PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("W3C trace context", () => {
  it("keeps a valid traceparent and its tracestate, and ignores an invalid one with its tracestate", () => {
    expect(parseTraceContext(PARENT, "a=1")).toEqual({ traceparent: PARENT, tracestate: "a=1" });
    expect(parseTraceContext(` ${PARENT} `)).toEqual({ traceparent: PARENT });
    for (const bad of [
      PARENT.toUpperCase(),
      PARENT.replace("4bf92f3577b34da6a3ce929d0e0e4736", "0".repeat(32)),
      PARENT.replace("00f067aa0ba902b7", "0".repeat(16)),
      `ff${PARENT.slice(2)}`,
      `${PARENT}-extra`,
      PARENT.slice(0, 54),
      42,
    ]) {
      expect(parseTraceContext(bad, "a=1")).toBeUndefined();
    }
    // A later version is read as 00 asks: the four fields, the rest dropped.
    expect(parseTraceContext(`01${PARENT.slice(2)}-more`)).toEqual({ traceparent: PARENT });
    // An unusable tracestate is dropped, the traceparent kept.
    expect(parseTraceContext(PARENT, "x".repeat(513))).toEqual({ traceparent: PARENT });
    expect(parseTraceContext(PARENT, "a=\u00e9")).toEqual({ traceparent: PARENT });
  });

  it("reads back from its column what it wrote, and parses anything else in full", () => {
    for (const context of [
      { traceparent: PARENT },
      { traceparent: PARENT, tracestate: "a=1,b=2 x" },
    ]) {
      expect(parseTraceColumn(formatTraceColumn(context))).toEqual(context);
    }
    expect(formatTraceColumn(undefined)).toBeNull();
    expect(parseTraceColumn(null)).toBeUndefined();
    expect(parseTraceColumn("")).toBeUndefined();
    // Not the column's shape: the full parse refuses it.
    expect(parseTraceColumn(PARENT.replace(/-/g, "_"))).toBeUndefined();
    expect(parseTraceColumn(`${PARENT}x`)).toBeUndefined();
    expect(parseTraceColumn(`00-${"g".repeat(32)}-00f067aa0ba902b7-01`)).toBeUndefined();
    expect(parseTraceColumn(`00-${"0".repeat(32)}-00f067aa0ba902b7-01`)).toBeUndefined();
    expect(
      parseTraceColumn(`00-4bf92f3577b34da6a3ce929d0e0e4736-${"0".repeat(16)}-01`),
    ).toBeUndefined();
    expect(parseTraceColumn(`${PARENT.slice(0, 53)}0G`)).toBeUndefined();
    // A stored tracestate that is no longer acceptable is dropped, as on the way in.
    expect(parseTraceColumn(`${PARENT} a=\u0001`)).toEqual({ traceparent: PARENT });
  });
});
