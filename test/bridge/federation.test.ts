import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubStreamName } from "../../src/bridge/index.js";
import { createHub, type Hub, type HubEvent } from "../../src/index.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { type RawNats, rawNats, type SeenMessage, tempSqlite, waitUntil } from "./support.js";

// Acceptance 8: hubs `a` and `b`, each with its own database, on one NATS (this
// suite's own, as the hub ids are fixed and hub.global.> is shared by every hub).
/** The quiet period the issue names: long enough for any echo loop to show. */
const QUIET_MS = 10_000;

let nats: NatsServerHandle;
const dbs = [tempSqlite(), tempSqlite()];
let a: Hub;
let b: Hub;
let raw: RawNats;
let wire: SeenMessage[];
const routed = new Map<string, string[]>([
  ["a", []],
  ["b", []],
]);

async function start(hubId: "a" | "b", databaseUrl: string): Promise<Hub> {
  const hub = await createHub({
    hubId,
    databaseUrl,
    natsServers: [nats.url],
    serve: false,
    waitForNats: true,
    bridge: { relay: { pollMs: 50 } },
    // Counts every message exactly: presence (test/federation/) would add its own.
    federation: false,
  });
  hub.bridge.addRoutingRule("hub.>", (subject) => void routed.get(hubId)?.push(subject));
  return hub;
}

beforeAll(async () => {
  nats = await startNatsServer();
  raw = await rawNats(nats.url);
  // Every copy any hub puts on the wire, echoes included.
  wire = await raw.collect("hub.>");
  a = await start("a", dbs[0]?.url as string);
  b = await start("b", dbs[1]?.url as string);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await raw?.close();
  await nats?.dispose();
  for (const db of dbs) db.cleanup();
});

const stored = (hub: Hub, pattern = ">") => hub.bus.query({ subject: pattern, limit: 1000 });

async function snapshot() {
  const [storedA, storedB] = await Promise.all([stored(a), stored(b)]);
  const streams: Record<string, number> = {};
  for (const name of [hubStreamName("a"), hubStreamName("b"), hubStreamName("global")])
    streams[name] = await raw.streamCount(name);
  return {
    storedByA: storedA.map((e) => e.id),
    storedByB: storedB.map((e) => e.id),
    forwardedByA: a.bridge.forwardedCount(),
    forwardedByB: b.bridge.forwardedCount(),
    onWire: wire.length,
    routedByA: routed.get("a")?.length,
    routedByB: routed.get("b")?.length,
    streams,
  };
}

describe("two hubs on one NATS", () => {
  let created: HubEvent;
  let fromA: HubEvent;
  let fromB: HubEvent;

  it("hub b stores an event of hub a on hub.a.project.created once, with origin a", async () => {
    created = await a.bridge.publishInternalToNats("project.created", { project_id: "p1" });
    expect(created.subject).toBe("hub.a.project.created");
    const [copy] = await waitUntil(async () => {
      const events = await stored(b, "hub.a.>");
      return events.length > 0 && events;
    }, "hub b to store the event");
    expect(await stored(b, "hub.a.>")).toHaveLength(1);
    expect(copy).toMatchObject({
      id: created.id,
      subject: "hub.a.project.created",
      origin: { hubId: "a", service: "hubbus" },
      correlationId: created.correlationId,
      payload: { project_id: "p1" },
      timestamp: created.timestamp,
    });
  });

  it("each hub stores a hub.global event from either hub once", async () => {
    fromA = await a.bridge.publishInternalToNats("hub.global.presence.announced", { hub: "a" });
    fromB = await b.bridge.publishInternalToNats("hub.global.sync.registry-update", { hub: "b" });
    for (const hub of [a, b]) {
      const events = await waitUntil(async () => {
        const found = await stored(hub, "hub.global.>");
        return found.length >= 2 && found;
      }, `hub ${hub.bus.hubId} to store both global events`);
      expect(events.map((e) => [e.id, e.origin.hubId]).sort()).toEqual(
        [
          [fromA.id, "a"],
          [fromB.id, "b"],
        ].sort(),
      );
    }
  });

  it(
    `after ${QUIET_MS / 1000} s of quiet, nothing was forwarded or stored again (no echo)`,
    async () => {
      // Let both relays finish the three forwards first (the outbox is then empty).
      await waitUntil(
        async () =>
          (await a.bus.health()).details.outbox_backlog === "0" &&
          (await b.bus.health()).details.outbox_backlog === "0",
        "both outboxes to be empty",
      );
      const before = await snapshot();
      await sleep(QUIET_MS);
      const after = await snapshot();
      console.log(
        `[federation] after ${QUIET_MS} ms of quiet: on the wire ${after.onWire}, forwarded a=${after.forwardedByA} b=${after.forwardedByB}, stored a=${after.storedByA.length} b=${after.storedByB.length}, streams ${JSON.stringify(after.streams)}`,
      );
      expect(after).toEqual(before);

      // And the numbers are the right ones: each event once on the wire, forwarded by its
      // origin hub only, stored once by each hub, passed through each hub's rules once.
      expect(after.onWire).toBe(3);
      expect(wire.map((m) => m.headers["Nats-Msg-Id"]).sort()).toEqual(
        [created.id, fromA.id, fromB.id].sort(),
      );
      expect(after.forwardedByA).toBe(2);
      expect(after.forwardedByB).toBe(1);
      expect(after.storedByA.sort()).toEqual([created.id, fromA.id, fromB.id].sort());
      expect(after.storedByB.sort()).toEqual([created.id, fromA.id, fromB.id].sort());
      expect(after.routedByA).toBe(3);
      expect(after.routedByB).toBe(3);
      expect(after.streams).toEqual({ HUB_A: 1, HUB_B: 0, HUB_GLOBAL: 2 });
    },
    QUIET_MS + 20_000,
  );
});
