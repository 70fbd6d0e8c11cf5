import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubStreamName, type RoutedEvent } from "../../src/bridge/index.js";
import { createHub, type Hub } from "../../src/index.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { RFC3339_UTC_MS, UUID, UUID_V7 } from "../server/harness.js";
import { type RawNats, rawNats, rpc, tempSqlite, uniqueHubId, waitUntil } from "./support.js";

// Acceptance 2. `hub.global.>` is shared by every hub on a NATS, so this suite
// has a nats-server of its own: no other suite's hub ingests its messages.
let nats: NatsServerHandle;
let db: ReturnType<typeof tempSqlite>;
let hub: Hub;
let raw: RawNats;
let baseUrl: string;
const logLines: { msg: string; rule?: string; subject?: string; err?: { message: string } }[] = [];
const hubId = uniqueHubId("ingest");

interface Call {
  readonly subject: string;
  readonly data: unknown;
  readonly event: RoutedEvent;
}
const presence: Call[] = [];
const after: Call[] = [];
const unrelated: Call[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  db = tempSqlite();
  const logger = pino(
    { level: "error" },
    { write: (line: string) => void logLines.push(JSON.parse(line)) },
  );
  hub = await createHub({
    // Presence would add its own events to what this suite counts.
    federation: false,
    hubId,
    databaseUrl: db.url,
    natsServers: [nats.url],
    port: 0,
    waitForNats: true,
    logger,
  });
  baseUrl = `http://127.0.0.1:${hub.port}`;
  const { bridge } = hub;
  // Registered first, so a broken isolation would stop the rules after it.
  bridge.addRoutingRule(
    "hub.global.>",
    () => {
      throw new Error("sync handler failure");
    },
    { description: "throws" },
  );
  bridge.addRoutingRule(
    "hub.*.presence.*",
    async () => {
      await Promise.resolve();
      throw new Error("async handler failure");
    },
    { description: "rejects" },
  );
  bridge.addRoutingRule("hub.global.presence.announced", (subject, data, event) => {
    presence.push({ subject, data, event });
  });
  bridge.addRoutingRule("hub.global.>", async (subject, data, event) => {
    after.push({ subject, data, event });
  });
  bridge.addRoutingRule("hub.global.sync.>", (subject, data, event) => {
    unrelated.push({ subject, data, event });
  });
  raw = await rawNats(nats.url);
});

afterAll(async () => {
  await raw?.close();
  await hub?.close();
  await nats?.dispose();
  db?.cleanup();
});

describe("a bare message from a raw NATS client on hub.global.presence.announced", () => {
  const body = { hub: "elsewhere", online: true, peers: 3 };
  let stored: Record<string, unknown> & { id: string; sequence: number };

  beforeAll(async () => {
    await raw.publishBare("hub.global.presence.announced", body);
    stored = await waitUntil(async () => {
      const result = await rpc(baseUrl, "bus.subscribe", { subject: "hub.global.>" });
      return result.count === 1 && result.events[0];
    }, "the message in bus.subscribe");
  });

  it("appears in bus.subscribe with origin {hub_id: global, service: nats}", async () => {
    expect(stored).toEqual({
      id: expect.stringMatching(UUID_V7),
      subject: "hub.global.presence.announced",
      origin: { hub_id: "global", service: "nats" },
      correlation_id: expect.stringMatching(UUID),
      payload: body,
      timestamp: expect.stringMatching(RFC3339_UTC_MS),
      sequence: expect.any(Number),
    });
  });

  it("fires the matching routing rule once, with the stored event", async () => {
    await waitUntil(() => presence.length === 1, "the presence rule to run");
    const [call] = presence;
    expect(call?.subject).toBe("hub.global.presence.announced");
    expect(call?.data).toEqual(body);
    expect(call?.event).toMatchObject({
      id: stored.id,
      sequence: stored.sequence,
      origin: { hubId: "global", service: "nats" },
    });
    expect(unrelated).toHaveLength(0);
  });

  it("runs the second matching rule although two earlier ones threw and rejected", async () => {
    await waitUntil(() => after.length === 1, "the rule registered after the failing ones");
    expect(after[0]?.event.id).toBe(stored.id);
    const failures = await waitUntil(() => {
      const lines = logLines.filter((l) => l.msg === "routing rule handler failed");
      return lines.length === 2 && lines;
    }, "both failures logged");
    expect(failures.map((l) => [l.rule, l.subject, l.err?.message]).sort()).toEqual([
      ["rejects", "hub.global.presence.announced", "async handler failure"],
      ["throws", "hub.global.presence.announced", "sync handler failure"],
    ]);
  });

  it("is not forwarded back to NATS: the global stream holds the one message", async () => {
    const health = await rpc(baseUrl, "hub.health");
    expect(health.details.outbox_backlog).toBe("0");
    const inStream = await raw.readStream(hubStreamName("global"));
    expect(inStream).toHaveLength(1);
    expect(inStream[0]?.headers).toEqual({});
    expect(hub.bridge.forwardedCount()).toBe(0);
  });
});

describe("bare messages on other subjects", () => {
  it("take the second subject token as origin hub, keep non-object bodies, skip non-hub subjects", async () => {
    raw.nc.publish("not-hub.ignored", "{}");
    raw.nc.publish("hub.other-hub.deploy.done", "[1,2]");
    raw.nc.publish("hub.other-hub.deploy.note", "plain text");
    await raw.nc.flush();
    const result = await waitUntil(async () => {
      const r = await rpc(baseUrl, "bus.subscribe", { subject: "hub.other-hub.>" });
      return r.count === 2 && r;
    }, "two messages from other-hub");
    expect(
      result.events.map((e: { subject: string; origin: unknown; payload: unknown }) => [
        e.subject,
        e.origin,
        e.payload,
      ]),
    ).toEqual([
      [
        "hub.other-hub.deploy.note",
        { hub_id: "other-hub", service: "nats" },
        { text: "plain text" },
      ],
      ["hub.other-hub.deploy.done", { hub_id: "other-hub", service: "nats" }, { value: [1, 2] }],
    ]);
    const all = await rpc(baseUrl, "bus.subscribe", { subject: ">" });
    expect(all.events.map((e: { subject: string }) => e.subject)).not.toContain("not-hub.ignored");
  });
});
