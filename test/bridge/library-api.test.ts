import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createHub,
  type Hub,
  type JsonObject,
  type RoutedEvent,
  type RoutingRule,
} from "../../src/index.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { UUID, UUID_V7 } from "../server/harness.js";
import { type RawNats, rawNats, type SeenMessage, tempSqlite, waitUntil } from "./support.js";

// Acceptance 6: the seed design's usage examples, written against the library
// API (`import { createHub } from "hubbus"`), on the seed's hub id `local-hub`.
let nats: NatsServerHandle;
let db: ReturnType<typeof tempSqlite>;
let hub: Hub;
let raw: RawNats;
let onNats: SeenMessage[];

type Call = [subject: string, data: JsonObject, event: RoutedEvent];

beforeAll(async () => {
  nats = await startNatsServer();
  db = tempSqlite();
  hub = await createHub({
    hubId: "local-hub",
    databaseUrl: db.url,
    natsServers: [nats.url],
    serve: false,
  });
  await hub.bridge.connect();
  raw = await rawNats(nats.url);
  onNats = await raw.collect("hub.>");
});

afterAll(async () => {
  await raw?.close();
  await hub?.close();
  await nats?.dispose();
  db?.cleanup();
});

/**
 * Waits until everything sent to the hub so far has had its effect, so a test
 * can check that something did NOT happen. First an event of its own makes the
 * round trip through NATS: every message delivered to the hub's connection
 * before it has been dispatched. Then a raw message is ingested and routed:
 * appends commit in order, so every earlier ingest has been stored and routed.
 */
async function settle(): Promise<void> {
  let echoed = false;
  let routed = false;
  const stop = await hub.bridge.subscribeNatsToInternal("hub.local-hub.sync.barrier", () => {
    echoed = true;
  });
  const rule = hub.bridge.addRoutingRule("hub.other-hub.sync.barrier", () => {
    routed = true;
  });
  try {
    await hub.bridge.publishInternalToNats("sync.barrier");
    await waitUntil(() => echoed, "the hub's own event back from NATS");
    await raw.publishBare("hub.other-hub.sync.barrier", {});
    await waitUntil(() => routed, "a raw message stored and routed");
  } finally {
    stop();
    hub.bridge.removeRoutingRule(rule);
  }
}

describe("publishing events (seed: Publishing Events)", () => {
  it("publishes project.started to hub.local-hub.project.started", async () => {
    expect(hub.bridge.kind).toBe("nats");
    await hub.bridge.connect(); // idempotent
    const payload = { project_id: "my-project", status: "running", pid: 12345 };
    const event = await hub.bridge.publishInternalToNats("project.started", payload);
    expect(event).toMatchObject({
      id: expect.stringMatching(UUID_V7),
      subject: "hub.local-hub.project.started",
      origin: { hubId: "local-hub", service: "hubbus" },
      correlationId: expect.stringMatching(UUID),
      payload,
    });
    const message = await waitUntil(
      () => onNats.find((m) => m.headers["Nats-Msg-Id"] === event.id),
      "the event on NATS",
    );
    expect(message.subject).toBe("hub.local-hub.project.started");
    expect(JSON.parse(message.body)).toEqual(payload);
    expect(message.headers["Correlation-ID"]).toBe(event.correlationId);
  });

  it("puts a given correlation id in the Correlation-ID header", async () => {
    const event = await hub.bridge.publishInternalToNats(
      "project.created",
      { project_id: "123", name: "MyProject" },
      "corr-seed-example",
    );
    expect(event.subject).toBe("hub.local-hub.project.created");
    const message = await waitUntil(
      () => onNats.find((m) => m.headers["Nats-Msg-Id"] === event.id),
      "the event on NATS",
    );
    expect(message.headers["Correlation-ID"]).toBe("corr-seed-example");
  });
});

describe("subscribing to events (seed: Subscribing to Events)", () => {
  it("hands hub.*.project.> messages from NATS to the handler, and stops when told", async () => {
    const calls: Call[] = [];
    const stop = await hub.bridge.subscribeNatsToInternal("hub.*.project.>", async (...call) => {
      calls.push(call);
    });
    await raw.publishBare("hub.other-hub.project.created", { project_id: "p1" });
    await raw.publishBare("hub.other-hub.audit.login", { user: "u" });
    const own = await hub.bridge.publishInternalToNats("project.stopped", { project_id: "p2" });
    await waitUntil(() => calls.length === 2, "two project messages");
    expect(calls.map(([subject, data]) => [subject, data])).toEqual([
      ["hub.other-hub.project.created", { project_id: "p1" }],
      ["hub.local-hub.project.stopped", { project_id: "p2" }],
    ]);
    expect(calls[0]?.[2].origin).toEqual({ hubId: "other-hub", service: "nats" });
    expect(calls[1]?.[2]).toMatchObject({ id: own.id, correlationId: own.correlationId });

    stop();
    await raw.publishBare("hub.other-hub.project.deleted", { project_id: "p1" });
    await settle();
    expect(calls).toHaveLength(2);
  });
});

describe("routing rules (seed: Routing Rules)", () => {
  const audit: Call[] = [];
  const alerts: Call[] = [];
  let auditRule: RoutingRule;
  let alertRule: RoutingRule;

  beforeAll(() => {
    auditRule = hub.bridge.addRoutingRule(
      "hub.*.audit.>",
      async (...call) => void audit.push(call),
      {
        description: "Audit trail logger",
      },
    );
    alertRule = hub.bridge.addRoutingRule(
      "hub.*.health.*.degraded",
      async (...call) => void alerts.push(call),
      { description: "Health alert handler" },
    );
  });

  it("lists the rules with pattern, enabled and description", () => {
    expect(hub.bridge.getRoutingRules()).toEqual([
      { subjectPattern: "hub.*.audit.>", enabled: true, description: "Audit trail logger" },
      {
        subjectPattern: "hub.*.health.*.degraded",
        enabled: true,
        description: "Health alert handler",
      },
    ]);
  });

  it("passes every event that reaches the hub, published here or ingested, once", async () => {
    const securityAudit = await hub.bridge.publishInternalToNats("audit.security.completed", {
      passed: true,
    });
    await hub.bridge.publishInternalToNats("health.postgres.degraded", { latency_ms: 900 });
    await hub.bridge.publishInternalToNats("health.postgres.ok", {});
    await raw.publishBare("hub.other-hub.audit.login.failed", { user: "eve" });
    await raw.publishBare("hub.other-hub.health.nats.degraded", {});
    // Own events come back from NATS too; they must not pass the rules a second time.
    await settle();

    expect(audit.map(([subject]) => subject).sort()).toEqual([
      "hub.local-hub.audit.security.completed",
      "hub.other-hub.audit.login.failed",
    ]);
    expect(alerts.map(([subject]) => subject).sort()).toEqual([
      "hub.local-hub.health.postgres.degraded",
      "hub.other-hub.health.nats.degraded",
    ]);
    const own = audit.find(([subject]) => subject === "hub.local-hub.audit.security.completed");
    expect(own?.[1]).toEqual({ passed: true });
    expect(own?.[2]).toMatchObject({ id: securityAudit.id, sequence: securityAudit.sequence });
    const ingested = audit.find(([subject]) => subject === "hub.other-hub.audit.login.failed");
    expect(ingested?.[2]).toMatchObject({ origin: { hubId: "other-hub", service: "nats" } });
    expect(ingested?.[2].sequence).toEqual(expect.any(Number));
  });

  it("routes an event by hand and counts the handlers that matched", async () => {
    const before = alerts.length;
    expect(await hub.bridge.routeEvent("hub.local-hub.health.disk.degraded", { free: 1 })).toBe(1);
    expect(alerts).toHaveLength(before + 1);
    expect(alerts.at(-1)?.slice(0, 2)).toEqual(["hub.local-hub.health.disk.degraded", { free: 1 }]);
    expect(await hub.bridge.routeEvent("hub.local-hub.health.disk.ok")).toBe(0);
  });

  it("skips a disabled rule and forgets a removed one", async () => {
    alertRule.enabled = false;
    expect(hub.bridge.getRoutingRules()[1]?.enabled).toBe(false);
    expect(await hub.bridge.routeEvent("hub.local-hub.health.disk.degraded")).toBe(0);
    alertRule.enabled = true;
    hub.bridge.removeRoutingRule(auditRule);
    expect(hub.bridge.getRoutingRules().map((r) => r.subjectPattern)).toEqual([
      "hub.*.health.*.degraded",
    ]);
    const before = audit.length;
    expect(await hub.bridge.routeEvent("hub.local-hub.audit.x")).toBe(0);
    await hub.bridge.publishInternalToNats("audit.after.removal", {});
    await settle();
    expect(audit).toHaveLength(before);
  });

  it("refuses an invalid pattern", () => {
    expect(() => hub.bridge.addRoutingRule("hub.>.x", () => {})).toThrow(/invalid/i);
  });
});
