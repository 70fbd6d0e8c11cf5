import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { HubError } from "../core/index.js";
import type { SqliteDatabase, SqliteStatement } from "./sqlite-dialect.js";

/** Statements each connection's write cache keeps before starting over. */
const STATEMENT_CACHE_SIZE = 256;
/** The writer thread's young generation (V8 sizes it for a busy main thread by default). */
const WRITER_YOUNG_GENERATION_MB = 4;
/** How long closing waits for the writer thread before terminating it. */
const CLOSE_TIMEOUT_MS = 5000;

/** The log's writes on SQLite: appends and the outbox's small updates. */
export interface SqliteWriter {
  /**
   * Inserts rows of `width` values each (flattened) in one transaction;
   * returns the sequence of each, or undefined where the id was stored already.
   */
  insert(values: readonly unknown[], width: number): Promise<(number | undefined)[]>;
  /** A write with `?` parameters; the number of rows changed. See Dialect.run for `relaxed`. */
  run(sql: string, params: readonly unknown[], relaxed: boolean): Promise<number>;
  /** Resolves when the writer answers: its thread is alive and not stuck. */
  ping(): Promise<void>;
  /** Closes the writer's connection (the in-place writer has none of its own). */
  close(): Promise<void>;
}

/**
 * The write statements over one better-sqlite3 connection. The function is
 * self-contained (it refers to nothing outside its body, not even a
 * constant), because the writer thread runs its source text; an in-memory
 * database, which a second connection cannot open, runs it in place.
 */
function sqliteWrites(db: SqliteDatabase, insertSql: string, cacheSize: number) {
  // FULL: an acknowledged event survives power loss; group commit pays the fsync once per batch.
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  // pluck: the one returned column comes back as a value, not an object per row.
  const insertOne = db.prepare(insertSql).pluck(true);
  const insertMany = db.transaction((values: readonly unknown[], width: number) => {
    const count = values.length / width;
    const seqs: (number | undefined)[] = new Array(count);
    for (let i = 0; i < count; i++) {
      seqs[i] = insertOne.get(...values.slice(i * width, (i + 1) * width)) as number | undefined;
    }
    return seqs;
  });
  const statements = new Map<string, SqliteStatement>();
  function changes(sql: string, params: readonly unknown[]): number {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= cacheSize) statements.clear();
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return (statement.run(...params) as { changes: number }).changes;
  }
  return {
    insert: (values: readonly unknown[], width: number) => insertMany(values, width),
    run(sql: string, params: readonly unknown[], relaxed: boolean): number {
      if (!relaxed) return changes(sql, params);
      // In WAL mode NORMAL skips this commit's fsync only; the next durable commit carries it to disk.
      db.pragma("synchronous = NORMAL");
      try {
        return changes(sql, params);
      } finally {
        db.pragma("synchronous = FULL");
      }
    },
  };
}

/** Writes on the connection the caller holds, on the caller's thread (in-memory databases). */
export function inPlaceWriter(db: SqliteDatabase, insertSql: string): SqliteWriter {
  const writes = sqliteWrites(db, insertSql, STATEMENT_CACHE_SIZE);
  return {
    insert: async (values, width) => writes.insert(values, width),
    run: async (sql, params, relaxed) => writes.run(sql, params, relaxed),
    ping: async () => {},
    close: async () => {},
  };
}

/** An error as it crosses the thread boundary: what toStoreError looks at. */
interface ErrorShape {
  readonly name?: string;
  readonly message: string;
  readonly code?: string;
}

type Operation =
  | { readonly op: "insert"; readonly values: readonly unknown[]; readonly width: number }
  | {
      readonly op: "run";
      readonly sql: string;
      readonly params: readonly unknown[];
      readonly relaxed: boolean;
    }
  | { readonly op: "ping" }
  | { readonly op: "close" };

interface Reply {
  readonly id: number;
  readonly result?: unknown;
  readonly error?: ErrorShape;
}

// CommonJS, evaluated by the worker: it loads the same under tsx, vitest and
// the build, where a module path would need each one's loader. `__name` is
// what tsx's keep-names transform calls inside the function's source.
const WORKER_SOURCE = `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const __name = (target) => target;
const sqliteWrites = ${sqliteWrites.toString()};
const describe = (e) => ({ name: e && e.name, message: String(e && e.message !== undefined ? e.message : e), code: e && e.code });
let db;
let writes;
try {
  const Database = require(workerData.driver);
  db = new Database(workerData.path);
  writes = sqliteWrites(db, workerData.insertSql, workerData.cacheSize);
  parentPort.postMessage({ id: 0 });
} catch (error) {
  parentPort.postMessage({ id: 0, error: describe(error) });
}
parentPort.on("message", (request) => {
  if (request.op === "close") {
    try { if (db) db.close(); } catch {}
    parentPort.postMessage({ id: request.id });
    parentPort.close();
    return;
  }
  try {
    const result = request.op === "insert"
      ? writes.insert(request.values, request.width)
      : request.op === "run"
        ? writes.run(request.sql, request.params, request.relaxed)
        : undefined;
    parentPort.postMessage({ id: request.id, result });
  } catch (error) {
    parentPort.postMessage({ id: request.id, error: describe(error) });
  }
});
`;

function toError(shape: ErrorShape): Error {
  return Object.assign(new Error(shape.message), {
    ...(shape.name === undefined ? {} : { name: shape.name }),
    ...(shape.code === undefined ? {} : { code: shape.code }),
  });
}

/**
 * Writes on a connection of their own in a worker thread. A commit's fsync
 * and the B-tree work of an insert then no longer stop the event loop:
 * requests keep being read, events delivered and queries answered while a
 * transaction commits. Reads stay on the caller's connection; in WAL mode
 * they see every transaction committed before they start, and never wait
 * for the writer.
 *
 * The thread holds the process open only while a write is in flight.
 */
export async function startWriterThread(path: string, insertSql: string): Promise<SqliteWriter> {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    // Each request is garbage once answered: a small young generation keeps
    // the thread's heap at a few MB instead of V8's default semi-spaces.
    resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB },
    workerData: {
      driver: createRequire(import.meta.url).resolve("better-sqlite3"),
      path,
      insertSql,
      cacheSize: STATEMENT_CACHE_SIZE,
    },
  });
  // Referenced until it answers the handshake (the reply with id 0 unrefs it):
  // an open that waits on it must keep the process alive.
  const pending = new Map<number, { resolve(result: unknown): void; reject(error: Error): void }>();
  let nextId = 1;
  let stopped: Error | undefined;

  function stop(error: Error): void {
    stopped ??= error;
    for (const waiter of pending.values()) waiter.reject(stopped);
    pending.clear();
  }
  const ready = new Promise<void>((resolve, reject) => {
    pending.set(0, { resolve: () => resolve(), reject });
  });
  worker.on("message", (reply: Reply) => {
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    if (pending.size === 0) worker.unref();
    if (reply.error) waiter.reject(toError(reply.error));
    else waiter.resolve(reply.result);
  });
  worker.on("error", (error) =>
    stop(new HubError("unavailable", "the event log's writer stopped", {}, error)),
  );
  worker.on("exit", () => stop(new HubError("unavailable", "the event log is closed")));

  function send<T>(operation: Operation): Promise<T> {
    if (stopped) return Promise.reject(stopped);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      if (pending.size === 0) worker.ref();
      pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
      worker.postMessage({ ...operation, id });
    });
  }

  try {
    await ready;
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  return {
    insert: (values, width) => send({ op: "insert", values, width }),
    run: (sql, params, relaxed) => send({ op: "run", sql, params, relaxed }),
    ping: () => send({ op: "ping" }),
    async close() {
      if (stopped) return;
      const exited = new Promise((resolve) => worker.once("exit", resolve));
      const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
      try {
        await send({ op: "close" }).catch(() => {});
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
