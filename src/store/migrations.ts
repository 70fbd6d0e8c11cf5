import type { MigrationObject } from "@mikro-orm/core";
import { Migration } from "@mikro-orm/migrations";
import {
  EVENT_IDEMPOTENCY_INDEX,
  EVENT_KEYED_SEQ_INDEX,
  EVENT_SUBJECT_INDEX,
  EVENT_TABLE,
  EVENT_TABLE_COLUMNS,
  OUTBOX_TABLE,
  PRUNE_ROW,
} from "./schema.js";

// Migrations are written by hand, one class per dialect and step, and passed
// to MikroORM as a list: no files are discovered at run time, so they work
// the same from dist/, under vitest and in an embedding application.

type DialectName = "sqlite" | "postgres";

/**
 * The statements of the initial log, built from the column list at load.
 * Databases already ran this exact text (the whitespace included), so
 * test/store/migrations.test.ts pins it.
 */
function initialLogSql(dialect: DialectName): readonly string[] {
  const columns = EVENT_TABLE_COLUMNS.filter((c) => c.addedBy === undefined).map(
    (c) => `      "${c.name}" ${c[dialect]}`,
  );
  const indexed = EVENT_SUBJECT_INDEX.columns.map((c) => `"${c}"`).join(", ");
  return [
    `create table "${EVENT_TABLE}" (\n${columns.join(",\n")}\n    )`,
    `create index "${EVENT_SUBJECT_INDEX.name}" on "${EVENT_TABLE}" (${indexed})`,
  ];
}

/** The statements of a migration that adds columns: one `alter table` per column it names. */
function addedColumnsSql(dialect: DialectName, migration: string): readonly string[] {
  return EVENT_TABLE_COLUMNS.filter((c) => c.addedBy === migration).map(
    (c) => `alter table "${EVENT_TABLE}" add column "${c.name}" ${c[dialect]}`,
  );
}

/** The forwarding cursor and the lease of the relay that owns it; the same SQL on both dialects. */
const OUTBOX_SQL: readonly string[] = [
  `create table "${OUTBOX_TABLE}" (
      "name" varchar(64) not null primary key,
      "forwarded_seq" bigint not null default 0,
      "owner" varchar(128) not null default '',
      "lease_until" bigint not null default 0
    )`,
  `insert into "${OUTBOX_TABLE}" ("name") values ('forward')`,
];

/**
 * 0003: the idempotency key, stored with the event. Nullable columns, so
 * adding them rewrites no row; the indexes hold only keyed rows.
 */
function idempotencySql(dialect: DialectName): readonly string[] {
  return [
    ...addedColumnsSql(dialect, "0003-idempotency"),
    `create unique index "${EVENT_IDEMPOTENCY_INDEX}" on "${EVENT_TABLE}" ("idem_scope", "idem_key") where "idem_key" is not null`,
    `create index "${EVENT_KEYED_SEQ_INDEX}" on "${EVENT_TABLE}" ("seq") where "idem_key" is not null`,
  ];
}

/**
 * 0004: the pruner's row in the outbox table: its lease (one pruner among
 * the instances on a log) and, in `forwarded_seq`, the sequence the log has
 * been pruned through.
 */
const RETENTION_LEASE_SQL: readonly string[] = [
  `insert into "${OUTBOX_TABLE}" ("name") values ('${PRUNE_ROW}')`,
];

/** A migration that runs fixed statements, computed before MikroORM instantiates it. */
function statements(sql: readonly string[]): MigrationObject["class"] {
  return class extends Migration {
    override async up(): Promise<void> {
      for (const statement of sql) this.addSql(statement);
    }
  };
}

/** The migrations of one dialect, in order; a step has the same name on both. */
function migrations(dialect: DialectName): MigrationObject[] {
  return [
    { name: "0001-initial-log", class: statements(initialLogSql(dialect)) },
    { name: "0002-outbox", class: statements(OUTBOX_SQL) },
    { name: "0003-idempotency", class: statements(idempotencySql(dialect)) },
    { name: "0004-retention-lease", class: statements(RETENTION_LEASE_SQL) },
    // A nullable column without a default: both databases add it without rewriting the table.
    {
      name: "0005-trace-context",
      class: statements(addedColumnsSql(dialect, "0005-trace-context")),
    },
  ];
}

/**
 * The migrations of each dialect, in order, as MikroORM's `migrationsList`
 * (the migrations table records them by name, so a name never changes).
 */
export const MIGRATIONS: Record<DialectName, MigrationObject[]> = {
  sqlite: migrations("sqlite"),
  postgres: migrations("postgres"),
};
