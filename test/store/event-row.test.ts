import { describe, expect, it } from "vitest";
import {
  arrayToEvent,
  EVENT_COLUMNS,
  INSERT_ARRAY_TYPES,
  INSERT_COLUMN_COUNT,
  INSERT_COLUMNS,
  INSERT_PLACEHOLDERS,
  insertValues,
  OUTBOX_COLUMNS,
  type RawEventRow,
  rowToOutboxEvent,
} from "../../src/store/event-row.js";
import { EVENT_TABLE_COLUMNS } from "../../src/store/schema.js";

const names = (list: string) => list.split(", ").map((name) => JSON.parse(name) as string);

const event = {
  id: "0190a3c4-0000-7000-8000-000000000001",
  subject: "hub.local-hub.orders.created",
  origin: { hubId: "local-hub", service: "checkout" },
  correlationId: "corr-1",
  payloadJson: '{"n":1}',
  timestamp: "2024-07-01T12:00:00.000Z",
  ingested: true,
  idempotency: { scope: "service:checkout", key: "order-7" },
  traceContext: {
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    tracestate: "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7",
  },
};

// The value each column holds for `event`: what the hand-written hot paths must agree with.
const columnValues: Record<string, unknown> = {
  seq: 42,
  id: event.id,
  subject: event.subject,
  origin_hub: event.origin.hubId,
  origin_service: event.origin.service,
  correlation_id: event.correlationId,
  payload: event.payloadJson,
  accepted_at: event.timestamp,
  ingested: true,
  idem_scope: "service:checkout",
  idem_key: "order-7",
  trace_context: `${event.traceContext.traceparent} ${event.traceContext.tracestate}`,
};

describe("the event row's column lists", () => {
  it("are the table's columns: reads skip ingested, the keys and the trace, the outbox reads the trace, appends skip only seq", () => {
    const table = EVENT_TABLE_COLUMNS.map((c) => c.name);
    const hidden = ["ingested", "idem_scope", "idem_key", "trace_context"];
    expect(names(EVENT_COLUMNS)).toEqual(table.filter((c) => !hidden.includes(c)));
    expect(names(OUTBOX_COLUMNS)).toEqual(
      table.filter((c) => !hidden.includes(c) || c === "trace_context"),
    );
    expect(names(INSERT_COLUMNS)).toEqual(table.filter((c) => c !== "seq"));
  });

  it("give an append as many values, placeholders and arrays as it has columns", () => {
    const count = names(INSERT_COLUMNS).length;
    expect(INSERT_COLUMN_COUNT).toBe(count);
    expect(INSERT_PLACEHOLDERS).toBe(`(${Array(count).fill("?").join(", ")})`);
    expect(INSERT_ARRAY_TYPES).toEqual([
      ...Array(count - 4).fill("text[]"),
      "boolean[]",
      "text[]",
      "text[]",
      "text[]",
    ]);
    const values: unknown[] = [];
    insertValues(values, event, (ingested) => ingested);
    expect(values).toHaveLength(INSERT_COLUMN_COUNT);
  });

  it("match insertValues' order, column by column", () => {
    const values: unknown[] = [];
    insertValues(values, event, (ingested) => ingested);
    expect(values).toEqual(names(INSERT_COLUMNS).map((c) => columnValues[c]));
  });

  it("match arrayToEvent's positions, column by column", () => {
    const row = names(EVENT_COLUMNS).map((c) => columnValues[c]);
    expect(arrayToEvent(row)).toEqual({
      id: event.id,
      subject: event.subject,
      origin: event.origin,
      correlationId: event.correlationId,
      payload: { n: 1 },
      timestamp: event.timestamp,
      sequence: 42,
    });
  });

  it("read the outbox's row with its trace context, and without one", () => {
    const row = Object.fromEntries(
      names(OUTBOX_COLUMNS).map((c) => [c, columnValues[c]]),
    ) as unknown as RawEventRow;
    expect(rowToOutboxEvent(row).traceContext).toEqual(event.traceContext);
    expect(rowToOutboxEvent({ ...row, trace_context: null })).not.toHaveProperty("traceContext");
  });

  it("write no trace context as NULL", () => {
    const values: unknown[] = [];
    const { traceContext: _, ...untraced } = event;
    insertValues(values, untraced, (ingested) => ingested);
    expect(values[values.length - 1]).toBeNull();
  });
});
