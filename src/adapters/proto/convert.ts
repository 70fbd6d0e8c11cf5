import { create } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type Event,
  EventSchema,
  type GetHealthResponse,
  GetHealthResponseSchema,
  type GetHubInfoResponse,
  GetHubInfoResponseSchema,
  type ListHubsResponse,
  ListHubsResponseSchema,
  type PublishBatchResponse,
  PublishBatchResponseSchema,
  type PublishResponse,
  PublishResponseSchema,
  type QueryEventsResponse,
  QueryEventsResponseSchema,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from "../../../gen/hubbus/v1/eventbus_pb.js";
import type { HubEvent, HubHealth, HubInfo, HubListing, PublishResult } from "../../core/index.js";
import { subscribeResponseBytes } from "../wire/index.js";

/** A stored event as the proto `Event`. */
export function eventToProto(event: HubEvent): Event {
  return create(EventSchema, {
    id: event.id,
    subject: event.subject,
    origin: { hubId: event.origin.hubId, service: event.origin.service },
    correlationId: event.correlationId,
    // protobuf-es v2 represents google.protobuf.Struct as a plain JSON object.
    payload: event.payload,
    timestamp: timestampFromDate(new Date(event.timestamp)),
    sequence: BigInt(event.sequence),
  });
}

export function publishResultToProto(result: PublishResult): PublishResponse {
  return create(PublishResponseSchema, {
    published: result.published,
    subject: result.subject,
    correlationId: result.correlationId,
    eventId: result.eventId,
    sequence: BigInt(result.sequence),
    duplicate: result.duplicate === true,
  });
}

export function publishResultsToProto(results: readonly PublishResult[]): PublishBatchResponse {
  return create(PublishBatchResponseSchema, { results: results.map(publishResultToProto) });
}

export function eventsToProto(events: readonly HubEvent[]): QueryEventsResponse {
  return create(QueryEventsResponseSchema, {
    events: events.map(eventToProto),
    count: events.length,
  });
}

export function infoToProto(info: HubInfo): GetHubInfoResponse {
  return create(GetHubInfoResponseSchema, {
    hubId: info.hubId,
    version: info.version,
    status: info.status,
  });
}

export function healthToProto(health: HubHealth): GetHealthResponse {
  // Only services go in the map: the contract says each value is a health word.
  return create(GetHealthResponseSchema, {
    status: health.status,
    services: { nats: health.services.nats, database: health.services.database },
    details: health.details,
  });
}

/**
 * A SubscribeResponse whose event travels as the bytes the wire module
 * encoded (once per event object, however many subscribers): protobuf-es
 * writes unknown fields verbatim, so `toBinary` only copies them. For binary
 * codecs only: the JSON codec drops unknown fields.
 */
export function preEncodedSubscribeResponse(event: HubEvent): SubscribeResponse {
  const response = create(SubscribeResponseSchema);
  // An unknown field's data starts after its tag: the length, then the event.
  const data = subscribeResponseBytes(event).subarray(1);
  response.$unknown = [{ no: 1, wireType: WireType.LengthDelimited, data }];
  return response;
}

export function eventToSubscribeResponse(event: HubEvent): SubscribeResponse {
  return create(SubscribeResponseSchema, { event: eventToProto(event) });
}

export function hubsToProto(hubs: readonly HubListing[]): ListHubsResponse {
  return create(ListHubsResponseSchema, {
    hubs: hubs.map((hub) => ({
      hubId: hub.hubId,
      version: hub.version,
      url: hub.url,
      status: hub.status,
      lastSeen: timestampFromDate(new Date(hub.lastSeen)),
      startedAt: timestampFromDate(new Date(hub.startedAt)),
      instances: hub.instances,
    })),
  });
}
