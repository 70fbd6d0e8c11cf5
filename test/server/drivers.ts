// biome-ignore-all lint/suspicious/noExplicitAny: grpc-js messages are untyped objects
import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { type Event, EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import {
  createGrpcJsClient,
  fromStruct,
  grpcTimestamp,
  postRpc,
  type TestHub,
  toStruct,
} from "./harness.js";

/** An event in the contract's JSON shape (section 2), whatever protocol carried it. */
export interface ContractEvent {
  id: string;
  subject: string;
  origin: { hub_id: string; service: string };
  correlation_id: string;
  payload: Record<string, unknown>;
  timestamp: string;
  sequence: number;
}

export interface PublishArgs {
  subject: string;
  payload?: JsonObject;
  correlationId?: string;
  /** Sent as the `hub-service` header / metadata. */
  service?: string;
}

export interface PublishAck {
  published: boolean;
  subject: string;
  correlation_id: string;
  event_id: string;
  sequence: number;
}

/** One client protocol, reduced to the calls the parity suite makes. */
export interface Driver {
  publish(args: PublishArgs): Promise<PublishAck>;
  query(subject?: string, limit?: number): Promise<{ events: ContractEvent[]; count: number }>;
  info(): Promise<{ hub_id: string; version: string; status: string }>;
  health(): Promise<{ status: string; services: Record<string, string> }>;
  close(): void;
}

function jsonRpcDriver(hub: TestHub): Driver {
  async function call(method: string, params: object, headers: Record<string, string> = {}) {
    const { status, body } = await postRpc(
      hub.baseUrl,
      { jsonrpc: "2.0", id: 1, method, params },
      headers,
    );
    if (status !== 200 || body.error) throw new Error(`${method}: ${JSON.stringify(body)}`);
    return body.result;
  }
  return {
    publish: (a) =>
      call(
        "bus.publish",
        { topic: a.subject, payload: a.payload, correlation_id: a.correlationId },
        a.service ? { "hub-service": a.service } : {},
      ),
    query: (subject, limit) => call("bus.subscribe", { subject, limit }),
    info: () => call("hub.info", {}),
    health: () => call("hub.health", {}),
    close() {},
  };
}

function protoEvent(e: Event): ContractEvent {
  return {
    id: e.id,
    subject: e.subject,
    origin: { hub_id: e.origin?.hubId ?? "", service: e.origin?.service ?? "" },
    correlation_id: e.correlationId,
    payload: e.payload ?? {},
    timestamp: e.timestamp ? timestampDate(e.timestamp).toISOString() : "",
    sequence: Number(e.sequence),
  };
}

function connectDriver(transport: Transport): Driver {
  const client: Client<typeof EventBusService> = createClient(EventBusService, transport);
  return {
    async publish(a) {
      const res = await client.publish(
        { subject: a.subject, payload: a.payload, correlationId: a.correlationId ?? "" },
        { headers: a.service ? { "hub-service": a.service } : {} },
      );
      return {
        published: res.published,
        subject: res.subject,
        correlation_id: res.correlationId,
        event_id: res.eventId,
        sequence: Number(res.sequence),
      };
    },
    async query(subject, limit) {
      const res = await client.queryEvents({ subject: subject ?? "", limit: limit ?? 0 });
      return { events: res.events.map(protoEvent), count: res.count };
    },
    async info() {
      const res = await client.getHubInfo({});
      return { hub_id: res.hubId, version: res.version, status: res.status };
    },
    async health() {
      const res = await client.getHealth({});
      return { status: res.status, services: res.services };
    },
    close() {},
  };
}

function grpcJsDriver(hub: TestHub): Driver {
  const client = createGrpcJsClient(hub.port);
  const event = (e: any): ContractEvent => ({
    id: e.id,
    subject: e.subject,
    origin: { hub_id: e.origin.hub_id, service: e.origin.service },
    correlation_id: e.correlation_id,
    payload: fromStruct(e.payload),
    timestamp: grpcTimestamp(e.timestamp),
    sequence: Number(e.sequence),
  });
  return {
    async publish(a) {
      const res = await client.call(
        "Publish",
        {
          subject: a.subject,
          payload: a.payload ? toStruct(a.payload) : undefined,
          correlation_id: a.correlationId ?? "",
        },
        a.service ? { "hub-service": a.service } : {},
      );
      return { ...res, sequence: Number(res.sequence) };
    },
    async query(subject, limit) {
      const res = await client.call("QueryEvents", { subject: subject ?? "", limit: limit ?? 0 });
      return { events: res.events.map(event), count: res.count };
    },
    info: () => client.call("GetHubInfo", {}),
    health: () => client.call("GetHealth", {}),
    close: () => client.close(),
  };
}

/** Every client protocol of contract section 4 and 5, against one server. */
export const drivers: Record<string, (hub: TestHub) => Driver> = {
  "JSON-RPC over HTTP/1.1": jsonRpcDriver,
  "Connect over HTTP/1.1": (hub) =>
    connectDriver(createConnectTransport({ baseUrl: hub.baseUrl, httpVersion: "1.1" })),
  "gRPC-Web over HTTP/1.1": (hub) =>
    connectDriver(createGrpcWebTransport({ baseUrl: hub.baseUrl, httpVersion: "1.1" })),
  "gRPC over h2c (connect-node)": (hub) =>
    connectDriver(createGrpcTransport({ baseUrl: hub.baseUrl })),
  "gRPC over h2c (@grpc/grpc-js)": grpcJsDriver,
};
