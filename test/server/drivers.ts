// biome-ignore-all lint/suspicious/noExplicitAny: grpc-js messages are untyped objects
import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { expect } from "vitest";
import {
  type Event,
  EventBusService,
  type PublishResponse,
} from "../../gen/hubbus/v1/eventbus_pb.js";
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
  /** `idempotency_key` (empty or absent = none). */
  idempotencyKey?: string;
}

export interface PublishAck {
  published: boolean;
  subject: string;
  correlation_id: string;
  event_id: string;
  sequence: number;
  /** True on a repeat of an idempotency key; JSON-RPC leaves it out otherwise, Protobuf says false. */
  duplicate?: boolean;
}

/** One event of a batch: `PublishArgs` without the per-call service. */
export type BatchEventArgs = Omit<PublishArgs, "service">;

/**
 * A call the server refused, whatever the protocol: `invalid` for
 * invalid_argument / -32602, and the text that names the param at fault.
 */
export class Refused extends Error {
  override name = "Refused";
  constructor(
    readonly invalid: boolean,
    readonly text: string,
    /** `already_exists` for a reused idempotency key (JSON-RPC: -32602 naming idempotency_key). */
    readonly code = invalid ? "invalid_argument" : "other",
  ) {
    super(text);
  }
}

/** One client protocol, reduced to the calls the parity suite makes. */
export interface Driver {
  /** The name the protocol gives a publish subject (JSON-RPC says `topic`). */
  readonly subjectParam: "subject" | "topic";
  publish(args: PublishArgs): Promise<PublishAck>;
  /** Rejects with {@link Refused} when the server refuses the call. */
  publishBatch(events: readonly BatchEventArgs[], service?: string): Promise<PublishAck[]>;
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
    subjectParam: "topic",
    async publish(a) {
      const { status, body } = await postRpc(
        hub.baseUrl,
        {
          jsonrpc: "2.0",
          id: 1,
          method: "bus.publish",
          params: {
            topic: a.subject,
            payload: a.payload,
            correlation_id: a.correlationId,
            idempotency_key: a.idempotencyKey,
          },
        },
        a.service ? { "hub-service": a.service } : {},
      );
      if (status !== 200) throw new Error(`bus.publish: HTTP ${status}`);
      if (body.error) {
        const param = body.error.data?.param;
        throw new Refused(
          body.error.code === -32602,
          `${param}: ${body.error.data?.reason ?? body.error.message}`,
          param === "idempotency_key" ? "already_exists" : undefined,
        );
      }
      return body.result;
    },
    async publishBatch(events, service) {
      const { status, body } = await postRpc(
        hub.baseUrl,
        {
          jsonrpc: "2.0",
          id: 1,
          method: "bus.publishBatch",
          params: {
            events: events.map((e) => ({
              topic: e.subject,
              payload: e.payload,
              correlation_id: e.correlationId,
              idempotency_key: e.idempotencyKey,
            })),
          },
        },
        service ? { "hub-service": service } : {},
      );
      if (status !== 200) throw new Error(`bus.publishBatch: HTTP ${status}`);
      if (body.error) {
        throw new Refused(
          body.error.code === -32602,
          `${body.error.data?.param}: ${body.error.data?.reason ?? body.error.message}`,
        );
      }
      expect(body.result.count).toBe(events.length);
      return body.result.results;
    },
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

function protoAck(res: PublishResponse): PublishAck {
  return {
    published: res.published,
    subject: res.subject,
    correlation_id: res.correlationId,
    event_id: res.eventId,
    sequence: Number(res.sequence),
    duplicate: res.duplicate,
  };
}

/** A Connect code as the hub's word for it (`already_exists`). */
function connectCode(code: Code): string {
  return Code[code].replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase());
}

function connectDriver(transport: Transport): Driver {
  const client: Client<typeof EventBusService> = createClient(EventBusService, transport);
  return {
    subjectParam: "subject",
    async publishBatch(events, service) {
      try {
        const res = await client.publishBatch(
          {
            events: events.map((e) => ({
              subject: e.subject,
              payload: e.payload,
              correlationId: e.correlationId ?? "",
              idempotencyKey: e.idempotencyKey ?? "",
            })),
          },
          { headers: service ? { "hub-service": service } : {} },
        );
        return res.results.map(protoAck);
      } catch (error) {
        const e = ConnectError.from(error);
        throw new Refused(e.code === Code.InvalidArgument, e.rawMessage);
      }
    },
    async publish(a) {
      try {
        const res = await client.publish(
          {
            subject: a.subject,
            payload: a.payload,
            correlationId: a.correlationId ?? "",
            idempotencyKey: a.idempotencyKey ?? "",
          },
          { headers: a.service ? { "hub-service": a.service } : {} },
        );
        return protoAck(res);
      } catch (error) {
        const e = ConnectError.from(error);
        throw new Refused(e.code === Code.InvalidArgument, e.rawMessage, connectCode(e.code));
      }
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
    subjectParam: "subject",
    async publishBatch(events, service) {
      let res: any;
      try {
        res = await client.call(
          "PublishBatch",
          {
            events: events.map((e) => ({
              subject: e.subject,
              payload: e.payload ? toStruct(e.payload) : undefined,
              correlation_id: e.correlationId ?? "",
              idempotency_key: e.idempotencyKey ?? "",
            })),
          },
          service ? { "hub-service": service } : {},
        );
      } catch (error) {
        const e = error as grpc.ServiceError;
        throw new Refused(e.code === grpc.status.INVALID_ARGUMENT, e.details);
      }
      return res.results.map((r: any) => ({ ...r, sequence: Number(r.sequence) }));
    },
    async publish(a) {
      let res: any;
      try {
        res = await client.call(
          "Publish",
          {
            subject: a.subject,
            payload: a.payload ? toStruct(a.payload) : undefined,
            correlation_id: a.correlationId ?? "",
            idempotency_key: a.idempotencyKey ?? "",
          },
          a.service ? { "hub-service": a.service } : {},
        );
      } catch (error) {
        const e = error as grpc.ServiceError;
        throw new Refused(
          e.code === grpc.status.INVALID_ARGUMENT,
          e.details,
          e.code === grpc.status.ALREADY_EXISTS ? "already_exists" : undefined,
        );
      }
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
