import { invalidArgument } from "./errors.js";

/** Longest subject or pattern, in bytes (all subject characters are ASCII). */
export const MAX_SUBJECT_BYTES = 256;
/** Most tokens a subject or pattern may have. */
export const MAX_SUBJECT_TOKENS = 16;
/** Longest token. */
export const MAX_TOKEN_LENGTH = 64;
/** The hub id reserved for federation subjects, `hub.global.…`. */
export const GLOBAL_HUB_ID = "global";

const HUB_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Why a token is not acceptable, or undefined when it is. */
function tokenProblem(token: string): string | undefined {
  if (token.length === 0) return "empty token (two dots in a row, or a leading or trailing dot)";
  if (token.length > MAX_TOKEN_LENGTH) return `token longer than ${MAX_TOKEN_LENGTH} characters`;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    // Printable ASCII without space; `.` cannot occur after split.
    if (c <= 0x20 || c >= 0x7f) return "tokens are printable ASCII without spaces";
    if (c === 0x2a || c === 0x3e)
      return "wildcards (* and >) are whole tokens, and only in patterns";
  }
  return undefined;
}

function splitChecked(param: string, value: unknown): string[] {
  if (typeof value !== "string") throw invalidArgument(param, "must be a string");
  if (value.length === 0) throw invalidArgument(param, "must not be empty");
  if (value.length > MAX_SUBJECT_BYTES) {
    throw invalidArgument(param, `longer than ${MAX_SUBJECT_BYTES} bytes`);
  }
  const tokens = value.split(".");
  if (tokens.length > MAX_SUBJECT_TOKENS) {
    throw invalidArgument(param, `more than ${MAX_SUBJECT_TOKENS} tokens`);
  }
  return tokens;
}

/** True when `id` is a valid hub id: one token of `[A-Za-z0-9_-]`, not `global`. */
export function isValidHubId(id: string): boolean {
  return HUB_ID_RE.test(id) && id !== GLOBAL_HUB_ID;
}

/**
 * Validates a concrete subject (no wildcards) as NATS and the contract define
 * it, without the hub rules. Used for subjects that arrive from NATS.
 */
export function validateSubject(subject: unknown, param = "subject"): string {
  const tokens = splitChecked(param, subject);
  for (const token of tokens) {
    const problem = tokenProblem(token);
    if (problem) throw invalidArgument(param, `"${subject}": ${problem}`);
  }
  return subject as string;
}

/**
 * Normalises a subject a client publishes on this hub: auto-prefixes
 * `hub.<hubId>.`, refuses wildcards, refuses another hub's namespace and
 * requires a domain and an action (`hub.<hub_id>.<domain>.<action>`).
 */
export function resolvePublishSubject(subject: unknown, hubId: string, param = "subject"): string {
  validateSubject(subject, param);
  const given = subject as string;
  const full = given.startsWith("hub.") ? given : `hub.${hubId}.${given}`;
  const tokens = validateSubject(full, param).split(".");
  const owner = tokens[1];
  if (owner !== hubId && owner !== GLOBAL_HUB_ID) {
    throw invalidArgument(
      param,
      `"${full}" belongs to hub "${owner}"; this hub publishes only on hub.${hubId}.… and hub.${GLOBAL_HUB_ID}.…`,
    );
  }
  if (tokens.length < 4) {
    throw invalidArgument(
      param,
      `"${full}" needs a domain and an action: hub.<hub_id>.<domain>.<action>`,
    );
  }
  return full;
}

/** Validates a subscription pattern: tokens, `*` for one token, `>` as the last token only. */
export function validatePattern(pattern: unknown, param = "subject"): string {
  const tokens = splitChecked(param, pattern);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token === "*") continue;
    if (token === ">") {
      if (i !== tokens.length - 1)
        throw invalidArgument(param, `"${pattern}": > must be the last token`);
      continue;
    }
    const problem = tokenProblem(token);
    if (problem) throw invalidArgument(param, `"${pattern}": ${problem}`);
  }
  return pattern as string;
}

/** True when the pattern contains `*` or `>` tokens. */
export function hasWildcard(pattern: string): boolean {
  return pattern.split(".").some((t) => t === "*" || t === ">");
}

/**
 * The tokens before the first wildcard, joined with dots (`hub.a` for
 * `hub.a.*.x`), or the whole pattern when it has no wildcard. Stores use it
 * for an index range.
 */
export function literalPrefix(pattern: string): string {
  const tokens = pattern.split(".");
  const first = tokens.findIndex((t) => t === "*" || t === ">");
  return (first === -1 ? tokens : tokens.slice(0, first)).join(".");
}

/** A compiled pattern: a predicate over subjects with NATS semantics. */
export type SubjectMatcher = (subject: string) => boolean;

/**
 * Compiles a validated pattern into a matcher with nats-server's semantics:
 * `*` matches exactly one token, a trailing `>` one or more tokens.
 */
export function compilePattern(pattern: string): SubjectMatcher {
  const p = pattern.split(".");
  if (p.length === 1 && p[0] === ">") return () => true;
  const tail = p[p.length - 1] === ">";
  const fixed = tail ? p.length - 1 : p.length;
  if (!p.includes("*") && !p.includes(">")) return (s) => s === pattern;
  return (subject) => {
    const s = subject.split(".");
    if (tail ? s.length <= fixed : s.length !== fixed) return false;
    for (let i = 0; i < fixed; i++) {
      if (p[i] !== "*" && p[i] !== s[i]) return false;
    }
    return true;
  };
}

/** Matches one subject against one pattern; compile once with {@link compilePattern} on hot paths. */
export function matchSubject(pattern: string, subject: string): boolean {
  return compilePattern(pattern)(subject);
}

/**
 * True when every subject `inner` can match, `outer` matches too (both
 * validated patterns; a literal is a pattern matching only itself). Used for
 * permissions: a subscription is allowed when an allow pattern covers it.
 * Token by token: `>` in `outer` covers the rest of `inner` (one or more
 * tokens, wildcards included); `*` covers one literal or `*`, never `>`,
 * which can stand for more than one token; a literal covers only itself.
 */
export function patternCovers(outer: string, inner: string): boolean {
  const o = outer.split(".");
  const i = inner.split(".");
  for (let k = 0; k < o.length; k++) {
    const ot = o[k];
    if (ot === ">") return i.length > k;
    if (k >= i.length) return false;
    const it = i[k];
    if (it === ">") return false;
    if (ot !== "*" && ot !== it) return false;
  }
  return o.length === i.length;
}
