import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventBus, type HubCore, type HubEvent } from "../../src/core/index.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { TEST_DATABASE_KINDS, testTarget } from "../helpers/databases.js";

/** Reads `count` events from a subscription, then stops it. */
async function take(iterable: AsyncIterable<HubEvent>, count: number): Promise<HubEvent[]> {
  const out: HubEvent[] = [];
  if (count === 0) return out;
  for await (const event of iterable) {
    out.push(event);
    if (out.length >= count) break;
  }
  return out;
}

function publishMany(bus: HubCore, subjects: string[]) {
  return Promise.all(subjects.map((subject, i) => bus.publish({ subject, payload: { i } })));
}

describe.each(TEST_DATABASE_KINDS)("live subscriptions on %s", (kind) => {
  let cleanup: () => Promise<void>;
  let log: SqlEventLog;
  let bus: HubCore;

  beforeAll(async () => {
    const db = await testTarget(kind, "hubbus-live-");
    cleanup = db.cleanup;
    log = await openEventLog({ url: db.url });
    bus = createEventBus({ log, live: { bufferEvents: 16, pageEvents: 50, pollMs: 200 } });
  });
  afterAll(async () => {
    bus.close();
    await log.close();
    await cleanup();
  });

  it("replays after a sequence, oldest first, then continues live without a gap or duplicate", async () => {
    const first = await publishMany(bus, ["replay.a", "replay.b", "other.x", "replay.c"]);
    const after = first[0]?.sequence as number;
    const stream = bus.subscribe({ subject: "hub.local-hub.replay.*", afterSequence: after });
    const reading = take(stream, 4);
    await new Promise((r) => setTimeout(r, 50));
    const second = await publishMany(bus, ["replay.d", "other.y", "replay.e"]);
    const got = await reading;
    expect(got.map((e) => e.subject)).toEqual([
      "hub.local-hub.replay.b",
      "hub.local-hub.replay.c",
      "hub.local-hub.replay.d",
      "hub.local-hub.replay.e",
    ]);
    expect(got.map((e) => e.sequence)).toEqual([
      first[1]?.sequence,
      first[3]?.sequence,
      second[0]?.sequence,
      second[2]?.sequence,
    ]);
  });

  it("without after_sequence delivers only events appended after the call", async () => {
    await publishMany(bus, ["fresh.before"]);
    const stream = bus.subscribe({ subject: "hub.local-hub.fresh.>" });
    const reading = take(stream, 1);
    await new Promise((r) => setTimeout(r, 50));
    await publishMany(bus, ["fresh.after"]);
    expect((await reading).map((e) => e.subject)).toEqual(["hub.local-hub.fresh.after"]);
  });

  it("treats an after_sequence beyond the end as live from now", async () => {
    const stream = bus.subscribe({ subject: "hub.local-hub.beyond.>", afterSequence: 10_000_000 });
    const reading = take(stream, 1);
    await new Promise((r) => setTimeout(r, 50));
    await publishMany(bus, ["beyond.one"]);
    expect((await reading).map((e) => e.subject)).toEqual(["hub.local-hub.beyond.one"]);
  });

  it("lets a subscriber that stops reading fall behind to the log and catch up in order", async () => {
    const controller = new AbortController();
    const slow = bus.subscribe({ subject: "hub.local-hub.slow.>" }, controller.signal);
    const fast = bus.subscribe({ subject: "hub.local-hub.slow.>" });
    const firstSlow = slow.next(); // registers, then is not read for a while
    const fastReading = take(fast, 300);
    await new Promise((r) => setTimeout(r, 50));
    const published = await publishMany(
      bus,
      Array.from({ length: 300 }, (_, i) => `slow.e${i}`),
    );
    // The fast one gets everything while the slow one's buffer (16) is long full.
    expect((await fastReading).map((e) => e.sequence)).toEqual(published.map((p) => p.sequence));
    const slowGot = [(await firstSlow).value as HubEvent, ...(await take(slow, 299))];
    expect(slowGot.map((e) => e.sequence)).toEqual(published.map((p) => p.sequence));
    controller.abort();
  });

  it("survives being cut off and resumed at random points while 4 publishers run", async () => {
    const total = 2000;
    const start = await log.lastSequence();
    let published = 0;
    const publishers = Array.from({ length: 4 }, async (_, p) => {
      for (let i = p; i < total; i += 4) {
        await bus.publish({ subject: `resume.p${p}`, payload: { i } });
        published++;
      }
    });
    // Three subscribers resume independently, so each joins a tail that others keep busy.
    const resumer = async () => {
      const seen: number[] = [];
      let cursor = start;
      let cuts = 0;
      while (seen.length < total) {
        const controller = new AbortController();
        const stream = bus.subscribe(
          { subject: "hub.local-hub.resume.*", afterSequence: cursor },
          controller.signal,
        );
        const budget = 1 + Math.floor(Math.random() * 200);
        for await (const event of stream) {
          seen.push(event.sequence);
          cursor = event.sequence;
          if (seen.length % budget === 0 || seen.length >= total) break;
        }
        controller.abort();
        cuts++;
      }
      return { seen, cuts };
    };
    const results = await Promise.all([resumer(), resumer(), resumer()]);
    await Promise.all(publishers);
    expect(published).toBe(total);
    for (const { seen, cuts } of results) {
      expect(cuts).toBeGreaterThan(5);
      expect(new Set(seen).size).toBe(total);
      expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    }
  });

  it("releases a subscription when its signal aborts", async () => {
    const before = bus.subscriptionCount();
    const controller = new AbortController();
    const stream = bus.subscribe({ subject: ">" }, controller.signal);
    const pending = stream.next();
    await new Promise((r) => setTimeout(r, 50));
    expect(bus.subscriptionCount()).toBe(before + 1);
    controller.abort();
    expect((await pending).done).toBe(true);
    expect(bus.subscriptionCount()).toBe(before);
  });

  it("refuses an invalid pattern or sequence with invalid_argument", () => {
    expect(() => bus.subscribe({ subject: "hub.>.x" })).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
    expect(() => bus.subscribe({ subject: ">", afterSequence: -1 })).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });
});
