import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHub, type Hub } from "../../src/index.js";
import { postgresTarget, type TestTarget } from "../helpers/databases.js";
import { type Driver, drivers, Refused } from "./drivers.js";
import { HUB_ID, postRpc, startHub, type TestHub } from "./harness.js";

// Contract §9, idempotency: one scenario over every protocol, then what only
// JSON-RPC has (the Idempotency-Key header), then two instances racing on one
// PostgreSQL.
let hub: TestHub;
beforeAll(async () => {
  hub = await startHub("sqlite");
});
afterAll(async () => {
  await hub?.close();
});

/** Events stored under a subject pattern, counted through the API. */
async function stored(driver: Driver, pattern: string): Promise<number> {
  return (await driver.query(pattern, 1000)).count;
}

describe.each(Object.keys(drivers))("idempotency over %s", (name) => {
  const slug = name.replace(/[^A-Za-z0-9]+/g, "-").toLowerCase();
  let driver: Driver;
  beforeAll(() => {
    driver = (drivers[name] as (hub: TestHub) => Driver)(hub);
  });
  afterAll(() => driver?.close());

  it("stores a repeated key once and answers the first result with duplicate: true", async () => {
    const args = {
      subject: `idem.${slug}.created`,
      payload: { n: 1 },
      idempotencyKey: `order-${slug}`,
      service: "billing",
    };
    const first = await driver.publish(args);
    expect(first.duplicate ?? false).toBe(false);
    const again = await driver.publish({ ...args, correlationId: "another-correlation" });
    expect(again).toMatchObject({
      published: true,
      event_id: first.event_id,
      sequence: first.sequence,
      correlation_id: first.correlation_id,
      duplicate: true,
    });
    expect(await stored(driver, `hub.${HUB_ID}.idem.${slug}.>`)).toBe(1);
  });

  it("refuses the same key with another payload or subject, naming idempotency_key", async () => {
    const key = `refused-${slug}`;
    await driver.publish({
      subject: `idem.${slug}.refused`,
      payload: { n: 1 },
      idempotencyKey: key,
    });
    for (const other of [
      { subject: `idem.${slug}.refused`, payload: { n: 2 } },
      { subject: `idem.${slug}.other`, payload: { n: 1 } },
    ]) {
      const error = await driver.publish({ ...other, idempotencyKey: key }).catch((e) => e);
      expect(error).toBeInstanceOf(Refused);
      expect((error as Refused).code).toBe("already_exists");
      expect((error as Refused).text).toContain("idempotency_key");
    }
    expect(await stored(driver, `hub.${HUB_ID}.idem.${slug}.refused`)).toBe(1);
    expect(await stored(driver, `hub.${HUB_ID}.idem.${slug}.other`)).toBe(0);
  });

  it("keeps keys per caller: another service's same key is its own", async () => {
    const args = { subject: `idem.${slug}.scoped`, idempotencyKey: `shared-${slug}` };
    const a = await driver.publish({ ...args, service: "svc-a" });
    const b = await driver.publish({ ...args, service: "svc-b" });
    expect(b.event_id).not.toBe(a.event_id);
    expect(b.duplicate ?? false).toBe(false);
  });

  it("takes a key per entry of a batch: repeats within it and of earlier publishes", async () => {
    const subject = `idem.${slug}.batch`;
    const [earlier] = await driver.publishBatch([
      { subject, payload: { i: 0 }, idempotencyKey: `b0-${slug}` },
    ]);
    const results = await driver.publishBatch([
      { subject, payload: { i: 0 }, idempotencyKey: `b0-${slug}` },
      { subject, payload: { i: 1 }, idempotencyKey: `b1-${slug}` },
      { subject, payload: { i: 1 }, idempotencyKey: `b1-${slug}` },
      { subject, payload: { i: 2 } },
    ]);
    expect(results[0]).toMatchObject({ event_id: earlier?.event_id, duplicate: true });
    expect(results[1]?.duplicate ?? false).toBe(false);
    expect(results[2]).toMatchObject({ event_id: results[1]?.event_id, duplicate: true });
    expect(results[3]?.duplicate ?? false).toBe(false);
    expect(await stored(driver, `hub.${HUB_ID}.${subject}`)).toBe(3);
    // A key reused for another event refuses the whole batch, before any of it is stored.
    const error = await driver
      .publishBatch([
        { subject, payload: { i: 3 } },
        { subject, payload: { i: 9 }, idempotencyKey: `b1-${slug}` },
      ])
      .catch((e) => e);
    expect(error).toBeInstanceOf(Refused);
    expect((error as Refused).text).toContain("events[1].idempotency_key");
    expect(await stored(driver, `hub.${HUB_ID}.${subject}`)).toBe(3);
  });
});

describe("the Idempotency-Key header (JSON-RPC)", () => {
  const publish = (params: object, headers: Record<string, string>, batch = false) => {
    const request = { jsonrpc: "2.0", id: 1, method: "bus.publish", params };
    return postRpc(hub.baseUrl, batch ? [request] : request, headers);
  };

  it("keys a single bus.publish", async () => {
    const headers = { "idempotency-key": "header-key-1" };
    const first = await publish({ topic: "idem.header.one" }, headers);
    const again = await publish({ topic: "idem.header.one" }, headers);
    expect(first.body.result.duplicate).toBeUndefined();
    expect(again.body.result).toMatchObject({
      event_id: first.body.result.event_id,
      duplicate: true,
    });
  });

  it("is refused on a batch body and when it contradicts the param", async () => {
    const inBatch = await publish({ topic: "idem.header.two" }, { "idempotency-key": "k2" }, true);
    expect(inBatch.body[0].error).toMatchObject({
      code: -32602,
      data: { param: "idempotency_key" },
    });
    const contradicting = await publish(
      { topic: "idem.header.two", idempotency_key: "k3" },
      { "idempotency-key": "k4" },
    );
    expect(contradicting.body.error).toMatchObject({
      code: -32602,
      data: { param: "idempotency_key" },
    });
  });

  it("refuses a key over 128 characters", async () => {
    const { body } = await publish(
      { topic: "idem.header.long", idempotency_key: "k".repeat(129) },
      {},
    );
    expect(body.error).toMatchObject({ code: -32602, data: { param: "idempotency_key" } });
  });
});

describe("two instances on one PostgreSQL", () => {
  const KEYS = 100;
  const PUBLISHES = 1000;
  let target: TestTarget;
  const hubs: Hub[] = [];

  beforeAll(async () => {
    target = await postgresTarget();
    for (let i = 0; i < 2; i++) {
      hubs.push(await createHub({ hubId: "race-hub", databaseUrl: target.url, port: 0 }));
    }
  });
  afterAll(async () => {
    await Promise.all(hubs.map((h) => h.close()));
    await target?.cleanup();
  });

  it(`store exactly ${KEYS} events for ${PUBLISHES} racing publishes over ${KEYS} keys`, async () => {
    const acks: { event_id: string; sequence: number; duplicate?: boolean }[] = [];
    // In waves, every key on both instances at once in each wave.
    const WAVE = 100;
    for (let start = 0; start < PUBLISHES; start += WAVE) {
      const wave = await Promise.all(
        Array.from({ length: WAVE }, async (_, j) => {
          const i = start + j;
          const target = hubs[i % 2] as Hub;
          const { body } = await postRpc(`http://127.0.0.1:${target.port}`, {
            jsonrpc: "2.0",
            id: i,
            method: "bus.publish",
            params: {
              topic: "race.key",
              payload: { key: (i >> 1) % KEYS },
              idempotency_key: `key-${(i >> 1) % KEYS}`,
            },
          });
          if (body.error) throw new Error(JSON.stringify(body.error));
          return body.result;
        }),
      );
      acks.push(...wave);
    }
    const { events } = await (hubs[0] as Hub).bus
      .query({ subject: "hub.race-hub.race.key", limit: 1000 })
      .then((events) => ({ events }));
    expect(events).toHaveLength(KEYS);
    expect(new Set(acks.map((a) => a.event_id)).size).toBe(KEYS);
    expect(acks.filter((a) => a.duplicate !== true)).toHaveLength(KEYS);
    // Every answer for a key is the one stored event's.
    const byId = new Map(events.map((e) => [e.id, e.sequence]));
    for (const ack of acks) expect(byId.get(ack.event_id)).toBe(ack.sequence);
  });
});
