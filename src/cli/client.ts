import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type Event, EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import type { ClientConfig } from "../config/index.js";

/** The gateway's client over gRPC (HTTP/2; h2c for http:// URLs). */
export function gatewayClient(config: ClientConfig) {
  return createClient(EventBusService, createGrpcTransport({ baseUrl: config.url }));
}

/** An event in the contract's JSON shape (section 2), as JSON-RPC and `--json` print it. */
export function eventJson(event: Event) {
  return {
    id: event.id,
    subject: event.subject,
    origin: { hub_id: event.origin?.hubId ?? "", service: event.origin?.service ?? "" },
    correlation_id: event.correlationId,
    payload: event.payload ?? {},
    timestamp: event.timestamp ? timestampDate(event.timestamp).toISOString() : "",
    sequence: Number(event.sequence),
  };
}

/** One line for a person: sequence, time, subject, payload. */
export function eventLine(event: Event): string {
  const e = eventJson(event);
  return `${e.sequence}\t${e.timestamp}\t${e.subject}\t${JSON.stringify(e.payload)}`;
}

/** A client error as one line a person can act on. */
export function describeClientError(error: unknown, url: string): string {
  if (error instanceof ConnectError) {
    if (error.code === Code.Unavailable)
      return `the gateway at ${url} is unavailable: ${error.rawMessage}`;
    return `${Code[error.code]}: ${error.rawMessage}`;
  }
  return error instanceof Error ? error.message : String(error);
}
