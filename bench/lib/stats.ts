/** Nearest-rank percentile of an ascending array; NaN when it is empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

/** p50 and p99 of unsorted samples (the array is sorted in place). */
export function latencySummary(samples: number[]): { p50Ms: number; p99Ms: number } {
  samples.sort((a, b) => a - b);
  return { p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99) };
}

/** Per-mille precision is noise on a shared machine: three significant digits at most. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

/** Share of one core, in percent, of `cpuS` seconds of CPU over `seconds` of wall time. */
export function cpuPercent(cpuS: number, seconds: number): number {
  return seconds > 0 ? Math.round((cpuS / seconds) * 100) : 0;
}
