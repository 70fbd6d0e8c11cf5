import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compilePattern, type NewEvent, newEventId } from "../../src/core/index.js";
import { EVENT_COLUMNS } from "../../src/store/event-row.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { LAST_SEQUENCE_SQL, MAX_ENUMERATED_SUBJECTS } from "../../src/store/log-reads.js";
import { TEST_DATABASE_KINDS, testTarget } from "../helpers/databases.js";

// Reads pick their path by pattern (a window of recent rows, the subject
// index range, enumerated subjects, or a scan): on a log large enough that
// every path is taken, each must return exactly what matching every row does.

const EVENTS = 6000;

/** Sparse, dense, rare and unique (more distinct subjects than the reads enumerate) subjects. */
function subjectOf(i: number): string {
  if (i % 500 === 7) return "hub.a.rare.x";
  if (i % 10 === 3) return `hub.a.d3.k${i % 7}`;
  if (i % 2 === 0) return `hub.u.item.${i}`;
  return `hub.b.d${i % 50}.k${i % 3}`;
}

const patterns = [
  ">",
  "hub.>",
  "hub.a.>",
  "hub.a.rare.>",
  "hub.a.rare.x",
  "*.a.rare.*",
  "*.*.rare.x",
  "*.*.*.x",
  "hub.*.d3.*",
  "hub.a.*.k3",
  "*.b.d7.k1",
  "*.b.>",
  "hub.b.*.k2",
  // Rows at the window's edge for limits 1, 7 (sequence 5000) and 100 (4000).
  "hub.b.d49.*",
  "*.*.d49.k0",
  "hub.u.>",
  "hub.u.*.17",
  "*.u.item.4002",
  "*.u.item.*",
  "*.*.*.*",
  "hub.nothing.>",
  "*.nothing.>",
];

describe.each(TEST_DATABASE_KINDS)("reads by pattern on %s", (kind) => {
  let log: SqlEventLog;
  let cleanup: () => Promise<void>;
  const stored: { sequence: number; subject: string }[] = [];

  beforeAll(async () => {
    const target = await testTarget(kind, "hubbus-reads-");
    cleanup = target.cleanup;
    log = await openEventLog({ url: target.url });
    for (let from = 0; from < EVENTS; from += 1000) {
      const events: NewEvent[] = [];
      for (let i = from; i < from + 1000; i++) {
        events.push({
          id: newEventId(),
          subject: subjectOf(i),
          origin: { hubId: "local-hub", service: "test" },
          correlationId: `c-${i}`,
          payloadJson: JSON.stringify({ i }),
          timestamp: new Date().toISOString(),
        });
      }
      for (const e of await log.append(events)) stored.push(e);
    }
  }, 60_000);
  afterAll(async () => {
    await log?.close();
    await cleanup?.();
  });

  function expected(pattern: string): { sequence: number; subject: string }[] {
    const matches = compilePattern(pattern);
    return stored.filter((e) => matches(e.subject));
  }

  it("has more distinct subjects than a read enumerates", () => {
    expect(new Set(stored.map((e) => e.subject)).size).toBeGreaterThan(MAX_ENUMERATED_SUBJECTS);
  });

  it.each(patterns)("query %s returns the newest matches, newest first", async (pattern) => {
    const all = expected(pattern).reverse();
    for (const limit of [1, 7, 100, 1000]) {
      const found = await log.query(pattern, limit);
      expect(found.map((e) => [e.sequence, e.subject])).toEqual(
        all.slice(0, limit).map((e) => [e.sequence, e.subject]),
      );
    }
  });

  it.each(patterns)("readAfter %s pages through every match in order", async (pattern) => {
    const all = expected(pattern);
    for (const [start, page] of [
      [0, 100],
      [stored[2500]?.sequence as number, 333],
    ] as const) {
      const seen: number[] = [];
      let cursor = start;
      for (;;) {
        const batch = await log.readAfter(cursor, pattern, page);
        seen.push(...batch.map((e) => e.sequence));
        if (batch.length < page) break;
        cursor = batch[batch.length - 1]?.sequence as number;
      }
      expect(seen).toEqual(all.filter((e) => e.sequence > start).map((e) => e.sequence));
    }
  });

  it("traces a read: the statements it ran, in order, with their parameters and row counts", async () => {
    const placeholder = kind === "postgres" ? /\$1\b/ : /\?/;
    const everything = await log.traceQuery(">", 10);
    expect(everything).toHaveLength(1);
    expect(everything[0]).toMatchObject({ params: [10], rows: 10 });
    expect(everything[0]?.sql).toMatch(placeholder);

    // A rare match under a leading wildcard: the window first, then the enumerated subjects.
    const rare = await log.traceQuery("*.a.rare.*", 100);
    expect(rare[0]).toEqual({ sql: LAST_SEQUENCE_SQL, params: [], rows: 1 });
    expect(rare.length).toBeGreaterThan(2);
    const found = expected("*.a.rare.*").length;
    expect(rare.at(-1)?.rows).toBe(found - (rare[1]?.rows ?? 0));

    const after = stored[2500]?.sequence as number;
    const page = await log.traceQuery("hub.a.rare.>", 5, { after });
    expect(page.flatMap((s) => s.params)).toContain(after);
    // The statements that fetch events, not subjects or the last sequence, make up the page.
    const fetched = page.filter((s) => s.sql.startsWith(`select ${EVENT_COLUMNS}`));
    expect(fetched.reduce((sum, s) => sum + s.rows, 0)).toBe(5);
  });

  it("decodes every field of a row it reads", async () => {
    const [newest] = await log.query("hub.a.rare.>", 1);
    const last = stored.filter((e) => e.subject === "hub.a.rare.x").at(-1);
    expect(newest).toMatchObject({
      sequence: last?.sequence,
      subject: "hub.a.rare.x",
      origin: { hubId: "local-hub", service: "test" },
    });
    expect(newest?.payload).toEqual({ i: Number(newest?.correlationId.slice(2)) });
  });
});
