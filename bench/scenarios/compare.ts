import type { BenchContext, Gateway } from "../lib/context.js";
import { type GcPause, type GcPauses, gcNote, summarizeGc } from "../lib/gc.js";
import type { Row } from "../lib/report.js";
import type { Scope } from "../lib/scope.js";
import { loadGateway, publishShapes } from "./publish.js";

/** One measured load of an on/off comparison. */
export interface Measured {
  /** What the figure counts (events stored, or calls answered) in the window. */
  readonly stored: number;
  readonly succeeded: number;
  readonly failed: number;
  /** The measured window, s. */
  readonly seconds: number;
  /** After the window until what it counts was done (the outbox forwarded), s; absent: nothing to wait for. */
  readonly drainS?: number;
  /** The gateway's CPU in the window, s. */
  readonly serverCpuS: number;
  /** The gateway's GC pauses in the window; absent: not recorded. */
  readonly gc?: readonly GcPause[] | undefined;
}

/** A load's figure: what it counts over the time it took. */
export const rateOf = (load: Measured) => load.stored / (load.seconds + (load.drainS ?? 0));

/** Loads of one side taken together: counted over the time they took, CPU over the calls answered. */
export function together(loads: readonly Measured[]) {
  const add = (pick: (load: Measured) => number) => loads.reduce((sum, l) => sum + pick(l), 0);
  const gcs = loads.map((l) => l.gc);
  return {
    stored: add((l) => l.stored),
    succeeded: add((l) => l.succeeded),
    failed: add((l) => l.failed),
    seconds: add((l) => l.seconds),
    serverCpuS: add((l) => l.serverCpuS),
    drainS: Math.max(...loads.map((l) => l.drainS ?? 0)),
    perSecond: add((l) => l.stored) / add((l) => l.seconds + (l.drainS ?? 0)),
    gc: gcs.every((g) => g !== undefined) ? gcs.flat() : undefined,
  };
}

/** The gateway's CPU per call it answered, in µs. */
export function cpuPerCallUs(r: { serverCpuS: number; succeeded: number }): string {
  return r.succeeded > 0 ? ((r.serverCpuS / r.succeeded) * 1e6).toFixed(0) : "—";
}

/** Both sides' loads, in the order taken, and each on/off pair's ratio. */
export interface Comparison<L extends Measured> {
  readonly off: readonly L[];
  readonly on: readonly L[];
  /** on ÷ off of the first pair and of the second. */
  readonly ratios: readonly number[];
}

/**
 * Measures the two sides in turns off, on, on, off, so that a machine whose
 * other load drifts during the run weighs on both alike; the pairs (first
 * off with first on, second on with second off) give a ratio each, whose
 * spread shows how far the drift went.
 */
export async function takeTurns<L extends Measured>(
  off: () => Promise<L>,
  on: () => Promise<L>,
): Promise<Comparison<L>> {
  const offLoads = [await off()];
  const onLoads = [await on(), await on()];
  offLoads.push(await off());
  const ratios = [0, 1].map((i) => {
    const a = onLoads[i];
    const b = offLoads[i];
    return a && b ? rateOf(a) / rateOf(b) : Number.NaN;
  });
  return { off: offLoads, on: onLoads, ratios };
}

/** A comparison's row: the figure, target and labels; the values and the common notes come from the loads. */
export interface ComparisonRow
  extends Omit<Row, "hubbus" | "baseline" | "notes" | "gc" | "baselineName"> {
  readonly baselineName: string;
  /** How the notes name each side, e.g. "traced" and "plain". */
  readonly onLabel: string;
  readonly offLabel: string;
  /** The scenario's own notes, after the common ones. */
  readonly notes?: readonly string[];
}

/**
 * Adds the row of an on/off comparison: each side's loads taken together,
 * the pair ratios, calls answered per second, failures, the gateway's CPU
 * per answered call (less moved by the machine's other load than
 * throughput is) and its GC pauses.
 */
export function addComparisonRow(
  ctx: BenchContext,
  comparison: Comparison<Measured>,
  row: ComparisonRow,
): void {
  const { onLabel, offLabel, notes: own = [], ...rest } = row;
  const on = together(comparison.on);
  const off = together(comparison.off);
  const rates = (loads: readonly Measured[]) => loads.map((l) => Math.round(rateOf(l))).join(" / ");
  const answered = (label: string, side: typeof on, loads: readonly Measured[]) =>
    `${label}: answered ${Math.round(side.succeeded / side.seconds)} calls/s` +
    (loads.some((l) => l.drainS !== undefined)
      ? `; NATS had every event ${side.drainS.toFixed(2)} s after a load ended, at the latest`
      : "");
  const failed = on.failed + off.failed;
  const gc: Record<string, GcPauses> = {};
  if (on.gc) gc.on = summarizeGc(on.gc);
  if (off.gc) gc.off = summarizeGc(off.gc);
  ctx.addRow({
    ...rest,
    hubbus: on.perSecond,
    baseline: off.perSecond,
    notes: [
      `two loads each, off, on, on, off (pair ratios ${comparison.ratios.map((r) => r.toFixed(2)).join(", ")}): ` +
        `${onLabel} ${rates(comparison.on)}, ${offLabel} ${rates(comparison.off)} ${row.unit}`,
      answered(onLabel, on, comparison.on),
      answered(offLabel, off, comparison.off),
      ...(failed > 0 ? [`${failed} requests failed at the HTTP level`] : []),
      `gateway CPU per answered call: ${cpuPerCallUs(on)} µs ${onLabel}, ${cpuPerCallUs(off)} µs ${offLabel}`,
      `gateway ${onLabel}: ${gcNote(on.gc)}; ${offLabel}: ${gcNote(off.gc)}`,
      ...own,
    ],
    gc,
  });
}

/**
 * Gives PostgreSQL the statistics autovacuum keeps on a gateway that has run
 * a while. A log filled seconds ago has none, and then the outbox backlog
 * that every health check and scrape counts is planned as a scan of the
 * whole log (25 ms at 150,000 events) instead of a read of the range past
 * the cursor (under 1 ms).
 */
export async function analyzed(gateway: Gateway): Promise<void> {
  if (gateway.db === "postgres") await gateway.store.run(`analyze "hub_event"`);
}

/** Something run beside each load of one side (a scraper); a failure it reports fails the load. */
export interface Beside {
  stop(): Promise<void>;
}

/** One side of a publish comparison. */
export interface PublishSide {
  readonly gateway: Gateway;
  /** Names its loads in the progress log and the CPU table, e.g. "traced + scraped every second". */
  readonly what: string;
  readonly beside?: () => Beside;
}

type PublishShape = ReturnType<typeof publishShapes>[number];

/** One publish load on one side, with what runs beside it stopped however the load ends. */
async function publishLoad(ctx: BenchContext, scope: Scope, load: PublishShape, side: PublishSide) {
  const beside = side.beside?.();
  const what = `${load.name}: ${side.what} (${side.gateway.db})`;
  let result: Awaited<ReturnType<typeof loadGateway>>;
  try {
    result = await loadGateway(
      ctx,
      scope,
      side.gateway,
      load.shape(side.gateway),
      load.subject,
      what,
    );
  } catch (error) {
    await beside?.stop().catch(() => {});
    throw error;
  }
  await beside?.stop();
  return result;
}

/**
 * The gRPC Publish and JSON-RPC bus.publish loads of {@link publishShapes},
 * on subjects under `bench.<what>.`, each measured on both sides in turns;
 * `each` is given every load's comparison as it is done, before the next.
 */
export async function comparePublishLoads(
  ctx: BenchContext,
  scope: Scope,
  what: string,
  sides: { readonly off: PublishSide; readonly on: PublishSide },
  each: (name: string, comparison: Comparison<Measured>) => void | Promise<void>,
): Promise<void> {
  for (const load of publishShapes(ctx, what)) {
    await analyzed(sides.off.gateway);
    await analyzed(sides.on.gateway);
    const comparison = await takeTurns(
      () => publishLoad(ctx, scope, load, sides.off),
      () => publishLoad(ctx, scope, load, sides.on),
    );
    const on = together(comparison.on);
    const off = together(comparison.off);
    ctx.progress(
      `${load.name} (${sides.on.gateway.db}): ${sides.on.what} ${Math.round(on.perSecond)} vs ` +
        `${sides.off.what} ${Math.round(off.perSecond)} events/s ` +
        `(pairs ${comparison.ratios.map((r) => r.toFixed(2)).join(", ")})`,
    );
    await each(load.name, comparison);
  }
}
