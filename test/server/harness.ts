// biome-ignore-all lint/suspicious/noExplicitAny: wire JSON and grpc-js messages are untyped
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createEventBus, type EventBus, type EventBusOptions } from "../../src/core/index.js";
import { createServer, type HubServer, type ServerOptions } from "../../src/server/index.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { type TestDatabaseKind, testTarget } from "../helpers/databases.js";

/** The hub id every server suite runs under. */
export const HUB_ID = "test-hub";

/** A real gateway on a free port over a real log. */
export interface TestHub {
  readonly log: SqlEventLog;
  readonly bus: EventBus;
  readonly server: HubServer;
  readonly port: number;
  /** `http://127.0.0.1:<port>`, or `https://…` when the server has `tls`. */
  readonly baseUrl: string;
  close(): Promise<void>;
}

export async function startHub(
  kind: TestDatabaseKind = "sqlite",
  options: { bus?: Partial<EventBusOptions>; server?: Partial<ServerOptions> } = {},
): Promise<TestHub> {
  const target = await testTarget(kind, "hubbus-server-");
  const log = await openEventLog({ url: target.url });
  const bus = createEventBus({ log, hubId: HUB_ID, version: "1.2.3", ...options.bus });
  const server = createServer({ bus, shutdownGraceMs: 1000, ...options.server });
  const { port } = await server.listen(0, "127.0.0.1");
  return {
    log,
    bus,
    server,
    port,
    baseUrl: `${server.tls ? "https" : "http"}://127.0.0.1:${port}`,
    async close() {
      await server.close();
      await log.close();
      await target.cleanup();
    },
  };
}

/** POSTs a JSON-RPC body as curl would (HTTP/1.1); returns status and parsed body. */
export async function postRpc(
  baseUrl: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${baseUrl}/rpc`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
}

/** The grpc-js client of EventBusService, loaded from the .proto as other languages do. */
export interface GrpcJsClient {
  call<T = any>(method: string, request: object, metadata?: Record<string, string>): Promise<T>;
  close(): void;
}

const PROTO_PATH = join(import.meta.dirname, "../../proto/hubbus/v1/eventbus.proto");

export function createGrpcJsClient(port: number): GrpcJsClient {
  // Well-known types (Struct, Timestamp) come from protobufjs's bundled copies.
  const definition = protoLoader.loadSync(PROTO_PATH, {
    includeDirs: [join(import.meta.dirname, "../../proto")],
    keepCase: true,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as any;
  const Client = pkg.hubbus.v1.EventBusService as grpc.ServiceClientConstructor;
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    call(method, request, metadata = {}) {
      const md = new grpc.Metadata();
      for (const [key, value] of Object.entries(metadata)) md.set(key, value);
      return new Promise((resolve, reject) => {
        (client as any)[method](request, md, (error: grpc.ServiceError | null, response: any) =>
          error ? reject(error) : resolve(response),
        );
      });
    },
    close: () => client.close(),
  };
}

/**
 * A JSON object as google.protobuf.Struct in grpc-js's object form. protobufjs
 * bundles the well-known types with camelCase field names, whatever `keepCase` says.
 */
export function toStruct(object: Record<string, unknown>): object {
  const value = (v: unknown): object => {
    if (v === null) return { nullValue: "NULL_VALUE" };
    if (typeof v === "number") return { numberValue: v };
    if (typeof v === "string") return { stringValue: v };
    if (typeof v === "boolean") return { boolValue: v };
    if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
    return { structValue: toStruct(v as Record<string, unknown>) };
  };
  return { fields: Object.fromEntries(Object.entries(object).map(([k, v]) => [k, value(v)])) };
}

/** The inverse of {@link toStruct}. */
export function fromStruct(struct: any): Record<string, unknown> {
  const value = (v: any): unknown => {
    switch (v.kind) {
      case "nullValue":
        return null;
      case "listValue":
        return (v.listValue.values ?? []).map(value);
      case "structValue":
        return fromStruct(v.structValue);
      default:
        return v[v.kind];
    }
  };
  return Object.fromEntries(Object.entries(struct?.fields ?? {}).map(([k, v]) => [k, value(v)]));
}

/** A grpc-js Timestamp as the contract's RFC 3339 string. */
export function grpcTimestamp(ts: { seconds: string; nanos: number }): string {
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)).toISOString();
}

/** Matches a UUIDv7. */
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** Matches any UUID. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The contract's timestamp: RFC 3339, UTC, milliseconds. */
export const RFC3339_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
