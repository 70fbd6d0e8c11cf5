import type { Outbox } from "../core/index.js";
import type { Dialect } from "./dialect.js";
import { OUTBOX_COLUMNS, type RawEventRow, rowToOutboxEvent } from "./event-row.js";
import { EVENT_TABLE, OUTBOX_TABLE } from "./schema.js";

const ROW = `"${OUTBOX_TABLE}" where "name" = 'forward'`;
const CURSOR = `(select "forwarded_seq" from ${ROW})`;

/**
 * The outbox over the log's tables: a cursor row and a lease. The SQL is
 * portable between SQLite and PostgreSQL; the dialect only executes it.
 */
export function createOutbox(dialect: Dialect): Outbox {
  return {
    async claim(owner, leaseMs) {
      const now = Date.now();
      const changed = await dialect.run(
        `update "${OUTBOX_TABLE}" set "owner" = ?, "lease_until" = ?
         where "name" = 'forward' and ("owner" = ? or "lease_until" < ?)`,
        [owner, now + leaseMs, owner, now],
      );
      return changed === 1;
    },
    async release(owner) {
      await dialect.run(
        `update "${OUTBOX_TABLE}" set "lease_until" = 0 where "name" = 'forward' and "owner" = ?`,
        [owner],
      );
    },
    async pending(limit) {
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
      return changed === 1;
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
