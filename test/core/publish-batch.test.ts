import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEventBus,
  type HubCore,
  type HubEvent,
  MAX_BATCH_EVENTS,
} from "../../src/core/index.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { TEST_DATABASE_KINDS, testTarget } from "../helpers/databases.js";

// The core's publishBatch over a real log: validated first, one append, one
// transaction, one notice to listeners.

function expectContiguous(events: readonly HubEvent[]): void {
  const first = events[0]?.sequence as number;
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => first + i));
}

describe.each(TEST_DATABASE_KINDS)("publishBatch on %s", (kind) => {
  let cleanup: () => Promise<void>;
  let log: SqlEventLog;
  let bus: HubCore;

  beforeAll(async () => {
    const target = await testTarget(kind, "hubbus-core-batch-");
    cleanup = target.cleanup;
    log = await openEventLog({ url: target.url });
    bus = createEventBus({ log });
  });
  afterAll(async () => {
    bus?.close();
    await log?.close();
    await cleanup?.();
  });

  it("stores a batch in one transaction, contiguous, with one notice to listeners", async () => {
    const notices: number[] = [];
    const off = bus.onAppended((events) => notices.push(events.length));
    try {
      const before = log.stats().appendTransactions;
      const results = await bus.publishBatch(
        Array.from({ length: MAX_BATCH_EVENTS }, (_, i) => ({
          subject: "core.batch",
          payload: { i },
          service: "batcher",
        })),
      );
      expect(log.stats().appendTransactions - before).toBe(1);
      expect(notices).toEqual([MAX_BATCH_EVENTS]);
      expectContiguous(results.map((r) => r.event));
      expect(results.map((r) => r.event.payload)).toEqual(
        Array.from({ length: MAX_BATCH_EVENTS }, (_, i) => ({ i })),
      );
      expect(results[0]?.event.origin).toEqual({ hubId: "local-hub", service: "batcher" });
    } finally {
      off();
    }
  });

  it("refuses a batch with a bad event before anything is written", async () => {
    const before = log.stats().appendTransactions;
    const inputs = [
      { subject: "core.ok" },
      { subject: "core.ok", payload: { big: "x".repeat(bus.maxPayloadBytes) } },
    ];
    await expect(bus.publishBatch(inputs)).rejects.toMatchObject({
      code: "invalid_argument",
      detail: { param: "events[1].payload" },
    });
    await expect(bus.publishBatch([{ subject: "core.ok" }, null as never])).rejects.toMatchObject({
      code: "invalid_argument",
      detail: { param: "events[1]" },
    });
    await expect(bus.publishBatch("core.ok" as never)).rejects.toMatchObject({
      code: "invalid_argument",
      detail: { param: "events" },
    });
    await expect(
      bus.publishBatch([{ subject: "core.ok", service: "no spaces allowed" }]),
    ).rejects.toMatchObject({ code: "invalid_argument", detail: { param: "service" } });
    expect(log.stats().appendTransactions).toBe(before);
  });

  it("writes nothing for a canceled call", async () => {
    const before = log.stats().appendTransactions;
    await expect(
      bus.publishBatch([{ subject: "core.canceled" }], AbortSignal.abort()),
    ).rejects.toMatchObject({ code: "canceled" });
    expect(log.stats().appendTransactions).toBe(before);
  });
});
