import type { MigrationObject } from "@mikro-orm/core";
import { describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../src/store/migrations.js";

// The statements each migration ran when it was written, copied verbatim:
// databases recorded a migration as applied by name, so its text must never
// change, whatever the column list it is now built from says.
const SQLITE_INITIAL_LOG = [
  `create table "hub_event" (
      "seq" integer primary key autoincrement,
      "id" text not null unique,
      "subject" text not null,
      "origin_hub" text not null,
      "origin_service" text not null,
      "correlation_id" text not null,
      "payload" text not null,
      "accepted_at" text not null,
      "ingested" integer not null default 0
    )`,
  `create index "hub_event_subject_seq_index" on "hub_event" ("subject", "seq")`,
];

const POSTGRES_INITIAL_LOG = [
  `create table "hub_event" (
      "seq" bigint generated always as identity primary key,
      "id" varchar(36) not null unique,
      "subject" varchar(256) collate "C" not null,
      "origin_hub" varchar(64) not null,
      "origin_service" varchar(64) not null,
      "correlation_id" varchar(128) not null,
      "payload" text not null,
      "accepted_at" varchar(30) not null,
      "ingested" boolean not null default false
    )`,
  `create index "hub_event_subject_seq_index" on "hub_event" ("subject", "seq")`,
];

const OUTBOX = [
  `create table "hub_outbox" (
      "name" varchar(64) not null primary key,
      "forwarded_seq" bigint not null default 0,
      "owner" varchar(128) not null default '',
      "lease_until" bigint not null default 0
    )`,
  `insert into "hub_outbox" ("name") values ('forward')`,
];

const IDEMPOTENCY = (textType: string) => [
  `alter table "hub_event" add column "idem_scope" ${textType}`,
  `alter table "hub_event" add column "idem_key" ${textType}`,
  `create unique index "hub_event_idempotency_index" on "hub_event" ("idem_scope", "idem_key") where "idem_key" is not null`,
  `create index "hub_event_keyed_seq_index" on "hub_event" ("seq") where "idem_key" is not null`,
];

const RETENTION_LEASE = [`insert into "hub_outbox" ("name") values ('prune')`];
const TRACE_CONTEXT = [`alter table "hub_event" add column "trace_context" text`];

/** The SQL a migration adds when MikroORM runs its `up`. */
async function sqlOf(migration: MigrationObject): Promise<unknown[]> {
  // up() only collects statements: it needs neither driver nor configuration.
  const instance = new migration.class(undefined, undefined) as unknown as {
    up(): Promise<void>;
    getQueries(): unknown[];
  };
  await instance.up();
  return instance.getQueries();
}

describe("migrations", () => {
  it.each([
    ["sqlite", SQLITE_INITIAL_LOG],
    ["postgres", POSTGRES_INITIAL_LOG],
  ] as const)("run on %s exactly the SQL they were applied with", async (dialect, initial) => {
    const migrations = MIGRATIONS[dialect];
    expect(migrations.map((m) => m.name)).toEqual([
      "0001-initial-log",
      "0002-outbox",
      "0003-idempotency",
      "0004-retention-lease",
      "0005-trace-context",
    ]);
    const [first, second, third, fourth, fifth] = migrations as MigrationObject[] as [
      MigrationObject,
      MigrationObject,
      MigrationObject,
      MigrationObject,
      MigrationObject,
    ];
    expect(await sqlOf(first)).toEqual(initial);
    expect(await sqlOf(second)).toEqual(OUTBOX);
    expect(await sqlOf(third)).toEqual(IDEMPOTENCY("text"));
    expect(await sqlOf(fourth)).toEqual(RETENTION_LEASE);
    expect(await sqlOf(fifth)).toEqual(TRACE_CONTEXT);
  });
});
