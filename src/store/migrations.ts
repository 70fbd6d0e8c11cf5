import type { MigrationObject } from "@mikro-orm/core";
import { Migration } from "@mikro-orm/migrations";
import { EVENT_TABLE, OUTBOX_TABLE } from "./schema.js";

// Migrations are written by hand, one class per dialect and step, and passed
// to MikroORM as a list: no files are discovered at run time, so they work
// the same from dist/, under vitest and in an embedding application.

class SqliteInitialLog extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "${EVENT_TABLE}" (
      "seq" integer primary key autoincrement,
      "id" text not null unique,
      "subject" text not null,
      "origin_hub" text not null,
      "origin_service" text not null,
      "correlation_id" text not null,
      "payload" text not null,
      "accepted_at" text not null,
      "ingested" integer not null default 0
    )`);
    this.addSql(
      `create index "${EVENT_TABLE}_subject_seq_index" on "${EVENT_TABLE}" ("subject", "seq")`,
    );
  }
}

class PostgresInitialLog extends Migration {
  override async up(): Promise<void> {
    // COLLATE "C" makes subject ranges byte-ordered, so prefix queries can use the index.
    this.addSql(`create table "${EVENT_TABLE}" (
      "seq" bigint generated always as identity primary key,
      "id" varchar(36) not null unique,
      "subject" varchar(256) collate "C" not null,
      "origin_hub" varchar(64) not null,
      "origin_service" varchar(64) not null,
      "correlation_id" varchar(128) not null,
      "payload" text not null,
      "accepted_at" varchar(30) not null,
      "ingested" boolean not null default false
    )`);
    this.addSql(
      `create index "${EVENT_TABLE}_subject_seq_index" on "${EVENT_TABLE}" ("subject", "seq")`,
    );
  }
}

/** The forwarding cursor and the lease of the relay that owns it; the same SQL on both dialects. */
class Outbox extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "${OUTBOX_TABLE}" (
      "name" varchar(64) not null primary key,
      "forwarded_seq" bigint not null default 0,
      "owner" varchar(128) not null default '',
      "lease_until" bigint not null default 0
    )`);
    this.addSql(`insert into "${OUTBOX_TABLE}" ("name") values ('forward')`);
  }
}

/** The migrations of each dialect, in order; a step has the same name on both. */
export const MIGRATIONS: Record<"sqlite" | "postgres", MigrationObject[]> = {
  sqlite: [
    { name: "0001-initial-log", class: SqliteInitialLog },
    { name: "0002-outbox", class: Outbox },
  ],
  postgres: [
    { name: "0001-initial-log", class: PostgresInitialLog },
    { name: "0002-outbox", class: Outbox },
  ],
};
