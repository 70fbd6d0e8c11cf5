import { Worker } from "node:worker_threads";
import { HubError } from "../core/index.js";
import type { ErrorShape, Operation, Reply, WriterThreadData } from "./sqlite-writer-thread.js";
import { type SqliteDatabase, sqliteWrites } from "./sqlite-writes.js";

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

/** Writes on the connection the caller holds, on the caller's thread (in-memory databases). */
export function inPlaceWriter(db: SqliteDatabase, insertSql: string): SqliteWriter {
  const writes = sqliteWrites(db, insertSql);
  return {
    insert: async (values, width) => writes.insert(values, width),
    run: async (sql, params, relaxed) => writes.run(sql, params, relaxed),
    ping: async () => {},
    close: async () => {},
  };
}

/**
 * The writer thread's entry module. Built, it is the sibling .js. Run from
 * source (tsx, vitest) it is the .ts, which Node 20 cannot load in a worker
 * on its own: a worker inherits no loader hooks, and tsx registers its hooks
 * on the main thread only, even given `--import tsx`. There a bootstrap
 * registers tsx in the thread and then imports the entry; tsx is installed
 * wherever the source runs.
 */
function writerThread(): URL {
  if (!import.meta.url.endsWith(".ts"))
    return new URL("./sqlite-writer-thread.js", import.meta.url);
  const entry = new URL("./sqlite-writer-thread.ts", import.meta.url).href;
  const tsx = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import { register } from ${JSON.stringify(tsx)};
register();
await import(${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
}

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
  const worker = new Worker(writerThread(), {
    // None of the process's flags: the thread needs none, and a preload
    // (--import) meant for the main thread would run in it too, where a .ts
    // one does not even load (tsx is not registered yet).
    execArgv: [],
    // Each request is garbage once answered: a small young generation keeps
    // the thread's heap at a few MB instead of V8's default semi-spaces.
    resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB },
    workerData: { path, insertSql } satisfies WriterThreadData,
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
