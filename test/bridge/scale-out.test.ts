import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubStreamName } from "../../src/bridge/index.js";
import { createHub, type Hub } from "../../src/index.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.js";
import { type RawNats, rawNats, rpc, type SeenMessage, uniqueHubId, waitUntil } from "./support.js";

// Acceptance 5: two instances of one hub on one PostgreSQL and one NATS.
const COUNT = 50;
/**
 * How long to keep watching after the expected counts are reached: a second
 * instance storing or forwarding again would do so within milliseconds
 * (relay poll 50 ms), so half a second of quiet shows it did not.
 */
const SETTLE_MS = 500;

let nats: NatsServerHandle;
let db: TestDatabase;
let a: Hub;
let b: Hub;
let raw: RawNats;
let wire: SeenMessage[];
const hubId = uniqueHubId("scale");
const url = (hub: Hub) => `http://127.0.0.1:${hub.port}`;

async function instance(): Promise<Hub> {
  return createHub({
    hubId,
    databaseUrl: db.url,
    natsServers: [nats.url],
    port: 0,
    waitForNats: true,
    bridge: { relay: { pollMs: 50 } },
    // Presence events would be forwarded too; this suite counts the relay's work exactly.
    federation: false,
  });
}

beforeAll(async () => {
  [nats, db] = await Promise.all([startNatsServer(), createTestDatabase()]);
  a = await instance();
  b = await instance();
  raw = await rawNats(nats.url);
  // A core subscriber sees every copy put on the wire, even those JetStream de-duplicates.
  wire = await raw.collect(`hub.${hubId}.>`);
}, 60_000);

afterAll(async () => {
  await raw?.close();
  await a?.close();
  await b?.close();
  await nats?.dispose();
  await db?.drop();
});

describe("two instances on one PostgreSQL and one NATS", () => {
  it("store a message published by a raw NATS client once", async () => {
    const subject = `hub.${hubId}.sensor.reading`;
    const appendedBefore = a.log.stats().appendedEvents + b.log.stats().appendedEvents;
    for (let n = 0; n < COUNT; n++) raw.nc.publish(subject, JSON.stringify({ n }));
    await raw.nc.flush();
    const query = async () => rpc(url(b), "bus.subscribe", { subject, limit: 1000 });
    await waitUntil(async () => (await query()).count >= COUNT, `${COUNT} messages stored`);
    await sleep(SETTLE_MS);

    const { events, count } = await query();
    expect(count).toBe(COUNT);
    const ns = events
      .map((e: { payload: { n: number } }) => e.payload.n)
      .sort((x: number, y: number) => x - y);
    expect(ns).toEqual(Array.from({ length: COUNT }, (_, n) => n));
    // The queue group split the messages between the instances; together they stored each once.
    const byA = a.log.stats().appendedEvents;
    const byB = b.log.stats().appendedEvents;
    console.log(`[scale-out] ${COUNT} raw messages stored: ${byA} by A, ${byB} by B`);
    expect(byA + byB - appendedBefore).toBe(COUNT);
    expect(byA).toBeGreaterThan(0);
    expect(byB).toBeGreaterThan(0);
    // Both instances read the same log.
    expect((await rpc(url(a), "bus.subscribe", { subject, limit: 1000 })).count).toBe(COUNT);
  });

  it("forward an event published through instance A (or B, at the same time) once", async () => {
    // Concurrent publishes on both instances: PostgreSQL commits them from two pools,
    // and the one relay holding the lease must still forward every one, in order.
    const acks: { event_id: string; sequence: number }[] = await Promise.all(
      Array.from({ length: 2 * COUNT }, (_, n) =>
        rpc(url(n % 2 === 0 ? a : b), "bus.publish", { topic: "order.placed", payload: { n } }),
      ),
    );
    const ids = new Set(acks.map((ack) => ack.event_id));
    const forwarded = () => wire.filter((m) => ids.has(m.headers["Nats-Msg-Id"] ?? ""));
    await waitUntil(() => forwarded().length >= 2 * COUNT, `${2 * COUNT} events on NATS`);
    for (const hub of [a, b]) {
      await waitUntil(
        async () => (await rpc(url(hub), "hub.health")).details.outbox_backlog === "0",
        "an empty outbox",
      );
    }
    await sleep(SETTLE_MS);

    // On the wire: each id exactly once, in sequence order (no second relay, no retry).
    const bySequence = [...acks].sort((x, y) => x.sequence - y.sequence).map((ack) => ack.event_id);
    expect(forwarded().map((m) => m.headers["Nats-Msg-Id"])).toEqual(bySequence);
    const fromA = a.bridge.forwardedCount();
    const fromB = b.bridge.forwardedCount();
    console.log(
      `[scale-out] ${COUNT} events published on A, ${COUNT} on B: forwarded ${fromA} by A, ${fromB} by B`,
    );
    expect(fromA + fromB).toBe(2 * COUNT);
    // In JetStream too, next to the raw messages its subjects also captured.
    const stream = await raw.readStream(hubStreamName(hubId));
    const inStream = stream.filter((m) => ids.has(m.headers["Nats-Msg-Id"] ?? ""));
    expect(inStream.map((m) => m.headers["Nats-Msg-Id"])).toEqual(bySequence);
    expect(stream).toHaveLength(3 * COUNT);
    // Neither instance stored its sibling's forwarded events a second time.
    const stored = await rpc(url(b), "bus.subscribe", {
      subject: `hub.${hubId}.order.>`,
      limit: 1000,
    });
    expect(stored.count).toBe(2 * COUNT);
  });

  it("hand forwarding over at once when the instance holding the lease stops", async () => {
    const [holder, other] = a.bridge.forwardedCount() > 0 ? [a, b] : [b, a];
    const before = other.bridge.forwardedCount();
    // A graceful stop gives the lease up; the other instance need not wait for it to expire.
    await holder.close();
    const acks: { event_id: string }[] = [];
    for (let n = 0; n < 10; n++)
      acks.push(await rpc(url(other), "bus.publish", { topic: "order.after", payload: { n } }));
    const ids = new Set(acks.map((ack) => ack.event_id));
    const forwarded = () => wire.filter((m) => ids.has(m.headers["Nats-Msg-Id"] ?? ""));
    await waitUntil(() => forwarded().length >= 10, "the events on NATS", 5_000);
    await sleep(SETTLE_MS);
    expect(forwarded().map((m) => m.headers["Nats-Msg-Id"])).toEqual(acks.map((x) => x.event_id));
    expect(other.bridge.forwardedCount() - before).toBe(10);
  });
});
