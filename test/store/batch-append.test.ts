import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HubEvent, type NewEvent, newEventId } from "../../src/core/index.js";
import { createGroupCommit } from "../../src/store/group-commit.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { TEST_DATABASE_KINDS, testTarget } from "../helpers/databases.js";

// A batched publish (PublishBatch) is all or nothing with contiguous
// sequences: that rests on one append being one transaction, pinned here.

describe("group commit never splits a submission", () => {
  /** A group commit whose "transactions" are recorded as the item lists written. */
  function recorder(maxBatch: number) {
    const transactions: number[][] = [];
    const commit = createGroupCommit<number, number>(
      async (items) => {
        transactions.push(items);
        return items;
      },
      { maxBatch },
    );
    return { commit, transactions };
  }
  const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

  it("starts a new transaction for a submission larger than the room left", async () => {
    const { commit, transactions } = recorder(1000);
    const results = await Promise.all([
      commit.submit(range(0, 600)),
      commit.submit(range(600, 600)),
      commit.submit(range(1200, 10)),
    ]);
    expect(results.map((r) => r.length)).toEqual([600, 600, 10]);
    expect(results[1]).toEqual(range(600, 600));
    expect(transactions.map((t) => t.length)).toEqual([600, 610]);
  });

  it("writes a submission larger than maxBatch in one transaction of its own", async () => {
    const { commit, transactions } = recorder(100);
    const results = await Promise.all([
      commit.submit(range(0, 30)),
      commit.submit(range(30, 1000)),
      commit.submit(range(1030, 30)),
    ]);
    expect(results[1]).toEqual(range(30, 1000));
    expect(transactions.map((t) => t.length)).toEqual([30, 1000, 30]);
  });

  it("still coalesces small submissions", async () => {
    const { commit, transactions } = recorder(1000);
    await Promise.all(range(0, 50).map((i) => commit.submit([i])));
    expect(transactions).toEqual([range(0, 50)]);
  });
});

function newEvent(subject: string, i: number): NewEvent {
  return {
    id: newEventId(),
    subject,
    origin: { hubId: "local-hub", service: "test" },
    correlationId: `c-${i}`,
    payloadJson: JSON.stringify({ i }),
    timestamp: new Date().toISOString(),
  };
}

function expectContiguous(events: readonly HubEvent[]): void {
  const first = events[0]?.sequence as number;
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => first + i));
}

describe.each(TEST_DATABASE_KINDS)("batched appends on %s", (kind) => {
  let cleanup: () => Promise<void>;
  let log: SqlEventLog;
  let small: SqlEventLog;

  beforeAll(async () => {
    const target = await testTarget(kind, "hubbus-batch-");
    cleanup = target.cleanup;
    log = await openEventLog({ url: target.url });
    // A second writer on the same database whose group commit takes 100 at most.
    small = await openEventLog({ url: target.url, maxBatch: 100 });
  });
  afterAll(async () => {
    await small?.close();
    await log?.close();
    await cleanup?.();
  });

  it("appends 1,000 events in one transaction with contiguous sequences", async () => {
    const before = log.stats().appendTransactions;
    const events = Array.from({ length: 1000 }, (_, i) => newEvent("hub.local-hub.full.one", i));
    const stored = await log.append(events);
    expect(log.stats().appendTransactions - before).toBe(1);
    expect(stored.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expectContiguous(stored);
  });

  it("keeps a 1,000-event append whole where maxBatch is 100", async () => {
    const before = small.stats().appendTransactions;
    const events = Array.from({ length: 1000 }, (_, i) => newEvent("hub.local-hub.full.small", i));
    const stored = await small.append(events);
    expect(small.stats().appendTransactions - before).toBe(1);
    expectContiguous(stored);
  });

  it("keeps a batch contiguous among concurrent single appends", async () => {
    const singles = (tag: string) =>
      Array.from({ length: 50 }, (_, i) => log.append([newEvent(`hub.local-hub.mix.${tag}`, i)]));
    const first = singles("before");
    const batch = log.append(
      Array.from({ length: 1000 }, (_, i) => newEvent("hub.local-hub.mix.batch", i)),
    );
    const last = singles("after");
    const [stored, ...others] = await Promise.all([batch, ...first, ...last]);
    expectContiguous(stored as HubEvent[]);
    const start = stored?.[0]?.sequence as number;
    for (const [single] of others) {
      const seq = single?.sequence as number;
      expect(seq < start || seq > start + 999).toBe(true);
    }
  });

  it("rolls back every event of an append when one row fails, past the first statement", async () => {
    const lastBefore = await log.lastSequence();
    const events = Array.from({ length: 1000 }, (_, i) => newEvent("hub.local-hub.rollback", i));
    // NOT NULL fails at row 700: PostgreSQL has inserted rows 0-499 by then, SQLite 0-699.
    events[700] = { ...events[700], subject: null } as unknown as NewEvent;
    await expect(log.append(events)).rejects.toThrow();
    expect(await log.lastSequence()).toBe(lastBefore);
    expect(await log.query("hub.local-hub.rollback", 10)).toEqual([]);
    // The log still works afterwards.
    expect(await log.append([newEvent("hub.local-hub.rollback.after", 0)])).toHaveLength(1);
  });
});
