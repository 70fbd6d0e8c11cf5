import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { DEFAULT_IDEMPOTENCY_WINDOW_MS } from "../defaults.js";
import type { Dialect } from "./dialect.js";
import { EVENT_KEYED_SEQ_INDEX, EVENT_TABLE, OUTBOX_TABLE, PRUNE_ROW } from "./schema.js";

/** Events (or keys) one pruning step deletes (or forgets) in one statement. */
export const DEFAULT_PRUNE_STEP_EVENTS = 500;
/** How often the pruner looks at the log. */
export const DEFAULT_PRUNE_INTERVAL_MS = 1000;
/** How long a pruner's lease lasts; renewed at every look. */
export const DEFAULT_PRUNE_LEASE_MS = 10_000;
/** Pause between two steps of one pass: publishes get the database in between. */
export const DEFAULT_PRUNE_PAUSE_MS = 5;

/** What the pruner removes; every field optional, absent = nothing of that kind. */
export interface RetentionOptions {
  /** Events older than this are pruned. @default undefined (kept forever) */
  readonly maxAgeMs?: number;
  /** The newest this many sequences are kept; older events are pruned. @default undefined (no cap) */
  readonly maxEvents?: number;
  /** Idempotency keys older than this are forgotten. @default DEFAULT_IDEMPOTENCY_WINDOW_MS (24h) */
  readonly idempotencyWindowMs?: number;
  /** @default DEFAULT_PRUNE_STEP_EVENTS */
  readonly stepEvents?: number;
  /** @default DEFAULT_PRUNE_PAUSE_MS */
  readonly pauseMs?: number;
}

/** Options of the background pruner ({@link createPruner}). */
export interface PrunerOptions extends RetentionOptions {
  /** @default DEFAULT_PRUNE_INTERVAL_MS */
  readonly intervalMs?: number;
  /** @default DEFAULT_PRUNE_LEASE_MS */
  readonly leaseMs?: number;
}

/** What one pass pruned, or (dry run) would prune. */
export interface PruneReport {
  /** Events deleted (would be deleted). */
  readonly events: number;
  /** The oldest and newest sequence of those, when there were any. */
  readonly fromSequence?: number;
  readonly throughSequence?: number;
  /** Idempotency keys forgotten (would be) because their window passed. */
  readonly keys: number;
  /** Events kept back because they are not yet forwarded to NATS. */
  readonly heldForOutbox: boolean;
  /** False when another instance holds the pruning lease (nothing was done). */
  readonly leaseHeld: boolean;
}

const PRUNE = `"${OUTBOX_TABLE}" where "name" = '${PRUNE_ROW}'`;

type Row = Record<string, unknown>;
const num = (value: unknown) => (value === null || value === undefined ? undefined : Number(value));

/** Takes or renews the pruner's lease; the outbox relay's SQL on the pruner's own row. */
export async function claimPruneLease(
  dialect: Dialect,
  owner: string,
  leaseMs: number,
): Promise<boolean> {
  const now = Date.now();
  const changed = await dialect.run(
    `update "${OUTBOX_TABLE}" set "owner" = ?, "lease_until" = ?
     where "name" = '${PRUNE_ROW}' and ("owner" = ? or "lease_until" < ?)`,
    [owner, now + leaseMs, owner, now],
  );
  return changed === 1;
}

export async function releasePruneLease(dialect: Dialect, owner: string): Promise<void> {
  await dialect.run(
    `update "${OUTBOX_TABLE}" set "lease_until" = 0 where "name" = '${PRUNE_ROW}' and "owner" = ?`,
    [owner],
  );
}

/** The sequence the log has been pruned through (0 when never). */
export async function readPrunedThrough(dialect: Dialect): Promise<number> {
  const [row] = await dialect.all<Row>(`select "forwarded_seq" as "v" from ${PRUNE}`, []);
  return num(row?.v) ?? 0;
}

/**
 * One pass of the pruner as lease holder `owner`: events beyond
 * `maxEvents` or older than `maxAgeMs`, oldest first, in steps of
 * `stepEvents`; never the newest event (the log keeps its position) and
 * never one the outbox has not forwarded. Each step first raises the
 * watermark, then deletes, so a reader that checks the watermark after a
 * read knows whether it may have missed events. Then idempotency keys older
 * than the window are forgotten, in steps too. `dryRun` counts only.
 */
export async function prunePass(
  dialect: Dialect,
  owner: string,
  options: RetentionOptions,
  dryRun: boolean,
  stopped: () => boolean = () => false,
): Promise<PruneReport> {
  const step = options.stepEvents ?? DEFAULT_PRUNE_STEP_EVENTS;
  const pauseMs = options.pauseMs ?? DEFAULT_PRUNE_PAUSE_MS;
  const now = Date.now();
  const pause = () => new Promise((resolve) => setTimeout(resolve, pauseMs));
  let events = 0;
  let fromSequence: number | undefined;
  let throughSequence: number | undefined;
  let heldForOutbox = false;

  if (options.maxAgeMs !== undefined || options.maxEvents !== undefined) {
    const [lastRow] = await dialect.all<Row>(
      `select coalesce(max("seq"), 0) as "v" from "${EVENT_TABLE}"`,
      [],
    );
    const last = num(lastRow?.v) ?? 0;
    const [cursorRow] = await dialect.all<Row>(
      `select "forwarded_seq" as "v" from "${OUTBOX_TABLE}" where "name" = 'forward'`,
      [],
    );
    const [pendingRow] = await dialect.all<Row>(
      `select min("seq") as "v" from "${EVENT_TABLE}" where "seq" > ? and not "ingested"`,
      [num(cursorRow?.v) ?? 0],
    );
    const pending = num(pendingRow?.v);
    const safe = Math.min(last - 1, pending === undefined ? last : pending - 1);
    // By sequence, not by count: O(1), and a sequence PostgreSQL skipped
    // (a rollback, a repeated key) only means a few fewer events are kept.
    const countBound = options.maxEvents === undefined ? 0 : last - options.maxEvents;
    const cutoff =
      options.maxAgeMs === undefined ? undefined : new Date(now - options.maxAgeMs).toISOString();
    // From the watermark, not from 0: on PostgreSQL the head of the log is
    // dead tuples until vacuum comes by, and a scan from 0 walks all of them.
    let after = await readPrunedThrough(dialect);
    // Only the pass's first delete reaches below the watermark, for the
    // events of a step whose pruner died between raising it and deleting.
    let below = 0;
    while (!stopped()) {
      const rows = await dialect.all<Row>(
        `select "seq", "accepted_at" from "${EVENT_TABLE}" where "seq" > ? order by "seq" limit ?`,
        [after, step],
      );
      let end: number | undefined;
      let taken = 0;
      for (const row of rows) {
        const seq = Number(row.seq);
        const due = seq <= countBound || (cutoff !== undefined && String(row.accepted_at) < cutoff);
        if (!due) break;
        if (seq > safe) {
          heldForOutbox = seq <= last - 1;
          break;
        }
        end = seq;
        taken++;
      }
      if (end === undefined) break;
      if (!dryRun) {
        const raised = await dialect.run(
          `update "${OUTBOX_TABLE}"
           set "forwarded_seq" = case when "forwarded_seq" < ? then ? else "forwarded_seq" end
           where "name" = '${PRUNE_ROW}' and "owner" = ?`,
          [end, end, owner],
        );
        if (raised !== 1) return { events, keys: 0, heldForOutbox, leaseHeld: false };
        await dialect.run(`delete from "${EVENT_TABLE}" where "seq" > ? and "seq" <= ?`, [
          below,
          end,
        ]);
        below = end;
      }
      fromSequence ??= Number(rows[0]?.seq);
      throughSequence = end;
      events += taken;
      after = end;
      if (taken < rows.length) break;
      if (!dryRun) await pause();
    }
  }

  let keys = 0;
  const windowMs = options.idempotencyWindowMs ?? DEFAULT_IDEMPOTENCY_WINDOW_MS;
  const keyCutoff = new Date(now - windowMs).toISOString();
  const byKeyedSeq = dialect.name === "sqlite" ? ` indexed by "${EVENT_KEYED_SEQ_INDEX}"` : "";
  let after = 0;
  while (!stopped()) {
    const rows = await dialect.all<Row>(
      `select "seq", "accepted_at" from "${EVENT_TABLE}"${byKeyedSeq}
       where "idem_key" is not null and "seq" > ? order by "seq" limit ?`,
      [after, step],
    );
    let end: number | undefined;
    let taken = 0;
    for (const row of rows) {
      if (String(row.accepted_at) >= keyCutoff) break;
      end = Number(row.seq);
      taken++;
    }
    if (end === undefined) break;
    if (!dryRun) {
      await dialect.run(
        `update "${EVENT_TABLE}" set "idem_scope" = null, "idem_key" = null
         where "idem_key" is not null and "seq" <= ?`,
        [end],
      );
    }
    keys += taken;
    after = end;
    if (taken < rows.length) break;
    if (!dryRun) await pause();
  }
  return {
    events,
    ...(fromSequence === undefined ? {} : { fromSequence, throughSequence }),
    keys,
    heldForOutbox,
    leaseHeld: true,
  };
}

/** The background pruner of one instance. */
export interface Pruner {
  /** Runs one pass now (if this instance holds the lease) and resolves with its report. */
  runOnce(): Promise<PruneReport>;
  /** Stops after the step in flight and gives the lease up. */
  stop(): Promise<void>;
}

/**
 * Prunes the log in the background: every `intervalMs` it takes or renews
 * the pruning lease (one pruner among all instances on a log, as the
 * outbox relay) and, holding it, runs {@link prunePass}.
 */
export function createPruner(dialect: Dialect, options: PrunerOptions, logger: Logger): Pruner {
  const owner = `pruner-${randomUUID()}`;
  const intervalMs = options.intervalMs ?? DEFAULT_PRUNE_INTERVAL_MS;
  const leaseMs = options.leaseMs ?? DEFAULT_PRUNE_LEASE_MS;
  let stopped = false;
  let running: Promise<PruneReport> | undefined;
  let leader = false;

  async function once(): Promise<PruneReport> {
    const held = await claimPruneLease(dialect, owner, leaseMs);
    if (held !== leader) {
      leader = held;
      logger.info({ owner }, held ? "pruner took the lease" : "pruner lost the lease");
    }
    if (!held) return { events: 0, keys: 0, heldForOutbox: false, leaseHeld: false };
    const report = await prunePass(dialect, owner, options, false, () => stopped);
    if (report.events > 0 || report.keys > 0) {
      logger.debug({ ...report }, "pruned the log");
    }
    return report;
  }

  function runOnce(): Promise<PruneReport> {
    running ??= once().finally(() => {
      running = undefined;
    });
    return running;
  }

  const timer = setInterval(() => {
    if (running !== undefined || stopped) return;
    runOnce().catch((error: unknown) => {
      logger.warn({ err: error }, "pruning the log failed; retrying at the next interval");
    });
  }, intervalMs);
  timer.unref();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => {});
      if (leader) await releasePruneLease(dialect, owner).catch(() => {});
    },
  };
}
