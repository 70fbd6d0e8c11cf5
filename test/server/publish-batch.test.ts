// biome-ignore-all lint/suspicious/noExplicitAny: JSON-RPC answers are read as untyped JSON
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BATCH_EVENTS } from "../../src/core/index.js";
import { type BatchEventArgs, type Driver, drivers, Refused } from "./drivers.js";
import { HUB_ID, postRpc, startHub, type TestHub, UUID, UUID_V7 } from "./harness.js";

// Issue 5's PublishBatch over every client protocol: all or nothing, one
// transaction, contiguous sequences in request order.

/** Resolves with the Refused a call rejected with; fails when it succeeded. */
async function refusal(call: Promise<unknown>): Promise<Refused> {
  try {
    await call;
  } catch (error) {
    if (error instanceof Refused) return error;
    throw error;
  }
  throw new Error("the call succeeded; it should have been refused");
}

function makeDriver(name: string, hub: TestHub): Driver {
  return (drivers[name] as (hub: TestHub) => Driver)(hub);
}

/** Checks that acks are in order with contiguous sequences, and returns the first. */
function expectContiguous(acks: readonly { sequence: number }[]): number {
  const first = acks[0]?.sequence as number;
  expect(acks.map((a) => a.sequence)).toEqual(acks.map((_, i) => first + i));
  return first;
}

describe("PublishBatch on SQLite", () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub("sqlite");
  });
  afterAll(async () => {
    await hub?.close();
  });

  describe.each(Object.keys(drivers))("over %s", (name) => {
    const slug = name.replace(/[^A-Za-z0-9]+/g, "-").toLowerCase();
    let driver: Driver;
    beforeAll(() => {
      driver = makeDriver(name, hub);
    });
    afterAll(() => driver?.close());

    it("stores every event in request order with contiguous sequences, queryable", async () => {
      const events: BatchEventArgs[] = [
        {
          subject: `batch.${slug}.a`,
          payload: { n: 0, nested: { ok: true } },
          correlationId: "c-0",
        },
        { subject: `hub.${HUB_ID}.batch.${slug}.b`, payload: { n: 1 } },
        { subject: `hub.global.batch.${slug}.c`, correlationId: "c-2" },
        { subject: `batch.${slug}.a`, payload: { n: 3, tags: ["x", "y"] } },
      ];
      const acks = await driver.publishBatch(events, "batch-suite");
      expect(acks).toHaveLength(events.length);
      expect(acks.map((a) => a.subject)).toEqual([
        `hub.${HUB_ID}.batch.${slug}.a`,
        `hub.${HUB_ID}.batch.${slug}.b`,
        `hub.global.batch.${slug}.c`,
        `hub.${HUB_ID}.batch.${slug}.a`,
      ]);
      for (const ack of acks) {
        expect(ack.published).toBe(true);
        expect(ack.event_id).toMatch(UUID_V7);
      }
      expect(acks[0]?.correlation_id).toBe("c-0");
      expect(acks[1]?.correlation_id).toMatch(UUID);
      expect(acks[2]?.correlation_id).toBe("c-2");
      expectContiguous(acks);

      const { events: stored } = await driver.query(`hub.*.batch.${slug}.*`, 100);
      // Newest first: the batch reversed.
      expect(stored.map((e) => e.id)).toEqual(acks.map((a) => a.event_id).reverse());
      expect(stored.map((e) => e.sequence)).toEqual(acks.map((a) => a.sequence).reverse());
      expect(stored.map((e) => e.payload)).toEqual(events.map((e) => e.payload ?? {}).reverse());
      expect(new Set(stored.map((e) => e.origin.service))).toEqual(new Set(["batch-suite"]));
    });

    it("stores 1,000 events in one transaction", async () => {
      const before = hub.log.stats().appendTransactions;
      const events = Array.from({ length: MAX_BATCH_EVENTS }, (_, i) => ({
        subject: `batch.${slug}.full`,
        payload: { i },
      }));
      const acks = await driver.publishBatch(events);
      expect(hub.log.stats().appendTransactions - before).toBe(1);
      expect(acks).toHaveLength(MAX_BATCH_EVENTS);
      expectContiguous(acks);
      const { count } = await driver.query(`hub.${HUB_ID}.batch.${slug}.full`, 1000);
      expect(count).toBe(MAX_BATCH_EVENTS);
    });

    it.each([
      { at: 3, bad: { subject: "hub.other-hub.batch.x" }, field: "subject", reason: /other-hub/ },
      { at: 1, bad: { subject: "batch.*" }, field: "subject", reason: /wildcard|\*/ },
      {
        at: 2,
        bad: { subject: "batch.ok", correlationId: "c".repeat(129) },
        field: "correlation_id",
        reason: /128/,
      },
    ])("refuses the whole batch when events[$at] is bad, naming it, storing nothing", async (c) => {
      const lastBefore = await hub.log.lastSequence();
      const events: BatchEventArgs[] = Array.from({ length: 5 }, (_, i) =>
        i === c.at ? c.bad : { subject: `batch.${slug}.refused`, payload: { i } },
      );
      const refused = await refusal(driver.publishBatch(events));
      expect(refused.invalid).toBe(true);
      const field = c.field === "subject" ? driver.subjectParam : c.field;
      expect(refused.text).toContain(`events[${c.at}].${field}`);
      expect(refused.text).toMatch(c.reason);
      expect(await hub.log.lastSequence()).toBe(lastBefore);
      expect((await driver.query(`hub.${HUB_ID}.batch.${slug}.refused`)).count).toBe(0);
    });

    it("refuses an empty batch and one over the limit", async () => {
      const lastBefore = await hub.log.lastSequence();
      const empty = await refusal(driver.publishBatch([]));
      expect(empty.invalid).toBe(true);
      expect(empty.text).toMatch(/events.*at least one/);
      const over = Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => ({ subject: "batch.over" }));
      const tooMany = await refusal(driver.publishBatch(over));
      expect(tooMany.invalid).toBe(true);
      expect(tooMany.text).toMatch(/events.*1001.*at most 1000/);
      expect(await hub.log.lastSequence()).toBe(lastBefore);
    });

    it("refuses a bad hub-service header for the whole batch", async () => {
      const refused = await refusal(
        driver.publishBatch([{ subject: `batch.${slug}.svc` }], "not a service!"),
      );
      expect(refused.invalid).toBe(true);
      expect(refused.text).toMatch(/service/);
      expect((await driver.query(`hub.${HUB_ID}.batch.${slug}.svc`)).count).toBe(0);
    });
  });
});

describe("PublishBatch on PostgreSQL", () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub("postgres");
  });
  afterAll(async () => {
    await hub?.close();
  });

  it.each(["JSON-RPC over HTTP/1.1", "gRPC over h2c (connect-node)"])(
    "keeps a 1,000-event batch contiguous among concurrent publishes over %s",
    async (name) => {
      const driver = makeDriver(name, hub);
      const singles = makeDriver("gRPC over h2c (@grpc/grpc-js)", hub);
      const subject = `batch.pg.full.${driver.subjectParam}`;
      try {
        const before = hub.log.stats().appendTransactions;
        const batch = Array.from({ length: MAX_BATCH_EVENTS }, (_, i) => ({
          subject,
          payload: { i },
        }));
        // Single publishes before and after the batch, in flight together: group
        // commit may put them in the batch's transaction, never inside its range.
        const around = (tag: string) =>
          Array.from({ length: 20 }, (_, i) =>
            singles.publish({ subject: `batch.pg.single.${tag}`, payload: { i } }),
          );
        const first = around("before");
        const acksPromise = driver.publishBatch(batch);
        const last = around("after");
        const [acks, singleAcks] = await Promise.all([
          acksPromise,
          Promise.all([...first, ...last]),
        ]);
        const start = expectContiguous(acks);
        const end = start + MAX_BATCH_EVENTS - 1;
        for (const single of singleAcks) {
          expect(single.sequence < start || single.sequence > end).toBe(true);
        }
        // The batch alone is one transaction; the 40 singles add at most a few.
        expect(hub.log.stats().appendTransactions - before).toBeLessThanOrEqual(41);
        const { count } = await driver.query(`hub.*.${subject}`, 1000);
        expect(count).toBe(MAX_BATCH_EVENTS);
      } finally {
        driver.close();
        singles.close();
      }
    },
  );

  it("refuses a batch with one bad event and stores nothing", async () => {
    const driver = makeDriver("gRPC over h2c (@grpc/grpc-js)", hub);
    try {
      const lastBefore = await hub.log.lastSequence();
      const events = Array.from({ length: 600 }, (_, i) =>
        i === 599 ? { subject: "batch.pg.bad.>" } : { subject: "batch.pg.bad", payload: { i } },
      );
      const refused = await refusal(driver.publishBatch(events));
      expect(refused.invalid).toBe(true);
      expect(refused.text).toContain("events[599].subject");
      expect(await hub.log.lastSequence()).toBe(lastBefore);
    } finally {
      driver.close();
    }
  });
});

describe("bus.publishBatch params", () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub("sqlite");
  });
  afterAll(async () => {
    await hub?.close();
  });

  const rpc = (params: unknown, headers: Record<string, string> = {}) =>
    postRpc(hub.baseUrl, { jsonrpc: "2.0", id: 5, method: "bus.publishBatch", params }, headers);

  it("answers {results, count} in bus.publish's shape", async () => {
    const { status, body } = await rpc({
      events: [
        { topic: "rpcbatch.one", payload: { a: 1 }, correlation_id: "k-1" },
        { topic: "rpcbatch.two" },
      ],
    });
    expect(status).toBe(200);
    expect(body).toEqual({
      jsonrpc: "2.0",
      id: 5,
      result: {
        results: [
          {
            published: true,
            subject: `hub.${HUB_ID}.rpcbatch.one`,
            correlation_id: "k-1",
            event_id: expect.stringMatching(UUID_V7),
            sequence: expect.any(Number),
          },
          {
            published: true,
            subject: `hub.${HUB_ID}.rpcbatch.two`,
            correlation_id: expect.stringMatching(UUID),
            event_id: expect.stringMatching(UUID_V7),
            sequence: body.result.results[0].sequence + 1,
          },
        ],
        count: 2,
      },
    });
  });

  it.each([
    { name: "no events", params: {}, param: "events", reason: /required/ },
    { name: "events null", params: { events: null }, param: "events", reason: /required/ },
    { name: "events not an array", params: { events: { topic: "a.b" } }, param: "events" },
    { name: "empty events", params: { events: [] }, param: "events", reason: /at least one/ },
    { name: "an unknown param", params: { events: [], atomic: true }, param: "atomic" },
    {
      name: "an event that is not an object",
      params: { events: [{ topic: "a.b" }, "a.c"] },
      param: "events[1]",
    },
    {
      name: "an event that is an array",
      params: { events: [["a.b"]] },
      param: "events[0]",
    },
    {
      name: "an event with subject instead of topic",
      params: { events: [{ topic: "a.b" }, { subject: "a.c" }] },
      param: "events[1].subject",
      reason: /unknown field.*topic/,
    },
    {
      name: "an event without a topic",
      params: { events: [{ payload: {} }] },
      param: "events[0].topic",
      reason: /required/,
    },
    {
      name: "an event with a bad topic",
      params: { events: [{ topic: "a.b" }, { topic: "a..b" }] },
      param: "events[1].topic",
    },
    {
      name: "an event whose payload is an array",
      params: { events: [{ topic: "a.b", payload: [1] }] },
      param: "events[0].payload",
    },
    {
      name: "an event whose correlation id is a number",
      params: { events: [{ topic: "a.b", correlation_id: 7 }] },
      param: "events[0].correlation_id",
    },
  ])("refuses $name with -32602 naming $param", async (c) => {
    const lastBefore = await hub.log.lastSequence();
    const { status, body } = await rpc(c.params);
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: 5, error: { code: -32602, data: { param: c.param } } });
    if (c.reason) expect(body.error.data.reason).toMatch(c.reason);
    expect(await hub.log.lastSequence()).toBe(lastBefore);
  });

  it("names the hub-service header when it is bad", async () => {
    const { body } = await rpc({ events: [{ topic: "a.b" }] }, { "hub-service": "bad service" });
    expect(body.error).toMatchObject({ code: -32602, data: { param: "hub-service" } });
  });

  it("is listed at /rpc/methods with its params", async () => {
    const res = await fetch(`${hub.baseUrl}/rpc/methods`);
    const { methods } = (await res.json()) as { methods: any[] };
    const batch = methods.find((m) => m.name === "bus.publishBatch");
    expect(batch).toMatchObject({
      params: [{ name: "events", type: "array", required: true }],
      result: expect.stringContaining("results"),
    });
  });
});
