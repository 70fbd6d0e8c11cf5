/** Options of {@link createGroupCommit}. */
export interface GroupCommitOptions {
  /** Most items written in one transaction. @default 1000 */
  readonly maxBatch?: number;
}

/** Largest batch one transaction takes unless configured otherwise. */
export const DEFAULT_GROUP_COMMIT_MAX_BATCH = 1000;

interface Pending<T, R> {
  readonly items: readonly T[];
  readonly resolve: (results: R[]) => void;
  readonly reject: (error: unknown) => void;
}

/** Submits items for the next shared transaction. */
export interface GroupCommit<T, R> {
  /** Resolves with one result per item, in order, once their transaction has committed. */
  submit(items: readonly T[]): Promise<R[]>;
  /** Resolves when nothing is pending or in flight. */
  idle(): Promise<void>;
}

/**
 * Coalesces concurrent submissions into shared transactions: while one
 * transaction is in flight, new submissions queue and go together in the
 * next. The first submission waits one turn of the event loop (setImmediate)
 * so requests read in the same I/O phase share a transaction even when the
 * database call is synchronous (better-sqlite3). A failed transaction fails
 * every submission in it and nothing else.
 *
 * A submission is never split across transactions (a batched publish is
 * all or nothing, with contiguous sequences): one that does not fit in the
 * room left waits for the next transaction, and one larger than `maxBatch`
 * gets a transaction of its own.
 */
export function createGroupCommit<T, R>(
  write: (items: T[]) => Promise<R[]>,
  options: GroupCommitOptions = {},
): GroupCommit<T, R> {
  const maxBatch = options.maxBatch ?? DEFAULT_GROUP_COMMIT_MAX_BATCH;
  const queue: Pending<T, R>[] = [];
  let running = false;
  let idleWaiters: (() => void)[] = [];

  function schedule(): void {
    if (running) return;
    running = true;
    setImmediate(drain);
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      // Whole submissions up to maxBatch items; the first is always taken whole, however large.
      let taken = 0;
      let count = 0;
      for (const next of queue) {
        if (taken > 0 && count + next.items.length > maxBatch) break;
        taken++;
        count += next.items.length;
      }
      const batch = queue.splice(0, taken);
      const items = batch.flatMap((p) => p.items);
      try {
        const results = await write(items);
        let offset = 0;
        for (const p of batch) {
          p.resolve(results.slice(offset, offset + p.items.length));
          offset += p.items.length;
        }
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    running = false;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  }

  return {
    submit(items) {
      if (items.length === 0) return Promise.resolve([]);
      return new Promise<R[]>((resolve, reject) => {
        queue.push({ items, resolve, reject });
        schedule();
      });
    },
    idle() {
      if (!running && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
