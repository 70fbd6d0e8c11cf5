import type { OtlpReceiver } from "../../test/helpers/otlp-receiver.js";
import type { BenchContext, Gateway } from "../lib/context.js";
import type { Scope } from "../lib/scope.js";
import { percentile } from "../lib/stats.js";
import { addComparisonRow, type Beside, comparePublishLoads } from "./compare.js";

/*
 * The second release's features, each measured as the publish loads on a
 * gateway with the feature on beside one with it off, on the same database,
 * in turns off, on, on, off (compare.ts).
 */

/** How often the metrics, tracing and stack scenarios scrape `/metrics` while the load runs. */
export const METRICS_SCRAPE_INTERVAL_MS = 1000;

/** The on/off target of every feature: at most 10 % of the throughput. */
const FEATURE_TARGET = { of: "ratio", atLeast: 0.9, text: "ratio ≥ 0.9" } as const;

/**
 * Scrapes `/metrics` every {@link METRICS_SCRAPE_INTERVAL_MS} as Prometheus
 * would until stopped; resolves with each scrape's wall time (request to
 * last byte, ms) and the last body's size. A failed scrape fails the load.
 */
function scrapeEverySecond(gateway: Gateway) {
  const times: number[] = [];
  let bytes = 0;
  let failure: unknown;
  let inFlight: Promise<void> | undefined;
  const scrape = async () => {
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${gateway.port}/metrics`);
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${gateway.name}: /metrics answered ${res.status}`);
    times.push(performance.now() - started);
    bytes = body.length;
  };
  const timer = setInterval(() => {
    inFlight ??= scrape()
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => {
        inFlight = undefined;
      });
  }, METRICS_SCRAPE_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      if (failure !== undefined) throw failure;
      return { times: times.sort((a, b) => a - b), bytes };
    },
  };
}

/** A scraper beside each load whose results are dropped: the scrape is part of the cost measured. */
const scraped = (gateway: Gateway) => (): Beside => {
  const scraper = scrapeEverySecond(gateway);
  return { stop: async () => void (await scraper.stop()) };
};

/** Scrapes taken one after another once a load is over. */
const IDLE_SCRAPES = 5;

/** The median wall time (ms) of {@link IDLE_SCRAPES} scrapes one after another. */
async function idleScrapeMs(gateway: Gateway): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < IDLE_SCRAPES; i++) {
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${gateway.port}/metrics`);
    await res.text();
    times.push(performance.now() - started);
  }
  return percentile(
    times.sort((a, b) => a - b),
    50,
  );
}

/** Counts what an OTLP receiver got since the last call, for one load's note. */
function exportsSince(receiver: OtlpReceiver) {
  let requests = receiver.requests;
  let bytes = receiver.bytes;
  return () => {
    const note = `the receiver got ${receiver.requests - requests} OTLP export requests, ${((receiver.bytes - bytes) / 1024).toFixed(0)} KiB of protobuf`;
    requests = receiver.requests;
    bytes = receiver.bytes;
    return note;
  };
}

function receiverOf(gateway: Gateway): OtlpReceiver {
  if (gateway.traces === undefined) throw new Error(`${gateway.name} has no OTLP receiver`);
  return gateway.traces;
}

/**
 * Scenario: the cost of authentication and permissions. The gRPC and
 * JSON-RPC loads on a gateway with an AUTH_FILE (one API-key caller,
 * publish and subscribe allow and deny lists), each call bearing the key,
 * beside the plain gateway on the same database.
 */
export async function authScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  for (const db of ctx.options.dbs) {
    const plain = await ctx.gateway(db);
    const secured = await ctx.gateway(db, "auth");
    await comparePublishLoads(
      ctx,
      scope,
      "auth",
      { off: { gateway: plain, what: "auth off" }, on: { gateway: secured, what: "auth on" } },
      (name, comparison) =>
        addComparisonRow(ctx, comparison, {
          scenario: "auth",
          figure: `${name}, auth on (API key) vs off`,
          db,
          unit: "events/s",
          baselineName: "the same, auth off",
          target: FEATURE_TARGET,
          onLabel: "auth on",
          offLabel: "auth off",
        }),
    );
  }
}

/**
 * Scenario: the cost of metrics. The gRPC and JSON-RPC loads on the plain
 * gateway (metrics on, the default) scraped every second during the load,
 * beside a gateway started with `METRICS=off` on the same database. Also
 * reports how long the scrapes took, under load and right after it.
 */
export async function metricsScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  for (const db of ctx.options.dbs) {
    const counted = await ctx.gateway(db);
    const uncounted = await ctx.gateway(db, "nometrics");
    const scrapeTimes: number[] = [];
    let bytes = 0;
    const beside = (): Beside => {
      const scraper = scrapeEverySecond(counted);
      return {
        async stop() {
          const scrapes = await scraper.stop();
          scrapeTimes.push(...scrapes.times);
          bytes = scrapes.bytes;
        },
      };
    };
    await comparePublishLoads(
      ctx,
      scope,
      "metrics",
      {
        off: { gateway: uncounted, what: "metrics off" },
        on: { gateway: counted, what: "metrics on, scraped every second", beside },
      },
      async (name, comparison) => {
        addComparisonRow(ctx, comparison, {
          scenario: "metrics",
          figure: `${name}, metrics on + scraped every 1 s vs METRICS=off`,
          db,
          unit: "events/s",
          baselineName: "the same, METRICS=off",
          target: FEATURE_TARGET,
          onLabel: "with metrics",
          offLabel: "metrics off",
        });
        const times = scrapeTimes.splice(0).sort((a, b) => a - b);
        const p50 = percentile(times, 50);
        const max = times[times.length - 1] ?? Number.NaN;
        // Under load a scrape waits its turn behind the calls in flight; right
        // after it, with the same series, its wall time is about its own cost.
        const idle = await idleScrapeMs(counted);
        ctx.progress(
          `${name} (${db}): ${times.length} scrapes under load, p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms, ` +
            `${idle.toFixed(1)} ms right after, ${bytes} bytes`,
        );
        ctx.addRow({
          scenario: "metrics",
          figure: `/metrics scrape under the ${name} load, p50 / max`,
          db,
          unit: "ms",
          hubbus: times.length > 0 ? [p50, max] : "failed: no scrape completed",
          notes: [
            `${times.length} scrapes, ${bytes} bytes each; median of ${IDLE_SCRAPES} scrapes right after the load: ${idle.toFixed(2)} ms`,
          ],
        });
      },
    );
  }
}

/**
 * Scenario: the cost of tracing. The gRPC and JSON-RPC loads on a gateway
 * exporting a span per call and per forward over OTLP (no `traceparent` is
 * sent, so the default sampler records every call as a root) to a receiver
 * in the bench's process, with `/metrics` scraped every second, beside the
 * plain gateway (metrics on, no tracing, not scraped).
 */
export async function tracingScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  for (const db of ctx.options.dbs) {
    const plain = await ctx.gateway(db);
    const traced = await ctx.gateway(db, "tracing");
    const exports = exportsSince(receiverOf(traced));
    await comparePublishLoads(
      ctx,
      scope,
      "tracing",
      {
        off: { gateway: plain, what: "plain" },
        on: { gateway: traced, what: "traced + scraped every second", beside: scraped(traced) },
      },
      (name, comparison) =>
        addComparisonRow(ctx, comparison, {
          scenario: "tracing",
          figure: `${name}, every call traced (OTLP) + /metrics scraped every 1 s vs plain`,
          db,
          unit: "events/s",
          baselineName: "the same, no tracing, no scrape",
          target: FEATURE_TARGET,
          onLabel: "traced",
          offLabel: "plain",
          notes: [exports()],
        }),
    );
  }
}

/**
 * Scenario: the features together (issue 16). The gRPC and JSON-RPC loads
 * on a gateway with the `auth` gateway's AUTH_FILE (each call bearing the
 * key), metrics on and `/metrics` scraped every second, and every call
 * traced to the bench's OTLP receiver, beside a gateway with none of them
 * (`METRICS=off`, no AUTH_FILE, no tracing) on the same database.
 */
export async function stackScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  ctx.h2load();
  for (const db of ctx.options.dbs) {
    const bare = await ctx.gateway(db, "nometrics");
    const stacked = await ctx.gateway(db, "stack");
    const exports = exportsSince(receiverOf(stacked));
    await comparePublishLoads(
      ctx,
      scope,
      "stack",
      {
        off: { gateway: bare, what: "no auth, METRICS=off, no tracing" },
        on: {
          gateway: stacked,
          what: "auth + metrics scraped every second + tracing",
          beside: scraped(stacked),
        },
      },
      (name, comparison) =>
        addComparisonRow(ctx, comparison, {
          scenario: "stack",
          figure: `${name}, auth + metrics (scraped every 1 s) + tracing vs none`,
          db,
          unit: "events/s",
          baselineName: "the same, METRICS=off, no auth, no tracing",
          target: FEATURE_TARGET,
          onLabel: "all on",
          offLabel: "all off",
          notes: [exports()],
        }),
    );
  }
}
