import type BetterSqlite3 from "better-sqlite3";

/** A better-sqlite3 connection, typed by @types/better-sqlite3 (the package ships no types). */
export type SqliteDatabase = BetterSqlite3.Database;
/** A prepared better-sqlite3 statement. */
export type SqliteStatement = BetterSqlite3.Statement<unknown[], unknown>;

/** Statements each connection's write cache keeps before starting over. */
const STATEMENT_CACHE_SIZE = 256;

/** The log's writes over one connection, synchronous: what a writer runs. */
export interface SqliteWrites {
  /** Inserts rows of `width` values each (flattened) in one transaction; see SqliteWriter.insert. */
  insert(values: readonly unknown[], width: number): (number | undefined)[];
  /** A write with `?` parameters; the number of rows changed. See Dialect.run for `relaxed`. */
  run(sql: string, params: readonly unknown[], relaxed: boolean): number;
}

/**
 * The write statements over one better-sqlite3 connection: the writer
 * thread runs them on a connection of its own, and an in-memory database,
 * which a second connection cannot open, on the caller's.
 */
export function sqliteWrites(db: SqliteDatabase, insertSql: string): SqliteWrites {
  // FULL: an acknowledged event survives power loss; group commit pays the fsync once per batch.
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  // pluck: the one returned column comes back as a value, not an object per row.
  const insertOne = db.prepare(insertSql).pluck(true);
  const insertMany = db.transaction((values: readonly unknown[], width: number) => {
    const count = values.length / width;
    const seqs: (number | undefined)[] = new Array(count);
    for (let i = 0; i < count; i++) {
      seqs[i] = insertOne.get(...values.slice(i * width, (i + 1) * width)) as number | undefined;
    }
    return seqs;
  });
  const statements = new Map<string, SqliteStatement>();
  function changes(sql: string, params: readonly unknown[]): number {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return (statement.run(...params) as { changes: number }).changes;
  }
  return {
    insert: (values, width) => insertMany(values, width),
    run(sql, params, relaxed) {
      if (!relaxed) return changes(sql, params);
      // In WAL mode NORMAL skips this commit's fsync only; the next durable commit carries it to disk.
      db.pragma("synchronous = NORMAL");
      try {
        return changes(sql, params);
      } finally {
        db.pragma("synchronous = FULL");
      }
    },
  };
}
