import type { Knex } from "@mikro-orm/knex";
import { compilePattern, type NewEvent, type SubjectMatcher } from "../core/index.js";
import type { Dialect } from "./dialect.js";
import { type RawEventRow, readStatement, rowToEvent } from "./pattern-plan.js";
import { EVENT_TABLE } from "./schema.js";

/** The part of a better-sqlite3 statement this dialect uses. */
interface Statement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): unknown;
}

/** The part of a better-sqlite3 database this dialect uses. */
interface SqliteDatabase {
  prepare(sql: string): Statement;
  pragma(source: string): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  function(
    name: string,
    options: { deterministic: boolean },
    fn: (...args: never[]) => unknown,
  ): void;
}

const MATCHER_CACHE_SIZE = 256;

/**
 * SQLite through better-sqlite3's synchronous API: the one connection of
 * MikroORM's pool is held for the life of the log (SQLite has one writer
 * anyway), statements are prepared once per query shape, and wildcard
 * patterns are matched in SQL by a registered function, so LIMIT counts
 * only matching rows.
 */
export async function createSqliteDialect(knex: Knex, inMemory: boolean): Promise<Dialect> {
  // biome-ignore lint/suspicious/noExplicitAny: knex's client has no public type for its pool.
  const client = (knex as any).client;
  const db = (await client.acquireConnection()) as SqliteDatabase;
  if (!inMemory) db.pragma("journal_mode = WAL");
  // FULL: an acknowledged event survives power loss; group commit pays the fsync once per batch.
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");

  const matchers = new Map<string, SubjectMatcher>();
  db.function("hub_match", { deterministic: true }, ((pattern: string, subject: string) => {
    let matcher = matchers.get(pattern);
    if (!matcher) {
      if (matchers.size >= MATCHER_CACHE_SIZE) matchers.clear();
      matcher = compilePattern(pattern);
      matchers.set(pattern, matcher);
    }
    return matcher(subject) ? 1 : 0;
  }) as (...args: never[]) => unknown);

  const insertOne = db.prepare(
    `insert into "${EVENT_TABLE}" ("id", "subject", "origin_hub", "origin_service", "correlation_id", "payload", "accepted_at", "ingested")
     values (?, ?, ?, ?, ?, ?, ?, ?) on conflict ("id") do nothing returning "seq"`,
  );
  const insertMany = db.transaction((events: readonly NewEvent[]) =>
    events.map((e) => {
      const row = insertOne.get(
        e.id,
        e.subject,
        e.origin.hubId,
        e.origin.service,
        e.correlationId,
        e.payloadJson,
        e.timestamp,
        e.ingested ? 1 : 0,
      ) as { seq: number } | undefined;
      return row?.seq;
    }),
  );
  const lastSeq = db.prepare(`select coalesce(max("seq"), 0) as "seq" from "${EVENT_TABLE}"`);
  const ping = db.prepare("select 1");

  const statements = new Map<string, Statement>();
  function statement(sql: string): Statement {
    let stmt = statements.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  }

  const match = (pattern: string) => [`hub_match(?, "subject")`, pattern] as const;
  function read(pattern: string, after: number | undefined, limit: number) {
    const { sql, params } = readStatement(pattern, after, match);
    return (statement(sql).all(...params, limit) as RawEventRow[]).map(rowToEvent);
  }

  return {
    name: "sqlite",
    async insert(events) {
      return insertMany(events);
    },
    async query(pattern, limit) {
      return read(pattern, undefined, limit);
    },
    async readAfter(sequence, pattern, limit) {
      return read(pattern, sequence, limit);
    },
    async all<Row>(sql: string, params: readonly unknown[]) {
      return statement(sql).all(...params) as Row[];
    },
    async run(sql, params) {
      return (statement(sql).run(...params) as { changes: number }).changes;
    },
    async lastSequence() {
      return (lastSeq.get() as { seq: number }).seq;
    },
    async ping() {
      ping.get();
    },
    async release() {
      await client.releaseConnection(db);
    },
  };
}
