import type { HubEvent, NewEvent } from "../core/index.js";

/** The columns every read selects, in the order {@link rowToEvent} and {@link arrayToEvent} expect. */
export const EVENT_COLUMNS =
  '"seq", "id", "subject", "origin_hub", "origin_service", "correlation_id", "payload", "accepted_at"';

/** The columns an append writes, in the order of {@link insertValues}. */
export const INSERT_COLUMNS =
  '"id", "subject", "origin_hub", "origin_service", "correlation_id", "payload", "accepted_at", "ingested"';

/** Values per appended row: the length of {@link insertValues}. */
export const INSERT_COLUMN_COUNT = 8;

/**
 * Appends one event's values to `params` in {@link INSERT_COLUMNS} order.
 * `ingested` is given per dialect: better-sqlite3 binds no booleans.
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

/**
 * A row read in array mode ({@link EVENT_COLUMNS} order): the hot read paths
 * use it because the drivers then build no keyed object per row.
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
