// biome-ignore-all lint/suspicious/noExplicitAny: grpc-js messages are untyped objects
import { join } from "node:path";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { HubError } from "../../src/core/index.js";
import type { Protocol, Stage } from "../../src/pipeline/index.js";
import { postRpc, startHub, type TestHub } from "./harness.js";

// The call pipeline is the one road from every protocol to the core: a
// stage added to it must see each call exactly once, whichever protocol
// carried it, and what it decides (refuse a call, filter a stream) must hold
// on every protocol alike.

interface Seen {
  readonly kind: "unary" | "stream";
  readonly protocol: Protocol;
  readonly method: string;
  readonly service: string | undefined;
}

const seen: Seen[] = [];
const FORBIDDEN = "pipeline.forbidden";
const HIDDEN = "pipeline.hidden";

/** A throw-away stage: records each call; refuses one subject; hides another from streams. */
const probe: Stage = {
  name: "probe",
  async unary(call, next) {
    const { ctx } = call;
    seen.push({ kind: "unary", protocol: ctx.protocol, method: ctx.method, service: ctx.service });
    const subject = (call.input as { subject?: unknown } | undefined)?.subject;
    if (typeof subject === "string" && subject.includes(FORBIDDEN)) {
      throw new HubError("permission_denied", `publish to ${subject} is not allowed`);
    }
    return next(call);
  },
  async *stream(call, next) {
    const { ctx } = call;
    seen.push({ kind: "stream", protocol: ctx.protocol, method: ctx.method, service: ctx.service });
    for await (const batch of next(call)) {
      const events = batch.events.filter((event) => !event.subject.includes(HIDDEN));
      if (events.length > 0) yield { ...batch, events };
    }
  },
};

/** How one protocol makes the calls this suite needs. */
interface Caller {
  readonly protocol: Protocol;
  /** Publishes as service `svc`; resolves with the sequence, or rejects with the error's code word. */
  publish(subject: string): Promise<number>;
  /** Reads the first `count` events after `after` over Subscribe, then cancels. */
  firstEvents?(subject: string, after: number, count: number): Promise<string[]>;
}

const PROTO_ROOT = join(import.meta.dirname, "../../proto");

function grpcJsCaller(hub: TestHub): Caller & { close(): void } {
  const definition = protoLoader.loadSync(join(PROTO_ROOT, "hubbus/v1/eventbus.proto"), {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    defaults: true,
  });
  const Service = (grpc.loadPackageDefinition(definition) as any).hubbus.v1
    .EventBusService as grpc.ServiceClientConstructor;
  const client = new Service(`127.0.0.1:${hub.port}`, grpc.credentials.createInsecure()) as any;
  const metadata = () => {
    const md = new grpc.Metadata();
    md.set("hub-service", "svc");
    return md;
  };
  return {
    protocol: "grpc",
    publish: (subject) =>
      new Promise((resolve, reject) => {
        client.Publish({ subject }, metadata(), (error: grpc.ServiceError | null, res: any) => {
          if (error) reject(new Error(grpc.status[error.code]));
          else resolve(Number(res.sequence));
        });
      }),
    firstEvents: (subject, after, count) =>
      new Promise((resolve, reject) => {
        const subjects: string[] = [];
        const call = client.Subscribe({ subject, after_sequence: String(after) }, metadata());
        call.on("data", (res: any) => {
          subjects.push(res.event.subject);
          if (subjects.length === count) {
            call.cancel();
            resolve(subjects);
          }
        });
        call.on("error", (error: grpc.ServiceError) => {
          if (error.code !== grpc.status.CANCELLED) reject(error);
        });
      }),
    close: () => client.close(),
  };
}

function connectCaller(protocol: Protocol, transport: Transport): Caller {
  const client = createClient(EventBusService, transport);
  const headers = { "hub-service": "svc" };
  return {
    protocol,
    async publish(subject) {
      try {
        return Number((await client.publish({ subject }, { headers })).sequence);
      } catch (error) {
        throw new Error(Code[ConnectError.from(error).code]);
      }
    },
    async firstEvents(subject, after, count) {
      const controller = new AbortController();
      const subjects: string[] = [];
      const stream = client.subscribe(
        { subject, afterSequence: BigInt(after) },
        { headers, signal: controller.signal },
      );
      try {
        for await (const res of stream) {
          subjects.push(res.event?.subject ?? "");
          if (subjects.length === count) break;
        }
      } finally {
        controller.abort();
      }
      return subjects;
    },
  };
}

function jsonRpcCaller(hub: TestHub): Caller {
  return {
    protocol: "jsonrpc",
    async publish(subject) {
      const { body } = await postRpc(
        hub.baseUrl,
        { jsonrpc: "2.0", id: 1, method: "bus.publish", params: { topic: subject } },
        { "hub-service": "svc" },
      );
      if (body.error) throw new Error(body.error.data?.code ?? String(body.error.code));
      return body.result.sequence;
    },
  };
}

let hub: TestHub;
let closeGrpcJs: () => void;
const callers: Record<string, () => Caller> = {};

beforeAll(async () => {
  hub = await startHub("sqlite", { server: { stages: [probe] } });
  const baseUrl = hub.baseUrl;
  const grpcJs = grpcJsCaller(hub);
  closeGrpcJs = grpcJs.close;
  callers["native gRPC (grpc-js)"] = () => grpcJs;
  callers["gRPC via connect-node (JSON)"] = () =>
    connectCaller("grpc", createGrpcTransport({ baseUrl, useBinaryFormat: false }));
  callers["Connect (HTTP/1.1)"] = () =>
    connectCaller("connect", createConnectTransport({ baseUrl, httpVersion: "1.1" }));
  callers["gRPC-Web (HTTP/1.1)"] = () =>
    connectCaller("grpc-web", createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }));
  callers["JSON-RPC (HTTP/1.1)"] = () => jsonRpcCaller(hub);
});

afterAll(async () => {
  closeGrpcJs?.();
  await hub?.close();
});

beforeEach(() => {
  seen.length = 0;
});

const PROTOCOLS = [
  "native gRPC (grpc-js)",
  "gRPC via connect-node (JSON)",
  "Connect (HTTP/1.1)",
  "gRPC-Web (HTTP/1.1)",
  "JSON-RPC (HTTP/1.1)",
];

describe.each(PROTOCOLS)("the call pipeline over %s", (name) => {
  const prefix = `pipeline.${name.replace(/[^A-Za-z]/g, "")}`;

  it("runs a stage once per unary call, with the protocol, method and caller's service", async () => {
    const caller = callers[name]?.() as Caller;
    await caller.publish(`${prefix}.one`);
    await caller.publish(`${prefix}.two`);
    expect(seen).toEqual([
      { kind: "unary", protocol: caller.protocol, method: "Publish", service: "svc" },
      { kind: "unary", protocol: caller.protocol, method: "Publish", service: "svc" },
    ]);
  });

  it("lets a stage refuse a call: the protocol's permission error, nothing stored", async () => {
    const caller = callers[name]?.() as Caller;
    const before = await hub.log.lastSequence();
    const refused = await caller.publish(`${prefix}.${FORBIDDEN}`).then(
      () => "stored",
      (error: Error) => error.message,
    );
    // Each client names the code its own way.
    const word = name.startsWith("native")
      ? "PERMISSION_DENIED"
      : caller.protocol === "jsonrpc"
        ? "-32003"
        : "PermissionDenied";
    expect(refused).toBe(word);
    expect(await hub.log.lastSequence()).toBe(before);
    expect(seen).toHaveLength(1);
  });

  it("runs a stage once per Subscribe, and what it filters never reaches the client", async () => {
    const caller = callers[name]?.() as Caller;
    if (caller.firstEvents === undefined) return; // JSON-RPC has no stream
    const after = await hub.log.lastSequence();
    await hub.bus.publish({ subject: `${prefix}.live.a` });
    await hub.bus.publish({ subject: `${prefix}.live.${HIDDEN}` });
    await hub.bus.publish({ subject: `${prefix}.live.b` });
    seen.length = 0;
    const subjects = await caller.firstEvents(`hub.*.${prefix}.live.>`, after, 2);
    expect(subjects).toEqual([`hub.test-hub.${prefix}.live.a`, `hub.test-hub.${prefix}.live.b`]);
    expect(seen).toEqual([
      { kind: "stream", protocol: caller.protocol, method: "Subscribe", service: "svc" },
    ]);
  });
});
