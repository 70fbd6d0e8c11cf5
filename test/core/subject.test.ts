import { describe, expect, it } from "vitest";
import { HubError } from "../../src/core/errors.js";
import {
  compilePattern,
  GLOBAL_HUB_ID,
  hasWildcard,
  isValidHubId,
  literalPrefix,
  MAX_SUBJECT_BYTES,
  MAX_SUBJECT_TOKENS,
  MAX_TOKEN_LENGTH,
  matchSubject,
  patternCovers,
  resolvePublishSubject,
  validatePattern,
  validateSubject,
} from "../../src/core/subject.js";

const HUB = "local-hub";

/** `n` tokens of `t`, joined: a subject of exactly `n` tokens. */
const tokens = (n: number, t = "a") => Array.from({ length: n }, () => t).join(".");
const long = (n: number) => "x".repeat(n);
/** A subject of exactly `bytes` bytes whose tokens are all within the 64-character limit. */
function ofBytes(bytes: number): string {
  const parts: string[] = [];
  let left = bytes;
  // 63 characters and a dot per full token leave 1..64 characters for the last one.
  for (; left > MAX_TOKEN_LENGTH; left -= MAX_TOKEN_LENGTH) parts.push(long(MAX_TOKEN_LENGTH - 1));
  parts.push(long(left));
  return parts.join(".");
}

/** Runs `fn` and returns the HubError it throws; fails the test if it throws anything else or nothing. */
function hubErrorOf(fn: () => unknown): HubError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HubError);
    return error as HubError;
  }
  throw new Error("expected a HubError, nothing was thrown");
}

function expectInvalid(fn: () => unknown, param: string): HubError {
  const error = hubErrorOf(fn);
  expect(error.code).toBe("invalid_argument");
  expect(error.detail.param).toBe(param);
  expect(error.detail.reason).toBeTruthy();
  expect(error.message).toContain(param);
  return error;
}

describe("validateSubject (concrete subjects, contract section 1)", () => {
  const valid: readonly [string, string][] = [
    ["hub.local-hub.project.created", "the contract's example"],
    ["hub.global.presence.announced", "a federation subject"],
    ["a", "one token"],
    ["hub", "hub alone is a valid subject (just not publishable here)"],
    ["a-b_c.9.X", "- _ digits and capitals"],
    ["$SYS.x", "$ is printable ASCII"],
    ["a:b.c%20d.~e.#f.!g.@h.&i.+j.=k.?l.'m.,n.;o.<p.^q.|r", "unusual printable ASCII"],
    ['\\.".`.{}.[].()./', "quote, backslash, backtick, brackets, slash"],
    [tokens(MAX_SUBJECT_TOKENS), "exactly 16 tokens"],
    [ofBytes(MAX_SUBJECT_BYTES), "exactly 256 bytes"],
    [long(MAX_TOKEN_LENGTH), "a token of exactly 64 characters"],
  ];
  it.each(valid)("accepts %j (%s)", (subject) => {
    expect(validateSubject(subject)).toBe(subject);
  });

  const invalid: readonly [unknown, string][] = [
    ["", "empty"],
    [".", "only a dot"],
    ["a..b", "empty token in the middle"],
    [".a", "leading dot"],
    ["a.", "trailing dot"],
    ["a b", "space"],
    ["a\tb", "tab"],
    ["a\nb", "newline"],
    ["a\u0000b", "NUL"],
    ["a\u007fb", "DEL"],
    ["café.x", "non-ASCII"],
    ["a.*", "* is a wildcard, not allowed in a subject"],
    ["a.>", "> is a wildcard, not allowed in a subject"],
    ["a*b", "* inside a token"],
    ["a>b", "> inside a token"],
    [tokens(MAX_SUBJECT_TOKENS + 1), "17 tokens"],
    [ofBytes(MAX_SUBJECT_BYTES + 1), "257 bytes"],
    [long(MAX_TOKEN_LENGTH + 1), "a token of 65 characters"],
    [42, "not a string"],
    [undefined, "missing"],
    [null, "null"],
  ];
  it.each(invalid)("refuses %j (%s)", (subject) => {
    expectInvalid(() => validateSubject(subject), "subject");
  });

  it("names the param it was given", () => {
    expectInvalid(() => validateSubject("a..b", "topic"), "topic");
  });
});

describe("resolvePublishSubject (auto-prefix, ownership, shape)", () => {
  const accepted: readonly [string, string, string][] = [
    ["project.created", "hub.local-hub.project.created", "auto-prefix"],
    ["project.created.v2", "hub.local-hub.project.created.v2", "auto-prefix, more tokens"],
    ["hub.local-hub.project.created", "hub.local-hub.project.created", "own hub, as given"],
    ["hub.global.presence.announced", "hub.global.presence.announced", "hub.global is shared"],
    ["hubx.a", "hub.local-hub.hubx.a", "`hubx` does not start with `hub.`"],
    ["global.x", "hub.local-hub.global.x", "`global.` without `hub.` is just a domain"],
    [
      "Hub.other.x.y",
      "hub.local-hub.Hub.other.x.y",
      "the prefix check is case-sensitive, as NATS is",
    ],
  ];
  it.each(accepted)("%j → %j (%s)", (given, expected) => {
    expect(resolvePublishSubject(given, HUB)).toBe(expected);
  });

  const refused: readonly [unknown, string][] = [
    ["hub.other-hub.project.created", "another hub's namespace"],
    ["hub.LOCAL-HUB.project.created", "hub ids are case-sensitive: not this hub"],
    ["hub.local-hub.project", "no action"],
    ["hub.local-hub", "no domain, no action"],
    ["hub.global.presence", "hub.global also needs domain and action"],
    ["hub", "auto-prefixed to hub.local-hub.hub: no action"],
    ["project", "auto-prefixed to hub.local-hub.project: no action"],
    ["project.*", "wildcard in a publish subject"],
    ["hub.local-hub.project.>", "wildcard in a publish subject"],
    ["hub.*.project.created", "wildcard for the hub"],
    ["project..created", "empty token"],
    ["project created", "space"],
    ["", "empty"],
    [7, "not a string"],
    [tokens(MAX_SUBJECT_TOKENS - 1), "15 tokens given, 17 after the prefix"],
    [ofBytes(MAX_SUBJECT_BYTES - 4), "252 bytes given, over 256 after the prefix"],
  ];
  it.each(refused)("refuses %j (%s)", (given) => {
    expectInvalid(() => resolvePublishSubject(given, HUB), "subject");
  });

  it("says which hub owns a refused subject", () => {
    const error = expectInvalid(() => resolvePublishSubject("hub.b.x.y", HUB, "topic"), "topic");
    expect(error.detail.reason).toContain('"b"');
  });

  it("accepts exactly 16 tokens after the prefix", () => {
    const given = tokens(MAX_SUBJECT_TOKENS - 2);
    expect(resolvePublishSubject(given, HUB).split(".")).toHaveLength(MAX_SUBJECT_TOKENS);
  });
});

describe("validatePattern", () => {
  const valid: readonly string[] = [
    ">",
    "*",
    "*.*",
    "*.>",
    "hub.>",
    "hub.*",
    "hub.*.project.>",
    "hub.local-hub.project.created",
    "a.*.b.*.c",
    tokens(MAX_SUBJECT_TOKENS, "*"),
    `${tokens(MAX_SUBJECT_TOKENS - 1, "*")}.>`,
  ];
  it.each(valid)("accepts %j", (pattern) => {
    expect(validatePattern(pattern)).toBe(pattern);
  });

  const invalid: readonly [unknown, string][] = [
    ["", "empty"],
    [">.a", "> not last"],
    ["a.>.b", "> in the middle"],
    [">.>", "two >"],
    ["a.**", "** is not a wildcard token"],
    ["a.b*", "* inside a token"],
    ["a.>b", "> inside a token"],
    ["a..*", "empty token"],
    ["a.*.", "trailing dot"],
    ["a. *", "space"],
    [tokens(MAX_SUBJECT_TOKENS + 1, "*"), "17 tokens"],
    [`${ofBytes(MAX_SUBJECT_BYTES - 1)}.>`, "257 bytes"],
    [{}, "not a string"],
  ];
  it.each(invalid)("refuses %j (%s)", (pattern) => {
    expectInvalid(() => validatePattern(pattern, "pattern"), "pattern");
  });
});

describe("matchSubject / compilePattern (NATS semantics)", () => {
  const cases: readonly [pattern: string, subject: string, matches: boolean][] = [
    [">", "a", true],
    [">", "a.b.c", true],
    ["*", "a", true],
    ["*", "a.b", false],
    ["hub.>", "hub", false],
    ["hub.>", "hub.a", true],
    ["hub.>", "hub.a.b.c", true],
    ["hub.>", "hubx.a", false],
    ["hub.*", "hub", false],
    ["hub.*", "hub.a", true],
    ["hub.*", "hub.a.b", false],
    ["*.*", "a.b", true],
    ["*.*", "a", false],
    ["*.*", "a.b.c", false],
    ["*.>", "a", false],
    ["*.>", "a.b", true],
    ["a.*.c", "a.b.c", true],
    ["a.*.c", "a.c", false],
    ["a.*.c", "a.b.d", false],
    ["a.*.c", "a.b.c.d", false],
    ["a.b", "a.b", true],
    ["a.b", "a.b.c", false],
    ["a.b", "a", false],
    ["a.b", "a.B", false],
    ["a.b.c.>", "a.b.c", false],
    ["a.b.c.>", "a.b.c.d", true],
    ["hub.*.project.>", "hub.local-hub.project.created", true],
    ["hub.*.project.>", "hub.global.presence.announced", false],
    ["hub.global.>", "hub.global.presence.announced", true],
    ["$SYS.*", "$SYS.x", true],
    ["a:b.*", "a:b.%7e", true],
    ["a.*.a", "a.a.a", true],
    ["a.*.a", "a.a.b", false],
    [tokens(16, "*"), tokens(16), true],
    [tokens(16, "*"), tokens(15), false],
    [`${tokens(15)}.>`, tokens(16), true],
  ];
  it.each(cases)("%j vs %j → %s", (pattern, subject, matches) => {
    expect(matchSubject(pattern, subject)).toBe(matches);
    expect(compilePattern(pattern)(subject)).toBe(matches);
  });
});

describe("hub ids", () => {
  const cases: readonly [string, boolean][] = [
    ["local-hub", true],
    ["a", true],
    ["Hub_01-x", true],
    [long(64), true],
    [long(65), false],
    ["", false],
    [GLOBAL_HUB_ID, false],
    ["a.b", false],
    ["a b", false],
    ["a$", false],
    ["*", false],
    [">", false],
    ["hübe", false],
  ];
  it.each(cases)("isValidHubId(%j) is %s", (id, valid) => {
    expect(isValidHubId(id)).toBe(valid);
  });
});

describe("pattern helpers", () => {
  const prefixes: readonly [string, string, boolean][] = [
    [">", "", true],
    ["hub.>", "hub", true],
    ["hub.a.*.x", "hub.a", true],
    ["hub.a.b", "hub.a.b", false],
    ["*.a", "", true],
  ];
  it.each(prefixes)("literalPrefix(%j) is %j, hasWildcard %s", (pattern, prefix, wild) => {
    expect(literalPrefix(pattern)).toBe(prefix);
    expect(hasWildcard(pattern)).toBe(wild);
  });
});

describe("patternCovers (every subject inner matches, outer matches)", () => {
  const cases: readonly [string, string, boolean, string][] = [
    [">", ">", true, "> covers everything"],
    [">", "a.*.>", true, "> covers any pattern"],
    ["*", ">", false, "> can be two tokens"],
    ["hub.>", "hub.*.>", true, "hub.*.> is two or more tokens after hub"],
    ["hub.*.>", "hub.>", false, "hub.> matches hub.x, one token after hub"],
    ["hub.>", "hub", false, "hub.> needs a token after hub"],
    ["hub.*", "hub.>", false, "hub.> matches hub.a.b"],
    ["hub.*", "hub.*", true, "a pattern covers itself"],
    ["hub.*", "hub.a", true, "a wildcard covers a literal"],
    ["hub.a", "hub.*", false, "a literal covers only itself"],
    ["hub.a", "hub.a", true, "a literal covers itself"],
    ["hub.a", "hub.a.b", false, "longer"],
    ["hub.*.b", "hub.*.*", false, "the last * can be other than b"],
    ["*.*", "*.*.*", false, "different lengths"],
    ["a.*.>", "a.b.c.>", true, "> after a covered prefix"],
    ["a.*.*", "a.b.>", false, "> is not one token"],
  ];
  it.each(cases)("patternCovers(%j, %j) is %s (%s)", (outer, inner, covers) => {
    expect(patternCovers(outer, inner)).toBe(covers);
  });

  it("agrees with the definition on every pattern pair of a small alphabet", () => {
    // Patterns over {a, b, *, >} up to 3 tokens, subjects over {a, b, c} up
    // to 4: c stands for any other token, and one token longer than the
    // longest pattern is enough to tell a `>` from fixed lengths.
    const words = (alphabet: readonly string[], max: number): string[][] => {
      const out: string[][] = [];
      let level: string[][] = [[]];
      for (let n = 1; n <= max; n++) {
        level = level.flatMap((w) => alphabet.map((t) => [...w, t]));
        out.push(...level);
      }
      return out;
    };
    const patterns = words(["a", "b", "*", ">"], 3)
      .filter((w) => !w.slice(0, -1).includes(">"))
      .map((w) => w.join("."));
    const subjects = words(["a", "b", "c"], 4).map((w) => w.join("."));
    const matched = new Map(
      patterns.map((p) => [p, subjects.filter((s) => matchSubject(p, s))] as const),
    );
    const wrong: string[] = [];
    for (const outer of patterns) {
      for (const inner of patterns) {
        const truth = (matched.get(inner) ?? []).every((s) => matchSubject(outer, s));
        if (patternCovers(outer, inner) !== truth) wrong.push(`${outer} ⊇ ${inner}: ${truth}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
