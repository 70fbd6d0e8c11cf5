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
import { createGroupCommit, DEFAULT_GROUP_COMMIT_MAX_BATCH } from "./group-commit.js";
import type { ReadStatement } from "./log-reads.js";
import { MIGRATIONS } from "./migrations.js";
import { createOutbox } from "./outbox.js";
import { createPostgresDialect } from "./postgres-dialect.js";
import { EventRowSchema, MIGRATIONS_TABLE } from "./schema.js";
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

  return {
    dialect: target.kind,
    appliedMigrations: applied,
    outbox,
    append(events, signal) {
      // Once submitted an append is not cancelled: it may already be committed.
      return guarded(signal, async () => {
        const seqs = await commit.submit(events);
        const stored: HubEvent[] = [];
        events.forEach((e, i) => {
          const sequence = seqs[i];
          if (sequence === undefined) return; // a duplicate id: already in the log
          stored.push({
            id: e.id,
            subject: e.subject,
            origin: e.origin,
            correlationId: e.correlationId,
            payload: e.payload ?? JSON.parse(e.payloadJson),
            timestamp: e.timestamp,
            sequence,
          });
        });
        return stored;
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
      return { appendedEvents, appendTransactions };
    },
    async close() {
      if (closed) return;
      closed = true;
      await commit.idle();
      await dialect.release();
      await orm.close(true);
    },
  };
}
