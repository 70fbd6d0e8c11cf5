import { fromBinary } from "@bufbuild/protobuf";
import { QueryEventsResponseSchema } from "../../gen/hubbus/v1/eventbus_pb.js";
import { compilePattern } from "../../src/core/index.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import type { BenchContext, Gateway, ServerProcess } from "../lib/context.js";
import type { SqliteDatabase } from "../lib/databases.js";
import { call, connectH2, unary } from "../lib/h2.js";
import { DEFAULT_LOG_EVENTS } from "../lib/options.js";
import { PATHS, queryRequest, subscribeRequest } from "../lib/payload.js";
import type { Scope } from "../lib/scope.js";
import { latencySummary } from "../lib/stats.js";
import { RARE_EVERY, seededLog } from "./log.js";
import { measureCpu } from "./measure.js";

const QUERY_LIMIT = 100;
const REPLAY_BASELINE_MESSAGES = 200_000;
const QUERY_WARMUP_CALLS = 3;
const MAX_QUERY_SAMPLES = 500;
/** At least this many samples, whatever the budget, so p50 and p99 mean something. */
const MIN_QUERY_SAMPLES = 5;
const SLOW_QUERY_MS = 100;

const patterns = (hubId: string) => [
  { name: "literal prefix, 1% match", pattern: `hub.${hubId}.d7.>`, literal: true },
  { name: `literal prefix, 1/${RARE_EVERY} match`, pattern: `hub.${hubId}.rare.>`, literal: true },
  { name: "leading wildcard, 1% match", pattern: "*.*.d7.*", literal: false },
  { name: `leading wildcard, 1/${RARE_EVERY} match`, pattern: "*.*.rare.*", literal: false },
];

/** Calls `once` after a few unmeasured calls until the budget or the sample cap; p50/p99 in ms. */
async function sample(budgetS: number, once: () => Promise<void>) {
  for (let i = 0; i < QUERY_WARMUP_CALLS; i++) {
    const started = performance.now();
    await once();
    // A query that scans the whole log is warm after one call; more would only spend the budget.
    if (performance.now() - started > SLOW_QUERY_MS) break;
  }
  const samples: number[] = [];
  const until = performance.now() + budgetS * 1000;
  while (
    samples.length < MAX_QUERY_SAMPLES &&
    (samples.length < MIN_QUERY_SAMPLES || performance.now() < until)
  ) {
    const started = performance.now();
    await once();
    samples.push(performance.now() - started);
  }
  return { ...latencySummary(samples), samples: samples.length };
}

const withMatch = new WeakSet<SqliteDatabase>();
const tracers = new WeakMap<Gateway, Promise<SqlEventLog>>();

/** The gateway's log opened in the bench's process too, to trace its reads. */
function tracer(gateway: Gateway, scope: Scope): Promise<SqlEventLog> {
  let log = tracers.get(gateway);
  if (!log) {
    const opening = openEventLog({ url: gateway.store.url, migrate: false });
    scope.defer("close the traced log", async () => (await opening).close());
    tracers.set(gateway, opening);
    log = opening;
  }
  return log;
}

/**
 * The statements the gateway's store runs for a pattern (traced once: the
 * seeded log does not change while it is sampled), run straight on its
 * database in the same order: what the store costs without the gateway
 * around it.
 */
async function rawQuery(
  gateway: Gateway,
  pattern: string,
  scope: Scope,
): Promise<() => Promise<void>> {
  const log = await tracer(gateway, scope);
  const statements = await log.traceQuery(pattern, QUERY_LIMIT);
  const store = gateway.store;
  if (store.kind === "sqlite") {
    const db = store.handle();
    if (!withMatch.has(db)) {
      // The gateway's SQL calls the matcher it registers on its own connection; this one needs it too.
      const matchers = new Map<string, (subject: string) => boolean>();
      db.function("hub_match", { deterministic: true }, ((p: string, subject: string) => {
        let matches = matchers.get(p);
        if (!matches) {
          matches = compilePattern(p);
          matchers.set(p, matches);
        }
        return matches(subject) ? 1 : 0;
      }) as (...args: never[]) => unknown);
      withMatch.add(db);
    }
    // Array rows, as the gateway reads them.
    const prepared = statements.map(({ sql, params }) => ({
      statement: db.prepare(sql).raw(true),
      params,
    }));
    return async () => {
      for (const { statement, params } of prepared) statement.all(...params);
    };
  }
  return async () => {
    for (const { sql, params } of statements) {
      await store.pool.query({ text: sql, values: [...params], rowMode: "array" });
    }
  };
}

const logNote = (ctx: BenchContext, events: number) =>
  `log of ${events.toLocaleString("en-US")} events` +
  (ctx.options.quick
    ? ` (quick mode; full runs use ${DEFAULT_LOG_EVENTS.toLocaleString("en-US")})`
    : "");

/** Scenario 5: QueryEvents, limit 100, on the seeded log; baseline: the same SQL run directly. */
export async function queryScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const log = await seededLog(ctx, gateway);
    const session = connectH2(gateway.port, scope);
    for (const { name, pattern, literal } of patterns(gateway.hubId)) {
      const request = queryRequest(pattern, QUERY_LIMIT);
      const first = fromBinary(
        QueryEventsResponseSchema,
        await unary(session, PATHS.query, request),
      );
      if (first.count === 0)
        throw new Error(`QueryEvents ${pattern} found nothing in the seeded log`);
      const raw = await sample(ctx.options.queryBudgetS, await rawQuery(gateway, pattern, scope));
      const hub = await sample(ctx.options.queryBudgetS, async () => {
        await unary(session, PATHS.query, request);
      });
      ctx.progress(
        `QueryEvents ${pattern} (${db}): p99 ${hub.p99Ms.toFixed(2)} ms, raw SQL ${raw.p99Ms.toFixed(2)} ms`,
      );
      ctx.addRow({
        scenario: "query",
        figure: `QueryEvents ${name}, p50 / p99`,
        db,
        unit: "ms",
        hubbus: [hub.p50Ms, hub.p99Ms],
        baseline: [raw.p50Ms, raw.p99Ms],
        baselineName: "same SQL, direct",
        ...(literal ? { target: { of: "hubbus", atMost: 10, text: "p99 ≤ 10 ms" } } : {}),
        notes: [
          `pattern ${pattern}, ${first.count} results, ${hub.samples} calls one at a time; ${logNote(ctx, log.events)}`,
        ],
      });
    }
  }
}

/** Streams until `expected` messages arrived, the stream ended, or the budget ran out. */
async function replay(
  server: ServerProcess,
  scope: Scope,
  subject: string,
  expected: number,
  budgetS: number,
) {
  const session = connectH2(server.port, scope);
  let received = 0;
  const started = performance.now();
  let finished = started;
  const { stream, ended } = call(session, PATHS.subscribe, subscribeRequest(subject, 0), {
    onCount: (n) => {
      received += n;
      finished = performance.now();
    },
  });
  const status = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve("budget"), budgetS * 1000);
    const check = setInterval(() => received >= expected && resolve("complete"), 5);
    void ended.then(({ status: s }) => resolve(s === "0" ? "ended" : s));
    scope.defer("replay timers", () => {
      clearTimeout(timer);
      clearInterval(check);
    });
  });
  stream.close();
  if (status !== "complete" && status !== "ended" && status !== "budget")
    throw new Error(`${server.name}: replay ${status}`);
  return {
    perS: received / ((finished - started) / 1000),
    received,
    complete: received >= expected,
  };
}

/** Scenario 6: Subscribe with after_sequence=0 over the seeded log; baseline: connect-node streaming as fast as it can. */
export async function replayScenario(ctx: BenchContext, scope: Scope): Promise<void> {
  const budget = ctx.options.replayBudgetS;
  const connect = await ctx.server("connect-stream");
  // A rate needs no million messages: the baseline streams at most this many.
  const n = Math.min(ctx.options.logEvents, REPLAY_BASELINE_MESSAGES);
  const cpu = measureCpu(connect.pid);
  const bare = await replay(connect, scope, `replay.${n}`, n, budget);
  cpu.stop(ctx, "replay: bare connect-node, one stream", "node:http2");
  ctx.progress(`replay: bare connect-node ${Math.round(bare.perS)} messages/s`);
  for (const db of ctx.options.dbs) {
    const gateway = await ctx.gateway(db);
    const log = await seededLog(ctx, gateway);
    const gatewayCpu = measureCpu(gateway.pid);
    const hub = await replay(gateway, scope, ">", log.events, budget);
    gatewayCpu.stop(ctx, `replay: hubbus (${db})`, "node:http2");
    ctx.progress(`replay: hubbus (${db}) ${Math.round(hub.perS)} events/s`);
    ctx.addRow({
      scenario: "replay",
      figure: "replay, Subscribe after_sequence=0",
      db,
      unit: "events/s",
      hubbus: hub.perS,
      baseline: bare.perS,
      baselineName: "bare connect-node stream",
      target: { of: "hubbus", atLeast: 100_000, text: "≥ 100,000/s" },
      notes: [
        logNote(ctx, log.events),
        ...(hub.complete
          ? []
          : [`cut after ${budget} s: ${hub.received.toLocaleString("en-US")} events received`]),
      ],
    });
  }
}
