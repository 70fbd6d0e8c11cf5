import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubStreamName } from "../../src/bridge/index.js";
import { createHub } from "../../src/index.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { rawNats, rpc, spawnGateway, tempSqlite, uniqueHubId, waitUntil } from "./support.js";

// A hub that starts while NATS is unreachable, or reachable without JetStream:
// it accepts events, keeps trying, and still stops when told (acceptance 3 and 4
// lean on this: a gateway must come up and go down whatever NATS does).
let nats: NatsServerHandle;
const dbs: ReturnType<typeof tempSqlite>[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  await nats.stop();
});

afterAll(async () => {
  await nats?.dispose();
  for (const db of dbs) db.cleanup();
});

function db() {
  const created = tempSqlite();
  dbs.push(created);
  return created.url;
}

describe("NATS unreachable at start", () => {
  it("the hub accepts events, reports degraded, and closes promptly", async () => {
    const hub = await createHub({
      // Presence would add its own events to what this suite counts.
      federation: false,
      hubId: uniqueHubId("unreach"),
      databaseUrl: db(),
      natsServers: [nats.url],
      serve: false,
    });
    await hub.bus.publish({ subject: "job.queued" });
    const health = await hub.bus.health();
    expect(health.status).toBe("degraded");
    expect(health.details.outbox_backlog).toBe("1");
    // Before the fix this never resolved: disconnect() awaited a first connection forever.
    const closed = await Promise.race([
      hub.close().then(() => "closed"),
      new Promise((resolve) => setTimeout(() => resolve("still closing after 2 s"), 2000)),
    ]);
    expect(closed).toBe("closed");
  });

  it("`hubbus serve` exits 0 on SIGTERM", async () => {
    const gateway = await spawnGateway({
      HUB_ID: uniqueHubId("unreach"),
      DATABASE_URL: db(),
      NATS_URL: nats.url,
    });
    try {
      expect((await rpc(gateway.baseUrl, "hub.health")).status).toBe("degraded");
      gateway.child.kill("SIGTERM");
      const code = await Promise.race([
        gateway.exited,
        new Promise((resolve) => setTimeout(() => resolve("still running after 5 s"), 5000)),
      ]);
      expect(code).toBe(0);
    } finally {
      gateway.child.kill("SIGKILL");
    }
  }, 30_000);
});

describe("NATS without JetStream at start", () => {
  let plain: NatsServerHandle | undefined;
  let withJetStream: NatsServerHandle | undefined;
  afterAll(async () => {
    await plain?.dispose();
    await withJetStream?.dispose();
  });

  it("keeps retrying the stream setup, then forwards once JetStream is there", async () => {
    plain = await startNatsServer({ jetstream: false });
    const hubId = uniqueHubId("nojs");
    const warnings: string[] = [];
    const { pino } = await import("pino");
    const hub = await createHub({
      // Presence would add its own events to what this suite counts.
      federation: false,
      hubId,
      databaseUrl: db(),
      natsServers: [plain.url],
      serve: false,
      bridge: { relay: { pollMs: 50 } },
      logger: pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) }),
    });
    try {
      const event = (await hub.bus.publish({ subject: "job.queued" })).event;
      await waitUntil(() => warnings.some((l) => l.includes("JetStream streams")), "a retry");
      expect((await hub.bus.health()).status).toBe("degraded");

      // The same port, now with JetStream (the last -p wins over the helper's own).
      const port = plain.port;
      await plain.stop();
      withJetStream = await startNatsServer({ args: ["-p", String(port)] });
      expect(withJetStream.port).toBe(port);
      await waitUntil(
        async () => (await hub.bus.health()).details.outbox_backlog === "0",
        "the backlog to be forwarded",
        15_000,
      );
      const raw = await rawNats(withJetStream.url);
      try {
        const stream = await raw.readStream(hubStreamName(hubId));
        expect(stream.map((m) => m.headers["Nats-Msg-Id"])).toEqual([event.id]);
      } finally {
        await raw.close();
      }
    } finally {
      await hub.close();
    }
  }, 30_000);
});
