import { compilePattern, patternCovers, type SubjectMatcher, validatePattern } from "./subject.js";

/**
 * One direction's allow/deny lists, as an AUTH_FILE entry gives them
 * (validated patterns).
 *
 * An absent list and an empty list mean the same, as in a nats-server
 * configuration file: nats-server 2.9 reads `allow: []` as "no allow list",
 * so `allow: []` allows everything, like no `allow` at all; `deny: []` denies
 * nothing. To allow nothing, deny `>`.
 */
export interface SubjectRules {
  /** Patterns a subject must match (publish) or a pattern must lie inside (subscribe); absent or empty: everything. */
  readonly allow?: readonly string[];
  /** Patterns that override `allow`; absent or empty: none. */
  readonly deny?: readonly string[];
}

/** A caller's compiled permissions. */
export interface Permissions {
  /**
   * True when a concrete subject may be published: it matches some allow
   * pattern (no allow list = all) and no deny pattern. The subject is not
   * validated again (it runs once per published event).
   */
  mayPublish(subject: string): boolean;
  /**
   * True when a subscription or query pattern (validated) is allowed: covered
   * by some allow pattern (every subject the pattern can match, that allow
   * pattern matches too; see {@link patternCovers}), and not refused by the
   * deny list. The deny check is nats-server's: the pattern is refused when a
   * deny pattern matches it read as a subject, its `*` and `>` taken as plain
   * tokens. That refuses every pattern entirely inside a deny pattern, and
   * also a trailing `>` whose one-token reading is inside one (deny `a.*`
   * refuses `a.>`). Subjects of an accepted pattern that a deny pattern
   * matches are filtered by {@link Permissions.deliverable}.
   *
   * nats-server 2.9 reads the allow list the same way, which accepts `foo.>`
   * under allow `foo.*` (and `>` under `*`) and then delivers `foo.a.b`; this
   * function refuses those, because no allow pattern covers them.
   */
  maySubscribe(pattern: string): boolean;
  /**
   * Predicate for delivered events: false for subjects matching a
   * `subscribe.deny` pattern; undefined when there is no deny list (hot path:
   * no per-event call then). Meant for every delivery: nats-server 2.9 skips
   * its own filter on a connection where no deny pattern lies inside one of
   * the wildcard subscriptions (deny `*.b` reaches subscription `a.*` with
   * `a.b`); this predicate has no such gap.
   */
  readonly deliverable: ((subject: string) => boolean) | undefined;
}

/** Validates each pattern (naming its place, `subscribe.deny[2]`) and returns them, empty when absent. */
function checkedList(list: readonly string[] | undefined, param: string): readonly string[] {
  return (list ?? []).map((pattern, i) => validatePattern(pattern, `${param}[${i}]`));
}

/** One matcher for a list of patterns: true when any of them matches. */
function anyMatcher(patterns: readonly string[]): SubjectMatcher {
  // `>` matches every subject, so a list holding it needs no loop.
  if (patterns.includes(">")) return () => true;
  const matchers = patterns.map(compilePattern);
  if (matchers.length === 1) return matchers[0] as SubjectMatcher;
  return (subject) => matchers.some((match) => match(subject));
}

/**
 * Compiles a caller's publish and subscribe rules into the checks the
 * adapters and the delivery path run, with nats-server's semantics (see
 * {@link SubjectRules} for absent and empty lists). Throws `invalid_argument`
 * naming the list and index of a pattern that is not valid.
 */
export function compilePermissions(rules: {
  publish?: SubjectRules;
  subscribe?: SubjectRules;
}): Permissions {
  const pubAllow = checkedList(rules.publish?.allow, "publish.allow");
  const pubDeny = checkedList(rules.publish?.deny, "publish.deny");
  const subAllow = checkedList(rules.subscribe?.allow, "subscribe.allow");
  const subDeny = checkedList(rules.subscribe?.deny, "subscribe.deny");

  const publishAllowed = pubAllow.length > 0 ? anyMatcher(pubAllow) : undefined;
  const publishDenied = pubDeny.length > 0 ? anyMatcher(pubDeny) : undefined;
  // A deny matcher applied to a pattern's text is nats-server's subscribe
  // check: its Sublist.Match takes the pattern's tokens literally, so a deny
  // `*` matches a pattern's `*` or `>` token, and a deny literal matches only
  // the same literal (deny `a.b` does not refuse `a.*`; delivery filters it).
  const subscribeDenied = subDeny.length > 0 ? anyMatcher(subDeny) : undefined;

  return Object.freeze({
    mayPublish: (subject: string) =>
      (publishAllowed === undefined || publishAllowed(subject)) &&
      (publishDenied === undefined || !publishDenied(subject)),
    maySubscribe: (pattern: string) =>
      (subAllow.length === 0 || subAllow.some((allow) => patternCovers(allow, pattern))) &&
      (subscribeDenied === undefined || !subscribeDenied(pattern)),
    deliverable:
      subscribeDenied === undefined ? undefined : (subject: string) => !subscribeDenied(subject),
  });
}
