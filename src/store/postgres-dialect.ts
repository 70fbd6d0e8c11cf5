import type { Knex } from "@mikro-orm/knex";
import type pg from "pg";
import type { Dialect } from "./dialect.js";
import {
  arrayToEvent,
  EVENT_COLUMNS,
  INSERT_ARRAY_TYPES,
  INSERT_COLUMN_COUNT,
  INSERT_COLUMNS,
  insertValues,
} from "./event-row.js";
import { createLogReads, LAST_SEQUENCE_SQL, type ReadSql, traceRead } from "./log-reads.js";
import { patternToRegex } from "./pattern-plan.js";
import { EVENT_TABLE } from "./schema.js";

/**
 * Key of the transaction-scoped advisory lock every append takes. Holding it
 * from sequence allocation to commit makes commit order equal sequence
 * order across all instances, so a reader that has seen N never later finds
 * a smaller sequence appear ("hubb" in ASCII).
 */
export const APPEND_LOCK_KEY = 0x68756262;

/** How long a query waits for a connection before the log reports itself unavailable. */
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 30_000;

// One statement for any batch size: the columns travel as one array each, so
// the text never changes and is prepared once per connection. It runs
// alone, so it is its own transaction, committed before the answer (one
// round trip). The lock is an InitPlan that the one-time filter evaluates
// before the first row is read, so before any sequence is drawn, and it is
// held until that commit. (pg_advisory_xact_lock returns void, never null.)
const INSERT_SQL = `insert into "${EVENT_TABLE}" (${INSERT_COLUMNS})
  select * from unnest(${INSERT_ARRAY_TYPES.map((type, i) => `$${i + 1}::${type}`).join(", ")})
  where (select pg_advisory_xact_lock(${APPEND_LOCK_KEY})) is not null
  on conflict do nothing returning "id", "seq"`;

/** `?` placeholders as `$n` (the store's SQL has no `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * PostgreSQL through the pg driver directly, on a pool of its own from the
 * same URL: knex costs more per query than the query itself on the hot
 * paths (it rebuilds bindings and its runner on every call). MikroORM's
 * knex pool remains for migrations only. Statements are named, so each
 * connection parses them once, and rows come back as arrays. Plans stay
 * custom: one prepared shape serves `hub.x.>` (most of the log) and a rare
 * prefix, and a generic plan would pick one path for both.
 */
export function createPostgresDialect(knex: Knex, url: string, poolSize: number): Dialect {
  // The pg module knex loaded: the store needs no import of its own at run time.
  // biome-ignore lint/suspicious/noExplicitAny: knex's client has no public type for its driver.
  const driver = (knex as any).client.driver as typeof pg;
  const pool = new driver.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // As knex's pool did: a connection (and the statements it prepared) outlives a quiet spell.
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    options: "-c plan_cache_mode=force_custom_plan",
  });
  // Appends have a connection of their own: group commit runs one at a time,
  // so they never queue behind reads, and their statement, the same plan at
  // any batch size, keeps its generic plan instead of being planned per call.
  const appendPool = new driver.Pool({
    connectionString: url,
    max: 1,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
  });
  // Relaxed writes commit without waiting for the WAL flush (synchronous_commit
  // off for this connection only): a crash can lose the last of them, never
  // tear one, and the next durable commit flushes them too. Opened on first use.
  let relaxedPool: pg.Pool | undefined;
  function relaxed(): pg.Pool {
    if (!relaxedPool) {
      relaxedPool = new driver.Pool({
        connectionString: url,
        max: 1,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        idleTimeoutMillis: IDLE_TIMEOUT_MS,
        options: "-c synchronous_commit=off",
      });
      relaxedPool.on("error", () => {});
    }
    return relaxedPool;
  }
  // An idle connection that breaks is dropped by the pool; the next query reports the outage.
  pool.on("error", () => {});
  appendPool.on("error", () => {});

  const names = new Map<string, { name: string; text: string }>();
  function prepared(sql: string) {
    let entry = names.get(sql);
    if (!entry) {
      entry = { name: `hubbus_${names.size + 1}`, text: numbered(sql) };
      names.set(sql, entry);
    }
    return entry;
  }

  async function rows(sql: string, values: readonly unknown[]): Promise<unknown[][]> {
    const { name, text } = prepared(sql);
    const result = await pool.query<unknown[]>({
      name,
      text,
      values: values as unknown[],
      rowMode: "array",
    });
    return result.rows;
  }

  async function lastSequence() {
    const [row] = await rows(LAST_SEQUENCE_SQL, []);
    return Number(row?.[0] ?? 0);
  }
  const readSql = postgresReadSql({ rows, lastSequence });
  const reads = createLogReads(readSql);

  return {
    name: "postgres",
    async insert(events) {
      const columns: unknown[][] = Array.from({ length: INSERT_COLUMN_COUNT }, () => []);
      const values: unknown[] = [];
      for (const e of events) {
        values.length = 0;
        insertValues(values, e, (ingested) => ingested);
        for (let c = 0; c < INSERT_COLUMN_COUNT; c++) columns[c]?.push(values[c]);
      }
      const client = await appendPool.connect();
      let broken: Error | undefined;
      try {
        const result = await client.query<[string, string]>({
          name: "hubbus_insert",
          text: INSERT_SQL,
          values: columns,
          rowMode: "array",
        });
        // RETURNING order is not promised by PostgreSQL: map by id.
        const byId = new Map<string, number>();
        for (const [id, seq] of result.rows) byId.set(id, Number(seq));
        return events.map((e) => byId.get(e.id));
      } catch (error) {
        // An error the server reported leaves the connection usable; any other may not.
        if (!(error instanceof driver.DatabaseError)) broken = error as Error;
        throw error;
      } finally {
        client.release(broken);
      }
    },
    async query(pattern, limit) {
      return (await reads.read(pattern, undefined, limit)).map(arrayToEvent);
    },
    async readAfter(sequence, pattern, limit) {
      return (await reads.read(pattern, sequence, limit)).map(arrayToEvent);
    },
    async traceRead(pattern, after, limit) {
      const statements = await traceRead(readSql, pattern, after, limit);
      return statements.map((s) => ({ ...s, sql: numbered(s.sql) }));
    },
    async all<Row>(sql: string, params: readonly unknown[]) {
      const { name, text } = prepared(sql);
      return (await pool.query({ name, text, values: [...params] })).rows as Row[];
    },
    async run(sql, params, relaxedWrite = false) {
      const { name, text } = prepared(sql);
      const target = relaxedWrite ? relaxed() : pool;
      return (await target.query({ name, text, values: [...params] })).rowCount ?? 0;
    },
    lastSequence,
    async ping() {
      await pool.query("select 1");
    },
    async release() {
      await Promise.all([pool.end(), appendPool.end(), relaxedPool?.end()]);
    },
  };
}

/** How the log reads run on PostgreSQL around a way to run statements. */
function postgresReadSql(run: Pick<ReadSql, "rows" | "lastSequence">): ReadSql {
  return {
    ...run,
    match: (pattern) => [`"subject" ~ ?`, patternToRegex(pattern)],
    inSequenceOrder: "",
    bySubject: "",
    // Top n of each subject from its own index range, then the top n of those:
    // the planner would otherwise scan the table backwards for `subject = any(...)`.
    topOfSubjects: (subjects, bound, desc, n) => [
      `select ${EVENT_COLUMNS} from "${EVENT_TABLE}" where "seq" in (
       select l."seq" from unnest(?::text[]) as s("subject") cross join lateral (
         select e."seq" from "${EVENT_TABLE}" e
         where e."subject" = s."subject" and e."seq" ${desc ? "<=" : ">"} ?
         order by e."seq" ${desc ? "desc" : "asc"} limit ?) l
       order by l."seq" ${desc ? "desc" : "asc"} limit ?)
     order by "seq" ${desc ? "desc" : "asc"}`,
      [subjects, bound, n, n],
    ],
    rangeScan: false,
    fewSubjects: 64,
  };
}
