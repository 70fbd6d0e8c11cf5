import type { Logger } from "pino";
import {
  checkBatchSize,
  DEFAULT_QUERY_LIMIT,
  type EventBus,
  type HubEvent,
  MAX_BATCH_EVENTS,
  MAX_QUERY_LIMIT,
  type PublishInput,
  type PublishResult,
} from "../../core/index.js";
import { SERVICE_HEADER } from "../service-header.js";
import { invalidParams } from "./errors.js";

export { SERVICE_HEADER };

/** One param of a JSON-RPC method, as `/rpc/methods` lists it. */
export interface ParamSpec {
  readonly name: string;
  readonly type: string;
  readonly required: boolean;
  readonly default?: unknown;
  readonly description: string;
}

/** What a method implementation gets besides its params. */
export interface CallContext {
  /** Aborts when the client goes away. */
  readonly signal: AbortSignal;
  /** The `hub-service` header, unchecked (the core validates it). */
  readonly service: unknown;
  /** Scoped with protocol and method. */
  readonly logger: Logger;
}

/** A JSON-RPC method: its description for `/rpc/methods` and its implementation. */
export interface MethodSpec {
  readonly name: string;
  readonly description: string;
  readonly params: readonly ParamSpec[];
  readonly result: string;
  /** Core param name → this method's JSON-RPC param name, for `-32602` data. */
  readonly paramNames: Readonly<Record<string, string>>;
  run(params: Record<string, unknown>, ctx: CallContext): Promise<unknown>;
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

/** A publish result in `bus.publish`'s JSON shape. */
function publishResultToJson(result: PublishResult) {
  return {
    published: result.published,
    subject: result.subject,
    correlation_id: result.correlationId,
    event_id: result.eventId,
    sequence: result.sequence,
  };
}

/** The fields one event of `bus.publishBatch` takes: `bus.publish`'s params. */
const BATCH_EVENT_FIELDS = ["topic", "payload", "correlation_id"];

/**
 * One entry of `bus.publishBatch`'s `events` as the core's input, held to
 * the rules `checkParams` applies to `bus.publish`: an object, no unknown
 * field, `topic` present. Values are the core's to judge.
 */
function batchEventInput(entry: unknown, index: number, service: unknown): PublishInput {
  const at = `events[${index}]`;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw invalidParams(at, "must be an object {topic, payload?, correlation_id?}");
  }
  const fields = entry as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!BATCH_EVENT_FIELDS.includes(name)) {
      throw invalidParams(
        `${at}.${name}`,
        `unknown field; each event takes ${BATCH_EVENT_FIELDS.join(", ")}`,
      );
    }
  }
  if (fields.topic === undefined || fields.topic === null) {
    throw invalidParams(`${at}.topic`, "is required");
  }
  return {
    subject: fields.topic,
    payload: fields.payload,
    correlationId: fields.correlation_id,
    service,
  };
}

/** The methods of `/rpc`, in the order `/rpc/methods` lists them (additions at the end). */
export function createMethods(bus: EventBus): readonly MethodSpec[] {
  return [
    {
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
      ],
      result: "{published, subject, correlation_id, event_id, sequence}",
      paramNames: { subject: "topic", service: SERVICE_HEADER },
      async run(params, ctx) {
        const result = await bus.publish(
          {
            subject: params.topic,
            payload: params.payload,
            correlationId: params.correlation_id,
            service: ctx.service,
          },
          ctx.signal,
        );
        return publishResultToJson(result);
      },
    },
    {
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
      async run(params, ctx) {
        const events = await bus.query(
          { subject: params.subject, limit: params.limit },
          ctx.signal,
        );
        return { events: events.map(eventToJson), count: events.length };
      },
    },
    {
      name: "hub.info",
      description: "The hub's id and version.",
      params: [],
      result: '{hub_id, version, status: "running"}',
      paramNames: {},
      async run() {
        const info = bus.info();
        return { hub_id: info.hubId, version: info.version, status: info.status };
      },
    },
    {
      name: "hub.health",
      description: "The health of the hub and of the services it uses.",
      params: [],
      result: "{status, services: {nats, database}, details}",
      paramNames: {},
      async run(_params, ctx) {
        const health = await bus.health(ctx.signal);
        return { status: health.status, services: health.services, details: health.details };
      },
    },
    {
      name: "bus.publishBatch",
      description:
        "Validates many events and stores them in one transaction, all or none; one result per event, in order.",
      params: [
        {
          name: "events",
          type: "array",
          required: true,
          description: `1..${MAX_BATCH_EVENTS} objects {topic, payload?, correlation_id?}, each as the params of bus.publish`,
        },
      ],
      result: "{results: [{published, subject, correlation_id, event_id, sequence}, ...], count}",
      // Core names such as events[3].subject become events[3].topic (see toJsonRpcError).
      paramNames: { subject: "topic", service: SERVICE_HEADER },
      async run(params, ctx) {
        // Size first, so a huge array is refused before its entries are looked at.
        checkBatchSize(params.events);
        const inputs = (params.events as unknown[]).map((entry, i) =>
          batchEventInput(entry, i, ctx.service),
        );
        const results = await bus.publishBatch(inputs, ctx.signal);
        return { results: results.map(publishResultToJson), count: results.length };
      },
    },
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
    throw invalidParams("params", "must be an object of named params, not an array");
  }
  const named = params as Record<string, unknown>;
  const known = spec.params.map((p) => p.name);
  for (const name of Object.keys(named)) {
    if (!known.includes(name)) {
      const takes = known.length === 0 ? "takes no params" : `takes ${known.join(", ")}`;
      throw invalidParams(name, `unknown param; ${spec.name} ${takes}`);
    }
  }
  for (const param of spec.params) {
    const value = named[param.name];
    if (param.required && (value === undefined || value === null)) {
      throw invalidParams(param.name, "is required");
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
