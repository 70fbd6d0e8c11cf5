import { closeSync, openSync, readSync, statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { percentile } from "./stats.js";

/**
 * Names the file a server's `servers/gc-hook.ts` appends its GC pauses to,
 * one `epochMs durationMs kind` line each. Unset: no recording.
 */
export const GC_FILE_ENV = "HUBBUS_BENCH_GC_FILE";
/** How often the hook writes the pauses it has buffered. */
export const GC_FLUSH_INTERVAL_MS = 200;
/** Slack on top of the flush interval before a window's pauses are read. */
const GC_READ_SLACK_MS = 100;

/** One GC pause as the hook wrote it. */
export interface GcPause {
  readonly epochMs: number;
  readonly ms: number;
  readonly kind: string;
}

/** The GC pauses of a server during one window (or several taken together). */
export interface GcPauses {
  readonly count: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Time spent paused in all, ms. */
  readonly totalMs: number;
  /** Pauses of mark-sweep-compact, the long kind. */
  readonly major: number;
}

export function summarizeGc(pauses: readonly GcPause[]): GcPauses {
  const ms = pauses.map((p) => p.ms).sort((a, b) => a - b);
  return {
    count: ms.length,
    p99Ms: ms.length > 0 ? percentile(ms, 99) : 0,
    maxMs: ms[ms.length - 1] ?? 0,
    // Microseconds are as far as the hook writes them.
    totalMs: Math.round(ms.reduce((a, b) => a + b, 0) * 1000) / 1000,
    major: pauses.filter((p) => p.kind === "major").length,
  };
}

/** "12 GC pauses (1 major), p99 3.1 ms, max 3.4 ms, 9.8 ms in all". */
export function gcNote(pauses: readonly GcPause[] | undefined): string {
  if (pauses === undefined) return "GC pauses not recorded";
  const s = summarizeGc(pauses);
  if (s.count === 0) return "no GC pause";
  return `${s.count} GC pauses (${s.major} major), p99 ${s.p99Ms.toFixed(2)} ms, max ${s.maxMs.toFixed(2)} ms, ${s.totalMs.toFixed(1)} ms in all`;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The file's bytes from `offset` on (it only grows; a missing file reads empty). */
function readFrom(file: string, offset: number): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return "";
  }
  try {
    const length = sizeOf(file) - offset;
    if (length <= 0) return "";
    const buffer = Buffer.alloc(length);
    const read = readSync(fd, buffer, 0, length, offset);
    return buffer.toString("utf8", 0, read);
  } finally {
    closeSync(fd);
  }
}

/**
 * Follows a server's GC pauses over one window: `stop()` ends the window,
 * `pauses()` waits for the hook's next flush and reads what fell inside it.
 * Reading starts at the file's size when the window opened: every pause in
 * the window is written after that. Both clocks are the wall clock
 * (`performance.timeOrigin` in the server), a millisecond apart at worst.
 */
export function followGc(file: string | undefined) {
  const offset = file === undefined ? 0 : sizeOf(file);
  const from = Date.now();
  let to: number | undefined;
  return {
    stop(): void {
      to ??= Date.now();
    },
    async pauses(): Promise<GcPause[] | undefined> {
      to ??= Date.now();
      if (file === undefined) return undefined;
      const wait = to + GC_FLUSH_INTERVAL_MS + GC_READ_SLACK_MS - Date.now();
      if (wait > 0) await sleep(wait);
      const end = to;
      const out: GcPause[] = [];
      for (const line of readFrom(file, offset).split("\n")) {
        const [epoch, ms, kind] = line.split(" ");
        const epochMs = Number(epoch);
        if (line === "" || !(epochMs >= from && epochMs <= end)) continue;
        out.push({ epochMs, ms: Number(ms), kind: kind ?? "unknown" });
      }
      return out;
    },
  };
}
