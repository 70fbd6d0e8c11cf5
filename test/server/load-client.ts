import { join } from "node:path";
import { Worker } from "node:worker_threads";

/** One acknowledged publish. */
export interface LoadAck {
  readonly index: number;
  readonly via: "jsonrpc" | "grpc";
  readonly sequence: number;
  readonly eventId: string;
}

export interface LoadOptions {
  readonly port: number;
  /** Publishes, sent all at once; even indexes over JSON-RPC, odd ones over gRPC. */
  readonly count: number;
  /** A subject without the hub prefix. */
  readonly subject: string;
}

const ROOT = join(import.meta.dirname, "../..");

/*
 * The client runs in a worker thread, with an event loop of its own, as real
 * clients are other processes: in the server's own loop the client could
 * send nothing while a (synchronous) SQLite commit runs, and requests would
 * reach the server one by one instead of together. Each publish carries its
 * index as payload `{i}` and correlation id `load-<i>`.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createRequire } = require("node:module");
const { join } = require("node:path");
const req = createRequire(join(workerData.root, "package.json"));
const grpc = req("@grpc/grpc-js");
const protoLoader = req("@grpc/proto-loader");
const { port, count, subject, root } = workerData;
const definition = protoLoader.loadSync(join(root, "proto/hubbus/v1/eventbus.proto"), {
  keepCase: true, longs: String, defaults: true, oneofs: true,
});
const Service = grpc.loadPackageDefinition(definition).hubbus.v1.EventBusService;
const client = new Service("127.0.0.1:" + port, grpc.credentials.createInsecure());

function viaGrpc(i) {
  const request = {
    subject, correlation_id: "load-" + i,
    payload: { fields: { i: { numberValue: i } } },
  };
  return new Promise((resolve, reject) =>
    client.Publish(request, (error, res) => error ? reject(error)
      : resolve({ index: i, via: "grpc", sequence: Number(res.sequence), eventId: res.event_id })));
}

async function viaJsonRpc(i) {
  const res = await fetch("http://127.0.0.1:" + port + "/rpc", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: i, method: "bus.publish",
      params: { topic: subject, payload: { i }, correlation_id: "load-" + i } }),
  });
  const body = await res.json();
  if (!body.result) throw new Error("publish " + i + ": " + JSON.stringify(body));
  return { index: i, via: "jsonrpc", sequence: body.result.sequence, eventId: body.result.event_id };
}

Promise.all(Array.from({ length: count }, (_, i) => (i % 2 === 0 ? viaJsonRpc(i) : viaGrpc(i))))
  .then((acks) => parentPort.postMessage({ acks }))
  .catch((error) => parentPort.postMessage({ error: String(error && error.stack || error) }))
  .finally(() => client.close());
`;

/** Sends `count` concurrent publishes from a worker thread; resolves with every ack. */
export function runLoad(options: LoadOptions): Promise<LoadAck[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ...options, root: ROOT },
    });
    worker.once("message", (message: { acks?: LoadAck[]; error?: string }) => {
      void worker.terminate();
      if (message.acks) resolve(message.acks);
      else reject(new Error(message.error));
    });
    worker.once("error", reject);
  });
}
