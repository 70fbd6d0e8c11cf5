/**
 * Deadlines for request bodies, checked by one timer for all of them: a
 * body normally arrives within a tick of its headers, so a timer per
 * request (set, then cleared at once) would be work on every call for the
 * rare one that stalls. A body expires between `timeoutMs` and
 * `timeoutMs + checkEveryMs` after it was watched.
 */
export interface BodyDeadlines {
  /** Watches a body until the returned function is called; `expire` runs if that comes too late. */
  watch(expire: () => void): () => void;
  /** Stops the timer; watched bodies no longer expire. */
  stop(): void;
}

/** How often deadlines are checked: a quarter of the time-out, at most once a second. */
export function checkEveryMs(timeoutMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4)));
}

export function createBodyDeadlines(timeoutMs: number): BodyDeadlines {
  const watched = new Map<() => void, number>();
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const now = performance.now();
    // A Map iterates in insertion order, so the oldest come first.
    for (const [expire, since] of watched) {
      if (now - since < timeoutMs) break;
      watched.delete(expire);
      expire();
    }
    if (watched.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    watch(expire) {
      // A fresh function per watch: the same `expire` twice must be two entries.
      const entry = () => expire();
      watched.set(entry, performance.now());
      if (timer === undefined) {
        timer = setInterval(check, checkEveryMs(timeoutMs));
        timer.unref();
      }
      return () => {
        watched.delete(entry);
      };
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      watched.clear();
    },
  };
}
