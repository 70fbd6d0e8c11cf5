import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEventBus,
  type EventLog,
  type HubCore,
  type HubEvent,
  newEventId,
  nowTimestamp,
} from "../../src/core/index.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { TEST_DATABASE_KINDS, testTarget } from "../helpers/databases.js";

/**
 * The log as the bus sees it, counting the tail's reads (`readAfter` with
 * the pattern ">" is the tail; a subscriber catching up reads its own pattern).
 */
function countingTailReads(log: EventLog): { log: EventLog; tailReads(): number } {
  let reads = 0;
  return {
    log: {
      ...log,
      readAfter(sequence, pattern, limit, signal) {
        if (pattern === ">") reads++;
        return log.readAfter(sequence, pattern, limit, signal);
      },
    },
    tailReads: () => reads,
  };
}

/** Reads events from a subscription until `count` arrived. */
function collect(stream: AsyncGenerator<HubEvent>, count: number): Promise<HubEvent[]> {
  return (async () => {
    const out: HubEvent[] = [];
    for await (const event of stream) {
      out.push(event);
      if (out.length >= count) break;
    }
    return out;
  })();
}

/** Another instance's commit: in the log, unknown to this bus. */
async function appendElsewhere(log: EventLog, subject: string): Promise<HubEvent | undefined> {
  const [stored] = await log.append([
    {
      id: newEventId(),
      subject,
      origin: { hubId: "local-hub", service: "other-instance" },
      correlationId: newEventId(),
      payloadJson: "{}",
      timestamp: nowTimestamp(),
    },
  ]);
  return stored;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe.each(TEST_DATABASE_KINDS)("the live tail on %s", (kind) => {
  let cleanup: () => Promise<void>;
  let log: SqlEventLog;
  let counted: ReturnType<typeof countingTailReads>;
  let bus: HubCore;
  /** What the bridge's link does when another instance's commit notice arrives. */
  let hearNotice: (upTo: number | undefined) => void = () => {};

  beforeAll(async () => {
    const db = await testTarget(kind, "hubbus-tail-");
    cleanup = db.cleanup;
    log = await openEventLog({ url: db.url });
    counted = countingTailReads(log);
    // A long poll: every read the test sees is one the bus asked for.
    bus = createEventBus({
      log: counted.log,
      live: { pollMs: 60_000 },
      notices: {
        announce() {},
        listen(heard) {
          hearNotice = heard;
          return () => {};
        },
      },
    });
  });
  afterAll(async () => {
    bus.close();
    await log.close();
    await cleanup();
  });

  it("hands events published here to live subscribers without reading them back", async () => {
    const stream = bus.subscribe({ subject: "hub.local-hub.own.>" });
    const reading = collect(stream, 50);
    await settle();
    const readsBefore = counted.tailReads();
    const published: number[] = [];
    for (let i = 0; i < 50; i++) {
      published.push((await bus.publish({ subject: "own.x", payload: { i } })).sequence);
    }
    const got = await reading;
    expect(got.map((e) => e.sequence)).toEqual(published);
    expect(got.map((e) => e.payload)).toEqual(published.map((_, i) => ({ i })));
    // At most the read the subscriber's joining started; none per event.
    expect(counted.tailReads() - readsBefore).toBeLessThanOrEqual(1);
  });

  it("reads the log when an append elsewhere left a gap, and delivers both in order", async () => {
    const stream = bus.subscribe({ subject: "hub.local-hub.gap.>" });
    const reading = collect(stream, 3);
    const first = await bus.publish({ subject: "gap.a" });
    await settle();
    const elsewhere = await appendElsewhere(log, "hub.local-hub.gap.b");
    const readsBefore = counted.tailReads();
    const last = await bus.publish({ subject: "gap.c" });
    const got = await reading;
    expect(got.map((e) => e.sequence)).toEqual([
      first.sequence,
      elsewhere?.sequence,
      last.sequence,
    ]);
    expect(got[1]?.origin.service).toBe("other-instance");
    expect(counted.tailReads()).toBeGreaterThan(readsBefore);
  });

  it("reads nothing for a commit notice it already has, and reads for a newer one", async () => {
    const stream = bus.subscribe({ subject: "hub.local-hub.notice.>" });
    const reading = collect(stream, 2);
    const mine = await bus.publish({ subject: "notice.a" });
    await settle();
    let readsBefore = counted.tailReads();
    hearNotice(mine.sequence);
    await settle();
    expect(counted.tailReads()).toBe(readsBefore);

    const elsewhere = await appendElsewhere(log, "hub.local-hub.notice.b");
    readsBefore = counted.tailReads();
    hearNotice(elsewhere?.sequence);
    const got = await reading;
    expect(got.map((e) => e.sequence)).toEqual([mine.sequence, elsewhere?.sequence]);
    expect(counted.tailReads()).toBeGreaterThan(readsBefore);
  });
});

/** A gate a read parks at: `reached` once one does, and it goes on when `open()` is called. */
function gate() {
  let arrive = () => {};
  let open = () => {};
  const reached = new Promise<void>((resolve) => {
    arrive = resolve;
  });
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    reached,
    open,
    async park() {
      arrive();
      await opened;
    },
  };
}

/**
 * The log with two places to park: the tail's next read after a given
 * sequence, and a later call of lastSequence (the value read first, so it
 * goes stale while parked, as under load); and word of a read returning.
 */
function gatedLog(log: EventLog) {
  let tailRead: { after: number; gate: ReturnType<typeof gate> } | undefined;
  let lastCall: { skip: number; gate: ReturnType<typeof gate> } | undefined;
  let watched: { pattern: string; after: number; done: () => void } | undefined;
  return {
    log: {
      ...log,
      async readAfter(sequence, pattern, limit, signal) {
        if (pattern === ">" && tailRead?.after === sequence) {
          const held = tailRead.gate;
          tailRead = undefined;
          await held.park();
        }
        const events = await log.readAfter(sequence, pattern, limit, signal);
        if (watched?.pattern === pattern && watched.after === sequence) {
          watched.done();
          watched = undefined;
        }
        return events;
      },
      async lastSequence(signal) {
        const value = await log.lastSequence(signal);
        if (lastCall && lastCall.skip-- === 0) {
          const held = lastCall.gate;
          lastCall = undefined;
          await held.park();
        }
        return value;
      },
    } satisfies EventLog,
    holdTailRead(after: number) {
      tailRead = { after, gate: gate() };
      return tailRead.gate;
    },
    readReturned(pattern: string, after: number) {
      return new Promise<void>((done) => {
        watched = { pattern, after, done };
      });
    },
    holdLastSequence(skip: number) {
      lastCall = { skip, gate: gate() };
      return lastCall.gate;
    },
  };
}

describe.each(TEST_DATABASE_KINDS)("the live tail's cursor on %s", (kind) => {
  let cleanup: () => Promise<void>;
  let log: SqlEventLog;
  let gated: ReturnType<typeof gatedLog>;
  let bus: HubCore;
  let hearNotice: (upTo: number | undefined) => void = () => {};

  beforeAll(async () => {
    const db = await testTarget(kind, "hubbus-cursor-");
    cleanup = db.cleanup;
    log = await openEventLog({ url: db.url });
    gated = gatedLog(log);
    bus = createEventBus({
      log: gated.log,
      live: { pollMs: 60_000 },
      notices: {
        announce() {},
        listen(heard) {
          hearNotice = heard;
          return () => {};
        },
      },
    });
  });
  afterAll(async () => {
    bus.close();
    await log.close();
    await cleanup();
  });

  it("does not skip events when the last subscriber leaves and one behind joins during a tail read", async () => {
    const pattern = "hub.local-hub.cursor.>";
    const base = await log.lastSequence();
    // B's catch-up learns the log's end (base) and then stalls.
    const endOfB = gated.holdLastSequence(1);
    const b = bus.subscribe({ subject: pattern, afterSequence: base });
    const bFirst = b.next();
    await endOfB.reached;

    // A reads e1 and e2 and is the one live subscriber, with a tail read after e2 out.
    const aborter = new AbortController();
    const a = bus.subscribe({ subject: pattern, afterSequence: base }, aborter.signal);
    const e1 = await bus.publish({ subject: "cursor.e1" });
    const e2 = await bus.publish({ subject: "cursor.e2" });
    const tailRead = gated.holdTailRead(e2.sequence);
    expect((await a.next()).value?.sequence).toBe(e1.sequence);
    expect((await a.next()).value?.sequence).toBe(e2.sequence);
    const aThird = a.next();
    hearNotice(undefined);
    await tailRead.reached;

    // A leaves; B, whose catch-up ended at base, joins: the tail's cursor goes back to base.
    aborter.abort();
    expect((await aThird).done).toBe(true);
    const bRead = gated.readReturned(pattern, base);
    endOfB.open();
    await bRead;
    // B joins in the microtasks after its read returns (no I/O between): one macrotask later it is live.
    await new Promise((resolve) => setImmediate(resolve));
    const e3 = await bus.publish({ subject: "cursor.e3" });
    tailRead.open();

    // The read after e2 returns e3 alone: taking it would skip e1 and e2 for B for good.
    expect((await bFirst).value?.sequence).toBe(e1.sequence);
    expect((await collect(b, 2)).map((e) => e.sequence)).toEqual([e2.sequence, e3.sequence]);
  });
});
