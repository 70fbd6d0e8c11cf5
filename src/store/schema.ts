import { EntitySchema, type EntitySchemaMetadata } from "@mikro-orm/core";

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
  /** Whose idempotency key `idemKey` is; null without a key, or once the window has passed. */
  idemScope: string | null;
  /** The publisher's idempotency key; unique per scope. */
  idemKey: string | null;
  /** `traceparent`, then a space and `tracestate` when there is one; null without a trace. */
  traceContext: string | null;
}

/** One column of the event log table. */
export interface EventColumn {
  /** The column's name in SQL. */
  readonly name: string;
  /** The {@link EventRow} property MikroORM maps it to. */
  readonly property: keyof EventRow;
  /** MikroORM's options for the property. */
  readonly orm: {
    readonly type: string;
    readonly length?: number;
    readonly primary?: true;
    readonly autoincrement?: true;
    readonly unique?: true;
    readonly default?: boolean;
    readonly nullable?: true;
  };
  /**
   * The migration that added the column; absent for the columns of the
   * initial migration, which creates the table from the others.
   */
  readonly addedBy?: string;
  /** The column's definition (in the initial migration, or the one that added it), per dialect. */
  readonly sqlite: string;
  readonly postgres: string;
  /**
   * The element type of the array it travels in on a PostgreSQL append, or
   * undefined when an append does not write it (the database assigns it).
   */
  readonly appendArray?: "text" | "boolean";
  /** Every read selects it (the reads need no `ingested`). */
  readonly selected: boolean;
  /** The outbox's reads select it besides the {@link selected} ones: what only forwarding needs. */
  readonly relayed?: true;
}

/** A nullable text column a later migration added, written by appends and read only on demand. */
function addedText(name: string, property: keyof EventRow, addedBy: string): EventColumn {
  return {
    name,
    property,
    orm: { type: "text", nullable: true },
    addedBy,
    sqlite: "text",
    postgres: "text",
    appendArray: "text",
    selected: false,
  };
}

/**
 * The event log's columns in table order: the one description the
 * migrations, the entity and the dialects' statements are built from.
 * Migration 0001 creates the table from the columns without `addedBy`, and
 * existing databases ran that text, so those stay as that migration left
 * them (a test pins the SQL); a new column comes last, with `addedBy`
 * naming the migration that adds it.
 */
export const EVENT_TABLE_COLUMNS: readonly EventColumn[] = [
  {
    name: "seq",
    property: "seq",
    orm: { type: "bigint", primary: true, autoincrement: true },
    sqlite: "integer primary key autoincrement",
    postgres: "bigint generated always as identity primary key",
    selected: true,
  },
  {
    name: "id",
    property: "id",
    orm: { type: "string", length: 36, unique: true },
    sqlite: "text not null unique",
    postgres: "varchar(36) not null unique",
    appendArray: "text",
    selected: true,
  },
  {
    name: "subject",
    property: "subject",
    orm: { type: "string", length: 256 },
    sqlite: "text not null",
    // COLLATE "C" makes subject ranges byte-ordered, so prefix queries can use the index.
    postgres: 'varchar(256) collate "C" not null',
    appendArray: "text",
    selected: true,
  },
  {
    name: "origin_hub",
    property: "originHub",
    orm: { type: "string", length: 64 },
    sqlite: "text not null",
    postgres: "varchar(64) not null",
    appendArray: "text",
    selected: true,
  },
  {
    name: "origin_service",
    property: "originService",
    orm: { type: "string", length: 64 },
    sqlite: "text not null",
    postgres: "varchar(64) not null",
    appendArray: "text",
    selected: true,
  },
  {
    name: "correlation_id",
    property: "correlationId",
    orm: { type: "string", length: 128 },
    sqlite: "text not null",
    postgres: "varchar(128) not null",
    appendArray: "text",
    selected: true,
  },
  {
    name: "payload",
    property: "payload",
    orm: { type: "text" },
    sqlite: "text not null",
    postgres: "text not null",
    appendArray: "text",
    selected: true,
  },
  {
    name: "accepted_at",
    property: "acceptedAt",
    orm: { type: "string", length: 30 },
    sqlite: "text not null",
    postgres: "varchar(30) not null",
    appendArray: "text",
    selected: true,
  },
  {
    name: "ingested",
    property: "ingested",
    orm: { type: "boolean", default: false },
    // better-sqlite3 binds no booleans: 0 and 1.
    sqlite: "integer not null default 0",
    postgres: "boolean not null default false",
    appendArray: "boolean",
    selected: false,
  },
  addedText("idem_scope", "idemScope", "0003-idempotency"),
  addedText("idem_key", "idemKey", "0003-idempotency"),
  // traceparent (55), a space, tracestate (at most 512).
  { ...addedText("trace_context", "traceContext", "0005-trace-context"), relayed: true },
];

/**
 * The unique (scope, key) index that makes the database, not a read before
 * the write, decide which of two racing publishes of one key is stored.
 * Partial: rows without a key (most of them) are not in it.
 */
export const EVENT_IDEMPOTENCY_INDEX = `${EVENT_TABLE}_idempotency_index`;
/** The keyed rows in sequence order: the pruner finds the oldest keys through it. */
export const EVENT_KEYED_SEQ_INDEX = `${EVENT_TABLE}_keyed_seq_index`;
/** The outbox table's row that holds the pruning watermark and the pruner's lease. */
export const PRUNE_ROW = "prune";

/**
 * The (subject, seq) index: pattern reads find a subject's rows through it
 * in sequence order, and SQLite's reads name it in `indexed by`.
 */
export const EVENT_SUBJECT_INDEX = {
  name: `${EVENT_TABLE}_subject_seq_index`,
  columns: ["subject", "seq"],
} as const;

/** The property a column maps to, for the entity's index. */
function propertyOf(column: string): keyof EventRow {
  const found = EVENT_TABLE_COLUMNS.find((c) => c.name === column);
  if (!found) throw new Error(`${EVENT_TABLE} has no column ${column}`);
  return found.property;
}

/** The event row for MikroORM, built from {@link EVENT_TABLE_COLUMNS}. */
export const EventRowSchema = new EntitySchema<EventRow>({
  name: "EventRow",
  tableName: EVENT_TABLE,
  properties: Object.fromEntries(
    EVENT_TABLE_COLUMNS.map((c) => [c.property, { ...c.orm }]),
  ) as EntitySchemaMetadata<EventRow>["properties"],
  indexes: [{ properties: EVENT_SUBJECT_INDEX.columns.map(propertyOf) }],
});
