/** Longest time one cleanup step may take: a hung close must not hold the run. */
export const CLEANUP_STEP_TIMEOUT_MS = 10_000;

/**
 * Cleanup in reverse order of acquisition, each step bounded and isolated:
 * a step that fails or hangs is reported and the others still run. The run
 * has one scope for what lives as long as it (NATS, databases, servers) and
 * each scenario one for its clients, closed whether it finished, failed or
 * ran out of time.
 */
export class Scope {
  private readonly steps: { what: string; run: () => unknown }[] = [];
  private closing: Promise<string[]> | undefined;

  /** Registers a cleanup step. */
  defer(what: string, run: () => unknown): void {
    if (this.closing) {
      // Acquired after close began (a scenario still running after its timeout): release at once.
      void Promise.resolve()
        .then(run)
        .catch(() => {});
      return;
    }
    this.steps.push({ what, run });
  }

  /** A scope closed on its own (`close()`) or, at the latest, with this one. */
  child(what: string): Scope {
    const child = new Scope();
    this.defer(what, () => child.close());
    return child;
  }

  /** Runs every step, newest first; resolves with the problems met (empty when clean). */
  close(): Promise<string[]> {
    this.closing ??= (async () => {
      const problems: string[] = [];
      while (this.steps.length > 0) {
        const step = this.steps.pop();
        if (!step) break;
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(step.run),
            new Promise((_, reject) => {
              timer = setTimeout(
                () => reject(new Error(`timed out after ${CLEANUP_STEP_TIMEOUT_MS} ms`)),
                CLEANUP_STEP_TIMEOUT_MS,
              );
            }),
          ]);
        } catch (error) {
          problems.push(`${step.what}: ${(error as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
      }
      return problems;
    })();
    return this.closing;
  }
}

/** Thrown inside a scenario when its time is up or the run was interrupted. */
export class Interrupted extends Error {
  override name = "Interrupted";
}

/**
 * Runs `body` with its own scope and at most `timeoutMs`: on timeout or
 * when `outer` aborts, the scope closes (sockets, streams, load generators)
 * so whatever the body awaits fails fast, and the call rejects.
 */
export async function bounded<T>(
  what: string,
  timeoutMs: number,
  outer: AbortSignal,
  body: (scope: Scope, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const scope = new Scope();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const stopped = new Promise<never>((_, reject) => {
    const stop = (reason: string) => {
      controller.abort(new Interrupted(reason));
      reject(new Interrupted(reason));
    };
    timer = setTimeout(
      () => stop(`${what}: no result within ${Math.round(timeoutMs / 1000)} s`),
      timeoutMs,
    );
    if (outer.aborted) stop(`${what}: interrupted`);
    outer.addEventListener("abort", () => stop(`${what}: interrupted`), { once: true });
  });
  stopped.catch(() => {});
  const running = body(scope, controller.signal);
  // After a timeout the body fails late, on its closed sockets: that failure is already reported.
  running.catch(() => {});
  try {
    return await Promise.race([running, stopped]);
  } finally {
    clearTimeout(timer);
    controller.abort(new Interrupted(`${what}: finished`));
    const problems = await scope.close();
    for (const problem of problems) process.stderr.write(`cleanup: ${what}: ${problem}\n`);
  }
}
