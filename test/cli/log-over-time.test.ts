import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rpc } from "../bridge/support.js";
import { type GatewayProcess, runCli, spawnGateway } from "../live/gateway-process.js";
import { waitUntil } from "../live/support.js";

// `hubbus pub --idempotency-key`, `hubbus prune [--dry-run]` and what
// `hubbus sub --after` prints when its cursor was pruned: the commands as a
// user runs them, against a gateway process and its SQLite file.
const dir = mkdtempSync(join(tmpdir(), "hubbus-cli-log-"));
const database = { DATABASE_URL: `sqlite:${join(dir, "hub.db")}`, HUB_ID: "cli-log" };
let gateway: GatewayProcess | undefined;

beforeAll(async () => {
  gateway = await spawnGateway(database);
});
afterAll(async () => {
  await gateway?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string> = {}) {
  const p = runCli(args, env);
  const { code } = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

describe("the CLI and the log over time", () => {
  it("pub --idempotency-key answers a repeat with the first result and duplicate: true", async () => {
    const url = { HUBBUS_URL: (gateway as GatewayProcess).baseUrl };
    const args = ["pub", "--idempotency-key", "cli-key", "orders.paid", '{"order":1}'];
    const first = await cli(args, url);
    expect(first.code).toBe(0);
    const again = await cli(args, url);
    expect(again.code).toBe(0);
    const a = JSON.parse(first.out);
    const b = JSON.parse(again.out);
    expect(a.duplicate).toBeUndefined();
    expect(b).toMatchObject({ event_id: a.event_id, sequence: a.sequence, duplicate: true });
    const refused = await cli(
      ["pub", "--idempotency-key", "cli-key", "orders.paid", '{"order":2}'],
      url,
    );
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/AlreadyExists: idempotency_key/);
  });

  it("prune --dry-run says what would go, prune prunes, and sub --after then says plainly it is out of range", async () => {
    const baseUrl = (gateway as GatewayProcess).baseUrl;
    await rpc(baseUrl, "bus.publishBatch", {
      events: Array.from({ length: 20 }, (_, i) => ({ topic: "orders.item", payload: { i } })),
    });
    // Forwarded (the in-process bus), so prunable.
    await waitUntil(
      async () => (await rpc(baseUrl, "hub.health")).details.outbox_backlog === "0",
      "the outbox to be forwarded",
    );
    const { log_last_sequence: last } = (await rpc(baseUrl, "hub.health")).details;
    // Sequences may skip (a refused repeat of a key draws one): count the events themselves.
    const { events } = await rpc(baseUrl, "bus.subscribe", { limit: 1000 });
    const sequences = (events as { sequence: number }[])
      .map((e) => e.sequence)
      .sort((x, y) => x - y);
    const through = Number(last) - 5;
    const going = sequences.filter((s) => s <= through);
    const firstKept = sequences.find((s) => s > through);
    // The gateway prunes on its own under the lease; the command runs beside no gateway.
    await gateway?.stop();
    const retention = { ...database, RETENTION_MAX_EVENTS: "5" };

    const dry = await cli(["prune", "--dry-run"], retention);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(
      `would prune ${going.length} event(s) (sequences ${going[0]}..${through}) by RETENTION_MAX_EVENTS=5`,
    );
    expect(dry.out).toContain(`the log holds sequences 1..${last}`);

    const done = await cli(["prune"], retention);
    expect(done.code).toBe(0);
    expect(done.out).toContain(`pruned ${going.length} event(s)`);
    expect(done.out).toContain(`the log holds sequences ${firstKept}..${last}`);

    gateway = await spawnGateway(database);
    const sub = await cli(["sub", "--after", "1"], { HUBBUS_URL: gateway.baseUrl });
    expect(sub.code).toBe(1);
    expect(sub.err).toContain(`first retained sequence ${firstKept}`);
    expect(sub.err).toMatch(/^hubbus: OutOfRange: /);
    expect(sub.err).not.toMatch(/\n\s+at /);
  });

  it("refuses a bad RETENTION_MAX_AGE, naming it", async () => {
    const bad = await cli(["prune"], { ...database, RETENTION_MAX_AGE: "a week" });
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("invalid configuration: RETENTION_MAX_AGE:");
  });
});
