import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HubError, type NewEvent, newEventId } from "../../src/core/index.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { TEST_DATABASE_KINDS, type TestTarget, testTarget } from "../helpers/databases.js";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.js";

function newEvent(
  subject: string,
  payload: Record<string, unknown> = {},
  correlationId = "c-1",
): NewEvent {
  return {
    id: newEventId(),
    subject,
    origin: { hubId: "local-hub", service: "test" },
    correlationId,
    payloadJson: JSON.stringify(payload),
    timestamp: new Date().toISOString(),
  };
}

describe.each(TEST_DATABASE_KINDS)("event log contract on %s", (kind) => {
  let target: TestTarget;
  let log: SqlEventLog;

  beforeAll(async () => {
    target = await testTarget(kind, "hubbus-log-");
    log = await openEventLog({ url: target.url });
  });
  afterAll(async () => {
    await log?.close();
    await target?.cleanup();
  });

  it("keeps an event's trace context for the outbox, and none for an untraced one", async () => {
    const traceContext = {
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      tracestate: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    };
    const [traced, plain] = await log.append([
      { ...newEvent("hub.local-hub.trace.traced"), traceContext },
      newEvent("hub.local-hub.trace.plain"),
    ]);
    const pending = await log.outbox.pending(100_000);
    const byId = new Map(pending.map((e) => [e.id, e]));
    expect(byId.get(traced?.id as string)?.traceContext).toEqual(traceContext);
    expect(byId.get(plain?.id as string)).not.toHaveProperty("traceContext");
    // Queries and subscribers never see it.
    const [queried] = await log.query("hub.local-hub.trace.traced", 1);
    expect(queried).not.toHaveProperty("traceContext");
  });

  it("applies its migrations on first open only", async () => {
    expect(log.appliedMigrations).toEqual([
      "0001-initial-log",
      "0002-outbox",
      "0003-idempotency",
      "0004-retention-lease",
      "0005-trace-context",
    ]);
    const again = await openEventLog({ url: target.url });
    expect(again.appliedMigrations).toEqual([]);
    await again.close();
  });

  it("appends with strictly increasing sequences and reads every field back", async () => {
    const before = await log.lastSequence();
    const events = [
      newEvent(
        "hub.local-hub.project.created",
        { id: "p1", nested: { a: [1, 2, null] } },
        "corr-a",
      ),
      newEvent("hub.local-hub.project.deleted", {}, "corr-b"),
    ];
    const stored = await log.append(events);
    expect(stored.map((e) => e.sequence)).toEqual([before + 1, before + 2]);
    const [latest, previous] = await log.query("hub.local-hub.project.*", 2);
    expect(previous).toEqual({
      id: events[0]?.id,
      subject: "hub.local-hub.project.created",
      origin: { hubId: "local-hub", service: "test" },
      correlationId: "corr-a",
      payload: { id: "p1", nested: { a: [1, 2, null] } },
      timestamp: events[0]?.timestamp,
      sequence: before + 1,
    });
    expect(latest?.sequence).toBe(before + 2);
    expect(await log.lastSequence()).toBe(before + 2);
  });

  describe("patterns", () => {
    const subjects = [
      "hub.a.project.created",
      "hub.a.project.deleted",
      "hub.ab.project.created",
      "hub.b.project.created",
      "hub.a.project.created.extra",
      "hub.a.audit.x+y.(z)",
      "hub.a",
      "hub.global.presence.announced",
    ];
    let base = 0;
    beforeAll(async () => {
      base = await log.lastSequence();
      await log.append(subjects.map((s) => newEvent(s)));
    });

    const cases: [string, string[]][] = [
      ["hub.a.project.created", ["hub.a.project.created"]],
      ["hub.a", ["hub.a"]],
      [
        "hub.a.>",
        [
          "hub.a.project.created",
          "hub.a.project.deleted",
          "hub.a.project.created.extra",
          "hub.a.audit.x+y.(z)",
        ],
      ],
      [
        "hub.*.project.created",
        ["hub.a.project.created", "hub.ab.project.created", "hub.b.project.created"],
      ],
      ["hub.a.project.*", ["hub.a.project.created", "hub.a.project.deleted"]],
      ["hub.a.*.created.>", ["hub.a.project.created.extra"]],
      [
        "*.a.>",
        [
          "hub.a.project.created",
          "hub.a.project.deleted",
          "hub.a.project.created.extra",
          "hub.a.audit.x+y.(z)",
        ],
      ],
      ["*.*", ["hub.a"]],
      ["hub.a.audit.x+y.(z)", ["hub.a.audit.x+y.(z)"]],
      ["hub.a.audit.*.(z)", ["hub.a.audit.x+y.(z)"]],
      ["hub.global.>", ["hub.global.presence.announced"]],
      ["hub.>", subjects],
      [">", subjects],
      ["hub.c.>", []],
    ];

    it.each(cases)(
      "query %s matches exactly the NATS matches, newest first",
      async (pattern, expected) => {
        const found = (await log.query(pattern, 1000)).filter((e) => e.sequence > base);
        const expectedNewestFirst = subjects
          .map((s, i) => ({ s, seq: base + i + 1 }))
          .filter(({ s }) => expected.includes(s))
          .reverse();
        expect(found.map((e) => [e.sequence, e.subject])).toEqual(
          expectedNewestFirst.map((x) => [x.seq, x.s]),
        );
      },
    );

    it.each(cases)(
      "readAfter %s returns the same events oldest first",
      async (pattern, expected) => {
        const found = await log.readAfter(base, pattern, 1000);
        expect(found.map((e) => e.subject)).toEqual(subjects.filter((s) => expected.includes(s)));
      },
    );

    it("applies the limit after filtering", async () => {
      const newest = await log.query("hub.*.project.created", 2);
      expect(newest.map((e) => e.subject)).toEqual([
        "hub.b.project.created",
        "hub.ab.project.created",
      ]);
      const oldest = await log.readAfter(base, "hub.*.project.created", 2);
      expect(oldest.map((e) => e.subject)).toEqual([
        "hub.a.project.created",
        "hub.ab.project.created",
      ]);
    });
  });

  it("group-commits 1,000 concurrent appends into far fewer transactions", async () => {
    const before = log.stats();
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => log.append([newEvent(`hub.local-hub.load.e${i}`)])),
    );
    const seqs = results.map((r) => r[0]?.sequence as number);
    expect(new Set(seqs).size).toBe(1000);
    const after = log.stats();
    const transactions = after.appendTransactions - before.appendTransactions;
    console.info(`[${kind}] 1000 concurrent appends in ${transactions} transactions`);
    expect(after.appendedEvents - before.appendedEvents).toBe(1000);
    expect(transactions).toBeLessThanOrEqual(50);
    const stored = await log.readAfter(Math.min(...seqs) - 1, "hub.local-hub.load.>", 1000);
    expect(stored.map((e) => e.sequence)).toEqual([...seqs].sort((a, b) => a - b));
  });

  it("skips an event whose id is already stored", async () => {
    const event = newEvent("hub.other.project.created");
    const first = await log.append([{ ...event, ingested: true }]);
    const again = await log.append([
      { ...event, ingested: true },
      newEvent("hub.local-hub.after.dup"),
    ]);
    expect(first).toHaveLength(1);
    expect(again.map((e) => e.subject)).toEqual(["hub.local-hub.after.dup"]);
    expect(again[0]?.sequence).toBeGreaterThan(first[0]?.sequence as number);
  });

  it("keeps an outbox: pending local events, one lease owner, a fenced cursor", async () => {
    const { outbox } = log;
    expect(await outbox.claim("relay-a", 60_000)).toBe(true);
    expect(await outbox.claim("relay-b", 60_000)).toBe(false);
    // Everything stored so far except ingested events is waiting.
    const last = await log.lastSequence();
    const backlog = await outbox.backlog();
    const pending = await outbox.pending(10_000);
    expect(backlog.count).toBe(pending.length);
    expect(backlog.oldestTimestamp).toBe(pending[0]?.timestamp);
    expect(pending.map((e) => e.subject)).not.toContain("hub.other.project.created");
    expect(await outbox.markForwarded("relay-b", last)).toBe(false);
    expect(await outbox.markForwarded("relay-a", last)).toBe(true);
    expect(await outbox.backlog()).toEqual({ count: 0 });
    expect(await outbox.pending(10)).toEqual([]);
    // The cursor never moves back.
    expect(await outbox.markForwarded("relay-a", 1)).toBe(true);
    const [next] = await log.append([newEvent("hub.local-hub.after.cursor")]);
    expect((await outbox.pending(10)).map((e) => e.sequence)).toEqual([next?.sequence]);
    await log.append([{ ...newEvent("hub.b.came.from-nats"), ingested: true }]);
    expect((await outbox.backlog()).count).toBe(1);
    await outbox.release("relay-a");
    expect(await outbox.claim("relay-b", 60_000)).toBe(true);
    await outbox.release("relay-b");
  });

  it("refuses work once closed, with unavailable", async () => {
    const other = await openEventLog({ url: target.url });
    await other.close();
    await expect(other.query(">", 1)).rejects.toMatchObject({ code: "unavailable" });
  });
});

describe("event log on PostgreSQL with two writers", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("never lets a reader skip a sequence that commits late", async () => {
    const a = await openEventLog({ url: db.url, maxBatch: 7 });
    const b = await openEventLog({ url: db.url, maxBatch: 5 });
    const seen: number[] = [];
    let done = false;
    const tail = (async () => {
      let cursor = 0;
      while (!done || cursor < (await a.lastSequence())) {
        const batch = await a.readAfter(cursor, ">", 500);
        for (const e of batch) seen.push(e.sequence);
        if (batch.length > 0) cursor = batch[batch.length - 1]?.sequence as number;
      }
    })();
    await Promise.all(
      Array.from({ length: 600 }, (_, i) =>
        (i % 2 === 0 ? a : b).append([newEvent(`hub.local-hub.race.e${i}`)]),
      ),
    );
    done = true;
    await tail;
    expect(seen).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    await a.close();
    await b.close();
  });
});

describe("event log errors", () => {
  it("reports an unreachable PostgreSQL as unavailable", async () => {
    const error = await openEventLog({ url: "postgres://postgres@127.0.0.1:1/none" }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(HubError);
    expect(error.code).toBe("unavailable");
  });

  it("keeps events across a reopen of a SQLite file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hubbus-reopen-"));
    try {
      const url = `sqlite:${join(dir, "nested", "hub.db")}`;
      const first = await openEventLog({ url });
      await first.append([newEvent("hub.local-hub.keep.me")]);
      await first.close();
      const second = await openEventLog({ url });
      expect((await second.query(">", 10)).map((e) => e.subject)).toEqual([
        "hub.local-hub.keep.me",
      ]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
