import { compilePattern } from "../core/index.js";
import { EVENT_COLUMNS } from "./event-row.js";
import { type PatternPlan, patternCondition, planPattern } from "./pattern-plan.js";
import { EVENT_TABLE } from "./schema.js";

/**
 * Rows a read scans in sequence order before it turns to the subject index,
 * per row asked for (at least {@link MIN_WINDOW_ROWS}): a pattern matching
 * at least 1 row in this many fills its page from that window.
 */
export const WINDOW_ROWS_PER_RESULT = 20;
const MIN_WINDOW_ROWS = 1000;
/**
 * Most distinct subjects a wildcard read enumerates before it gives up on
 * the index and scans the log in order (a log whose subjects carry ids has
 * about as many subjects as rows, and then the scan is the cheaper path).
 */
export const MAX_ENUMERATED_SUBJECTS = 2048;

/** What a dialect lends the reads: how to run SQL and its planner hints. */
export interface ReadSql {
  /** Runs a SELECT with `?` parameters; rows as arrays in column order. */
  rows(sql: string, params: readonly unknown[]): Promise<unknown[][]>;
  lastSequence(): Promise<number>;
  /** The condition that matches one pattern exactly, with its one parameter. */
  match(pattern: string): readonly [string, unknown];
  /** Appended to the table name where the log must be read by sequence (the primary key). */
  readonly inSequenceOrder: string;
  /** Appended to the table name where the (subject, seq) index must be read. */
  readonly bySubject: string;
  /**
   * The SELECT, with its parameters, of the top `n` rows among `subjects`
   * past `bound` (at or below it when `desc`, above it otherwise), in the
   * read's order.
   */
  topOfSubjects(
    subjects: readonly string[],
    bound: number,
    desc: boolean,
    n: number,
  ): readonly [string, unknown[]];
  /**
   * Read the rest of a literal prefix (`hub.a.>`) from its index range in
   * one statement (SQLite, which reads index entries cheaply), or subject by
   * subject like a wildcard (PostgreSQL, which must visit the table for
   * every index entry until vacuum has marked its pages all-visible).
   */
  readonly rangeScan: boolean;
  /**
   * A literal prefix with at most this many distinct subjects is read
   * subject by subject before any window: the index answers it in a few
   * seeks, where a window reads rows that mostly do not match. Past it, the
   * prefix is one statement left to the planner. Unset: always the window.
   */
  readonly fewSubjects?: number;
}

/** Reads of the log by pattern; rows come back as arrays in EVENT_COLUMNS order. */
export interface LogReads {
  /** Newest first when `after` is undefined; else the rows after it, oldest first. */
  read(pattern: string, after: number | undefined, limit: number): Promise<unknown[][]>;
}

const T = `"${EVENT_TABLE}"`;

/** The statement behind {@link ReadSql.lastSequence}, the same on both dialects. */
export const LAST_SEQUENCE_SQL = `select coalesce(max("seq"), 0) from ${T}`;

/** One statement a read ran, as {@link traceRead} records it. */
export interface ReadStatement {
  /**
   * The SQL with `?` parameters, as the reads write it (SqlEventLog's
   * traceQuery gives PostgreSQL's as the `$n` it sends).
   */
  readonly sql: string;
  readonly params: readonly unknown[];
  /** Rows it returned. */
  readonly rows: number;
}

/**
 * The access path follows from the pattern, not from statistics:
 *
 * - `>` or a literal subject: one statement; the primary key or the
 *   (subject, seq) index yields rows in sequence order already.
 * - otherwise, first a window of the newest rows (or of those right after
 *   the cursor) in sequence order: a pattern matching much of the log finds
 *   its page there at once. When the window did not fill the page:
 *   - a literal prefix (`hub.a.>`) on SQLite: the subject range of the
 *     index, read alone (its entries hold seq), its top sequences taken
 *     and only those rows fetched;
 *   - otherwise the distinct subjects, each found by one index seek,
 *     matched here, and the top rows of each matching one taken from the
 *     index. A rare subject under a leading wildcard costs a seek per
 *     distinct subject, not a match per row. Past MAX_ENUMERATED_SUBJECTS
 *     the log is scanned in sequence order instead.
 *
 * Statements after the first see more rows only at higher sequences
 * (sequences become visible in order), so the parts join without gap.
 */
export function createLogReads(sql: ReadSql): LogReads {
  const matchers = new Map<string, (subject: string) => boolean>();
  function matcher(pattern: string) {
    let m = matchers.get(pattern);
    if (!m) {
      if (matchers.size >= 256) matchers.clear();
      m = compilePattern(pattern);
      matchers.set(pattern, m);
    }
    return m;
  }

  function plain(
    plan: PatternPlan,
    after: number | undefined,
    bound: number | undefined,
    n: number,
  ) {
    const { clauses, params } = patternCondition(plan, sql.match);
    if (after !== undefined) {
      clauses.unshift(`"seq" > ?`);
      params.unshift(after);
    }
    if (bound !== undefined) {
      clauses.unshift(after === undefined ? `"seq" <= ?` : `"seq" > ?`);
      params.unshift(bound);
    }
    const where = clauses.length > 0 ? `where ${clauses.join(" and ")}` : "";
    const order = after === undefined ? "desc" : "asc";
    return sql.rows(`select ${EVENT_COLUMNS} from ${T} ${where} order by "seq" ${order} limit ?`, [
      ...params,
      n,
    ]);
  }

  /** Rows of the window: seq in (from, to], in the read's order. */
  function window(plan: PatternPlan, from: number, to: number, desc: boolean, n: number) {
    const { clauses, params } = patternCondition(plan, sql.match);
    return sql.rows(
      `select ${EVENT_COLUMNS} from ${T}${sql.inSequenceOrder}
       where "seq" > ? and "seq" <= ? and ${clauses.join(" and ")}
       order by "seq" ${desc ? "desc" : "asc"} limit ?`,
      [from, to, ...params, n],
    );
  }

  /** The top `n` rows beyond `bound` among those the condition selects, found through the index. */
  function byIndex(cond: string, params: unknown[], bound: number, desc: boolean, n: number) {
    const order = desc ? "desc" : "asc";
    return sql.rows(
      `select ${EVENT_COLUMNS} from ${T} where "seq" in (
         select "seq" from ${T}${sql.bySubject}
         where ${cond} and "seq" ${desc ? "<=" : ">"} ? order by "seq" ${order} limit ?)
       order by "seq" ${order}`,
      [...params, bound, n],
    );
  }

  /** Distinct subjects in the plan's range, or undefined when there are more than `cap`. */
  async function subjects(
    plan: PatternPlan,
    cap = MAX_ENUMERATED_SUBJECTS,
  ): Promise<string[] | undefined> {
    const [lo, hi] = plan.range ?? [undefined, undefined];
    const upper = hi === undefined ? "" : ` and "subject" < ?`;
    const rows = await sql.rows(
      `with recursive s("subject") as (
         select min("subject") from ${T} where "subject" >= ?${upper}
         union all
         select (select min(e."subject") from ${T} e where e."subject" > s."subject"${upper})
         from s where s."subject" is not null)
       select "subject" from s limit ?`,
      hi === undefined ? [lo ?? "", cap + 1] : [lo, hi, hi, cap + 1],
    );
    if (rows.length > cap) return undefined;
    const found: string[] = [];
    for (const [subject] of rows) if (typeof subject === "string") found.push(subject);
    return found;
  }

  async function rest(plan: PatternPlan, after: number | undefined, bound: number, n: number) {
    const desc = after === undefined;
    if (plan.match === undefined && sql.rangeScan) {
      const { clauses, params } = patternCondition(plan, sql.match);
      return byIndex(clauses.join(" and "), params, bound, desc, n);
    }
    const all = await subjects(plan);
    if (all === undefined) return plain(plan, after, bound, n);
    const wanted = plan.match === undefined ? all : all.filter(matcher(plan.match));
    if (wanted.length === 0) return [];
    const [text, params] = sql.topOfSubjects(wanted, bound, desc, n);
    return sql.rows(text, params);
  }

  return {
    async read(pattern, after, limit) {
      const plan = planPattern(pattern);
      if (plan.range === undefined && plan.match === undefined)
        return plain(plan, after, undefined, limit);
      if (plan.match === undefined && sql.fewSubjects !== undefined) {
        const few = await subjects(plan, sql.fewSubjects);
        if (few === undefined) return plain(plan, after, undefined, limit);
        if (few.length === 0) return [];
        const bound = after ?? Number.MAX_SAFE_INTEGER;
        const [text, params] = sql.topOfSubjects(few, bound, after === undefined, limit);
        return sql.rows(text, params);
      }
      const width = Math.max(MIN_WINDOW_ROWS, limit * WINDOW_ROWS_PER_RESULT);
      // Read before the window: every sequence up to it is committed, so the window misses none.
      const last = await sql.lastSequence();
      const desc = after === undefined;
      const from = desc ? last - width : (after as number);
      const to = desc ? last : Math.min(last, from + width);
      const rows = await window(plan, from, to, desc, limit);
      if (rows.length === limit) return rows;
      // Newest first: the rest lies at or below the window; oldest first: above it.
      if (desc ? from <= 0 : to >= last) return rows;
      const more = await rest(plan, after, desc ? from : to, limit - rows.length);
      return rows.length === 0 ? more : rows.concat(more);
    },
  };
}

/**
 * Runs one read as {@link LogReads.read} does and returns the statements it
 * ran, in order, the one behind `lastSequence` included. A reads instance of
 * its own records them, so the log's reads pay nothing for tracing.
 */
export async function traceRead(
  sql: ReadSql,
  pattern: string,
  after: number | undefined,
  limit: number,
): Promise<ReadStatement[]> {
  const statements: ReadStatement[] = [];
  const reads = createLogReads({
    ...sql,
    async rows(text, params) {
      const rows = await sql.rows(text, params);
      statements.push({ sql: text, params, rows: rows.length });
      return rows;
    },
    async lastSequence() {
      const last = await sql.lastSequence();
      statements.push({ sql: LAST_SEQUENCE_SQL, params: [], rows: 1 });
      return last;
    },
  });
  await reads.read(pattern, after, limit);
  return statements;
}
