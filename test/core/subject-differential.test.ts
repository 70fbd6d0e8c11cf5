import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { matchSubject, validatePattern, validateSubject } from "../../src/core/subject.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { seededRandom } from "../helpers/random.js";

/**
 * The contract says the matcher must agree with nats-server on every case, so
 * this suite asks nats-server itself: subscribe with every pattern, publish
 * every subject, and compare who got what with `matchSubject` for every pair.
 */

const SEED = 0x5eed_2025;
const RANDOM_SUBJECTS = 170;
const RANDOM_PATTERNS = 170;

// A few common tokens make random subjects and patterns collide often (so
// there are many matches, not just misses); the rest are printable oddities.
const COMMON = ["hub", "a", "b", "local-hub", "global"];
const ODD = [
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

function generate(seed: number): { patterns: string[]; subjects: string[] } {
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

describe("matchSubject agrees with nats-server", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;

  // Its own server: these subjects (hub.local-hub.…, `>`) would otherwise
  // reach, and be reached by, suites sharing the global server.
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url, name: "subject-differential" });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
  });

  it("on every generated pattern/subject pair", async () => {
    const { patterns, subjects } = generate(SEED);
    const pairs = patterns.length * subjects.length;
    expect(pairs).toBeGreaterThanOrEqual(200);

    const subjectIndex = new Map(subjects.map((s, i) => [s, i]));
    const deliveries = new Uint16Array(pairs);
    const strays: string[] = [];
    patterns.forEach((pattern, p) => {
      nc.subscribe(pattern, {
        callback: (err, msg) => {
          const s = subjectIndex.get(msg?.subject ?? "");
          if (err || s === undefined) strays.push(`${pattern}: ${err?.message ?? msg.subject}`);
          else deliveries[p * subjects.length + s] = (deliveries[p * subjects.length + s] ?? 0) + 1;
        },
      });
    });
    // One barrier after the SUBs and one after the PUBs: the server answers a
    // PING only after everything sent before it, and delivers this
    // connection's own messages (echo) ahead of the PONG.
    await nc.flush();
    for (const subject of subjects) nc.publish(subject);
    await nc.flush();

    const disagreements: string[] = [];
    let matches = 0;
    patterns.forEach((pattern, p) => {
      subjects.forEach((subject, s) => {
        const got = deliveries[p * subjects.length + s] ?? 0;
        const expected = matchSubject(pattern, subject);
        if (expected) matches++;
        if (got !== (expected ? 1 : 0)) {
          disagreements.push(`${pattern} vs ${subject}: nats-server ${got}, matcher ${expected}`);
        }
      });
    });

    expect(strays).toEqual([]);
    expect(disagreements.slice(0, 20)).toEqual([]);
    // Guard against a vacuous run: plenty of both answers.
    expect(matches).toBeGreaterThanOrEqual(200);
    expect(pairs - matches).toBeGreaterThanOrEqual(200);
    console.info(
      `subject differential: ${patterns.length} patterns × ${subjects.length} subjects = ` +
        `${pairs} pairs, ${matches} matches, all agree with nats-server`,
    );
  });
});
