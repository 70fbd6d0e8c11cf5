import { validatePattern, validateSubject } from "../../src/core/subject.js";
import { seededRandom } from "./random.js";

/**
 * Seeded subjects and patterns for the differential suites (each compares
 * hubbus with a real nats-server): the same seed gives the same cases on
 * every run, so a failure reproduces.
 */

/** Random subjects added to the fixed ones. */
export const RANDOM_SUBJECTS = 170;
/** Random patterns added to the fixed ones. */
export const RANDOM_PATTERNS = 170;

// A few common tokens make random subjects and patterns collide often (so
// there are many matches, not just misses); the rest are printable oddities.
export const COMMON = ["hub", "a", "b", "local-hub", "global"];
export const ODD = [
  "x_1",
  "9",
  "0-_",
  "$",
  "$SYS",
  "a:b",
  "%7e",
  "~",
  "-",
  "_",
  "A",
  "#!",
  "@&+=",
  "{}",
  "|^",
];

/**
 * Valid subjects and patterns, each once: fixed edge cases plus random ones
 * built from {@link COMMON} and {@link ODD} tokens, most patterns derived
 * from a generated subject so that they match some.
 */
export function generateSubjectCases(seed: number): { patterns: string[]; subjects: string[] } {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const token = () => (random() < 0.7 ? pick(COMMON) : pick(ODD));
  const randomSubject = () => {
    // Mostly short, sometimes up to the 16-token limit.
    const length = random() < 0.9 ? 1 + Math.floor(random() * 5) : 6 + Math.floor(random() * 11);
    return Array.from({ length }, token);
  };
  const repeat = (n: number, t: string) => Array.from({ length: n }, () => t).join(".");

  const subjects = [
    "a",
    "hub",
    "hub.a",
    "hub.a.b",
    "a.a",
    "a.a.a",
    "a.b.a",
    "hub.local-hub.project.created",
    "hub.global.presence.announced",
    "$.~.%7e",
    "_INBOX.x",
    repeat(15, "a"),
    repeat(16, "a"),
  ];
  for (let i = 0; i < RANDOM_SUBJECTS; i++) subjects.push(randomSubject().join("."));

  const patterns = [
    ">",
    "*",
    "*.*",
    "*.>",
    "hub",
    "hub.>",
    "hub.*",
    "hub.*.>",
    "hub.*.*.>",
    "a.>",
    "a.*",
    "*.a",
    "a.*.a",
    "*.*.*",
    "hub.local-hub.project.created",
    repeat(16, "*"),
    `${repeat(15, "*")}.>`,
    `${repeat(15, "a")}.>`,
  ];
  for (let i = 0; i < RANDOM_PATTERNS; i++) {
    // Derive most patterns from a subject we publish, so they can match it.
    const base = random() < 0.8 ? pick(subjects).split(".") : randomSubject();
    let tokens = base.map((t) => (random() < 0.3 ? "*" : t));
    const shape = random();
    if (shape < 0.3) {
      // `>` after k tokens (k = 0 gives `>` alone).
      tokens = [...tokens.slice(0, Math.floor(random() * (tokens.length + 1))), ">"];
    } else if (shape < 0.45) {
      tokens.push(random() < 0.5 ? "*" : token()); // one token longer than the subject
    } else if (shape < 0.6 && tokens.length > 1) {
      tokens.pop(); // one token shorter than the subject
    }
    patterns.push(tokens.join("."));
  }

  // Keep only what the contract accepts (the 16-token and 256-byte limits
  // apply to both), each once.
  const valid = (check: (s: string) => unknown) => (s: string) => {
    try {
      check(s);
      return true;
    } catch {
      return false;
    }
  };
  return {
    patterns: [...new Set(patterns)].filter(valid(validatePattern)),
    subjects: [...new Set(subjects)].filter(valid(validateSubject)),
  };
}
