import type { Knex } from "@mikro-orm/knex";
import { compilePattern, type SubjectMatcher } from "../core/index.js";
import type { Dialect } from "./dialect.js";
import {
  arrayToEvent,
  EVENT_COLUMNS,
  INSERT_COLUMN_COUNT,
  INSERT_COLUMNS,
  INSERT_PLACEHOLDERS,
  insertValues,
} from "./event-row.js";
import { createLogReads, LAST_SEQUENCE_SQL, type ReadSql, traceRead } from "./log-reads.js";
import { EVENT_SUBJECT_INDEX, EVENT_TABLE } from "./schema.js";
import { inPlaceWriter, type SqliteWriter, startWriterThread } from "./sqlite-writer.js";
import type { SqliteDatabase, SqliteStatement } from "./sqlite-writes.js";

const MATCHER_CACHE_SIZE = 256;
/** Appended to the table name, it makes SQLite read the (subject, seq) index. */
const BY_SUBJECT = ` indexed by "${EVENT_SUBJECT_INDEX.name}"`;
const STATEMENT_CACHE_SIZE = 256;

/**
 * SQLite through better-sqlite3's synchronous API: the one connection of
 * MikroORM's pool is held for the life of the log and serves the reads,
 * statements are prepared once per query shape, and wildcard patterns are
 * matched in SQL by a registered function, so LIMIT counts only matching
 * rows. Writes go through a {@link SqliteWriter}: a connection on a thread
 * of its own for a file (SQLite has one writer anyway), this one for an
 * in-memory database.
 */
export async function createSqliteDialect(knex: Knex, path: string): Promise<Dialect> {
  // biome-ignore lint/suspicious/noExplicitAny: knex's client has no public type for its pool.
  const client = (knex as any).client;
  const db = (await client.acquireConnection()) as SqliteDatabase;
  const inMemory = path === ":memory:";
  if (!inMemory) db.pragma("journal_mode = WAL");
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

  // Writes go to a thread of their own, except for an in-memory database (one connection only).
  const insertSql = `insert into "${EVENT_TABLE}" (${INSERT_COLUMNS})
     values ${INSERT_PLACEHOLDERS} on conflict do nothing returning "seq"`;
  const writer = inMemory ? inPlaceWriter(db, insertSql) : await startWriterThread(path, insertSql);
  const sqliteBoolean = (value: boolean) => (value ? 1 : 0);
  const lastSeq = db.prepare(LAST_SEQUENCE_SQL).pluck(true);
  const ping = db.prepare("select 1");

  // Two caches: better-sqlite3's raw mode belongs to the statement, and reads want arrays.
  const statements = new Map<string, SqliteStatement>();
  const rawStatements = new Map<string, SqliteStatement>();
  function statement(sql: string, raw = false): SqliteStatement {
    const cache = raw ? rawStatements : statements;
    let stmt = cache.get(sql);
    if (!stmt) {
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
      stmt = db.prepare(sql);
      if (raw) stmt.raw(true);
      cache.set(sql, stmt);
    }
    return stmt;
  }
  const lastSequence = () => lastSeq.get() as number;
  const readSql = sqliteReadSql({
    rows: async (sql, params) => statement(sql, true).all(...params) as unknown[][],
    lastSequence: async () => lastSequence(),
  });
  const reads = createLogReads(readSql);

  return {
    name: "sqlite",
    async insert(events) {
      const values: unknown[] = [];
      for (const event of events) insertValues(values, event, sqliteBoolean);
      return writer.insert(values, INSERT_COLUMN_COUNT);
    },
    async query(pattern, limit) {
      return (await reads.read(pattern, undefined, limit)).map(arrayToEvent);
    },
    async readAfter(sequence, pattern, limit) {
      return (await reads.read(pattern, sequence, limit)).map(arrayToEvent);
    },
    traceRead(pattern, after, limit) {
      return traceRead(readSql, pattern, after, limit);
    },
    async all<Row>(sql: string, params: readonly unknown[]) {
      return statement(sql).all(...params) as Row[];
    },
    run(sql, params, relaxed = false) {
      return writer.run(sql, params, relaxed);
    },
    async lastSequence() {
      return lastSequence();
    },
    async ping() {
      ping.get();
      // Reads alone would call a log healthy whose writer thread is gone.
      await writer.ping();
    },
    async release() {
      await writer.close();
      await client.releaseConnection(db);
    },
  };
}

/** How the log reads run on SQLite around a way to run statements. */
function sqliteReadSql(run: Pick<ReadSql, "rows" | "lastSequence">): ReadSql {
  return {
    ...run,
    match: (pattern) => [`hub_match(?, "subject")`, pattern],
    inSequenceOrder: " not indexed",
    bySubject: BY_SUBJECT,
    // One statement over all subjects: SQLite sorts the index entries it reads, never rows.
    topOfSubjects: (subjects, bound, desc, n) => [
      `select ${EVENT_COLUMNS} from "${EVENT_TABLE}" where "seq" in (
       select "seq" from "${EVENT_TABLE}"${BY_SUBJECT}
       where "subject" in (select "value" from json_each(?)) and "seq" ${desc ? "<=" : ">"} ?
       order by "seq" ${desc ? "desc" : "asc"} limit ?)
     order by "seq" ${desc ? "desc" : "asc"}`,
      [JSON.stringify(subjects), bound, n],
    ],
    rangeScan: true,
  };
}
