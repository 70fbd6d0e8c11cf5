import type { BenchContext } from "../lib/context.js";
import type { BenchOptions, ScenarioName } from "../lib/options.js";
import type { Scope } from "../lib/scope.js";
import { fanoutScenario } from "./fanout.js";
import { authScenario, metricsScenario, stackScenario, tracingScenario } from "./features.js";
import { latencyScenario } from "./latency.js";
import { insertScenario } from "./log.js";
import { memoryScenario } from "./memory.js";
import { mixedScenario } from "./mixed.js";
import { batchScenario, grpcScenario, jsonRpcScenario } from "./publish.js";
import { queryScenario, replayScenario } from "./query.js";
import { idempotencyScenario, prunerScenario } from "./retention.js";

/** How a scenario runs and how long it may take at most (starting what it needs included). */
export interface ScenarioPlan {
  readonly title: string;
  timeoutS(options: BenchOptions): number;
  run(ctx: BenchContext, scope: Scope): Promise<void>;
}

/** Gateways and baseline servers start lazily: the first scenario to need one pays for it. */
const STARTS_S = 90;
const dbs = (o: BenchOptions) => o.dbs.length;

export const SCENARIO_PLANS: Record<ScenarioName, ScenarioPlan> = {
  grpc: {
    title: "gRPC Publish, 64 calls over HTTP/2 vs a bare grpc-js echo",
    // Per target: a warm-up, the measurement, two waits for the outbox.
    timeoutS: (o) => STARTS_S + (1 + dbs(o)) * (o.durationS + 40),
    run: grpcScenario,
  },
  jsonrpc: {
    title: "JSON-RPC bus.publish, 64 HTTP/1.1 connections vs bare node:http",
    timeoutS: (o) => STARTS_S + (1 + dbs(o)) * (o.durationS + 40),
    run: jsonRpcScenario,
  },
  auth: {
    title: "gRPC and JSON-RPC publish with an AUTH_FILE (API key, permissions) vs without",
    // Per database and load: off, on, on, off.
    timeoutS: (o) => STARTS_S + dbs(o) * 8 * (o.durationS + 40),
    run: authScenario,
  },
  metrics: {
    title: "gRPC and JSON-RPC publish with metrics on and scraped every second vs METRICS=off",
    // Per database and load: off, on, on, off.
    timeoutS: (o) => STARTS_S + dbs(o) * 8 * (o.durationS + 40),
    run: metricsScenario,
  },
  idempotency: {
    title: "gRPC Publish with a fresh idempotency key per call vs without, 64 in flight",
    // Per database: off, on, on, off, each with a warm-up.
    timeoutS: (o) => STARTS_S + dbs(o) * 4 * (o.durationS + 40),
    run: idempotencyScenario,
  },
  pruner: {
    title: "gRPC and JSON-RPC publish with the pruner deleting (RETENTION_MAX_EVENTS) vs not",
    // Per database and load: off, on, on, off.
    timeoutS: (o) => STARTS_S + dbs(o) * 8 * (o.durationS + 40),
    run: prunerScenario,
  },
  tracing: {
    title:
      "gRPC and JSON-RPC publish with every call traced (OTLP to a local receiver) and /metrics scraped every second vs the plain gateway",
    // Per database and load: off, on, on, off.
    timeoutS: (o) => STARTS_S + dbs(o) * 8 * (o.durationS + 40),
    run: tracingScenario,
  },
  stack: {
    title:
      "gRPC and JSON-RPC publish with auth, metrics (scraped every second) and tracing all on vs all off",
    // Per database and load: off, on, on, off.
    timeoutS: (o) => STARTS_S + dbs(o) * 8 * (o.durationS + 40),
    run: stackScenario,
  },
  batch: {
    title: "PublishBatch (gRPC, 100 events a call) vs raw JetStream publish",
    // The baseline, then per gateway: a warm-up, the measurement, two waits for the outbox.
    timeoutS: (o) => STARTS_S + (1 + dbs(o)) * (o.durationS + 40),
    run: batchScenario,
  },
  insert: {
    title: "raw multi-row INSERT into a table like hub_event",
    timeoutS: (o) => STARTS_S + dbs(o) * (o.durationS + 20),
    run: insertScenario,
  },
  fanout: {
    title: "fan-out to 1,000 subscribers vs bare connect-node and NATS core",
    timeoutS: (o) => STARTS_S + (2 + dbs(o)) * (o.durationS + 40),
    run: fanoutScenario,
  },
  latency: {
    title: "publish → subscriber latency at 1,000 events/s vs NATS core",
    timeoutS: (o) => STARTS_S + (1 + dbs(o)) * (o.durationS + 20),
    run: latencyScenario,
  },
  mixed: {
    title: "publishes at 1,000/s, QueryEvents and 1,000 live subscribers at once, p99s",
    // Per database: opening the streams, the warm-up and measurement, the wait for stragglers.
    timeoutS: (o) => STARTS_S + dbs(o) * (o.durationS + 90),
    run: mixedScenario,
  },
  memory: {
    title: "RSS per idle streaming subscriber vs bare connect-node",
    timeoutS: (o) => STARTS_S + (1 + dbs(o)) * (20 + o.memorySubscribers / 200),
    run: memoryScenario,
  },
  query: {
    title: "QueryEvents on the seeded log vs the same SQL run directly",
    // Seeding a million rows into PostgreSQL takes up to a minute or two on this machine.
    timeoutS: (o) => STARTS_S + dbs(o) * (o.logEvents / 5000 + 8 * (o.queryBudgetS + 30)),
    run: queryScenario,
  },
  replay: {
    title: "replay from after_sequence=0 vs bare connect-node streaming",
    timeoutS: (o) =>
      STARTS_S + (1 + dbs(o)) * (o.replayBudgetS + 10) + dbs(o) * (o.logEvents / 5000),
    run: replayScenario,
  },
};
