import type { NewEvent, Outbox, OutboxEvent } from "../core/index.js";
import type { Dialect } from "./dialect.js";
import { OUTBOX_COLUMNS, type RawEventRow, rowToOutboxEvent } from "./event-row.js";
import { EVENT_TABLE, OUTBOX_TABLE } from "./schema.js";

const ROW = `"${OUTBOX_TABLE}" where "name" = 'forward'`;
const CURSOR = `(select "forwarded_seq" from ${ROW})`;

/** Commits kept in memory for the relay at most; past it, it reads them back from the log. */
export const MAX_OUTBOX_TAIL = 4096;

/** The outbox, and the log's side of it: what this instance committed. */
export interface StoreOutbox extends Outbox {
  /**
   * The log committed `events` as `sequences` (undefined: not stored, a
   * duplicate). Called after every commit, in no particular order between
   * commits.
   */
  committed(events: readonly NewEvent[], sequences: readonly (number | undefined)[]): void;
  /** How many `pending` calls read the log. */
  reads(): number;
}

/**
 * The outbox over the log's tables: a cursor row and a lease. The SQL is
 * portable between SQLite and PostgreSQL; the dialect only executes it.
 *
 * While this instance holds the lease it also keeps what it committed in
 * memory, by sequence, so the relay is handed those events instead of
 * reading each back. It is handed only the run that follows the cursor it
 * moved itself without a hole: the events the log would return. A hole (an
 * event another instance committed, a sequence PostgreSQL drew and never
 * used) or an unknown cursor sends it to the log.
 */
export function createOutbox(dialect: Dialect): StoreOutbox {
  /** Sequence → event to forward, or null for an ingested one (never forwarded). */
  const tail = new Map<number, OutboxEvent | null>();
  /** The cursor as this instance last moved it; undefined when it cannot know. */
  let cursor: number | undefined;
  let holding = false;
  let reads = 0;

  function forget(): void {
    tail.clear();
    cursor = undefined;
  }

  /** The events the log holds right after the cursor, from memory; empty when not known. */
  function fromTail(limit: number): OutboxEvent[] {
    const out: OutboxEvent[] = [];
    if (cursor === undefined || tail.size === 0) return out;
    for (let next = cursor + 1; out.length < limit; next++) {
      const event = tail.get(next);
      if (event === undefined) break;
      if (event !== null) out.push(event);
    }
    return out;
  }

  return {
    reads: () => reads,
    committed(events, sequences) {
      if (!holding) return;
      for (let i = 0; i < events.length; i++) {
        const sequence = sequences[i];
        if (sequence === undefined || (cursor !== undefined && sequence <= cursor)) continue;
        const e = events[i] as NewEvent;
        if (e.ingested === true) {
          tail.set(sequence, null);
          continue;
        }
        const event: { -readonly [K in keyof OutboxEvent]: OutboxEvent[K] } = {
          id: e.id,
          subject: e.subject,
          origin: e.origin,
          correlationId: e.correlationId,
          payload: e.payload ?? JSON.parse(e.payloadJson),
          payloadJson: e.payloadJson,
          timestamp: e.timestamp,
          sequence,
        };
        if (e.traceContext !== undefined) event.traceContext = e.traceContext;
        tail.set(sequence, event);
      }
      // A relay that cannot keep up (NATS gone) reads its backlog from the log.
      if (tail.size > MAX_OUTBOX_TAIL) tail.clear();
    },
    async claim(owner, leaseMs) {
      const now = Date.now();
      const changed = await dialect.run(
        `update "${OUTBOX_TABLE}" set "owner" = ?, "lease_until" = ?
         where "name" = 'forward' and ("owner" = ? or "lease_until" < ?)`,
        [owner, now + leaseMs, owner, now],
      );
      holding = changed === 1;
      // Another instance may move the cursor while this one does not hold the lease.
      if (!holding) forget();
      return holding;
    },
    async release(owner) {
      await dialect.run(
        `update "${OUTBOX_TABLE}" set "lease_until" = 0 where "name" = 'forward' and "owner" = ?`,
        [owner],
      );
      holding = false;
      forget();
    },
    async pending(limit) {
      const handed = fromTail(limit);
      if (handed.length > 0) return handed;
      reads++;
      const rows = await dialect.all<RawEventRow>(
        `select ${OUTBOX_COLUMNS} from "${EVENT_TABLE}" where "seq" > ${CURSOR} and not "ingested" order by "seq" limit ?`,
        [limit],
      );
      return rows.map(rowToOutboxEvent);
    },
    async markForwarded(owner, sequence) {
      const changed = await dialect.run(
        `update "${OUTBOX_TABLE}"
         set "forwarded_seq" = case when "forwarded_seq" < ? then ? else "forwarded_seq" end
         where "name" = 'forward' and "owner" = ?`,
        [sequence, sequence, owner],
        // A cursor lost in a crash only forwards events again, and JetStream drops the duplicates.
        true,
      );
      if (changed !== 1) {
        holding = false;
        forget();
        return false;
      }
      // The relay marks the end of what it was handed or read, always past the cursor it knew.
      for (let s = (cursor ?? sequence) + 1; s <= sequence; s++) tail.delete(s);
      if (cursor === undefined) for (const s of tail.keys()) if (s <= sequence) tail.delete(s);
      // The log's cursor never moves back; nor does this copy of it.
      cursor = cursor === undefined ? sequence : Math.max(cursor, sequence);
      return true;
    },
    async backlog() {
      // The cursor first, then the range past it as a parameter: PostgreSQL
      // plans `seq > (subquery)` without the value and guesses a third of the
      // log; given the value it looks up the key's actual end and reads only
      // the range (every health check and metrics scrape counts this).
      const [cursor] = await dialect.all<{ seq: number | string }>(
        `select "forwarded_seq" as "seq" from ${ROW}`,
        [],
      );
      const [row] = await dialect.all<{ count: number | string; oldest: string | null }>(
        `select count(*) as "count", min("accepted_at") as "oldest" from "${EVENT_TABLE}"
         where "seq" > ? and not "ingested"`,
        [Number(cursor?.seq ?? 0)],
      );
      const count = Number(row?.count ?? 0);
      return row?.oldest ? { count, oldestTimestamp: row.oldest } : { count };
    },
  };
}
