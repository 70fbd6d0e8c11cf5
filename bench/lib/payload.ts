import { create, type JsonObject, toBinary } from "@bufbuild/protobuf";
import {
  PublishBatchRequestSchema,
  PublishRequestSchema,
  QueryEventsRequestSchema,
  SubscribeRequestSchema,
} from "../../gen/hubbus/v1/eventbus_pb.js";
import { grpcFrame } from "../../src/adapters/wire/index.js";

/** The JSON size every scenario and baseline publishes (the "about 256 bytes"). */
export const PAYLOAD_BYTES = 256;

/** gRPC paths of EventBusService, as both the gateway and the baseline servers serve them. */
export const PATHS = {
  publish: "/hubbus.v1.EventBusService/Publish",
  publishBatch: "/hubbus.v1.EventBusService/PublishBatch",
  query: "/hubbus.v1.EventBusService/QueryEvents",
  subscribe: "/hubbus.v1.EventBusService/Subscribe",
  health: "/hubbus.v1.EventBusService/GetHealth",
} as const;

const BASE = {
  i: 0,
  t: 0,
  source: "hubbus-bench",
  kind: "sample",
  tags: ["alpha", "beta", "gamma"],
  value: 12345.678,
  ok: true,
};
// Padding brings event 0 to exactly PAYLOAD_BYTES; larger indexes add a few digits.
const PAD = "x".repeat(PAYLOAD_BYTES - JSON.stringify({ ...BASE, note: "" }).length);

/** The payload of event `i`, stamped with `t` (a send time, for latency). */
export function benchPayload(i = 0, t = 0): JsonObject {
  return { ...BASE, i, t, note: PAD };
}

/** The payload as JSON, split around the index: the seed builds rows from it in SQL. */
export function payloadTemplate(): { readonly before: string; readonly after: string } {
  const json = JSON.stringify(benchPayload(0));
  const at = json.indexOf('"i":0') + '"i":'.length;
  return { before: json.slice(0, at), after: json.slice(at + 1) };
}

export function publishRequest(subject: string, i = 0, t = 0): Buffer {
  return grpcFrame(
    toBinary(
      PublishRequestSchema,
      create(PublishRequestSchema, { subject, payload: benchPayload(i, t) }),
    ),
  );
}

/** A Publish request as {@link publishRequest}'s, carrying an idempotency key (empty = none). */
export function keyedPublishRequest(subject: string, i: number, idempotencyKey: string): Buffer {
  return grpcFrame(
    toBinary(
      PublishRequestSchema,
      create(PublishRequestSchema, { subject, payload: benchPayload(i), idempotencyKey }),
    ),
  );
}

/** A PublishBatch request of `count` events on one subject, payloads as {@link publishRequest}'s. */
export function publishBatchRequest(subject: string, count: number): Buffer {
  const events = Array.from({ length: count }, (_, i) =>
    create(PublishRequestSchema, { subject, payload: benchPayload(i) }),
  );
  return grpcFrame(
    toBinary(PublishBatchRequestSchema, create(PublishBatchRequestSchema, { events })),
  );
}

export function subscribeRequest(subject: string, afterSequence?: number): Buffer {
  return grpcFrame(
    toBinary(
      SubscribeRequestSchema,
      create(SubscribeRequestSchema, {
        subject,
        ...(afterSequence === undefined ? {} : { afterSequence: BigInt(afterSequence) }),
      }),
    ),
  );
}

export function queryRequest(subject: string, limit: number): Buffer {
  return grpcFrame(
    toBinary(QueryEventsRequestSchema, create(QueryEventsRequestSchema, { subject, limit })),
  );
}

/** The JSON-RPC `bus.publish` body the HTTP/1.1 load generator sends. */
export function jsonRpcPublishBody(topic: string): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "bus.publish",
    params: { topic, payload: benchPayload() },
  });
}
