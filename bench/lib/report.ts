import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import type { GcPauses } from "./gc.js";
import type { DbKind, ScenarioName } from "./options.js";
import { formatNumber } from "./stats.js";

/** A figure's value: a number, a p50/p99 pair, or why there is none. */
export type Value = number | readonly [p50: number, p99: number] | string;

/** What a figure must reach; `of` says whether the ratio or hubbus's own value (p99 of a pair) is judged. */
export interface Target {
  readonly of: "ratio" | "hubbus";
  readonly atLeast?: number;
  readonly atMost?: number;
  readonly text: string;
}

export type Verdict = "pass" | "fail" | "not yet" | "error" | "";

/** One line of the table. The ratio is always hubbus ÷ baseline (of p99 for pairs). */
export interface Row {
  readonly scenario: ScenarioName;
  readonly figure: string;
  readonly db?: DbKind;
  readonly unit: string;
  readonly hubbus: Value;
  readonly baseline?: Value;
  readonly baselineName?: string;
  readonly target?: Target;
  readonly notes?: readonly string[];
  /** The gateways' GC pauses during the row's measured windows, by side ("on", "off", "hubbus"). */
  readonly gc?: Readonly<Record<string, GcPauses>>;
}

export interface JudgedRow extends Row {
  readonly ratio?: number;
  readonly verdict: Verdict;
}

/** CPU spent during one measurement, in % of one core, to show who was the bottleneck. */
export interface LoadSample {
  readonly what: string;
  readonly seconds: number;
  readonly serverCpuPct?: number;
  /** The gateway's own nats-server (JetStream stores and acknowledges every forwarded event). */
  readonly busCpuPct?: number;
  readonly clientCpuPct?: number;
  readonly client: string;
  /** The server's GC pauses in the window; set once they are read, after the window. */
  gc?: GcPauses;
}

const headline = (v: Value | undefined) =>
  typeof v === "number" ? v : Array.isArray(v) ? (v as readonly number[])[1] : undefined;

export function judge(row: Row): JudgedRow {
  const h = headline(row.hubbus);
  const b = headline(row.baseline);
  const ratio = h !== undefined && b !== undefined && b > 0 ? h / b : undefined;
  let verdict: Verdict = "";
  if (typeof row.hubbus === "string") {
    if (row.hubbus.startsWith("not implemented")) verdict = "not yet";
    else if (row.hubbus.startsWith("failed")) verdict = "error";
  } else if (row.target) {
    const judged = row.target.of === "ratio" ? ratio : h;
    if (judged === undefined || Number.isNaN(judged)) verdict = "error";
    else {
      const { atLeast, atMost } = row.target;
      const ok =
        (atLeast === undefined || judged >= atLeast) && (atMost === undefined || judged <= atMost);
      verdict = ok ? "pass" : "fail";
    }
  }
  return { ...row, ...(ratio === undefined ? {} : { ratio }), verdict };
}

function formatValue(v: Value | undefined, unit: string): string {
  if (v === undefined) return "—";
  if (typeof v === "string") return v;
  if (typeof v === "number") return `${formatNumber(v)} ${unit}`;
  return `${formatNumber(v[0])} / ${formatNumber(v[1])} ${unit}`;
}

/** The table as printed: figure, db, hubbus, baseline, ratio, target, verdict. */
export function renderTable(rows: readonly JudgedRow[]): string {
  const header = ["figure", "db", "hubbus", "baseline", "ratio", "target", "pass/fail"];
  const lines = rows.map((r) => [
    r.figure,
    r.db ?? "",
    formatValue(r.hubbus, r.unit),
    r.baseline === undefined ? "—" : `${formatValue(r.baseline, r.unit)} (${r.baselineName})`,
    r.ratio === undefined ? "—" : r.ratio.toFixed(2),
    r.target?.text ?? "",
    r.verdict,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join(" | ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("-|-");
  return [fmt(header), rule, ...lines.map(fmt)].join("\n");
}

export function renderNotes(rows: readonly JudgedRow[], loads: readonly LoadSample[]): string {
  const out: string[] = [];
  for (const r of rows) {
    for (const note of r.notes ?? []) out.push(`- ${r.figure}${r.db ? ` (${r.db})` : ""}: ${note}`);
  }
  if (loads.length > 0) {
    out.push("", "CPU during each measurement (% of one core; 2 cores = 200 %):");
    for (const l of loads) {
      const server = l.serverCpuPct === undefined ? "" : `server ${l.serverCpuPct}%`;
      const bus = l.busCpuPct === undefined ? "" : `its nats-server ${l.busCpuPct}%`;
      const client = l.clientCpuPct === undefined ? "" : `client (${l.client}) ${l.clientCpuPct}%`;
      const warn =
        (l.clientCpuPct ?? 0) >= 85 ? "  <- client near one full core: may bound the figure" : "";
      const gc =
        l.gc === undefined
          ? ""
          : `GC ${l.gc.count} pauses, p99 ${l.gc.p99Ms.toFixed(1)} / max ${l.gc.maxMs.toFixed(1)} ms`;
      out.push(
        `  ${l.what.padEnd(44)} ${[server, bus, client, gc].filter(Boolean).join(", ")}${warn}`,
      );
    }
  }
  return out.join("\n");
}

function git(args: string[]): string {
  try {
    return execFileSync("git", args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return "unknown";
  }
}

export function machineInfo() {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function gitRevision(root: string) {
  const dirty = git(["-C", root, "status", "--porcelain", "--untracked-files=no"]) !== "";
  return { revision: git(["-C", root, "rev-parse", "HEAD"]), dirty };
}

/** Writes bench/results/<timestamp>.json; returns its path. */
export async function writeResults(
  dir: string,
  startedAt: Date,
  content: Record<string, unknown>,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(path, `${JSON.stringify(content, null, 2)}\n`);
  return path;
}
