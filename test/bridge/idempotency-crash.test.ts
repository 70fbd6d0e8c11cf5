import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Driver, drivers } from "../server/drivers.js";
import type { TestHub } from "../server/harness.js";
import {
  crash,
  type GatewayProcess,
  rpc,
  spawnGateway,
  tempSqlite,
  uniqueHubId,
  waitUntil,
} from "./support.js";

// Contract §9: an idempotency key holds across a restart and across kill -9
// between the commit and the answer. `hubbus serve` runs as a real process
// on a SQLite file; the suite reads the file itself to see the commit.
let db: ReturnType<typeof tempSqlite>;
const hubId = uniqueHubId("idem-crash");
const gateways: GatewayProcess[] = [];
let env: Record<string, string>;

beforeAll(() => {
  db = tempSqlite();
  env = { DATABASE_URL: db.url, HUB_ID: hubId };
});
afterAll(async () => {
  for (const gateway of gateways) await crash(gateway);
  db?.cleanup();
});

async function start(): Promise<GatewayProcess & { baseUrl: string }> {
  const gateway = await spawnGateway(env);
  gateways.push(gateway);
  return gateway;
}

/** The stored rows that carry `key`, read from the gateway's SQLite file by a connection of our own. */
function rowsWithKey(key: string): { id: string; seq: number }[] {
  const file = new Database(db.url.slice("sqlite:".length), {
    readonly: true,
    fileMustExist: true,
  });
  try {
    return file.prepare(`select "id", "seq" from "hub_event" where "idem_key" = ?`).all(key) as {
      id: string;
      seq: number;
    }[];
  } finally {
    file.close();
  }
}

/** Every protocol's client against a gateway process (the drivers need only its address). */
function driversFor(baseUrl: string): [string, Driver][] {
  const port = Number(new URL(baseUrl).port);
  const target = { baseUrl, port } as TestHub;
  return Object.entries(drivers).map(([name, make]) => [name, make(target)]);
}

const params = (key: string) => ({
  topic: "orders.paid",
  payload: { order: key },
  idempotency_key: key,
});

describe("idempotency keys of a gateway process", () => {
  it("hold across a restart, over every protocol", async () => {
    const first = await start();
    const ack = await rpc(first.baseUrl, "bus.publish", params("restart-key"));
    first.child.kill("SIGTERM");
    await first.exited;

    const second = await start();
    for (const [name, driver] of driversFor(second.baseUrl)) {
      const again = await driver.publish({
        subject: "orders.paid",
        payload: { order: "restart-key" },
        idempotencyKey: "restart-key",
      });
      expect(again, name).toMatchObject({
        event_id: ack.event_id,
        sequence: ack.sequence,
        duplicate: true,
      });
      driver.close();
    }
    expect(rowsWithKey("restart-key")).toHaveLength(1);
    await crash(second);
  });

  it("hold across kill -9 between the commit and the answer", async () => {
    const doomed = await start();
    // Not awaited: the gateway dies as soon as the row is committed, and the answer may never come.
    const pending = rpc(doomed.baseUrl, "bus.publish", params("crash-key")).catch(() => undefined);
    const [row] = await waitUntil(() => {
      const rows = rowsWithKey("crash-key");
      return rows.length > 0 && rows;
    }, "the publish to be committed to the SQLite file");
    await crash(doomed);
    await pending;

    const revived = await start();
    const again = await rpc(revived.baseUrl, "bus.publish", params("crash-key"));
    expect(again).toMatchObject({ event_id: row?.id, sequence: row?.seq, duplicate: true });
    expect(rowsWithKey("crash-key")).toHaveLength(1);
    // And refused for another payload, after the crash as before it.
    const other = await rpc(revived.baseUrl, "bus.publish", {
      ...params("crash-key"),
      payload: { order: "different" },
    }).catch((error: Error) => error);
    expect(String(other)).toMatch(/-32602.*idempotency_key/);
    await crash(revived);
  });
});
