import { type HubEvent, hasWildcard, literalPrefix } from "../core/index.js";
import { EVENT_TABLE } from "./schema.js";

/**
 * How a subject pattern becomes SQL: an equality or an index range on
 * `subject` where the pattern has a literal prefix, plus an exact match for
 * what the range cannot express (`*`, or `>` after a wildcard).
 */
export interface PatternPlan {
  /** The pattern has no wildcard: `subject = equals`. */
  readonly equals?: string;
  /** `subject >= range[0] AND subject < range[1]`: every subject that starts with the literal prefix and a dot. */
  readonly range?: readonly [string, string];
  /** The range (or nothing) is not exact: filter with the pattern itself. */
  readonly match?: string;
}

export function planPattern(pattern: string): PatternPlan {
  if (pattern === ">") return {};
  if (!hasWildcard(pattern)) return { equals: pattern };
  const prefix = literalPrefix(pattern);
  if (prefix === "") return { match: pattern };
  // "/" is the character after "." so [prefix., prefix/) is exactly "starts with prefix.".
  const range = [`${prefix}.`, `${prefix}/`] as const;
  // Tokens are never empty, so the range alone is exact for "prefix.>".
  return pattern === `${prefix}.>` ? { range } : { range, match: pattern };
}

/** A POSIX regular expression equal to the pattern under NATS semantics (for PostgreSQL's `~`). */
export function patternToRegex(pattern: string): string {
  const parts = pattern.split(".").map((token) => {
    if (token === "*") return "[^.]+";
    if (token === ">") return ".+";
    return token.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
  });
  return `^${parts.join("\\.")}$`;
}

/** The columns every read selects, in the order {@link rowToEvent} expects. */
export const EVENT_COLUMNS =
  '"seq", "id", "subject", "origin_hub", "origin_service", "correlation_id", "payload", "accepted_at"';

/** A row as the drivers return it (PostgreSQL returns bigint as a string). */
export interface RawEventRow {
  seq: number | string | bigint;
  id: string;
  subject: string;
  origin_hub: string;
  origin_service: string;
  correlation_id: string;
  payload: string;
  accepted_at: string;
}

export function rowToEvent(row: RawEventRow): HubEvent {
  return {
    id: row.id,
    subject: row.subject,
    origin: { hubId: row.origin_hub, service: row.origin_service },
    correlationId: row.correlation_id,
    payload: JSON.parse(row.payload),
    timestamp: row.accepted_at,
    sequence: Number(row.seq),
  };
}

/** A read statement and its parameters; the LIMIT is the last `?`, not included in params. */
export interface ReadStatement {
  readonly sql: string;
  readonly params: unknown[];
}

/**
 * Builds the SELECT of a query (newest first) or of a read after a sequence
 * (oldest first). `matchClause` says how the dialect matches a pattern
 * exactly: it returns the SQL condition with one `?` and its parameter.
 */
export function readStatement(
  pattern: string,
  afterSequence: number | undefined,
  matchClause: (pattern: string) => readonly [string, unknown],
): ReadStatement {
  const plan = planPattern(pattern);
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (afterSequence !== undefined) {
    clauses.push(`"seq" > ?`);
    params.push(afterSequence);
  }
  if (plan.equals !== undefined) {
    clauses.push(`"subject" = ?`);
    params.push(plan.equals);
  }
  if (plan.range) {
    clauses.push(`"subject" >= ? and "subject" < ?`);
    params.push(plan.range[0], plan.range[1]);
  }
  if (plan.match !== undefined) {
    const [clause, param] = matchClause(plan.match);
    clauses.push(clause);
    params.push(param);
  }
  const cond = clauses.length > 0 ? `where ${clauses.join(" and ")}` : "";
  const order = afterSequence === undefined ? "desc" : "asc";
  return {
    sql: `select ${EVENT_COLUMNS} from "${EVENT_TABLE}" ${cond} order by "seq" ${order} limit ?`,
    params,
  };
}
