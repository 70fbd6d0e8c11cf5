import { hasWildcard, literalPrefix } from "../core/index.js";
import { EVENT_COLUMNS } from "./event-row.js";
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
  const { clauses, params } = patternCondition(planPattern(pattern), matchClause);
  if (afterSequence !== undefined) {
    clauses.unshift(`"seq" > ?`);
    params.unshift(afterSequence);
  }
  const cond = clauses.length > 0 ? `where ${clauses.join(" and ")}` : "";
  const order = afterSequence === undefined ? "desc" : "asc";
  return {
    sql: `select ${EVENT_COLUMNS} from "${EVENT_TABLE}" ${cond} order by "seq" ${order} limit ?`,
    params,
  };
}

/** The SQL conditions (joined with `and`) and parameters that select a plan's subjects. */
export function patternCondition(
  plan: PatternPlan,
  matchClause: (pattern: string) => readonly [string, unknown],
): { clauses: string[]; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
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
  return { clauses, params };
}
