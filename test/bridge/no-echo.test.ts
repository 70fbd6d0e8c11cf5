import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHub, type Hub } from "../../src/index.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { type RawNats, rawNats, rpc, type SeenMessage, tempSqlite, waitUntil } from "./support.js";

// The hub ingests `hub.>`, which holds every event it forwards itself. The
// server must not send those back (the hub would parse each and refuse it as
// its own), yet a library subscriber that asks for a subject still gets the
// hub's own events on it. nats-server's monitoring counts what each
// connection was sent.
const HUB_ID = "echo-hub";
const EVENTS = 200;
let nats: NatsServerHandle;
let db: ReturnType<typeof tempSqlite>;
let hub: Hub;
let raw: RawNats;
let seen: SeenMessage[];

interface Connz {
  connections: { name?: string; out_msgs: number; in_msgs: number }[];
}

async function connections(): Promise<Connz["connections"]> {
  const response = await fetch(`${nats.monitorUrl}/connz`);
  return ((await response.json()) as Connz).connections;
}

beforeAll(async () => {
  nats = await startNatsServer({ args: ["-m", "-1"] });
  db = tempSqlite();
  hub = await createHub({
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

describe("the hub's own events on NATS", () => {
  it("are not sent back to the hub, which is sent only its acknowledgements", async () => {
    const before = (await connections()).find((c) => c.name === `hubbus-${HUB_ID}`);
    expect(before, "the hub's connection").toBeDefined();
    const baseUrl = `http://127.0.0.1:${hub.port}`;
    for (let i = 0; i < EVENTS; i++) {
      await rpc(baseUrl, "bus.publish", { topic: `echo.test.n${i}`, payload: { i } });
    }
    await waitUntil(() => seen.length >= EVENTS, "every event on NATS");
    // Also what arrives from another client after them still reaches the hub.
    await raw.publishBare("hub.other-hub.echo.after", { last: true });
    await waitUntil(
      async () => (await hub.bus.query({ subject: "hub.other-hub.>" })).length === 1,
      "the other client's message ingested",
    );
    const conns = await connections();
    const own = conns.find((c) => c.name === `hubbus-${HUB_ID}`);
    // One JetStream acknowledgement per event, plus the other client's message;
    // with echo it would be one more message per event.
    const sent = (own?.out_msgs ?? 0) - (before?.out_msgs ?? 0);
    expect(sent).toBeGreaterThanOrEqual(EVENTS);
    expect(sent).toBeLessThan(EVENTS + EVENTS / 2);
    expect(conns.some((c) => c.name === `hubbus-${HUB_ID}-own`)).toBe(false);
  });

  it("still reach a library subscriber of the subject", async () => {
    const got: string[] = [];
    const stop = await hub.bridge.subscribeNatsToInternal(`hub.${HUB_ID}.mine.*`, (subject) => {
      got.push(subject);
    });
    try {
      await rpc(`http://127.0.0.1:${hub.port}`, "bus.publish", {
        topic: "mine.created",
        payload: {},
      });
      await waitUntil(() => got.length === 1, "the hub's own event at the subscriber");
      expect(got).toEqual([`hub.${HUB_ID}.mine.created`]);
    } finally {
      stop();
    }
  });
});
