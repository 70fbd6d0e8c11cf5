import { join } from "node:path";
import { Worker } from "node:worker_threads";

/** What a worker-thread publisher sends. Event `i` goes out as `subjects[i % subjects.length]`. */
export interface PublishPlan {
  /** Gateway ports; publisher `p` talks to `ports[p % ports.length]`. */
  readonly ports: readonly number[];
  /** Concurrent publishers; publisher `p` sends events `p, p + publishers, …` in that order. */
  readonly publishers: number;
  readonly count: number;
  /** Subjects without or with the hub prefix. */
  readonly subjects: readonly string[];
  /**
   * Events per unit of work. Units alternate between one JSON-RPC batch
   * request and as many concurrent gRPC calls (@grpc/grpc-js). @default 1
   */
  readonly batch?: number;
  /** Only JSON-RPC batch requests, the cheapest way to publish many events. @default false */
  readonly jsonRpcOnly?: boolean;
  /** Calls each publisher keeps in flight. @default 1 */
  readonly window?: number;
  /** Characters of padding in each payload (`{i, p, pad}`), to make events heavier. @default 0 */
  readonly padBytes?: number;
}

export interface PublishReport {
  /** `sequences[i]` is the sequence the gateway acknowledged for event `i`. */
  readonly sequences: number[];
  readonly elapsedMs: number;
}

const ROOT = join(import.meta.dirname, "../..");

/*
 * Publishers run in a worker thread, with an event loop of their own, as
 * real clients are other processes: a gateway in the test's own loop must
 * not be able to starve them, nor they the gateway.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createRequire } = require("node:module");
const { join } = require("node:path");
const req = createRequire(join(workerData.root, "package.json"));
const grpc = req("@grpc/grpc-js");
const protoLoader = req("@grpc/proto-loader");
const { plan, root } = workerData;
const definition = protoLoader.loadSync(join(root, "proto/hubbus/v1/eventbus.proto"), {
  keepCase: true, longs: String, defaults: true, oneofs: true,
});
const Service = grpc.loadPackageDefinition(definition).hubbus.v1.EventBusService;
const clients = new Map();
const grpcClient = (port) => {
  if (!clients.has(port)) clients.set(port, new Service("127.0.0.1:" + port, grpc.credentials.createInsecure()));
  return clients.get(port);
};
const pad = "x".repeat(plan.padBytes || 0);
const payload = (i, p) => (pad ? { i, p, pad } : { i, p });
const sequences = new Array(plan.count);

function viaGrpc(port, i, p) {
  const fields = { i: { numberValue: i }, p: { numberValue: p } };
  if (pad) fields.pad = { stringValue: pad };
  const request = { subject: plan.subjects[i % plan.subjects.length], payload: { fields } };
  return new Promise((resolve, reject) =>
    grpcClient(port).Publish(request, (error, res) => {
      if (error) return reject(new Error("gRPC publish " + i + ": " + error.message));
      sequences[i] = Number(res.sequence);
      resolve();
    }));
}

async function viaJsonRpc(port, indexes, p) {
  const calls = indexes.map((i) => ({ jsonrpc: "2.0", id: i, method: "bus.publish",
    params: { topic: plan.subjects[i % plan.subjects.length], payload: payload(i, p) } }));
  const res = await fetch("http://127.0.0.1:" + port + "/rpc", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(calls.length > 1 ? calls : calls[0]),
  });
  const body = await res.json();
  for (const answer of Array.isArray(body) ? body : [body]) {
    if (!answer.result) throw new Error("JSON-RPC publish: " + JSON.stringify(answer));
    sequences[answer.id] = answer.result.sequence;
  }
}

async function publisher(p) {
  const port = plan.ports[p % plan.ports.length];
  const mine = [];
  for (let i = p; i < plan.count; i += plan.publishers) mine.push(i);
  const units = [];
  const size = plan.batch || 1;
  for (let k = 0; k < mine.length; k += size) units.push(mine.slice(k, k + size));
  let next = 0;
  const lane = async () => {
    while (next < units.length) {
      const k = next++;
      const unit = units[k];
      if (plan.batch && plan.jsonRpcOnly) await viaJsonRpc(port, unit, p);
      else if (k % 2 === 0) await viaJsonRpc(port, unit, p);
      else await Promise.all(unit.map((i) => viaGrpc(port, i, p)));
    }
  };
  await Promise.all(Array.from({ length: plan.window || 1 }, lane));
}

const started = performance.now();
Promise.all(Array.from({ length: plan.publishers }, (_, p) => publisher(p)))
  .then(() => parentPort.postMessage({ sequences, elapsedMs: Math.round(performance.now() - started) }))
  .catch((error) => parentPort.postMessage({ error: String((error && error.stack) || error) }))
  .finally(() => { for (const c of clients.values()) c.close(); });
`;

/** Runs a publish plan from a worker thread; resolves once every event is acknowledged. */
export function publishFromWorker(plan: PublishPlan): Promise<PublishReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { plan, root: ROOT } });
    worker.once("message", (message: PublishReport & { error?: string }) => {
      void worker.terminate();
      if (message.error) reject(new Error(message.error));
      else resolve(message);
    });
    worker.once("error", reject);
  });
}
