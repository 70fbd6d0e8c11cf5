import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { createAuth, loadAuthFile } from "../../src/auth/index.js";
import { HUB_ID, postRpc, startHub, type TestHub } from "./harness.js";

// ListHubs without a federation (no NATS): this hub alone, online, on every
// protocol; with auth on it needs a caller like every method but the open ones.
const KEY = "list-hubs-key";
let open: TestHub;
let guarded: TestHub;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hubbus-list-hubs-"));
  const file = join(dir, "auth.json");
  const digest = createHash("sha256").update(KEY).digest("hex");
  writeFileSync(file, JSON.stringify({ callers: [{ name: "viewer", api_key_sha256: digest }] }));
  const auth = createAuth({ settings: loadAuthFile(file), hubId: HUB_ID });
  [open, guarded] = await Promise.all([
    startHub("sqlite"),
    startHub("sqlite", { server: { stages: [auth.stage] } }),
  ]);
});

afterAll(async () => {
  await open?.close();
  await guarded?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("ListHubs without federation", () => {
  it.each(["grpc", "connect"] as const)("answers this hub alone over %s", async (protocol) => {
    const transport =
      protocol === "grpc"
        ? createGrpcTransport({ baseUrl: open.baseUrl })
        : createConnectTransport({ baseUrl: open.baseUrl, httpVersion: "1.1" });
    const { hubs } = await createClient(EventBusService, transport).listHubs({});
    expect(hubs).toHaveLength(1);
    expect(hubs[0]).toMatchObject({
      hubId: HUB_ID,
      version: "1.2.3",
      status: "online",
      instances: 1,
    });
  });

  it("answers hub.list and GET /api/federation/hubs in snake_case", async () => {
    const { body } = await postRpc(open.baseUrl, { jsonrpc: "2.0", id: 1, method: "hub.list" });
    expect(body.result).toMatchObject({
      count: 1,
      hubs: [{ hub_id: HUB_ID, status: "online", instances: 1 }],
    });
    const response = await fetch(`${open.baseUrl}/api/federation/hubs`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ count: 1, hubs: [{ hub_id: HUB_ID }] });
    const refused = await postRpc(open.baseUrl, {
      jsonrpc: "2.0",
      id: 2,
      method: "hub.list",
      params: { x: 1 },
    });
    expect(refused.body.error).toMatchObject({ code: -32602, data: { param: "x" } });
  });

  it("needs credentials with auth on, on every route", async () => {
    const client = createClient(EventBusService, createGrpcTransport({ baseUrl: guarded.baseUrl }));
    await expect(client.listHubs({})).rejects.toMatchObject({ code: 16 }); // unauthenticated
    const anonymous = await fetch(`${guarded.baseUrl}/api/federation/hubs`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toContain("Bearer");
    const rpc = await postRpc(guarded.baseUrl, { jsonrpc: "2.0", id: 1, method: "hub.list" });
    expect(rpc.body.error.code).toBe(-32001);
    const withKey = await fetch(`${guarded.baseUrl}/api/federation/hubs`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(withKey.status).toBe(200);
    const { hubs } = await client.listHubs({}, { headers: { authorization: `Bearer ${KEY}` } });
    expect(hubs.map((h) => h.hubId)).toEqual([HUB_ID]);
  });
});
