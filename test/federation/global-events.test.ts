import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import type { NatsServerHandle } from "../helpers/nats.js";
import { waitUntil } from "../live/support.js";
import {
  cleanupHubDirs,
  restartHub,
  startCluster,
  startHub,
  startLeafPair,
  statuses,
  type TestHub,
} from "./support.js";

// Acceptance of issue 14 (global events): alpha, beta and gamma as gateway
// processes on a NATS of several servers; 1,000 hub.global.… events published
// across them are each stored once on every hub, forwarded once into
// HUB_GLOBAL, and gamma, stopped mid-run and restarted, catches up.
const ENV = {
  PRESENCE_INTERVAL: "200ms",
  PRESENCE_TIMEOUT: "2s",
  FEDERATION_METRICS_INTERVAL: "0",
};
const IDS = ["alpha", "beta", "gamma"] as const;
const BATCH = 50;

afterAll(() => cleanupHubDirs());

/** Publishes `n` events on hub.global.load.<hub> through `hub`, in batches; returns their ids. */
async function publish(hub: TestHub, n: number, from: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += BATCH) {
    const events = Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => ({
      subject: `hub.global.load.${hub.hubId}`,
      payload: { n: from + i + k },
      correlationId: `load-${hub.hubId}-${from + i + k}`,
    }));
    const { results } = await hub.client.publishBatch({ events });
    ids.push(...results.map((r) => r.eventId));
  }
  return ids;
}

/** Every load event `hub` stored: id → [origin hub, correlation id], per origin (each well under a query's 1000). */
async function storedLoad(hub: TestHub) {
  const stored = new Map<string, string>();
  let rows = 0;
  for (const origin of IDS) {
    const { events } = await hub.client.queryEvents({
      subject: `hub.global.load.${origin}`,
      limit: 1000,
    });
    rows += events.length;
    for (const e of events) stored.set(e.id, `${e.origin?.hubId} ${e.correlationId}`);
  }
  return { stored, rows };
}

async function scenario(
  urls: Record<(typeof IDS)[number], string>,
  streamUrl: string,
  extraEnv: Record<string, string> = {},
) {
  const envOf = { ...ENV, ...extraEnv };
  const hubs = new Map<string, TestHub>();
  try {
    await Promise.all(IDS.map(async (id) => hubs.set(id, await startHub(id, urls[id], envOf))));
    const hub = (id: string) => hubs.get(id) as TestHub;
    for (const h of hubs.values()) {
      let last: Record<string, string> = {};
      await waitUntil(
        async () => {
          last = await statuses(h);
          return Object.values(last).filter((s) => s === "online").length === 3;
        },
        `${h.hubId} to list three hubs online`,
        { timeoutMs: 20_000, describe: () => [last, h.gateway.stderr().slice(-1000)] },
      );
    }
    const published = new Map<string, string>(); // id → "origin correlation"
    const note = (origin: string, ids: string[], from: number) =>
      ids.forEach((id, k) => {
        published.set(id, `${origin} load-${origin}-${from + k}`);
      });
    // 300 with all three up.
    for (const id of IDS) note(id, await publish(hub(id), 100, 0), 0);
    // gamma stops cleanly; 400 more while it is down.
    await hub("gamma").gateway.stop();
    note("alpha", await publish(hub("alpha"), 200, 100), 100);
    note("beta", await publish(hub("beta"), 200, 100), 100);
    // gamma comes back on its own log; 300 more.
    await restartHub(hub("gamma"), urls.gamma, envOf);
    for (const id of IDS) {
      const from = id === "gamma" ? 100 : 300;
      note(id, await publish(hub(id), 100, from), from);
    }
    expect(published.size).toBe(1000);

    for (const h of hubs.values()) {
      await waitUntil(
        async () => (await storedLoad(h)).rows >= 1000,
        `${h.hubId} to store the 1,000 global events`,
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      const { stored, rows } = await storedLoad(h);
      console.log(`[global] ${h.hubId}: ${rows} rows, ${stored.size} distinct ids`);
      expect(rows).toBe(1000);
      expect(stored).toEqual(published);
    }

    // Forwarded once each: the stream holds exactly 1,000 load messages with 1,000 distinct ids.
    const nc = await connect({ servers: streamUrl, name: "global-events-test" });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info("HUB_GLOBAL", { subjects_filter: "hub.global.load.>" });
      const perSubject = info.state.subjects ?? {};
      const total = Object.values(perSubject).reduce((a, b) => a + b, 0);
      console.log(`[global] HUB_GLOBAL load messages: ${JSON.stringify(perSubject)}`);
      expect(total).toBe(1000);
      expect(perSubject).toEqual({
        "hub.global.load.alpha": 400,
        "hub.global.load.beta": 400,
        "hub.global.load.gamma": 200,
      });
    } finally {
      await nc.close();
    }
  } finally {
    await Promise.all([...hubs.values()].map((h) => h.gateway.stop()));
  }
}

describe("global events across hubs", () => {
  it("on a 3-node NATS cluster: each of 1,000 stored once on every hub, once in JetStream, gamma catches up", async () => {
    let cluster: NatsServerHandle[] = [];
    try {
      cluster = await startCluster();
      const [n1, n2, n3] = cluster as [NatsServerHandle, NatsServerHandle, NatsServerHandle];
      await scenario({ alpha: n1.url, beta: n2.url, gamma: n3.url }, n1.url);
    } finally {
      await Promise.all(cluster.map((s) => s.dispose()));
    }
  }, 180_000);

  it("on two nats-servers linked as leaf nodes (beta and gamma on the leaf): the same", async () => {
    const pair = await startLeafPair();
    try {
      // The leaf has no JetStream: its hubs use the hub server's, in its domain "central".
      await scenario(
        { alpha: pair.hub.url, beta: pair.leaf.url, gamma: pair.leaf.url },
        pair.hub.url,
        { NATS_JS_DOMAIN: "central" },
      );
    } finally {
      await pair.leaf.dispose();
      await pair.hub.dispose();
      pair.cleanup();
    }
  }, 180_000);
});
