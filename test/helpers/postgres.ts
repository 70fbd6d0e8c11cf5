import { randomBytes } from "node:crypto";
import pg from "pg";

/**
 * The PostgreSQL server tests use. CI and the README point it at the local
 * server; each suite gets a database of its own on it, so runs never share state.
 */
export const TEST_POSTGRES_URL =
  process.env.HUBBUS_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A fresh, empty database for one suite. */
export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  try {
    await client.connect();
  } catch (error) {
    // Never skip: a PostgreSQL suite that cannot reach its server fails.
    throw new Error(
      `PostgreSQL tests need a server at ${TEST_POSTGRES_URL} (HUBBUS_TEST_POSTGRES_URL): ${error}`,
    );
  }
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database named hubbus_test_<random> and returns its URL. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `hubbus_test_${randomBytes(6).toString("hex")}`;
  await admin((c) => c.query(`create database "${name}"`));
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin((c) => c.query(`drop database if exists "${name}" with (force)`));
    },
  };
}
