import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubStreamName } from "../../src/bridge/index.js";
import { createHub, type Hub } from "../../src/index.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { rawNats, rpc, tempSqlite, uniqueHubId, waitUntil } from "./support.js";

// Acceptance 3: NATS dies while events are being published; nothing is lost,
// nothing is doubled, the order holds. The suite kills its own nats-server.
const TOTAL = 500;
const CHUNK = 50;
/** Chunks published before NATS is killed: the relay is forwarding them when it dies. */
const CHUNKS_BEFORE_KILL = 2;

let nats: NatsServerHandle;
let db: ReturnType<typeof tempSqlite>;
let hub: Hub;
let baseUrl: string;
const hubId = uniqueHubId("outage");

interface Ack {
  published: boolean;
  event_id: string;
  sequence: number;
  subject: string;
}

beforeAll(async () => {
  nats = await startNatsServer();
  db = tempSqlite();
  hub = await createHub({
    hubId,
    databaseUrl: db.url,
    natsServers: [nats.url],
    port: 0,
    waitForNats: true,
    // Retry soon after NATS returns, so the suite does not wait out the 5 s default backoff.
    bridge: { relay: { pollMs: 50, maxBackoffMs: 250 } },
  });
  baseUrl = `http://127.0.0.1:${hub.port}`;
});

afterAll(async () => {
  await hub?.close();
  await nats?.dispose();
  db?.cleanup();
});

function publishOne(chunk: number, i: number): Promise<Ack> {
  return rpc(baseUrl, "bus.publish", {
    topic: `order.item.${chunk}`,
    payload: { n: chunk * CHUNK + i },
  });
}

/** 50 concurrent publishes: they share a commit, and the relay forwards them as one batch. */
function publishChunk(chunk: number): Promise<Ack[]> {
  return Promise.all(Array.from({ length: CHUNK }, (_, i) => publishOne(chunk, i)));
}

/** 50 publishes one after another, so the relay forwards them in many small rounds. */
async function publishChunkSequentially(chunk: number): Promise<Ack[]> {
  const acks: Ack[] = [];
  for (let i = 0; i < CHUNK; i++) acks.push(await publishOne(chunk, i));
  return acks;
}

describe("NATS killed while 500 events are published", () => {
  const acks: Ack[] = [];
  const samples: { status: string; nats: string; backlog: number; oldestAgeMs: number }[] = [];
  let forwardedAtKill = 0;

  beforeAll(async () => {
    for (let chunk = 0; chunk < TOTAL / CHUNK; chunk++) {
      if (chunk === CHUNKS_BEFORE_KILL) {
        // Kill NATS in the middle of a chunk, once the relay has forwarded part of it:
        // events are being published, forwarded and acknowledged when it dies.
        const publishing = publishChunkSequentially(chunk);
        await waitUntil(
          () => hub.bridge.forwardedCount() >= chunk * CHUNK + 10,
          "the relay to forward part of the chunk",
          10_000,
          1,
        );
        await nats.stop({ signal: "SIGKILL" });
        acks.push(...(await publishing));
        await waitUntil(
          async () => (await rpc(baseUrl, "hub.health")).status === "degraded",
          "health to notice NATS is gone",
        );
        // Read late: acknowledgements already in the socket may still be counted after the kill.
        forwardedAtKill = hub.bridge.forwardedCount();
      } else {
        acks.push(...(await publishChunk(chunk)));
      }
      if (chunk >= CHUNKS_BEFORE_KILL) {
        const health = await rpc(baseUrl, "hub.health");
        samples.push({
          status: health.status,
          nats: health.services.nats,
          backlog: Number(health.details.outbox_backlog),
          oldestAgeMs: Number(health.details.outbox_oldest_age_ms ?? 0),
        });
      }
    }
  }, 60_000);

  it("acknowledges every publish, each with its own sequence", () => {
    expect(acks).toHaveLength(TOTAL);
    expect(acks.every((a) => a.published === true)).toBe(true);
    expect(new Set(acks.map((a) => a.sequence)).size).toBe(TOTAL);
    expect(new Set(acks.map((a) => a.event_id)).size).toBe(TOTAL);
  });

  it("reports degraded, NATS unhealthy, and a backlog growing by every chunk", () => {
    console.log(
      `[outage] NATS killed after ${forwardedAtKill} forwarded; backlog while down: ${samples.map((s) => s.backlog).join(" → ")}`,
    );
    expect(samples).toHaveLength(TOTAL / CHUNK - CHUNKS_BEFORE_KILL);
    for (const sample of samples) {
      expect(sample).toMatchObject({ status: "degraded", nats: "unhealthy" });
      expect(sample.oldestAgeMs).toBeGreaterThanOrEqual(0);
    }
    // Nothing can leave the outbox while NATS is down: each chunk adds exactly its 50.
    for (let i = 1; i < samples.length; i++) {
      expect((samples[i]?.backlog ?? 0) - (samples[i - 1]?.backlog ?? 0)).toBe(CHUNK);
    }
    const last = samples.at(-1);
    expect(forwardedAtKill).toBeLessThan(TOTAL);
    expect(last?.backlog).toBeGreaterThanOrEqual(TOTAL - forwardedAtKill);
    expect(last?.backlog).toBeLessThanOrEqual(TOTAL);
    expect(last?.oldestAgeMs).toBeGreaterThan(0);
  });

  it("after NATS restarts, forwards all 500 in order, each once in JetStream, backlog 0", async () => {
    const restartedAt = Date.now();
    await nats.restart();
    const health = await waitUntil(
      async () => {
        const h = await rpc(baseUrl, "hub.health");
        return h.status === "healthy" && h.details.outbox_backlog === "0" && h;
      },
      "the backlog to drain",
      30_000,
      50,
    );
    console.log(`[outage] backlog drained ${Date.now() - restartedAt} ms after NATS restarted`);
    expect(health.services).toEqual({ nats: "healthy", database: "healthy" });
    expect(health.details.outbox_oldest_age_ms).toBeUndefined();

    const raw = await rawNats(nats.url);
    try {
      const stream = await raw.readStream(hubStreamName(hubId));
      const bySequence = [...acks].sort((a, b) => a.sequence - b.sequence);
      expect(stream).toHaveLength(TOTAL);
      // Exactly once and in order: stream order is the log's sequence order.
      expect(stream.map((m) => m.headers["Nats-Msg-Id"])).toEqual(
        bySequence.map((a) => a.event_id),
      );
      expect(stream.map((m) => m.subject)).toEqual(bySequence.map((a) => a.subject));
      const bodies = stream.map((m) => JSON.parse(m.body).n as number);
      expect(new Set(bodies).size).toBe(TOTAL);

      // The ingest subscription came back with the connection: a raw message is stored.
      await raw.publishBare(`hub.${hubId}.after.restart`, { ok: true });
      await waitUntil(
        async () => (await rpc(baseUrl, "bus.subscribe", { subject: "*.*.after.>" })).count === 1,
        "a raw message after the restart to be stored",
      );
    } finally {
      await raw.close();
    }
  }, 40_000);
});
