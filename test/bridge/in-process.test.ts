import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHub, type Hub, type RoutedEvent } from "../../src/index.js";
import { type Driver, drivers } from "../server/drivers.js";
import { type TestHub, UUID_V7 } from "../server/harness.js";
import { rpc, spawnGateway, tempSqlite, waitUntil } from "./support.js";

// Acceptance 7: without NATS_URL, the in-process bus stands in for NATS.
let db: ReturnType<typeof tempSqlite>;
let hub: Hub;
let baseUrl: string;
const routed: RoutedEvent[] = [];

beforeAll(async () => {
  db = tempSqlite();
  hub = await createHub({ databaseUrl: db.url, port: 0, bridge: { relay: { pollMs: 50 } } });
  baseUrl = `http://127.0.0.1:${hub.port}`;
  hub.bridge.addRoutingRule("hub.local-hub.>", () => {
    throw new Error("a failing rule");
  });
  hub.bridge.addRoutingRule("hub.*.project.*", (_subject, _data, event) => {
    routed.push(event);
  });
});

afterAll(async () => {
  await hub?.close();
  db?.cleanup();
});

describe("with NATS_URL unset", () => {
  it("reports nats disabled and status healthy, over JSON-RPC and gRPC", async () => {
    expect(hub.bridge.kind).toBe("in-process");
    const health = await rpc(baseUrl, "hub.health");
    expect(health).toMatchObject({
      status: "healthy",
      services: { nats: "disabled", database: "healthy" },
      details: { outbox_backlog: "0" },
    });
    const grpc = (drivers["gRPC over h2c (@grpc/grpc-js)"] as (hub: TestHub) => Driver)({
      port: hub.port,
      baseUrl,
    } as TestHub);
    try {
      expect(await grpc.health()).toMatchObject({
        status: "healthy",
        services: { nats: "disabled", database: "healthy" },
      });
    } finally {
      grpc.close();
    }
  });

  it("publishes over JSON-RPC and gRPC, queries, and passes the rules once despite a failing one", async () => {
    const json = await rpc(baseUrl, "bus.publish", { topic: "project.created", payload: { a: 1 } });
    const grpc = (drivers["gRPC over h2c (@grpc/grpc-js)"] as (hub: TestHub) => Driver)({
      port: hub.port,
      baseUrl,
    } as TestHub);
    const viaGrpc = await grpc
      .publish({ subject: "project.updated", payload: { a: 2 } })
      .finally(() => grpc.close());
    expect(json.subject).toBe("hub.local-hub.project.created");
    expect(viaGrpc.subject).toBe("hub.local-hub.project.updated");
    const { events } = await rpc(baseUrl, "bus.subscribe", { subject: "hub.*.project.>" });
    expect(events.map((e: { id: string }) => e.id)).toEqual([viaGrpc.event_id, json.event_id]);
    await waitUntil(() => routed.length === 2, "both events routed");
    expect(routed.map((e) => e.id)).toEqual([json.event_id, viaGrpc.event_id]);
  });

  it("offers the library API over the in-process bus", async () => {
    const seen: [string, RoutedEvent][] = [];
    const stop = await hub.bridge.subscribeNatsToInternal("hub.*.deploy.>", (subject, _d, e) => {
      seen.push([subject, e]);
    });
    const event = await hub.bridge.publishInternalToNats("deploy.started", { v: 3 }, "corr-7");
    expect(event).toMatchObject({
      id: expect.stringMatching(UUID_V7),
      subject: "hub.local-hub.deploy.started",
      correlationId: "corr-7",
    });
    // The relay forwards to the in-process bus, where the subscriber sees the contract's headers.
    const [[subject, received]] = await waitUntil(() => seen.length === 1 && seen, "delivery");
    expect(subject).toBe("hub.local-hub.deploy.started");
    expect(received).toMatchObject({
      id: event.id,
      correlationId: "corr-7",
      origin: { hubId: "local-hub", service: "hubbus" },
      payload: { v: 3 },
      timestamp: event.timestamp,
    });
    stop();
    expect(await hub.bridge.routeEvent("hub.x.project.y", {})).toBe(1);
    expect(hub.bridge.getRoutingRules()).toHaveLength(2);
  });

  it("empties the outbox and stores no event twice", async () => {
    const health = await waitUntil(async () => {
      const h = await rpc(baseUrl, "hub.health");
      return h.details.outbox_backlog === "0" && h;
    }, "an empty outbox");
    expect(health.status).toBe("healthy");
    expect(hub.bridge.forwardedCount()).toBe(3);
    const { count } = await rpc(baseUrl, "bus.subscribe", {});
    expect(count).toBe(3);
  });

  it("says so at start-up as `hubbus serve`", async () => {
    const dir = tempSqlite();
    const gateway = await spawnGateway({ DATABASE_URL: dir.url });
    try {
      expect(gateway.output()).toContain("NATS_URL is unset: using the in-process bus");
      expect(await rpc(gateway.baseUrl, "hub.health")).toMatchObject({
        status: "healthy",
        services: { nats: "disabled", database: "healthy" },
      });
      gateway.child.kill("SIGTERM");
      expect(await gateway.exited).toBe(0);
    } finally {
      gateway.child.kill("SIGKILL");
      dir.cleanup();
    }
  }, 30_000);
});
