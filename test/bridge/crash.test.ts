import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubStreamName } from "../../src/bridge/index.js";
import { openEventLog } from "../../src/store/index.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import {
  crash,
  type GatewayProcess,
  type RawNats,
  rawNats,
  rpc,
  spawnGateway,
  startGateway,
  tempSqlite,
  uniqueHubId,
  waitUntil,
} from "./support.js";

// Acceptance 4: `hubbus serve` as a real process, SIGKILLed with a backlog in
// its outbox, twice: once before it could forward anything (NATS down), once
// in the middle of forwarding (NATS up, some events already in JetStream, the
// cursor behind them). The third gateway must forward the rest, nothing twice.
const TOTAL = 1000;
const CONCURRENCY = 100;

let nats: NatsServerHandle;
let db: ReturnType<typeof tempSqlite>;
let raw: RawNats | undefined;
const gateways: GatewayProcess[] = [];
const hubId = uniqueHubId("crash");
const stream = hubStreamName(hubId);
let env: Record<string, string>;

interface Ack {
  event_id: string;
  sequence: number;
}
const acks: Ack[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  // Down from the start; the port and the JetStream store stay reserved for the restart.
  await nats.stop();
  db = tempSqlite();
  // Without presence: the suite counts the outbox to the event.
  env = { HUB_ID: hubId, DATABASE_URL: db.url, NATS_URL: nats.url, FEDERATION: "off" };
});

afterAll(async () => {
  for (const gateway of gateways) await crash(gateway);
  await raw?.close();
  await nats?.dispose();
  db?.cleanup();
});

async function backlogInFile(): Promise<number> {
  const log = await openEventLog({ url: db.url });
  try {
    return (await log.outbox.backlog()).count;
  } finally {
    await log.close();
  }
}

describe("a gateway SIGKILLed with a backlog in its outbox", () => {
  it("first crash: NATS down, every publish acknowledged, backlog of all of them", async () => {
    const gateway = await spawnGateway(env);
    gateways.push(gateway);
    for (let i = 0; i < TOTAL; i += CONCURRENCY) {
      const batch = Array.from({ length: CONCURRENCY }, (_, j) =>
        rpc(gateway.baseUrl, "bus.publish", { topic: "job.queued", payload: { n: i + j } }),
      );
      acks.push(...(await Promise.all(batch)));
    }
    const health = await rpc(gateway.baseUrl, "hub.health");
    expect(health).toMatchObject({
      status: "degraded",
      services: { nats: "unhealthy", database: "healthy" },
      details: { outbox_backlog: String(TOTAL) },
    });
    await crash(gateway);
    expect(gateway.child.signalCode).toBe("SIGKILL");
    expect(await backlogInFile()).toBe(TOTAL);
  }, 30_000);

  it("second crash: NATS up, killed while its relay forwards", async () => {
    await nats.restart();
    raw = await rawNats(nats.url);
    const client = raw;
    const gateway = startGateway(env);
    gateways.push(gateway);
    // Poll JetStream as fast as it answers and kill on the first forwarded event.
    const inStreamBeforeKill = await waitUntil(
      async () => (await client.streamCount(stream)) > 0,
      "the relay to start forwarding",
      20_000,
      1,
    );
    expect(inStreamBeforeKill).toBe(true);
    await crash(gateway);
    const inStream = await client.streamCount(stream);
    const backlog = await backlogInFile();
    const forwardedByCursor = TOTAL - backlog;
    console.log(
      `[crash] killed mid-forward: ${inStream} events in JetStream, cursor at ${forwardedByCursor}, backlog ${backlog}`,
    );
    expect(backlog).toBeGreaterThan(0);
    // The cursor moves only after JetStream's acknowledgement: never ahead of the stream.
    expect(inStream).toBeGreaterThanOrEqual(forwardedByCursor);
  }, 30_000);

  it("restarted: forwards the backlog, each event once in JetStream, in sequence order", async () => {
    const started = Date.now();
    const gateway = await spawnGateway(env);
    gateways.push(gateway);
    // The killed relay's lease (10 s by default) must run out before the new one takes over.
    const health = await waitUntil(
      async () => {
        const h = await rpc(gateway.baseUrl, "hub.health");
        return h.details.outbox_backlog === "0" && h;
      },
      "the backlog to be forwarded",
      30_000,
      100,
    );
    console.log(`[crash] backlog forwarded ${Date.now() - started} ms after the restart`);
    expect(health).toMatchObject({ status: "healthy", services: { nats: "healthy" } });

    const client = raw as RawNats;
    const messages = await client.readStream(stream);
    const ids = messages.map((m) => m.headers["Nats-Msg-Id"]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(messages).toHaveLength(TOTAL);
    expect(ids).toEqual([...acks].sort((a, b) => a.sequence - b.sequence).map((a) => a.event_id));
    // The newest sequence is still TOTAL: the gateway's ingest saw its own events come
    // back from NATS (twice for the duplicates) and stored none of them again.
    const newest = await rpc(gateway.baseUrl, "bus.subscribe", { subject: ">", limit: 1 });
    expect(newest.events[0].sequence).toBe(TOTAL);
  }, 45_000);
});
