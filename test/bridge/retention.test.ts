import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { hubStreamName } from "../../src/bridge/index.js";
import type { HubEvent } from "../../src/core/index.js";
import { createHub, type Hub } from "../../src/index.js";
import { DEFAULT_PRUNE_STEP_EVENTS } from "../../src/store/index.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { rawNats, rpc, tempSqlite, uniqueHubId, waitUntil } from "./support.js";

// Contract §9, retention: a cap on events, a maximum age, nothing pruned
// before the outbox forwarded it, and a resume that says so when its cursor
// was pruned. Publishes and reads go through the API; the pruner's passes
// are awaited (runOnce) or waited on through hub.health, never slept on.

/** The log's bounds as `hub.health` reports them. */
async function bounds(baseUrl: string): Promise<{ first: number; last: number }> {
  const health = await rpc(baseUrl, "hub.health");
  return {
    first: Number(health.details.log_first_sequence),
    last: Number(health.details.log_last_sequence),
  };
}

/** Every event the log holds, oldest first, read in pages. */
async function allEvents(hub: Hub): Promise<HubEvent[]> {
  const out: HubEvent[] = [];
  for (let after = 0; ; ) {
    const page = await hub.log.readAfter(after, ">", 1000);
    out.push(...page);
    if (page.length < 1000) return out;
    after = (page[page.length - 1] as HubEvent).sequence;
  }
}

async function publishMany(hub: Hub, count: number, subject: string): Promise<number[]> {
  const sequences: number[] = [];
  const CONCURRENCY = 100;
  for (let start = 0; start < count; start += CONCURRENCY) {
    const wave = await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, count - start) }, (_, i) =>
        hub.bus.publish({ subject, payload: { n: start + i } }),
      ),
    );
    sequences.push(...wave.map((r) => r.sequence));
  }
  return sequences;
}

describe("RETENTION_MAX_EVENTS=1000", () => {
  const MAX = 1000;
  let db: ReturnType<typeof tempSqlite>;
  let hub: Hub;
  let baseUrl: string;

  beforeAll(async () => {
    db = tempSqlite();
    hub = await createHub({
      hubId: uniqueHubId("retain"),
      databaseUrl: db.url,
      port: 0,
      retention: { maxEvents: MAX, intervalMs: 50 },
      // Small replay pages, so a subscriber behind the pruner reads the log many times.
      live: { pageEvents: 10 },
    });
    baseUrl = `http://127.0.0.1:${hub.port}`;
  });
  afterAll(async () => {
    await hub?.close();
    db?.cleanup();
  });

  it("keeps at most 1,000 + one step of 10,000 publishes, the newest", async () => {
    const sequences = await publishMany(hub, 10_000, "retain.cap");
    const newest = Math.max(...sequences);
    await waitUntil(async () => {
      const b = await bounds(baseUrl);
      return b.last === newest && b.last - b.first + 1 <= MAX + DEFAULT_PRUNE_STEP_EVENTS;
    }, "the pruner to bring the log down to the cap");
    // The pass in flight, if any, then one of our own: the log is settled afterwards.
    const pruner = hub.log.startPruner({});
    await pruner.runOnce();
    await pruner.runOnce();
    const { first, last } = await bounds(baseUrl);
    const kept = await allEvents(hub);
    expect(kept.length).toBeLessThanOrEqual(MAX + DEFAULT_PRUNE_STEP_EVENTS);
    expect(kept.length).toBeGreaterThanOrEqual(MAX);
    expect(kept[0]?.sequence).toBe(first);
    expect(kept[kept.length - 1]?.sequence).toBe(last);
    // The newest, contiguous: nothing in the middle went.
    expect(kept.map((e) => e.sequence)).toEqual(
      sequences.filter((s) => s >= first).sort((a, b) => a - b),
    );
  });

  it("answers Subscribe(after_sequence=1) with out_of_range naming the first sequence; resuming there has no gap", async () => {
    await hub.log.startPruner({}).runOnce();
    const { first, last } = await bounds(baseUrl);
    expect(first).toBeGreaterThan(2);
    const client = createClient(EventBusService, createGrpcTransport({ baseUrl }));
    const error = await (async () => {
      for await (const _ of client.subscribe({ subject: ">", afterSequence: 1n })) {
        // Nothing may arrive: the events after 1 are gone.
        return new Error("an event arrived");
      }
      return new Error("the stream ended");
    })().catch((e) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.OutOfRange);
    expect((error as ConnectError).rawMessage).toContain(`first retained sequence ${first}`);

    const controller = new AbortController();
    const got: number[] = [];
    for await (const { event } of client.subscribe(
      { subject: ">", afterSequence: BigInt(first - 1) },
      { signal: controller.signal },
    )) {
      got.push(Number(event?.sequence));
      if (got.length === last - first + 1) break;
    }
    controller.abort();
    expect(got).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
  });

  it("ends a subscriber the pruner overtook with out_of_range instead of skipping", async () => {
    const { first } = await bounds(baseUrl);
    const controller = new AbortController();
    const stream = hub.bus
      .subscribe({ subject: ">", afterSequence: first - 1 }, controller.signal)
      [Symbol.asyncIterator]();
    const got: number[] = [];
    const step = await stream.next();
    got.push((step.value as HubEvent).sequence);
    // While it holds one page, the log moves on by more than the cap and is pruned past it.
    await publishMany(hub, 2 * MAX, "retain.overtake");
    const report = await hub.log.startPruner({}).runOnce();
    expect(report.events).toBeGreaterThan(0);
    const error = await (async () => {
      for (;;) {
        const next = await stream.next();
        if (next.done) return new Error("the stream ended");
        got.push(next.value.sequence);
      }
    })().catch((e) => e);
    controller.abort();
    expect(error).toMatchObject({ code: "out_of_range" });
    expect(String(error.message)).toMatch(/first retained sequence \d+/);
    // What it did get was contiguous: the page it held, and no event after a gap.
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => first + i));
  });
});

describe("RETENTION_MAX_AGE=2s", () => {
  let db: ReturnType<typeof tempSqlite>;
  let hub: Hub;
  let baseUrl: string;

  beforeAll(async () => {
    db = tempSqlite();
    hub = await createHub({
      hubId: uniqueHubId("aged"),
      databaseUrl: db.url,
      port: 0,
      retention: { maxAgeMs: 2000, intervalMs: 100 },
    });
    baseUrl = `http://127.0.0.1:${hub.port}`;
  });
  afterAll(async () => {
    await hub?.close();
    db?.cleanup();
  });

  it("prunes events older than two seconds, keeping the newest", async () => {
    const publishedAt = Date.now();
    const sequences = await publishMany(hub, 20, "aged.event");
    const newest = Math.max(...sequences);
    expect((await bounds(baseUrl)).first).toBe(Math.min(...sequences));
    // The log's first sequence moves up to the newest once the others are two seconds old.
    await waitUntil(
      async () => (await bounds(baseUrl)).first === newest,
      "the pruner to prune by age",
      20_000,
      100,
    );
    expect(Date.now() - publishedAt).toBeGreaterThanOrEqual(2000);
    expect((await allEvents(hub)).map((e) => e.sequence)).toEqual([newest]);
  });
});

describe("retention with NATS down", () => {
  let nats: NatsServerHandle;
  let db: ReturnType<typeof tempSqlite>;
  let hub: Hub;
  const hubId = uniqueHubId("retain-nats");

  beforeAll(async () => {
    nats = await startNatsServer();
    db = tempSqlite();
    hub = await createHub({
      hubId,
      databaseUrl: db.url,
      natsServers: [nats.url],
      port: 0,
      waitForNats: true,
      bridge: { relay: { pollMs: 50, maxBackoffMs: 250 } },
      // Passes are run by the test (runOnce); the interval stays out of the way.
      retention: { maxEvents: 10, intervalMs: 3_600_000 },
    });
  });
  afterAll(async () => {
    await hub?.close();
    await nats?.dispose();
    db?.cleanup();
  });

  it("prunes nothing unforwarded, and the backlog arrives in full when NATS returns", async () => {
    const baseUrl = `http://127.0.0.1:${hub.port}`;
    await nats.stop({ signal: "SIGKILL" });
    await waitUntil(
      async () => (await rpc(baseUrl, "hub.health")).services.nats === "unhealthy",
      "the hub to see NATS gone",
    );
    const sequences = await publishMany(hub, 200, "outage.kept");
    const report = await hub.log.startPruner({}).runOnce();
    expect(report.heldForOutbox).toBe(true);
    const kept = (await allEvents(hub)).map((e) => e.sequence);
    for (const sequence of sequences) expect(kept).toContain(sequence);

    await nats.restart();
    const raw = await rawNats(nats.url);
    try {
      const stream = await waitUntil(async () => {
        const messages = await raw.readStream(hubStreamName(hubId));
        return messages.length >= sequences.length && messages;
      }, "the backlog to reach JetStream");
      expect(stream).toHaveLength(sequences.length);
      expect(stream.map((m) => JSON.parse(m.body).n)).toEqual(
        Array.from({ length: sequences.length }, (_, i) => i),
      );
    } finally {
      await raw.close();
    }
    // Forwarded now, so prunable: the next pass brings the log down to the cap.
    await waitUntil(
      async () => (await rpc(baseUrl, "hub.health")).details.outbox_backlog === "0",
      "the outbox to be empty",
    );
    const after = await hub.log.startPruner({}).runOnce();
    expect(after.events).toBeGreaterThan(0);
    expect((await allEvents(hub)).length).toBeLessThanOrEqual(10);
  });
});
