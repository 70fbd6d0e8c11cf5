import { BetterSqliteDriver } from "@mikro-orm/better-sqlite";
import { MikroORM, type Options } from "@mikro-orm/core";
import type { EntityManager } from "@mikro-orm/knex";
import { Migrator } from "@mikro-orm/migrations";
import { PostgreSqlDriver } from "@mikro-orm/postgresql";
import { type Logger, pino } from "pino";
import {
  type EventLog,
  HubError,
  type HubEvent,
  type NewEvent,
  type Outbox,
  throwIfAborted,
} from "../core/index.js";
import { type DatabaseTarget, parseDatabaseUrl, redact } from "../database-url.js";
import { DEFAULT_DATABASE_URL } from "../defaults.js";
import type { Dialect } from "./dialect.js";
import { EVENT_COLUMNS, type RawEventRow, rowToEvent } from "./event-row.js";
import { createGroupCommit, DEFAULT_GROUP_COMMIT_MAX_BATCH } from "./group-commit.js";
import type { ReadStatement } from "./log-reads.js";
import { MIGRATIONS } from "./migrations.js";
import { createOutbox } from "./outbox.js";
import { createPostgresDialect } from "./postgres-dialect.js";
import {
  claimPruneLease,
  createPruner,
  type PruneReport,
  type Pruner,
  type PrunerOptions,
  prunePass,
  type RetentionOptions,
  readPrunedThrough,
  releasePruneLease,
} from "./pruner.js";
import { EVENT_TABLE, EventRowSchema, MIGRATIONS_TABLE } from "./schema.js";
import { createSqliteDialect } from "./sqlite-dialect.js";
import { toStoreError } from "./store-error.js";

/** PostgreSQL connections per instance unless configured otherwise. */
export const DEFAULT_POSTGRES_POOL_SIZE = 10;

/** Options of {@link openEventLog}. */
export interface EventLogOptions {
  /** `sqlite:<path>`, `sqlite::memory:` or `postgres://…`. @default DEFAULT_DATABASE_URL */
  readonly url?: string;
  /** Apply pending migrations while opening. @default true */
  readonly migrate?: boolean;
  /** Most events in one append transaction. @default 1000 */
  readonly maxBatch?: number;
  /** PostgreSQL pool size. @default 10 */
  readonly poolSize?: number;
  /** @default a silent logger */
  readonly logger?: Logger;
}

/** The SQL event log: the core's EventLog plus what operators need to know about it. */
export interface SqlEventLog extends EventLog {
  readonly dialect: "sqlite" | "postgres";
  /** Migrations this open applied, oldest first (empty when the schema was current). */
  readonly appliedMigrations: readonly string[];
  /** What has been forwarded to NATS. */
  readonly outbox: Outbox;
  /**
   * Runs a read as {@link EventLog.query} does, or {@link EventLog.readAfter}
   * given `after`, and returns the statements it ran, in order, with their
   * parameters (PostgreSQL's as `$n`) and row counts: the access path a
   * pattern takes and what each step of it read, for finding out why a
   * pattern is slow. On SQLite the SQL may call `hub_match`, a function the
   * log registers on its own connection only.
   */
  traceQuery(
    pattern: string,
    limit: number,
    options?: { readonly after?: number; readonly signal?: AbortSignal },
  ): Promise<ReadStatement[]>;
  findKeyed(
    scope: string,
    keys: readonly string[],
    signal?: AbortSignal,
  ): Promise<Map<string, HubEvent>>;
  prunedThrough(signal?: AbortSignal): Promise<number>;
  firstSequence(signal?: AbortSignal): Promise<number>;
  /** Starts pruning in the background (retention, forgotten idempotency keys); stopped by `close`. */
  startPruner(options: PrunerOptions): Pruner;
  /**
   * One pruning pass now, as `hubbus prune` runs it: under the pruning
   * lease (nothing is done while another instance holds it), or with
   * `dryRun` without touching anything, to say what would go.
   */
  prune(options: RetentionOptions & { readonly dryRun?: boolean }): Promise<PruneReport>;
}

/** Keys per look-up statement: a few fixed sizes, so PostgreSQL prepares a few statements only. */
const KEY_LOOKUP_SIZES = [1, 16, 128] as const;
/** Times an append retries an event whose key it could neither store nor find (the pruner forgot it meanwhile). */
const KEY_SETTLE_ATTEMPTS = 3;

function keyLookupSql(size: number): string {
  return `select ${EVENT_COLUMNS}, "idem_key" from "${EVENT_TABLE}"
    where "idem_scope" = ? and "idem_key" in (${Array(size).fill("?").join(", ")})`;
}

function ormOptions(target: DatabaseTarget, poolSize: number, logger: Logger): Options {
  const common: Options = {
    entities: [EventRowSchema],
    extensions: [Migrator],
    migrations: {
      migrationsList: MIGRATIONS[target.kind],
      tableName: MIGRATIONS_TABLE,
      snapshot: false,
      silent: true,
      transactional: true,
      allOrNothing: true,
    },
    debug: false,
    logger: (message) => logger.debug(message),
    allowGlobalContext: true,
  };
  if (target.kind === "sqlite") {
    return { ...common, driver: BetterSqliteDriver, dbName: target.path };
  }
  return {
    ...common,
    driver: PostgreSqlDriver,
    clientUrl: target.url,
    pool: { min: 0, max: poolSize },
  };
}

/** Opens MikroORM on the target and applies pending migrations; returns their names. */
async function initOrm(target: DatabaseTarget, poolSize: number, logger: Logger, migrate: boolean) {
  let orm: MikroORM;
  try {
    orm = await MikroORM.init(ormOptions(target, poolSize, logger));
    await orm.em.getConnection().execute("select 1");
  } catch (error) {
    const where = target.kind === "sqlite" ? target.path : redact(target.url);
    throw new HubError("unavailable", `cannot open the event log at ${where}`, {}, error);
  }
  if (!migrate) return { orm, applied: [] as string[] };
  try {
    const applied = await orm.getMigrator().up();
    return { orm, applied: applied.map((m) => m.name) };
  } catch (error) {
    await orm.close(true);
    throw new HubError("unavailable", "cannot migrate the event log", {}, error);
  }
}

/** Applies pending migrations and closes the connection; returns the names applied. */
export async function migrateEventLog(
  options: Pick<EventLogOptions, "url" | "logger"> = {},
): Promise<string[]> {
  const target = parseDatabaseUrl(options.url ?? DEFAULT_DATABASE_URL);
  const { orm, applied } = await initOrm(
    target,
    1,
    options.logger ?? pino({ level: "silent" }),
    true,
  );
  await orm.close(true);
  return applied;
}

/**
 * Opens the event log on SQLite or PostgreSQL. Appends from concurrent
 * callers share transactions (group commit); sequences are strictly
 * increasing and become visible in sequence order.
 */
export async function openEventLog(options: EventLogOptions = {}): Promise<SqlEventLog> {
  const logger = options.logger ?? pino({ level: "silent" });
  const target = parseDatabaseUrl(options.url ?? DEFAULT_DATABASE_URL);
  const poolSize = options.poolSize ?? DEFAULT_POSTGRES_POOL_SIZE;
  const { orm, applied } = await initOrm(target, poolSize, logger, options.migrate ?? true);
  const knex = (orm.em as EntityManager).getKnex();
  let dialect: Dialect;
  try {
    dialect =
      target.kind === "sqlite"
        ? await createSqliteDialect(knex, target.path)
        : createPostgresDialect(knex, target.url, poolSize);
  } catch (error) {
    await orm.close(true);
    throw toStoreError(error);
  }

  let appendedEvents = 0;
  let appendTransactions = 0;
  const commit = createGroupCommit<NewEvent, number | undefined>(
    async (events) => {
      const seqs = await dialect.insert(events);
      appendTransactions++;
      appendedEvents += events.length;
      return seqs;
    },
    { maxBatch: options.maxBatch ?? DEFAULT_GROUP_COMMIT_MAX_BATCH },
  );
  let closed = false;
  let pruner: Pruner | undefined;
  const rawOutbox = createOutbox(dialect);
  // The outbox goes through the same guard: closed log and database outages give HubErrors.
  const outbox: Outbox = {
    claim: (owner, leaseMs) => guarded(undefined, () => rawOutbox.claim(owner, leaseMs)),
    release: (owner) => guarded(undefined, () => rawOutbox.release(owner)),
    pending: (limit) => guarded(undefined, () => rawOutbox.pending(limit)),
    markForwarded: (owner, sequence) =>
      guarded(undefined, () => rawOutbox.markForwarded(owner, sequence)),
    backlog: () => guarded(undefined, () => rawOutbox.backlog()),
  };

  async function guarded<T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    if (closed) throw new HubError("unavailable", "the event log is closed");
    throwIfAborted(signal);
    try {
      return await run();
    } catch (error) {
      throw toStoreError(error);
    }
  }

  /** The stored events with `keys` under `scope`, by key, in statements of fixed sizes. */
  async function findKeyed(scope: string, keys: readonly string[]): Promise<Map<string, HubEvent>> {
    const found = new Map<string, HubEvent>();
    const unique = [...new Set(keys)];
    for (let at = 0; at < unique.length; ) {
      const left = unique.length - at;
      const size = KEY_LOOKUP_SIZES.find((s) => s >= left) ?? 128;
      const chunk = unique.slice(at, at + size);
      at += chunk.length;
      // Padded with the first key: the statement's shape stays one of a few.
      while (chunk.length < size) chunk.push(chunk[0] as string);
      const rows = await dialect.all<RawEventRow & { idem_key?: string }>(keyLookupSql(size), [
        scope,
        ...chunk,
      ]);
      for (const row of rows) found.set(row.idem_key as string, rowToEvent(row));
    }
    return found;
  }

  /**
   * Appends and, for a keyed event the database did not store (its key was
   * there: an earlier publish, one of the same transaction, another
   * instance's), reads the stored event in its place. A key both refused
   * and not found was forgotten by the pruner in between: the event is
   * appended again.
   */
  async function appendEvents(events: readonly NewEvent[]): Promise<HubEvent[]> {
    const out: (HubEvent | undefined)[] = new Array(events.length);
    let todo = events.map((_, i) => i);
    for (let attempt = 0; todo.length > 0; attempt++) {
      if (attempt === KEY_SETTLE_ATTEMPTS) {
        throw new HubError("unavailable", "could not settle an idempotency key; try again");
      }
      const batch = todo.map((i) => events[i] as NewEvent);
      const seqs = await commit.submit(batch);
      rawOutbox.committed(batch, seqs);
      const refused: number[] = [];
      batch.forEach((e, j) => {
        const sequence = seqs[j];
        const i = todo[j] as number;
        if (sequence === undefined) {
          // No key: a duplicate id, already in the log (it is left out).
          if (e.idempotency !== undefined) refused.push(i);
          return;
        }
        out[i] = {
          id: e.id,
          subject: e.subject,
          origin: e.origin,
          correlationId: e.correlationId,
          payload: e.payload ?? JSON.parse(e.payloadJson),
          timestamp: e.timestamp,
          sequence,
        };
      });
      todo = [];
      const byScope = new Map<string, number[]>();
      for (const i of refused) {
        const scope = (events[i] as NewEvent).idempotency?.scope as string;
        byScope.set(scope, [...(byScope.get(scope) ?? []), i]);
      }
      for (const [scope, indexes] of byScope) {
        const found = await findKeyed(
          scope,
          indexes.map((i) => (events[i] as NewEvent).idempotency?.key as string),
        );
        for (const i of indexes) {
          const event = found.get((events[i] as NewEvent).idempotency?.key as string);
          if (event === undefined) todo.push(i);
          else out[i] = event;
        }
      }
    }
    return out.filter((e): e is HubEvent => e !== undefined);
  }

  return {
    dialect: target.kind,
    appliedMigrations: applied,
    outbox,
    append(events, signal) {
      // Once submitted an append is not cancelled: it may already be committed.
      return guarded(signal, () => appendEvents(events));
    },
    findKeyed(scope, keys, signal) {
      return guarded(signal, () => findKeyed(scope, keys));
    },
    prunedThrough(signal) {
      return guarded(signal, () => readPrunedThrough(dialect));
    },
    firstSequence(signal) {
      return guarded(signal, async () => {
        const [row] = await dialect.all<{ v: unknown }>(
          `select coalesce(min("seq"), 0) as "v" from "${EVENT_TABLE}"`,
          [],
        );
        return Number(row?.v ?? 0);
      });
    },
    startPruner(options) {
      if (closed) throw new HubError("unavailable", "the event log is closed");
      pruner ??= createPruner(
        {
          ...dialect,
          // The pruner's statements go through the guard, as every other use of the log.
          all: (sql, params) => guarded(undefined, () => dialect.all(sql, params)),
          run: (sql, params, relaxed) =>
            guarded(undefined, () => dialect.run(sql, params, relaxed)),
        } as Dialect,
        options,
        logger.child({ component: "pruner" }),
      );
      return pruner;
    },
    prune({ dryRun = false, ...options }) {
      return guarded(undefined, async () => {
        if (dryRun) return prunePass(dialect, "", options, true);
        const owner = `prune-once-${process.pid}-${Date.now()}`;
        if (!(await claimPruneLease(dialect, owner, 60_000))) {
          return { events: 0, keys: 0, heldForOutbox: false, leaseHeld: false };
        }
        try {
          return await prunePass(dialect, owner, options, false);
        } finally {
          await releasePruneLease(dialect, owner);
        }
      });
    },
    query(pattern, limit, signal) {
      return guarded(signal, () => dialect.query(pattern, limit));
    },
    readAfter(sequence, pattern, limit, signal) {
      return guarded(signal, () => dialect.readAfter(sequence, pattern, limit));
    },
    traceQuery(pattern, limit, { after, signal } = {}) {
      return guarded(signal, () => dialect.traceRead(pattern, after, limit));
    },
    lastSequence(signal) {
      return guarded(signal, () => dialect.lastSequence());
    },
    ping(signal) {
      return guarded(signal, () => dialect.ping());
    },
    stats() {
      return { appendedEvents, appendTransactions, outboxReads: rawOutbox.reads() };
    },
    async close() {
      if (closed) return;
      await pruner?.stop();
      closed = true;
      await commit.idle();
      await dialect.release();
      await orm.close(true);
    },
  };
}
