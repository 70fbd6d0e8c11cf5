import { appendFile, appendFileSync } from "node:fs";
import { constants, PerformanceObserver, performance } from "node:perf_hooks";
import { GC_FILE_ENV, GC_FLUSH_INTERVAL_MS } from "../lib/gc.js";

/*
 * Preloaded (--import) into every server process the bench starts, with
 * --expose-gc: SIGUSR2 runs a full garbage collection, so the memory figure
 * reads RSS without the garbage earlier scenarios left behind. The handler
 * is installed even without --expose-gc: SIGUSR2 must never end a server.
 */
const gc = (globalThis as { gc?: () => void }).gc;
process.on("SIGUSR2", () => gc?.());

/*
 * With HUBBUS_BENCH_GC_FILE set, every GC pause is appended to that file as
 * `epochMs durationMs kind`, so the bench can read the pauses of a measured
 * window. GC entries are rare beside requests (tens a second under load):
 * they are buffered and written off the main thread a few times a second,
 * and what is left is written when the process exits.
 */
const file = process.env[GC_FILE_ENV];
if (file) {
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
    [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
  };
  let pending = "";
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? -1;
      const epochMs = performance.timeOrigin + entry.startTime;
      pending += `${epochMs.toFixed(3)} ${entry.duration.toFixed(3)} ${kinds[kind] ?? "other"}\n`;
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  setInterval(() => {
    if (pending === "") return;
    const chunk = pending;
    pending = "";
    appendFile(file, chunk, () => {});
  }, GC_FLUSH_INTERVAL_MS).unref();
  process.on("exit", () => {
    if (pending !== "") appendFileSync(file, pending);
  });
}
