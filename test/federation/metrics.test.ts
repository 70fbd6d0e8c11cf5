import { afterAll, beforeAll, expect, it } from "vitest";
import { createHub, type Hub } from "../../src/index.js";
import { tempSqlite } from "../bridge/support.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { waitUntil } from "../live/support.js";

// Federation metrics: every FEDERATION_METRICS_INTERVAL a stored event on
// hub.global.metrics.<hub_id> with the instance's counters.
let nats: NatsServerHandle;
let hub: Hub;
const db = tempSqlite();

beforeAll(async () => {
  nats = await startNatsServer();
  hub = await createHub({
    hubId: "metered",
    databaseUrl: db.url,
    natsServers: [nats.url],
    serve: false,
    waitForNats: true,
    federation: { metricsIntervalMs: 100, presenceIntervalMs: 50, presenceTimeoutMs: 500 },
  });
});

afterAll(async () => {
  await hub?.close();
  await nats?.dispose();
  db.cleanup();
});

it("publishes hub.global.metrics.<hub_id> with the counters, stored and forwarded", async () => {
  await hub.bus.publish({ subject: "work.done", payload: {} });
  const found = async () => hub.bus.query({ subject: "hub.global.metrics.metered", limit: 10 });
  await waitUntil(
    async () => (await found()).some((e) => (e.payload.events_published as number) >= 2),
    "a metrics event counting the publish",
  );
  const [latest] = await found();
  expect(latest?.origin.hubId).toBe("metered");
  expect(latest?.payload).toMatchObject({
    hub_id: "metered",
    instance_id: hub.federation.instanceId,
    events_ingested: expect.any(Number),
    events_forwarded: expect.any(Number),
    outbox_backlog: expect.any(Number),
    subscriptions: 0,
  });
  expect(Object.keys(latest?.payload ?? {}).sort()).toEqual(
    [
      "events_forwarded",
      "events_ingested",
      "events_published",
      "hub_id",
      "instance_id",
      "outbox_backlog",
      "subscriptions",
    ].sort(),
  );
  // Forwarded like any event: the relay counts it.
  await waitUntil(() => hub.bridge.forwardedCount() >= 3, "the relay to forward them");
});
