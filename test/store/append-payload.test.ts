import { describe, expect, it } from "vitest";
import { newEventId } from "../../src/core/index.js";
import { openEventLog } from "../../src/store/index.js";

describe("append", () => {
  it("returns the caller's payload object when it has one, and parses otherwise", async () => {
    const log = await openEventLog({ url: "sqlite::memory:" });
    try {
      const payload = { a: [1, { b: "c" }] };
      const base = {
        subject: "hub.local-hub.x.y",
        origin: { hubId: "local-hub", service: "test" },
        correlationId: "c",
        payloadJson: JSON.stringify(payload),
        timestamp: new Date().toISOString(),
      };
      const [given, parsed] = await log.append([
        { ...base, id: newEventId(), payload },
        { ...base, id: newEventId() },
      ]);
      expect(given?.payload).toBe(payload);
      expect(parsed?.payload).not.toBe(payload);
      expect(parsed?.payload).toEqual(payload);
      expect((await log.query(">", 2)).map((e) => e.payload)).toEqual([payload, payload]);
    } finally {
      await log.close();
    }
  });
});
