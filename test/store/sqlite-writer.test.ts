import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HubError, newEventId, nowTimestamp } from "../../src/core/index.js";
import { openEventLog } from "../../src/store/index.js";
import { startWriterThread } from "../../src/store/sqlite-writer.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hubbus-writer-"));
  dirs.push(dir);
  return dir;
}

const INSERT = "insert into t (v) values (?) returning id";

describe("the SQLite writer thread", () => {
  it("gives SQLite's error code back, so the store can tell an outage from a bad statement", async () => {
    const writer = await startWriterThread(join(tempDir(), "x.db"), "select ?");
    try {
      await expect(
        writer.run("insert into missing (v) values (?)", [1], false),
      ).rejects.toMatchObject({
        code: "SQLITE_ERROR",
        message: expect.stringContaining("no such table: missing"),
      });
      // The thread keeps serving after a failed statement.
      expect(await writer.run("create table t (id integer primary key, v text)", [], false)).toBe(
        0,
      );
      expect(await writer.run("insert into t (v) values (?)", ["a"], true)).toBe(1);
    } finally {
      await writer.close();
    }
  });

  it("refuses to start on a file it cannot open, saying why", async () => {
    await expect(
      startWriterThread(join(tempDir(), "no", "such", "dir", "x.db"), INSERT),
    ).rejects.toThrow(/Cannot open database because the directory does not exist/);
  });

  it("answers every write after close as unavailable, and does not hang", async () => {
    const writer = await startWriterThread(join(tempDir(), "x.db"), "select ?");
    await writer.ping();
    await writer.close();
    for (const attempt of [writer.run("select 1", [], false), writer.ping()]) {
      const error = await attempt.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HubError);
      expect((error as HubError).code).toBe("unavailable");
    }
  });

  it("commits before it answers: another connection reads the rows at once, in order", async () => {
    const url = `sqlite:${join(tempDir(), "hub.db")}`;
    const log = await openEventLog({ url });
    try {
      const events = Array.from({ length: 20 }, (_, i) => ({
        id: newEventId(),
        subject: `hub.local-hub.writer.e${i}`,
        origin: { hubId: "local-hub", service: "test" },
        correlationId: newEventId(),
        payloadJson: JSON.stringify({ i }),
        timestamp: nowTimestamp(),
      }));
      const stored = await Promise.all(events.map((e) => log.append([e])));
      const sequences = stored.map(([e]) => e?.sequence as number);
      const read = await log.readAfter(0, "hub.local-hub.writer.>", 100);
      expect(read.map((e) => e.sequence)).toEqual([...sequences].sort((a, b) => a - b));
      expect(read.map((e) => e.payload)).toEqual(
        [...stored]
          .sort((a, b) => (a[0]?.sequence as number) - (b[0]?.sequence as number))
          .map(([e]) => e?.payload),
      );
    } finally {
      await log.close();
    }
  });
});
