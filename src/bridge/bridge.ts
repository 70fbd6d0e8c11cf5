import type { Logger } from "pino";
import {
  type BusStatus,
  GLOBAL_HUB_ID,
  type HubCore,
  type HubEvent,
  invalidArgument,
  type JsonObject,
  type NewEvent,
  newEventId,
  nowTimestamp,
  type Outbox,
  resolveCorrelationId,
  type Tracer,
  validatePattern,
} from "../core/index.js";
import { DEFAULT_INGEST_SUBJECTS, DEFAULT_ORIGIN_SERVICE } from "../defaults.js";
import { decodeInbound } from "./inbound.js";
import type { Link } from "./link.js";
import { createRelay, type Relay, type RelayOptions } from "./relay.js";
import {
  createRouter,
  type RouteHandler,
  type RoutingRule,
  type RoutingRuleInfo,
  type RoutingRuleOptions,
} from "./router.js";
import type { InboundMessage, Transport, Unsubscribe } from "./transport.js";

const GLOBAL_PREFIX = `hub.${GLOBAL_HUB_ID}.`;
/** Messages that are not events by design: refused without a warning. */
const QUIET_REJECTIONS: ReadonlySet<string> = new Set([
  "own-event",
  "system-subject",
  "presence-heartbeat",
]);

/** Options of {@link createBridge}. */
export interface BridgeOptions {
  /** The core it ingests into and forwards from. */
  readonly core: HubCore;
  /** The connection to the bus, created before the core (see {@link Link}). */
  readonly link: Link;
  readonly outbox: Outbox;
  readonly logger: Logger;
  /** Patterns whose messages from other clients are stored. @default DEFAULT_INGEST_SUBJECTS (["hub.>"]) */
  readonly ingestSubjects?: readonly string[];
  readonly relay?: Pick<RelayOptions, "batch" | "leaseMs" | "pollMs" | "maxBackoffMs">;
  /**
   * A span per forwarded event (see {@link RelayOptions.tracer}) and per
   * ingested message, continuing the trace its `traceparent` names.
   * Absent: trace contexts are stored and forwarded as they came. @default none
   */
  readonly tracer?: Tracer | undefined;
  /**
   * Read `hub.global.>` from JetStream through this hub's durable consumer
   * (`hubbus-<hub_id>` on HUB_GLOBAL) instead of core NATS, so a hub that
   * was down catches up on the global events it missed (contract §10).
   * Core-NATS ingest then leaves `hub.global.…` alone. Only on NATS.
   * @default true
   */
  readonly globalConsumer?: boolean;
}

/**
 * The NATS bridge (the seed design's NATSBridge): forwards the log to NATS,
 * ingests events from NATS, and routes events to in-process handlers.
 */
export interface Bridge extends BusStatus {
  /** `nats` when NATS servers are configured, else `in-process`. */
  readonly kind: "nats" | "in-process";
  /** Connects (NATS: keeps trying until it succeeds), sets up streams, ingest and forwarding. Idempotent. */
  connect(): Promise<void>;
  /** Stops forwarding and ingest and closes the connection. Idempotent. */
  disconnect(): Promise<void>;
  /** Publishes through the hub: stored first, then forwarded. Returns the stored event. */
  publishInternalToNats(
    subject: string,
    payload?: JsonObject,
    correlationId?: string,
  ): Promise<HubEvent>;
  /**
   * Calls `handler` for every message on the bus matching `subjectFilter`;
   * resolves, once the bus has the subscription, with a function that stops it.
   */
  subscribeNatsToInternal(subjectFilter: string, handler: RouteHandler): Promise<Unsubscribe>;
  addRoutingRule(
    subjectPattern: string,
    handler: RouteHandler,
    options?: RoutingRuleOptions,
  ): RoutingRule;
  removeRoutingRule(rule: RoutingRule): void;
  /** Routes data to the matching enabled rules now; resolves with how many matched, once they ran. */
  routeEvent(subject: string, data?: JsonObject): Promise<number>;
  getRoutingRules(): RoutingRuleInfo[];
  /** Events forwarded by this instance since start. */
  forwardedCount(): number;
}

/** Creates the bridge on a link; call `connect()` to start it. */
export function createBridge(options: BridgeOptions): Bridge {
  const { core, link, outbox, tracer } = options;
  const logger = options.logger.child({ component: "bridge" });
  const ingestSubjects = options.ingestSubjects ?? DEFAULT_INGEST_SUBJECTS;
  const queue = `hubbus-${core.hubId}`;
  const router = createRouter(logger);
  let connecting: Promise<void> | undefined;
  let relay: Relay | undefined;
  const unsubscribes = new Set<Unsubscribe>();

  let globalFromJetStream = false;

  function handleIngest(message: InboundMessage): void {
    // The durable consumer stores those, once, from the stream.
    if (globalFromJetStream && message.subject.startsWith(GLOBAL_PREFIX)) return;
    const result = decodeInbound(message, core.hubId, core.maxPayloadBytes);
    if ("rejected" in result) {
      if (!QUIET_REJECTIONS.has(result.rejected)) {
        logger.warn(
          { subject: message.subject, reason: result.rejected, detail: result.detail },
          "message not ingested",
        );
      }
      return;
    }
    let event: NewEvent = result.event;
    const span = tracer?.start("ingest", "consumer", event.traceContext);
    if (span === undefined) {
      core.ingest([event]).catch((error: unknown) => {
        logger.error(
          { err: error, subject: message.subject },
          "could not store a message from NATS",
        );
      });
      return;
    }
    // The event belongs to the ingest's span: what reads it later continues from here.
    event = { ...event, traceContext: span.context };
    const attributes = {
      "messaging.system": "nats",
      "messaging.operation.type": "process",
      "messaging.destination.name": event.subject,
      "messaging.message.id": event.id,
    };
    core.ingest([event]).then(
      (stored) =>
        span.end({
          ...attributes,
          "hubbus.sequence": stored[0]?.sequence,
          "hubbus.duplicate": stored.length === 0,
        }),
      (error: unknown) => {
        span.end(attributes, error instanceof Error ? error.message : String(error));
        logger.error(
          { err: error, subject: message.subject },
          "could not store a message from NATS",
        );
      },
    );
  }

  async function start(): Promise<void> {
    const transport = await link.connect();
    if (transport === undefined) return; // closed before it connected
    if (transport.consumeDurable !== undefined && options.globalConsumer !== false) {
      globalFromJetStream = true;
      unsubscribes.add(
        transport.consumeDurable(
          {
            stream: link.globalStream,
            durable: `hubbus-${core.hubId}`,
            filterSubject: `${GLOBAL_PREFIX}>`,
          },
          async (message) => {
            const result = decodeInbound(message, core.hubId, core.maxPayloadBytes);
            if ("rejected" in result) {
              if (!QUIET_REJECTIONS.has(result.rejected))
                logger.warn(
                  { subject: message.subject, reason: result.rejected, detail: result.detail },
                  "global message not ingested",
                );
              return;
            }
            // A duplicate id (seen before, redelivered) is skipped by the log.
            await core.ingest([result.event]);
          },
        ),
      );
    }
    for (const pattern of ingestSubjects)
      unsubscribes.add(transport.subscribe(pattern, handleIngest, queue));
    relay = createRelay({ outbox, transport: link.transport, logger, tracer, ...options.relay });
  }

  let stopAppended: (() => void) | undefined = core.onAppended((events) => {
    relay?.wake();
    // Most hubs have no rules: skip a promise per event for nothing to call.
    if (router.size() > 0)
      for (const event of events) void router.route(event.subject, event.payload, event);
  });

  return {
    kind: link.kind,
    connect() {
      connecting ??= start();
      return connecting;
    },
    async disconnect() {
      stopAppended?.();
      stopAppended = undefined;
      // First: a connection attempt that may never succeed.
      link.stopConnecting();
      await connecting?.catch(() => {});
      await relay?.stop();
      for (const unsubscribe of unsubscribes) unsubscribe();
      unsubscribes.clear();
      await link.close();
    },
    async publishInternalToNats(subject, payload, correlationId) {
      const result = await core.publish({ subject, payload, correlationId });
      return result.event;
    },
    async subscribeNatsToInternal(subjectFilter, handler) {
      validatePattern(subjectFilter, "subjectFilter");
      await this.connect();
      const transport = link.transport() as Transport;
      const subscriber = createRouter(logger);
      subscriber.add(subjectFilter, handler);
      const unsubscribe = transport.subscribe(
        subjectFilter,
        (message) => {
          const result = decodeInbound(message, core.hubId, core.maxPayloadBytes, true);
          if ("event" in result) {
            const { payloadJson, ingested: _, ...rest } = result.event;
            const payload = JSON.parse(payloadJson) as JsonObject;
            void subscriber.route(message.subject, payload, { ...rest, payload });
          }
        },
        undefined,
        true,
      );
      unsubscribes.add(unsubscribe);
      // The promise means "subscribed": a message published after it is seen.
      await transport.flush();
      return () => {
        unsubscribes.delete(unsubscribe);
        unsubscribe();
      };
    },
    addRoutingRule(subjectPattern, handler, ruleOptions) {
      return router.add(subjectPattern, handler, ruleOptions);
    },
    removeRoutingRule(rule) {
      router.remove(rule);
    },
    routeEvent(subject, data = {}) {
      if (typeof subject !== "string") throw invalidArgument("subject", "must be a string");
      return router.route(subject, data, {
        id: newEventId(),
        subject,
        origin: { hubId: core.hubId, service: DEFAULT_ORIGIN_SERVICE },
        correlationId: resolveCorrelationId(undefined),
        payload: data,
        timestamp: nowTimestamp(),
      });
    },
    getRoutingRules: () => router.list(),
    forwardedCount: () => relay?.forwarded() ?? 0,
    health: () => link.health(),
    details: () => link.details?.() ?? Promise.resolve({}),
  };
}
