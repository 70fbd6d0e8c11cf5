// The SQLite writer thread's entry module (see startWriterThread): it opens
// its own connection to the file and runs each write the main thread sends.
import { createRequire } from "node:module";
import { parentPort, workerData } from "node:worker_threads";
import { type SqliteDatabase, type SqliteWrites, sqliteWrites } from "./sqlite-writes.js";

/** What the thread is started with. */
export interface WriterThreadData {
  readonly path: string;
  readonly insertSql: string;
}

/** An error as it crosses the thread boundary: what toStoreError looks at. */
export interface ErrorShape {
  readonly name?: string;
  readonly message: string;
  readonly code?: string;
}

/** A request to the thread; its reply carries the same id. */
export type Operation =
  | { readonly op: "insert"; readonly values: readonly unknown[]; readonly width: number }
  | {
      readonly op: "run";
      readonly sql: string;
      readonly params: readonly unknown[];
      readonly relaxed: boolean;
    }
  | { readonly op: "ping" }
  | { readonly op: "close" };

/** The thread's answer; id 0 answers the start (the connection opened, or why not). */
export interface Reply {
  readonly id: number;
  readonly result?: unknown;
  readonly error?: ErrorShape;
}

type Request = Operation & { readonly id: number };

const port = parentPort;
if (!port) throw new Error("sqlite-writer-thread runs only as a worker thread");

function describe(error: unknown): ErrorShape {
  const e = error as Partial<ErrorShape> | null | undefined;
  return {
    name: e?.name,
    message: String(e?.message !== undefined ? e.message : error),
    code: e?.code,
  };
}

// better-sqlite3 ships no types: the store's narrow interface stands in.
const Database = createRequire(import.meta.url)("better-sqlite3") as new (
  path: string,
) => SqliteDatabase & { close(): void };

const { path, insertSql } = workerData as WriterThreadData;
let db: (SqliteDatabase & { close(): void }) | undefined;
let writes: SqliteWrites | undefined;
try {
  db = new Database(path);
  writes = sqliteWrites(db, insertSql);
  port.postMessage({ id: 0 } satisfies Reply);
} catch (error) {
  port.postMessage({ id: 0, error: describe(error) } satisfies Reply);
}

port.on("message", (request: Request) => {
  if (request.op === "close") {
    try {
      db?.close();
    } catch {
      // Closing is the last thing the thread does: nothing is left to report to.
    }
    port.postMessage({ id: request.id } satisfies Reply);
    port.close();
    return;
  }
  try {
    // Unreachable without a connection: the main thread stops a thread whose start failed.
    if (!writes) throw new Error("the writer's connection is not open");
    const result =
      request.op === "insert"
        ? writes.insert(request.values, request.width)
        : request.op === "run"
          ? writes.run(request.sql, request.params, request.relaxed)
          : undefined;
    port.postMessage({ id: request.id, result } satisfies Reply);
  } catch (error) {
    port.postMessage({ id: request.id, error: describe(error) } satisfies Reply);
  }
});
