import type { Knex } from "@mikro-orm/knex";
import type { Dialect } from "./dialect.js";
import { patternToRegex, type RawEventRow, readStatement, rowToEvent } from "./pattern-plan.js";
import { EVENT_TABLE } from "./schema.js";

/**
 * Key of the transaction-scoped advisory lock every append takes. Holding it
 * from sequence allocation to commit makes commit order equal sequence
 * order across all instances, so a reader that has seen N never later finds
 * a smaller sequence appear ("hubb" in ASCII).
 */
export const APPEND_LOCK_KEY = 0x68756262;

/** Rows per INSERT statement: 8 parameters each, well under PostgreSQL's 65,535. */
const ROWS_PER_STATEMENT = 500;

const match = (pattern: string) => [`"subject" ~ ?`, patternToRegex(pattern)] as const;

/** PostgreSQL through MikroORM's knex pool. */
export function createPostgresDialect(knex: Knex): Dialect {
  async function read(pattern: string, after: number | undefined, limit: number) {
    const { sql, params } = readStatement(pattern, after, match);
    const result = await knex.raw(sql, [...params, limit] as Knex.RawBinding[]);
    return (result.rows as RawEventRow[]).map(rowToEvent);
  }

  return {
    name: "postgres",
    async insert(events) {
      return knex.transaction(async (trx) => {
        await trx.raw("select pg_advisory_xact_lock(?)", [APPEND_LOCK_KEY]);
        const seqs: (number | undefined)[] = [];
        for (let i = 0; i < events.length; i += ROWS_PER_STATEMENT) {
          const chunk = events.slice(i, i + ROWS_PER_STATEMENT);
          const params: Knex.RawBinding[] = [];
          for (const e of chunk) {
            params.push(
              e.id,
              e.subject,
              e.origin.hubId,
              e.origin.service,
              e.correlationId,
              e.payloadJson,
              e.timestamp,
              e.ingested === true,
            );
          }
          const values = chunk.map(() => "(?, ?, ?, ?, ?, ?, ?, ?)").join(", ");
          const result = await trx.raw(
            `insert into "${EVENT_TABLE}" ("id", "subject", "origin_hub", "origin_service", "correlation_id", "payload", "accepted_at", "ingested")
             values ${values} on conflict ("id") do nothing returning "id", "seq"`,
            params,
          );
          // RETURNING order is not promised by PostgreSQL: map by id.
          const byId = new Map<string, number>();
          for (const row of result.rows as { id: string; seq: string }[])
            byId.set(row.id, Number(row.seq));
          for (const e of chunk) seqs.push(byId.get(e.id));
        }
        return seqs;
      });
    },
    async query(pattern, limit) {
      return read(pattern, undefined, limit);
    },
    async readAfter(sequence, pattern, limit) {
      return read(pattern, sequence, limit);
    },
    async all<Row>(sql: string, params: readonly unknown[]) {
      return (await knex.raw(sql, params as Knex.RawBinding[])).rows as Row[];
    },
    async run(sql, params) {
      return (await knex.raw(sql, params as Knex.RawBinding[])).rowCount as number;
    },
    async lastSequence() {
      const result = await knex.raw(
        `select coalesce(max("seq"), 0) as "seq" from "${EVENT_TABLE}"`,
      );
      return Number(result.rows[0].seq);
    },
    async ping() {
      await knex.raw("select 1");
    },
    async release() {},
  };
}
