import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_DATABASE_KINDS } from "../helpers/databases.js";
import { HUB_ID, startHub, type TestHub } from "./harness.js";
import { runLoad } from "./load-client.js";

// Issue 2, acceptance 6: 1,000 concurrent publishes, JSON-RPC and gRPC mixed,
// all acknowledged and stored once, in strictly increasing sequence, sharing
// transactions (group commit).
const PUBLISHES = 1000;

describe.each(TEST_DATABASE_KINDS)("1,000 concurrent publishes on %s", (kind) => {
  let hub: TestHub;

  beforeAll(async () => {
    hub = await startHub(kind);
    // A first round warms up the JIT and the connections; the measured round is the steady state.
    await runLoad({ port: hub.port, count: 200, subject: "warm.up" });
  });
  afterAll(async () => {
    await hub?.close();
  });

  it("acknowledges and stores every one, in strictly increasing sequence, in few transactions", async () => {
    const before = hub.log.stats();
    const started = performance.now();
    const acks = await runLoad({ port: hub.port, count: PUBLISHES, subject: "load.tested" });
    const elapsedMs = Math.round(performance.now() - started);
    const after = hub.log.stats();
    const events = after.appendedEvents - before.appendedEvents;
    const transactions = after.appendTransactions - before.appendTransactions;
    console.log(
      `[${kind}] ${PUBLISHES} concurrent publishes (JSON-RPC + gRPC) in ${elapsedMs} ms: ` +
        `appendedEvents=${events} appendTransactions=${transactions} ` +
        `(${(events / transactions).toFixed(1)} events per transaction)`,
    );

    // All acknowledged, over both protocols, each with a sequence of its own.
    expect(acks).toHaveLength(PUBLISHES);
    expect(acks.filter((a) => a.via === "grpc")).toHaveLength(PUBLISHES / 2);
    const sequences = acks.map((a) => a.sequence);
    expect(new Set(sequences).size).toBe(PUBLISHES);
    expect(new Set(acks.map((a) => a.eventId)).size).toBe(PUBLISHES);

    // All in the log once; newest first, so sequences strictly decrease down the list.
    const stored = await hub.bus.query({ subject: `hub.${HUB_ID}.load.tested`, limit: 1000 });
    expect(stored).toHaveLength(PUBLISHES);
    for (let i = 1; i < stored.length; i++) {
      expect(stored[i - 1]?.sequence).toBeGreaterThan(stored[i]?.sequence as number);
    }
    const byId = new Map(stored.map((e) => [e.id, e]));
    for (const ack of acks) {
      const event = byId.get(ack.eventId);
      expect(event?.sequence).toBe(ack.sequence);
      expect(event?.payload).toEqual({ i: ack.index });
      expect(event?.correlationId).toBe(`load-${ack.index}`);
    }

    // Group commit: far fewer transactions than events.
    expect(events).toBe(PUBLISHES);
    expect(transactions).toBeLessThanOrEqual(PUBLISHES / 10);
  });
});
