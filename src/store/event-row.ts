import {
  formatTraceColumn,
  type HubEvent,
  type NewEvent,
  type OutboxEvent,
  parseTraceColumn,
} from "../core/index.js";
import { EVENT_TABLE_COLUMNS, type EventColumn } from "./schema.js";

const quoted = (columns: readonly EventColumn[]) => columns.map((c) => `"${c.name}"`).join(", ");

/** The columns a read selects, in table order. */
const SELECTED = EVENT_TABLE_COLUMNS.filter((c) => c.selected);
/** The columns an append writes, in table order: all the database does not assign. */
const APPENDED = EVENT_TABLE_COLUMNS.filter((c) => c.appendArray !== undefined);

/** The columns every read selects, in the order {@link rowToEvent} and {@link arrayToEvent} expect. */
export const EVENT_COLUMNS = quoted(SELECTED);

/** The columns the outbox reads: every read's, and what forwarding needs besides (the trace context). */
export const OUTBOX_COLUMNS = quoted(
  EVENT_TABLE_COLUMNS.filter((c) => c.selected || c.relayed === true),
);

/** The columns an append writes, in the order of {@link insertValues}. */
export const INSERT_COLUMNS = quoted(APPENDED);

/** Values per appended row: the length of {@link insertValues}. */
export const INSERT_COLUMN_COUNT = APPENDED.length;

/** One row's `?` placeholders for {@link INSERT_COLUMNS}: `(?, ?, …)`. */
export const INSERT_PLACEHOLDERS = `(${APPENDED.map(() => "?").join(", ")})`;

/**
 * The PostgreSQL array type of each of {@link INSERT_COLUMNS}, in order
 * (`text[]`, …): an append sends each column as one array.
 */
export const INSERT_ARRAY_TYPES: readonly string[] = APPENDED.map((c) => `${c.appendArray}[]`);

/**
 * Appends one event's values to `params` in {@link INSERT_COLUMNS} order.
 * `ingested` is given per dialect: better-sqlite3 binds no booleans. Written
 * out rather than looped over the column list because it runs per appended
 * event; test/store/event-row.test.ts holds it to that list.
 */
export function insertValues<B>(
  params: unknown[],
  e: NewEvent,
  ingested: (value: boolean) => B,
): void {
  params.push(
    e.id,
    e.subject,
    e.origin.hubId,
    e.origin.service,
    e.correlationId,
    e.payloadJson,
    e.timestamp,
    ingested(e.ingested === true),
    e.idempotency?.scope ?? null,
    e.idempotency?.key ?? null,
    formatTraceColumn(e.traceContext),
  );
}

/** A row as the drivers return it (PostgreSQL returns bigint as a string). */
export interface RawEventRow {
  seq: number | string | bigint;
  id: string;
  subject: string;
  origin_hub: string;
  origin_service: string;
  correlation_id: string;
  payload: string;
  accepted_at: string;
  /** Only in the outbox's reads ({@link OUTBOX_COLUMNS}). */
  trace_context?: string | null;
}

export function rowToEvent(row: RawEventRow): HubEvent {
  return {
    id: row.id,
    subject: row.subject,
    origin: { hubId: row.origin_hub, service: row.origin_service },
    correlationId: row.correlation_id,
    payload: JSON.parse(row.payload),
    timestamp: row.accepted_at,
    sequence: Number(row.seq),
  };
}

/** A row of the outbox's read ({@link OUTBOX_COLUMNS}): the event and its trace context. */
export function rowToOutboxEvent(row: RawEventRow): OutboxEvent {
  const event = rowToEvent(row);
  const traceContext = parseTraceColumn(row.trace_context);
  return traceContext === undefined ? event : { ...event, traceContext };
}

/**
 * A row read in array mode ({@link EVENT_COLUMNS} order): the hot read paths
 * use it because the drivers then build no keyed object per row. Its
 * positions are literal for the same reason as {@link insertValues}'s order.
 */
export function arrayToEvent(row: readonly unknown[]): HubEvent {
  return {
    id: row[1] as string,
    subject: row[2] as string,
    origin: { hubId: row[3] as string, service: row[4] as string },
    correlationId: row[5] as string,
    payload: JSON.parse(row[6] as string),
    timestamp: row[7] as string,
    sequence: Number(row[0]),
  };
}
