import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NewEvent, newEventId } from "../../src/core/index.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { TEST_DATABASE_KINDS, type TestTarget, testTarget } from "../helpers/databases.js";

const HOUR_MS = 3_600_000;

/** One statement on the log's database over a connection of its own, behind the log's back. */
async function rawRun(url: string, sql: string): Promise<void> {
  if (url.startsWith("sqlite:")) {
    const db = new Database(url.slice("sqlite:".length));
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function newEvent(options: { key?: string; ageMs?: number; payload?: object } = {}): NewEvent {
  return {
    id: newEventId(),
    subject: "hub.local-hub.prune.test",
    origin: { hubId: "local-hub", service: "test" },
    correlationId: "c-1",
    payloadJson: JSON.stringify(options.payload ?? {}),
    timestamp: new Date(Date.now() - (options.ageMs ?? 0)).toISOString(),
    ...(options.key === undefined
      ? {}
      : { idempotency: { scope: "service:test", key: options.key } }),
  };
}

describe.each(TEST_DATABASE_KINDS)("idempotency keys and pruning on %s", (kind) => {
  let target: TestTarget;
  let log: SqlEventLog;

  beforeAll(async () => {
    target = await testTarget(kind, "hubbus-prune-");
    log = await openEventLog({ url: target.url });
  });
  afterAll(async () => {
    await log?.close();
    await target?.cleanup();
  });

  // In this order: pruning by age and keys by window take the oldest rows first, as a prefix.

  /** Moves the outbox cursor to the end, as a relay that forwarded everything would. */
  async function forwardAll(): Promise<void> {
    expect(await log.outbox.claim("test-relay", 60_000)).toBe(true);
    expect(await log.outbox.markForwarded("test-relay", await log.lastSequence())).toBe(true);
  }

  it("says what a dry run would prune and prunes it, never the newest nor the unforwarded", async () => {
    await log.append(Array.from({ length: 30 }, () => newEvent({ ageMs: 2 * HOUR_MS })));
    const last = await log.lastSequence();
    const first = await log.firstSequence();
    // Nothing forwarded yet: nothing may go.
    const held = await log.prune({ maxAgeMs: HOUR_MS });
    expect(held).toMatchObject({ events: 0, heldForOutbox: true, leaseHeld: true });
    await forwardAll();
    const dry = await log.prune({ maxAgeMs: HOUR_MS, dryRun: true, stepEvents: 7 });
    expect(dry).toMatchObject({
      events: last - first,
      fromSequence: first,
      throughSequence: last - 1,
    });
    expect(await log.firstSequence()).toBe(first);
    const done = await log.prune({ maxAgeMs: HOUR_MS, stepEvents: 7 });
    expect(done.events).toBe(last - first);
    // The newest stays, so the log keeps its position.
    expect(await log.firstSequence()).toBe(last);
    expect(await log.prunedThrough()).toBe(last - 1);
  });

  it("forgets keys older than the window, so the key can be used again", async () => {
    const old = newEvent({ key: "aged-key", ageMs: 2 * HOUR_MS });
    await log.append([old, newEvent()]);
    const dry = await log.prune({ idempotencyWindowMs: HOUR_MS, dryRun: true });
    expect(dry.keys).toBe(1);
    const done = await log.prune({ idempotencyWindowMs: HOUR_MS });
    expect(done.keys).toBe(1);
    const reuse = newEvent({ key: "aged-key", payload: { other: true } });
    const [stored] = await log.append([reuse]);
    expect(stored?.id).toBe(reuse.id);
  });

  it("stores one event per key, within one group commit and across groups", async () => {
    const a = newEvent({ key: "same" });
    const b = newEvent({ key: "same" });
    // One append: one transaction holding both.
    const [first, second] = await log.append([a, b]);
    expect(first?.id).toBe(a.id);
    expect(second?.id).toBe(a.id);
    expect(second?.sequence).toBe(first?.sequence);
    // Concurrent appends: they share a group or follow each other; either way one event.
    const results = await Promise.all(
      Array.from({ length: 20 }, () => log.append([newEvent({ key: "same" })])),
    );
    for (const [event] of results) expect(event?.id).toBe(a.id);
    const found = await log.findKeyed("service:test", ["same", "absent"]);
    expect([...found.keys()]).toEqual(["same"]);
  });

  it("deletes what a pruner left below the watermark when it died between raising it and deleting", async () => {
    // The earlier cases left one event; these follow it with no gaps.
    const stored = await log.append(Array.from({ length: 20 }, () => newEvent()));
    await forwardAll();
    const survivor = await log.firstSequence();
    const seqs = stored.map((e) => e.sequence);
    const watermark = seqs[9] as number;
    // What a step does before its delete: the watermark raised past events still there.
    await rawRun(
      target.url,
      `update "hub_outbox" set "forwarded_seq" = ${watermark} where "name" = 'prune'`,
    );
    expect(await log.firstSequence()).toBe(survivor);
    const report = await log.prune({ maxEvents: 5, stepEvents: 4 });
    const last = seqs[19] as number;
    // The leftovers went, and the pass pruned on from the watermark down to the cap.
    expect(await log.firstSequence()).toBe(last - 4);
    expect(report.fromSequence).toBe(seqs[10]);
    expect(report.throughSequence).toBe(last - 5);
  });

  it("does nothing while another instance holds the pruning lease", async () => {
    const other = log.startPruner({ intervalMs: 3_600_000, leaseMs: 60_000 });
    await other.runOnce();
    const report = await log.prune({ maxEvents: 1 });
    expect(report.leaseHeld).toBe(false);
  });
});
