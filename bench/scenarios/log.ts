import type { BenchContext, Gateway } from "../lib/context.js";
import { type SqliteDatabase, sqliteStore } from "../lib/databases.js";
import { connectH2 } from "../lib/h2.js";
import type { DbKind } from "../lib/options.js";
import { benchPayload, payloadTemplate } from "../lib/payload.js";
import { Scope } from "../lib/scope.js";
import { outboxDrained } from "./measure.js";

/** Rows per seeding transaction: short enough that the gateway's own writes never time out. */
const SEED_CHUNK_ROWS = 100_000;
/** One row in this many gets the rare subject (100 in a million). */
export const RARE_EVERY = 10_000;

const COLUMNS = `"id", "subject", "origin_hub", "origin_service", "correlation_id", "payload", "accepted_at", "ingested"`;

/** Subjects of seeded row g: `hub.<hub>.d<g%100>.a<g/100%10>`, or `hub.<hub>.rare.a0` for every RARE_EVERY-th. */
export const seedSubjects = (hubId: string) => ({
  prefix: `hub.${hubId}.d`,
  rare: `hub.${hubId}.rare.a0`,
});

/*
 * The rows are generated inside the database (a recursive CTE in SQLite,
 * generate_series in PostgreSQL): one multi-row INSERT … SELECT per chunk
 * ships no row over the wire, so a million rows take seconds. Ids have the
 * UUID shape and are unique; payloads are the same 256-byte JSON as
 * everywhere else, with their index in "i".
 */
const SEED_SQL: Record<DbKind, string> = {
  // better-sqlite3 binds JS numbers as REAL: the cast keeps g an integer ("d7", not "d7.0").
  sqlite: `with recursive n(g) as (select cast(? as integer) union all select g + 1 from n where g < ?)
    insert into "hub_event" (${COLUMNS})
    select printf('%08x-0000-7000-8000-%012x', g, g),
      case when g % ${RARE_EVERY} = 0 then ? else ? || (g % 100) || '.a' || ((g / 100) % 10) end,
      ?, 'bench-seed', 'seed-' || g, ? || g || ?, ?, 0
    from n`,
  postgres: `insert into "hub_event" (${COLUMNS})
    select lpad(to_hex(g), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0'),
      case when g % ${RARE_EVERY} = 0 then ?::text else ?::text || (g % 100) || '.a' || ((g / 100) % 10) end,
      ?::text, 'bench-seed', 'seed-' || g, ?::text || g || ?::text, ?::text, false
    from generate_series(?::bigint, ?::bigint) as g`,
};

/** Rows seeded whatever the log already holds: two of the rare subject, and a 1 % prefix of 200. */
const MIN_SEED_ROWS = 2 * RARE_EVERY;

export interface SeededLog {
  /** Rows in the log: seeded plus whatever earlier scenarios published. */
  readonly events: number;
}

const seeded = new Map<DbKind, Promise<SeededLog>>();

/** Fills the gateway's log up to `logEvents` rows once per run (query and replay share it). */
export function seededLog(ctx: BenchContext, gateway: Gateway): Promise<SeededLog> {
  let log = seeded.get(gateway.db);
  if (!log) {
    log = seed(ctx, gateway);
    seeded.set(gateway.db, log);
    log.catch(() => seeded.delete(gateway.db));
  }
  return log;
}

async function countRows(gateway: Gateway): Promise<number> {
  const [row] = await gateway.store.all<{ n: number | string }>(
    `select count(*) as n from "hub_event"`,
  );
  return Number(row?.n ?? 0);
}

async function seed(ctx: BenchContext, gateway: Gateway): Promise<SeededLog> {
  const scope = new Scope();
  try {
    // Everything published so far reaches NATS first: then the cursor can move past the seed.
    await outboxDrained(connectH2(gateway.port, scope), gateway);
  } finally {
    await scope.close();
  }
  const existing = await countRows(gateway);
  // Earlier scenarios may have published more than the log size asks for
  // (quick runs especially): the seed's subjects must be there all the same.
  const wanted = Math.max(ctx.options.logEvents - existing, MIN_SEED_ROWS);
  const started = performance.now();
  const { prefix, rare } = seedSubjects(gateway.hubId);
  const { before, after } = payloadTemplate();
  const acceptedAt = new Date().toISOString();
  for (let from = 1; from <= wanted; from += SEED_CHUNK_ROWS) {
    const to = Math.min(wanted, from + SEED_CHUNK_ROWS - 1);
    const values = [rare, prefix, gateway.hubId, before, after, acceptedAt];
    const params = gateway.db === "sqlite" ? [from, to, ...values] : [...values, from, to];
    // Seeded rows count as forwarded long ago, in the same transaction: the
    // relay must never see them unforwarded and send them all to NATS.
    await gateway.store.transaction([
      [SEED_SQL[gateway.db], params],
      [
        `update "hub_outbox" set "forwarded_seq" = (select max("seq") from "hub_event") where "name" = 'forward'`,
        [],
      ],
    ]);
  }
  // A long-lived PostgreSQL has statistics (autovacuum analyses a table this size within a minute).
  if (gateway.db === "postgres") await gateway.store.run(`analyze "hub_event"`);
  const events = await countRows(gateway);
  ctx.progress(
    `seeded ${Math.max(0, wanted).toLocaleString("en-US")} events into the ${gateway.db} log in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s (${events.toLocaleString("en-US")} in all)`,
  );
  return { events };
}

/** Rows per transaction in the raw INSERT baseline: the most one group commit takes at 64 concurrent calls. */
const INSERT_BATCH_ROWS = 64;

function insertRows(batch: number, n: number, kind: DbKind): unknown[] {
  // better-sqlite3 binds no booleans; the column is an integer there.
  const ingested = kind === "sqlite" ? 0 : false;
  const payload = JSON.stringify(benchPayload());
  const params: unknown[] = [];
  for (let i = 0; i < batch; i++) {
    const id = `${(n + i).toString(16).padStart(8, "0")}-0000-7000-8000-000000000000`;
    params.push(
      id,
      "hub.raw.insert.test",
      "raw",
      "bench",
      `c-${n + i}`,
      payload,
      new Date().toISOString(),
      ingested,
    );
  }
  return params;
}

const insertSql = (table: string) =>
  `insert into "${table}" (${COLUMNS}) values ${Array.from({ length: INSERT_BATCH_ROWS }, () => "(?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`;

/**
 * Raw multi-row INSERT rate into a table equal to the log's: SQLite in a
 * file of its own with the gateway's DDL and pragmas (WAL, synchronous=FULL),
 * PostgreSQL in a `LIKE hub_event INCLUDING ALL` copy beside the log.
 */
export async function rawInsertRate(
  ctx: BenchContext,
  gateway: Gateway,
  scope: Scope,
): Promise<number> {
  const until = (start: number) => performance.now() - start < ctx.options.durationS * 1000;
  let rows = 0;
  let started: number;
  if (gateway.store.kind === "sqlite") {
    const ddl = await gateway.store.all<{ sql: string }>(
      `select "sql" from sqlite_master where "tbl_name" = 'hub_event' and "sql" is not null`,
    );
    const raw = sqliteStore(ctx.dir, "raw-insert", scope);
    const db: SqliteDatabase = raw.handle();
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    for (const { sql } of ddl) db.exec(sql);
    const insert = db.prepare(insertSql("hub_event"));
    // better-sqlite3 is synchronous, like the gateway's own SQLite path.
    started = performance.now();
    while (until(started)) {
      insert.run(...insertRows(INSERT_BATCH_ROWS, rows, "sqlite"));
      rows += INSERT_BATCH_ROWS;
    }
  } else {
    await gateway.store.run(`create table "bench_raw_insert" (like "hub_event" including all)`);
    scope.defer("drop bench_raw_insert", () =>
      gateway.store.run(`drop table if exists "bench_raw_insert"`),
    );
    const sql = insertSql("bench_raw_insert");
    started = performance.now();
    while (until(started)) {
      await gateway.store.run(sql, insertRows(INSERT_BATCH_ROWS, rows, "postgres"));
      rows += INSERT_BATCH_ROWS;
    }
  }
  return rows / ((performance.now() - started) / 1000);
}

/**
 * The store's bound: the raw INSERT rate beside this run's gRPC Publish
 * rate (when the grpc scenario ran), so the ratio says what the gateway
 * adds on top of the database's own cost.
 */
export async function insertScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const rate = await rawInsertRate(ctx, gateway, scope);
    ctx.progress(`raw multi-row INSERT (${db}): ${Math.round(rate)} rows/s`);
    const grpc = ctx.rows.find(
      (r) => r.scenario === "grpc" && r.db === db && r.unit === "events/s",
    );
    ctx.addRow({
      scenario: "insert",
      figure: `gRPC Publish vs raw INSERT, ${INSERT_BATCH_ROWS} rows/txn`,
      db,
      unit: "events/s",
      hubbus: typeof grpc?.hubbus === "number" ? grpc.hubbus : "not measured (grpc not run)",
      baseline: rate,
      baselineName: "raw INSERT",
      notes: [
        `baseline: one ${INSERT_BATCH_ROWS}-row INSERT per transaction, one at a time, same table and durability`,
      ],
    });
  }
}
