import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubStreamName } from "../../src/bridge/index.js";
import { createHub, type Hub } from "../../src/index.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { type Driver, drivers, type PublishAck } from "../server/drivers.js";
import { RFC3339_UTC_MS, type TestHub, UUID_V7 } from "../server/harness.js";
import { type RawNats, rawNats, rpc, type SeenMessage, tempSqlite, waitUntil } from "./support.js";

// Acceptance 1. The hub id is the contract's example, `local-hub`, so this suite
// brings its own nats-server: no other suite's hub can share the subjects.
const HUB_ID = "local-hub";
let nats: NatsServerHandle;
let db: ReturnType<typeof tempSqlite>;
let hub: Hub;
let raw: RawNats;
let seen: SeenMessage[];

beforeAll(async () => {
  nats = await startNatsServer();
  db = tempSqlite();
  hub = await createHub({
    // Presence would add its own events to what this suite counts.
    federation: false,
    hubId: HUB_ID,
    databaseUrl: db.url,
    natsServers: [nats.url],
    port: 0,
    waitForNats: true,
  });
  raw = await rawNats(nats.url);
  seen = await raw.collect(`hub.${HUB_ID}.>`);
});

afterAll(async () => {
  await raw?.close();
  await hub?.close();
  await nats?.dispose();
  db?.cleanup();
});

const PAYLOAD = { project_id: "abc123", status: "running", pid: 12345, tags: ["a"], n: null };

describe.each([
  ["JSON-RPC", "JSON-RPC over HTTP/1.1"],
  ["gRPC", "gRPC over h2c (@grpc/grpc-js)"],
])("an event published through %s", (protocol, driverName) => {
  let driver: Driver;
  let ack: PublishAck;
  let message: SeenMessage;

  beforeAll(async () => {
    const target = { baseUrl: `http://127.0.0.1:${hub.port}`, port: hub.port } as TestHub;
    driver = (drivers[driverName] as (hub: TestHub) => Driver)(target);
    const slug = protocol.toLowerCase().replace(/[^a-z]/g, "");
    ack = await driver.publish({
      subject: `project.${slug}.started`,
      payload: PAYLOAD,
      correlationId: `corr-${slug}`,
      service: `svc-${slug}`,
    });
    message = await waitUntil(
      () => seen.find((m) => m.headers["Nats-Msg-Id"] === ack.event_id),
      `the ${protocol} event on NATS`,
    );
  });
  afterAll(() => driver?.close());

  it("reaches a raw NATS subscriber on its subject, the payload as the body", () => {
    expect(ack.event_id).toMatch(UUID_V7);
    expect(message.subject).toBe(ack.subject);
    expect(message.subject).toMatch(/^hub\.local-hub\.project\.[a-z]+\.started$/);
    expect(JSON.parse(message.body)).toEqual(PAYLOAD);
  });

  it("carries every header of contract section 3, equal to the stored event", async () => {
    const { events } = await rpc(`http://127.0.0.1:${hub.port}`, "bus.subscribe", {
      subject: ack.subject,
      limit: 10,
    });
    expect(events).toHaveLength(1);
    const [stored] = events;
    expect(stored.timestamp).toMatch(RFC3339_UTC_MS);
    expect(message.headers).toEqual({
      "Nats-Msg-Id": ack.event_id,
      "Correlation-ID": ack.correlation_id,
      "Hub-Origin": HUB_ID,
      "Hub-Service": stored.origin.service,
      "Hub-Timestamp": stored.timestamp,
    });
    expect(stored.origin).toEqual({ hub_id: HUB_ID, service: expect.stringMatching(/^svc-/) });
    expect(ack.correlation_id).toMatch(/^corr-/);
  });
});

describe("forwarding", () => {
  it("puts each event once into the hub's JetStream stream, in sequence order", async () => {
    const stream = hubStreamName(HUB_ID);
    await waitUntil(async () => (await raw.streamCount(stream)) === 2, "two events in the stream");
    const stored = await raw.readStream(stream);
    const { events } = await rpc(`http://127.0.0.1:${hub.port}`, "bus.subscribe", { limit: 10 });
    const oldestFirst = [...events].reverse();
    expect(stored.map((m) => m.headers["Nats-Msg-Id"])).toEqual(
      oldestFirst.map((e: { id: string }) => e.id),
    );
    // The raw subscriber saw each exactly once as well (no second forwarding).
    expect(seen.map((m) => m.headers["Nats-Msg-Id"])).toEqual(
      stored.map((m) => m.headers["Nats-Msg-Id"]),
    );
  });

  it("reports the outbox empty once forwarded", async () => {
    const health = await rpc(`http://127.0.0.1:${hub.port}`, "hub.health");
    expect(health).toMatchObject({
      status: "healthy",
      services: { nats: "healthy", database: "healthy" },
      details: { outbox_backlog: "0" },
    });
  });
});
