import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import pg from "pg";
import type { DbKind } from "./options.js";
import type { Scope } from "./scope.js";

/** A better-sqlite3 connection, typed by @types/better-sqlite3 as the store's are. */
export type SqliteDatabase = BetterSqlite3.Database;

// better-sqlite3 comes with @mikro-orm/better-sqlite (the gateway's own driver).
const require = createRequire(import.meta.url);
const BetterSqlite = require("better-sqlite3") as new (path: string) => SqliteDatabase;

/** Direct access to a database the bench created: seeding, counting, raw baselines. */
export type Store = {
  readonly kind: DbKind;
  /** The gateway's DATABASE_URL. */
  readonly url: string;
  /** Runs SQL with `?` placeholders on either dialect. */
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  run(sql: string, params?: readonly unknown[]): Promise<void>;
  /** Runs the statements in one transaction. */
  transaction(
    statements: readonly (readonly [sql: string, params: readonly unknown[]])[],
  ): Promise<void>;
} & (
  | { readonly kind: "sqlite"; readonly path: string; handle(): SqliteDatabase }
  | { readonly kind: "postgres"; readonly pool: pg.Pool }
);

export type SqliteStore = Extract<Store, { kind: "sqlite" }>;

/** An SQLite file in the run's directory, opened by the bench only once the gateway created it. */
export function sqliteStore(dir: string, name: string, scope: Scope): SqliteStore {
  const path = join(dir, `${name}.db`);
  let db: SqliteDatabase | undefined;
  const handle = () => {
    if (!db) {
      const opened = new BetterSqlite(path);
      // The gateway holds the same file: wait for its write lock rather than fail.
      opened.pragma("busy_timeout = 10000");
      scope.defer(`close ${name}.db`, () => opened.close());
      db = opened;
    }
    return db;
  };
  return {
    kind: "sqlite",
    url: `sqlite:${path}`,
    path,
    handle,
    async all<T>(sql: string, params: readonly unknown[] = []) {
      return handle()
        .prepare(sql)
        .all(...params) as T[];
    },
    async run(sql, params = []) {
      handle()
        .prepare(sql)
        .run(...params);
    },
    async transaction(statements) {
      const db = handle();
      db.transaction(() => {
        for (const [sql, params] of statements) db.prepare(sql).run(...params);
      })();
    },
  };
}

/** `?` placeholders as PostgreSQL's `$n` (the bench's SQL has no `?` inside literals). */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

async function admin<T>(adminUrl: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is needed at ${adminUrl} (HUBBUS_BENCH_POSTGRES_URL): ${(error as Error).message}`,
    );
  }
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** A fresh database `hubbus_bench_<random>` on the server, dropped (with force) by the scope. */
export async function postgresStore(adminUrl: string, scope: Scope): Promise<Store> {
  const name = `hubbus_bench_${randomBytes(5).toString("hex")}`;
  await admin(adminUrl, (c) => c.query(`create database "${name}"`));
  scope.defer(`drop database ${name}`, () =>
    admin(adminUrl, (c) => c.query(`drop database if exists "${name}" with (force)`)),
  );
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  pool.on("error", () => {});
  scope.defer(`close pool of ${name}`, () => pool.end());
  return {
    kind: "postgres",
    url: url.toString(),
    pool,
    async all<T>(sql: string, params: readonly unknown[] = []) {
      return (await pool.query(numbered(sql), [...params])).rows as T[];
    },
    async run(sql, params = []) {
      await pool.query(numbered(sql), [...params]);
    },
    async transaction(statements) {
      const client = await pool.connect();
      try {
        await client.query("begin");
        for (const [sql, params] of statements) await client.query(numbered(sql), [...params]);
        await client.query("commit");
      } catch (error) {
        await client.query("rollback").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

/** The server's version line, for the results file. */
export function postgresVersion(adminUrl: string): Promise<string> {
  return admin(adminUrl, async (c) => (await c.query("select version() as v")).rows[0].v as string);
}
