import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase } from "./postgres.js";

/** A database for one suite: its URL, and how to remove it afterwards. */
export interface TestTarget {
  readonly url: string;
  cleanup(): Promise<void>;
}

/** The databases the log runs on, for `describe.each`: every store suite runs on both. */
export const TEST_DATABASE_KINDS = ["sqlite", "postgres"] as const;
export type TestDatabaseKind = (typeof TEST_DATABASE_KINDS)[number];

/** A temporary SQLite file, `<tmp>/<prefix>XXXXXX/hub.db`; cleanup removes its directory. */
export async function sqliteTarget(prefix = "hubbus-"): Promise<TestTarget> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    url: `sqlite:${join(dir, "hub.db")}`,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A fresh PostgreSQL database (see {@link createTestDatabase}); cleanup drops it. */
export async function postgresTarget(): Promise<TestTarget> {
  const db = await createTestDatabase();
  return { url: db.url, cleanup: () => db.drop() };
}

/** A fresh database of `kind`; `sqlitePrefix` names the SQLite file's temporary directory. */
export function testTarget(kind: TestDatabaseKind, sqlitePrefix?: string): Promise<TestTarget> {
  return kind === "sqlite" ? sqliteTarget(sqlitePrefix) : postgresTarget();
}
