import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Driver, drivers } from "./drivers.js";
import { HUB_ID, RFC3339_UTC_MS, startHub, type TestHub, UUID, UUID_V7 } from "./harness.js";

// One server, every client protocol: the same scenario must read the same on each.
let hub: TestHub;
beforeAll(async () => {
  hub = await startHub("sqlite");
});
afterAll(async () => {
  await hub?.close();
});

const PAYLOAD = {
  project_id: "abc123",
  count: 3,
  ratio: 0.5,
  done: false,
  owner: null,
  tags: ["a", "b"],
  nested: { deep: { ok: true } },
};

describe.each(Object.keys(drivers))("parity over %s", (name) => {
  const slug = name.replace(/[^A-Za-z0-9]+/g, "-").toLowerCase();
  let driver: Driver;
  beforeAll(() => {
    driver = (drivers[name] as (hub: TestHub) => Driver)(hub);
  });
  afterAll(() => driver?.close());

  it("publishes and reads back an event with every field of contract section 2", async () => {
    const before = Date.now();
    const ack = await driver.publish({
      subject: `parity.${slug}.created`,
      payload: PAYLOAD,
      correlationId: `corr-${slug}`,
      service: "parity-suite",
    });
    const after = Date.now();
    expect(ack).toMatchObject({
      published: true,
      subject: `hub.${HUB_ID}.parity.${slug}.created`,
      correlation_id: `corr-${slug}`,
    });
    expect(ack.event_id).toMatch(UUID_V7);
    expect(ack.sequence).toBeGreaterThan(0);

    const { events, count } = await driver.query(`hub.*.parity.${slug}.>`, 10);
    expect(count).toBe(1);
    expect(events).toHaveLength(1);
    const event = events[0];
    expect(event).toEqual({
      id: ack.event_id,
      subject: `hub.${HUB_ID}.parity.${slug}.created`,
      origin: { hub_id: HUB_ID, service: "parity-suite" },
      correlation_id: `corr-${slug}`,
      payload: PAYLOAD,
      timestamp: expect.stringMatching(RFC3339_UTC_MS),
      sequence: ack.sequence,
    });
    const accepted = Date.parse(event?.timestamp ?? "");
    expect(accepted).toBeGreaterThanOrEqual(before - 5);
    expect(accepted).toBeLessThanOrEqual(after + 5);
  });

  it("fills in the defaults: payload {}, a new correlation id, service hubbus", async () => {
    const ack = await driver.publish({ subject: `hub.${HUB_ID}.parity.${slug}.bare` });
    expect(ack.correlation_id).toMatch(UUID);
    const { events } = await driver.query(`hub.${HUB_ID}.parity.${slug}.bare`);
    expect(events).toEqual([
      {
        id: ack.event_id,
        subject: `hub.${HUB_ID}.parity.${slug}.bare`,
        origin: { hub_id: HUB_ID, service: "hubbus" },
        correlation_id: ack.correlation_id,
        payload: {},
        timestamp: expect.stringMatching(RFC3339_UTC_MS),
        sequence: ack.sequence,
      },
    ]);
  });

  it("queries newest first with a limit", async () => {
    const first = await driver.publish({ subject: `parity.${slug}.order`, payload: { n: 1 } });
    const second = await driver.publish({ subject: `parity.${slug}.order`, payload: { n: 2 } });
    expect(second.sequence).toBeGreaterThan(first.sequence);
    const all = await driver.query(`hub.${HUB_ID}.parity.${slug}.*`);
    expect(all.events.map((e) => e.payload)).toEqual([{ n: 2 }, { n: 1 }, {}, PAYLOAD]);
    const newest = await driver.query(`hub.${HUB_ID}.parity.${slug}.*`, 1);
    expect(newest.events.map((e) => e.sequence)).toEqual([second.sequence]);
    expect(newest.count).toBe(1);
  });

  it("answers info and health", async () => {
    expect(await driver.info()).toEqual({ hub_id: HUB_ID, version: "1.2.3", status: "running" });
    const health = await driver.health();
    expect(health.status).toBe("healthy");
    expect(health.services).toMatchObject({ nats: "disabled", database: "healthy" });
  });
});

describe("one log behind every protocol", () => {
  it("shows each protocol's events to every other", async () => {
    const all = Object.keys(drivers).map((name) =>
      (drivers[name] as (hub: TestHub) => Driver)(hub),
    );
    try {
      for (const reader of all) {
        const { events } = await reader.query(`hub.${HUB_ID}.parity.*.created`, 1000);
        expect(events.map((e) => e.origin.service)).toEqual(all.map(() => "parity-suite"));
      }
    } finally {
      for (const driver of all) driver.close();
    }
  });
});
