import { EntitySchema } from "@mikro-orm/core";

/** Name of the event log table. */
export const EVENT_TABLE = "hub_event";
/** Name of the table that holds the forwarding cursor and its lease. */
export const OUTBOX_TABLE = "hub_outbox";
/** Name of the table that records applied migrations. */
export const MIGRATIONS_TABLE = "hubbus_migrations";

/**
 * One row of the event log. The hot paths use prepared SQL (see the
 * dialects); the entity documents the table for MikroORM and for readers.
 */
export interface EventRow {
  /** The log position; the integer primary key, so SQLite can autoincrement it. */
  seq: number;
  id: string;
  subject: string;
  originHub: string;
  originService: string;
  correlationId: string;
  /** The payload exactly as serialised on publish. */
  payload: string;
  /** RFC 3339 UTC with milliseconds; sorts like the time it names. */
  acceptedAt: string;
  /** Arrived from NATS: already on the bus, so never forwarded. */
  ingested: boolean;
}

export const EventRowSchema = new EntitySchema<EventRow>({
  name: "EventRow",
  tableName: EVENT_TABLE,
  properties: {
    seq: { type: "bigint", primary: true, autoincrement: true },
    id: { type: "string", length: 36, unique: true },
    subject: { type: "string", length: 256 },
    originHub: { type: "string", length: 64 },
    originService: { type: "string", length: 64 },
    correlationId: { type: "string", length: 128 },
    payload: { type: "text" },
    acceptedAt: { type: "string", length: 30 },
    ingested: { type: "boolean", default: false },
  },
  indexes: [{ properties: ["subject", "seq"] }],
});
