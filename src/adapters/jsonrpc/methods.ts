import {
  checkBatchSize,
  DEFAULT_QUERY_LIMIT,
  type HubEvent,
  type HubListing,
  MAX_BATCH_EVENTS,
  MAX_QUERY_LIMIT,
  type PublishResult,
} from "../../core/index.js";
import {
  type PublishRequestInput,
  SERVICE_HEADER,
  type UnaryCalls,
  type UnaryMethod,
} from "../../pipeline/index.js";
import { ParamError } from "./errors.js";

/** One param of a JSON-RPC method, as `/rpc/methods` lists it. */
export interface ParamSpec {
  readonly name: string;
  readonly type: string;
  readonly required: boolean;
  readonly default?: unknown;
  readonly description: string;
}

/** A JSON-RPC method: its description for `/rpc/methods` and how it maps to the RPC it calls. */
export interface MethodSpec<M extends UnaryMethod = UnaryMethod> {
  readonly name: string;
  readonly description: string;
  readonly params: readonly ParamSpec[];
  readonly result: string;
  /** Core param name → this method's JSON-RPC param name, for `-32602` data. */
  readonly paramNames: Readonly<Record<string, string>>;
  /** The EventBusService method it calls. */
  readonly rpc: M;
  /** Checked params (see {@link checkParams}) as the RPC's input; throws invalid_argument. */
  decode(params: Record<string, unknown>, request: RequestExtras): UnaryCalls[M]["input"];
  /** The RPC's answer in this method's JSON shape. */
  encode(output: UnaryCalls[M]["output"]): unknown;
}

/** What a method may take from the HTTP request around its JSON-RPC request. */
export interface RequestExtras {
  /** The `Idempotency-Key` header, when the request carried one. */
  readonly idempotencyKeyHeader: string | undefined;
  /** The body held this request alone, not a batch of them. */
  readonly single: boolean;
}

/** The HTTP header that may carry `bus.publish`'s idempotency key (lower case, as Node gives it). */
export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";

/**
 * `bus.publish`'s idempotency key: the param, or the `Idempotency-Key`
 * header of a single request. In a JSON-RPC batch the header would stand
 * for every request at once, so there it is refused rather than guessed at.
 */
function idempotencyKeyOf(params: Record<string, unknown>, request: RequestExtras): unknown {
  const param = params.idempotency_key;
  const header = request.idempotencyKeyHeader;
  if (header === undefined) return param;
  if (!request.single) {
    throw new ParamError(
      "idempotency_key",
      "the Idempotency-Key header is for a single request; give each request of a batch its idempotency_key param",
    );
  }
  if (param !== undefined && param !== null && param !== header) {
    throw new ParamError("idempotency_key", "differs from the Idempotency-Key header");
  }
  return header;
}

/** Erases a method's RPC type, so methods of different RPCs share one list. */
function method<M extends UnaryMethod>(spec: MethodSpec<M>): MethodSpec {
  return spec as unknown as MethodSpec;
}

/** An event in the contract's JSON shape (section 2): snake_case. */
export function eventToJson(event: HubEvent) {
  return {
    id: event.id,
    subject: event.subject,
    origin: { hub_id: event.origin.hubId, service: event.origin.service },
    correlation_id: event.correlationId,
    payload: event.payload,
    timestamp: event.timestamp,
    sequence: event.sequence,
  };
}

/** A hub of `hub.list` (contract §10): snake_case. */
export function hubToJson(hub: HubListing) {
  return {
    hub_id: hub.hubId,
    version: hub.version,
    url: hub.url,
    status: hub.status,
    last_seen: hub.lastSeen,
    started_at: hub.startedAt,
    instances: hub.instances,
  };
}

/** A publish result in `bus.publish`'s JSON shape. */
function publishResultToJson(result: PublishResult) {
  return {
    published: result.published,
    subject: result.subject,
    correlation_id: result.correlationId,
    event_id: result.eventId,
    sequence: result.sequence,
    ...(result.duplicate === true ? { duplicate: true } : {}),
  };
}

/** The fields one event of `bus.publishBatch` takes: `bus.publish`'s params. */
const BATCH_EVENT_FIELDS = ["topic", "payload", "correlation_id", "idempotency_key"];

/**
 * One entry of `bus.publishBatch`'s `events` as the core's input, held to
 * the rules `checkParams` applies to `bus.publish`: an object, no unknown
 * field, `topic` present. Values are the core's to judge.
 */
function batchEventInput(entry: unknown, index: number): PublishRequestInput {
  const at = `events[${index}]`;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new ParamError(
      at,
      "must be an object {topic, payload?, correlation_id?, idempotency_key?}",
    );
  }
  const fields = entry as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!BATCH_EVENT_FIELDS.includes(name)) {
      throw new ParamError(
        `${at}.${name}`,
        `unknown field; each event takes ${BATCH_EVENT_FIELDS.join(", ")}`,
      );
    }
  }
  if (fields.topic === undefined || fields.topic === null) {
    throw new ParamError(`${at}.topic`, "is required");
  }
  return {
    subject: fields.topic,
    payload: fields.payload,
    correlationId: fields.correlation_id,
    idempotencyKey: fields.idempotency_key,
  };
}

/** The methods of `/rpc`, in the order `/rpc/methods` lists them (additions at the end). */
export function createMethods(): readonly MethodSpec[] {
  return [
    method({
      name: "bus.publish",
      description: "Validates an event and stores it in the hub's log; the answer means stored.",
      params: [
        {
          name: "topic",
          type: "string",
          required: true,
          description: "the subject; one without the hub. prefix gets hub.<hub_id>. in front",
        },
        { name: "payload", type: "object", required: false, default: {}, description: "the data" },
        {
          name: "correlation_id",
          type: "string",
          required: false,
          description: "1..128 characters; generated when absent",
        },
        {
          name: "idempotency_key",
          type: "string",
          required: false,
          description:
            "1..128 characters (or the Idempotency-Key header): a repeat answers the first result with duplicate: true",
        },
      ],
      result: "{published, subject, correlation_id, event_id, sequence, duplicate?}",
      paramNames: { subject: "topic", service: SERVICE_HEADER },
      rpc: "Publish",
      decode: (params, request) => ({
        subject: params.topic,
        payload: params.payload,
        correlationId: params.correlation_id,
        idempotencyKey: idempotencyKeyOf(params, request),
      }),
      encode: publishResultToJson,
    }),
    method({
      name: "bus.subscribe",
      description: "The newest stored events whose subject matches a pattern, newest first.",
      params: [
        {
          name: "subject",
          type: "string",
          required: false,
          default: ">",
          description: "a pattern with * (one token) and > (one or more, last)",
        },
        {
          name: "limit",
          type: "integer",
          required: false,
          default: DEFAULT_QUERY_LIMIT,
          description: `1..${MAX_QUERY_LIMIT}; null means the default`,
        },
      ],
      result: "{events: [Event, ...], count}",
      paramNames: {},
      rpc: "QueryEvents",
      decode: (params) => ({ subject: params.subject, limit: params.limit }),
      encode: (events) => ({ events: events.map(eventToJson), count: events.length }),
    }),
    method({
      name: "hub.info",
      description: "The hub's id and version.",
      params: [],
      result: '{hub_id, version, status: "running"}',
      paramNames: {},
      rpc: "GetHubInfo",
      decode: () => undefined,
      encode: (info) => ({ hub_id: info.hubId, version: info.version, status: info.status }),
    }),
    method({
      name: "hub.health",
      description: "The health of the hub and of the services it uses.",
      params: [],
      result: "{status, services: {nats, database}, details}",
      paramNames: {},
      rpc: "GetHealth",
      decode: () => undefined,
      encode: (health) => ({
        status: health.status,
        services: health.services,
        details: health.details,
      }),
    }),
    method({
      name: "bus.publishBatch",
      description:
        "Validates many events and stores them in one transaction, all or none; one result per event, in order.",
      params: [
        {
          name: "events",
          type: "array",
          required: true,
          description: `1..${MAX_BATCH_EVENTS} objects {topic, payload?, correlation_id?, idempotency_key?}, each as the params of bus.publish`,
        },
      ],
      result: "{results: [{published, subject, correlation_id, event_id, sequence}, ...], count}",
      // Core names such as events[3].subject become events[3].topic (see toJsonRpcError).
      paramNames: { subject: "topic", service: SERVICE_HEADER },
      rpc: "PublishBatch",
      decode(params, request) {
        if (request.idempotencyKeyHeader !== undefined) {
          throw new ParamError(
            "idempotency_key",
            "the Idempotency-Key header is for bus.publish; give each event its idempotency_key",
          );
        }
        // Size first, so a huge array is refused before its entries are looked at.
        checkBatchSize(params.events);
        return (params.events as unknown[]).map(batchEventInput);
      },
      encode: (results) => ({ results: results.map(publishResultToJson), count: results.length }),
    }),
    method({
      name: "hub.list",
      description:
        "The hubs on this hub's NATS, this one included: online while heard from, else gone.",
      params: [],
      result:
        '{hubs: [{hub_id, version, url, status: "online"|"gone", last_seen, started_at, instances}, ...], count}',
      paramNames: {},
      rpc: "ListHubs",
      decode: () => undefined,
      encode: (hubs) => ({ hubs: hubs.map(hubToJson), count: hubs.length }),
    }),
  ];
}

/**
 * Checks params against a method's spec: named params only (an object), no
 * unknown names (a typo such as `topics` must not publish on a default),
 * required ones present. Types and values are the core's to judge.
 */
export function checkParams(spec: MethodSpec, params: unknown): Record<string, unknown> {
  if (params === undefined) params = {};
  if (Array.isArray(params)) {
    if (params.length === 0) return {};
    throw new ParamError("params", "must be an object of named params, not an array");
  }
  const named = params as Record<string, unknown>;
  const known = spec.params.map((p) => p.name);
  for (const name of Object.keys(named)) {
    if (!known.includes(name)) {
      const takes = known.length === 0 ? "takes no params" : `takes ${known.join(", ")}`;
      throw new ParamError(name, `unknown param; ${spec.name} ${takes}`);
    }
  }
  for (const param of spec.params) {
    const value = named[param.name];
    if (param.required && (value === undefined || value === null)) {
      throw new ParamError(param.name, "is required");
    }
  }
  return named;
}

/** The body of `/rpc/methods`. */
export function describeMethods(methods: readonly MethodSpec[]) {
  return {
    methods: methods.map(({ name, description, params, result }) => ({
      name,
      description,
      params,
      result,
    })),
  };
}
