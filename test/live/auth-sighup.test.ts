import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { type GatewayProcess, spawnGateway } from "./gateway-process.js";
import { waitUntil } from "./support.js";

// The operator's view of contract §7's reload: edit AUTH_FILE, send SIGHUP
// to the running gateway; a removed key stops working at once, nobody is
// disconnected, and a broken file changes nothing.

const BILLING_KEY = "sighup-billing-key";
const OPS_KEY = "sighup-ops-key";
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const BILLING = {
  name: "billing",
  api_key_sha256: sha256(BILLING_KEY),
  publish: { allow: ["hub.local-hub.billing.>"] },
  subscribe: { allow: ["hub.*.billing.>"] },
};
const OPS = { name: "ops", api_key_sha256: sha256(OPS_KEY) };

let dir: string;
let authFile: string;
let gateway: GatewayProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hubbus-sighup-"));
  authFile = join(dir, "auth.json");
  writeFileSync(authFile, JSON.stringify({ callers: [BILLING, OPS] }));
  gateway = await spawnGateway({
    DATABASE_URL: `sqlite:${join(dir, "hub.db")}`,
    AUTH_FILE: authFile,
    LOG_LEVEL: "info",
  });
});

afterAll(async () => {
  await gateway?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function rpc(method: string, params: object, key: string) {
  const res = await fetch(`${gateway.baseUrl}/rpc`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  return {
    status: res.status,
    body: (await res.json()) as { result?: unknown; error?: { code: number } },
  };
}

/** Sends SIGHUP and waits for the gateway to log the outcome (`marker` in its output). */
async function hangup(marker: string) {
  const before = gateway.stdout().split(marker).length;
  gateway.child.kill("SIGHUP");
  await waitUntil(() => gateway.stdout().split(marker).length > before, `"${marker}" after SIGHUP`);
}

it("SIGHUP re-reads AUTH_FILE: a removed key stops, other callers' streams keep running, a bad file is refused", async () => {
  expect((await rpc("bus.subscribe", { subject: ">" }, OPS_KEY)).body.result).toBeDefined();

  const client = createClient(
    EventBusService,
    createConnectTransport({ baseUrl: gateway.baseUrl, httpVersion: "2" }),
  );
  const controller = new AbortController();
  const stream = client
    .subscribe(
      { subject: "hub.*.billing.>", afterSequence: 0n },
      { headers: { authorization: `Bearer ${BILLING_KEY}` }, signal: controller.signal },
    )
    [Symbol.asyncIterator]();
  const nextSubject = async () => (await stream.next()).value?.event?.subject;

  expect(
    (await rpc("bus.publish", { topic: "billing.invoice.one" }, BILLING_KEY)).body.result,
  ).toBeDefined();
  expect(await nextSubject()).toBe("hub.local-hub.billing.invoice.one");

  writeFileSync(authFile, JSON.stringify({ callers: [BILLING] }));
  await hangup("auth file reloaded");
  const refused = await rpc("bus.subscribe", { subject: ">" }, OPS_KEY);
  expect(refused.status).toBe(401);
  expect(refused.body.error?.code).toBe(-32001);

  expect(
    (await rpc("bus.publish", { topic: "billing.invoice.two" }, BILLING_KEY)).body.result,
  ).toBeDefined();
  expect(await nextSubject()).toBe("hub.local-hub.billing.invoice.two");

  writeFileSync(authFile, "{ not json");
  await hangup("reload: AUTH_FILE kept its current state");
  expect(gateway.stdout()).toContain("not JSON");
  expect(
    (await rpc("bus.publish", { topic: "billing.invoice.three" }, BILLING_KEY)).body.result,
  ).toBeDefined();
  expect(await nextSubject()).toBe("hub.local-hub.billing.invoice.three");
  expect((await rpc("bus.subscribe", { subject: ">" }, OPS_KEY)).status).toBe(401);

  controller.abort();
  expect(gateway.child.exitCode).toBeNull();
});
