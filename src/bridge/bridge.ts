import type { Logger } from "pino";
import {
  type BusStatus,
  type EventBus,
  type HubEvent,
  invalidArgument,
  type JsonObject,
  newEventId,
  nowTimestamp,
  type Outbox,
  resolveCorrelationId,
  type ServiceHealth,
  validatePattern,
} from "../core/index.js";
import { DEFAULT_INGEST_SUBJECTS, DEFAULT_ORIGIN_SERVICE } from "../defaults.js";
import { createInProcessTransport } from "./in-process-transport.js";
import { decodeInbound } from "./inbound.js";
import { connectNatsTransport } from "./nats-transport.js";
import { createRelay, type Relay, type RelayOptions } from "./relay.js";
import {
  createRouter,
  type RouteHandler,
  type RoutingRule,
  type RoutingRuleInfo,
  type RoutingRuleOptions,
} from "./router.js";
import type { StreamOptions } from "./streams.js";
import {
  type InboundMessage,
  NOTICE_PREFIX,
  type Transport,
  type Unsubscribe,
} from "./transport.js";

/** Options of {@link createBridge}. */
export interface BridgeOptions {
  readonly bus: EventBus;
  readonly outbox: Outbox;
  readonly logger: Logger;
  /** NATS servers; empty = the in-process bus (one instance only). @default [] */
  readonly natsServers?: readonly string[];
  /** Path of a NATS credentials file. */
  readonly natsCreds?: string;
  /** Patterns whose messages from other clients are stored. @default DEFAULT_INGEST_SUBJECTS (["hub.>"]) */
  readonly ingestSubjects?: readonly string[];
  readonly streams?: StreamOptions;
  readonly relay?: Pick<RelayOptions, "batch" | "leaseMs" | "pollMs" | "maxBackoffMs">;
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

/**
 * The sequence a commit notice carries; undefined for an empty or malformed
 * one (an older instance sends none), which makes the tail read the log.
 */
function noticeSequence(data: Uint8Array): number | undefined {
  if (data.length === 0 || data.length > 20) return undefined;
  const sequence = Number(Buffer.from(data).toString("latin1"));
  return Number.isSafeInteger(sequence) && sequence > 0 ? sequence : undefined;
}

/** Creates the bridge; call `connect()` to start it. */
export function createBridge(options: BridgeOptions): Bridge {
  const { bus, outbox } = options;
  const logger = options.logger.child({ component: "bridge" });
  const servers = options.natsServers ?? [];
  const kind = servers.length > 0 ? "nats" : "in-process";
  const ingestSubjects = options.ingestSubjects ?? DEFAULT_INGEST_SUBJECTS;
  const queue = `hubbus-${bus.hubId}`;
  const router = createRouter(logger);
  let transport: Transport | undefined;
  let connecting: Promise<void> | undefined;
  // Aborted by disconnect(): stops the attempts to reach NATS, which may never succeed.
  const stopping = new AbortController();
  let relay: Relay | undefined;
  const unsubscribes = new Set<Unsubscribe>();
  let stopAppended: (() => void) | undefined;

  function handleIngest(message: InboundMessage): void {
    const result = decodeInbound(message, bus.hubId, bus.maxPayloadBytes);
    if ("rejected" in result) {
      if (result.rejected !== "own-event" && result.rejected !== "system-subject") {
        logger.warn(
          { subject: message.subject, reason: result.rejected, detail: result.detail },
          "message not ingested",
        );
      }
      return;
    }
    bus.ingest([result.event]).catch((error) => {
      logger.error({ err: error, subject: message.subject }, "could not store a message from NATS");
    });
  }

  // Other instances on the same log learn of this instance's commits from a
  // notice (core NATS) carrying the last sequence committed, coalesced to one
  // per turn of the event loop. A tail that already has that sequence (this
  // instance hears its own notices) reads nothing.
  const noticeSubject = `${NOTICE_PREFIX}${bus.hubId}.appended`;

  async function start(): Promise<void> {
    if (kind === "nats") {
      logger.info({ servers }, "connecting to NATS");
      try {
        transport = await connectNatsTransport({
          servers,
          hubId: bus.hubId,
          logger,
          signal: stopping.signal,
          ...(options.natsCreds === undefined ? {} : { credsFile: options.natsCreds }),
          ...(options.streams === undefined ? {} : { streams: options.streams }),
        });
      } catch (error) {
        if (stopping.signal.aborted) return;
        throw error;
      }
      logger.info("connected to NATS; JetStream streams ready");
    } else {
      transport = createInProcessTransport();
      logger.info("NATS_URL is unset: using the in-process bus (one instance only)");
    }
    for (const pattern of ingestSubjects)
      unsubscribes.add(transport.subscribe(pattern, handleIngest, queue));
    // Every instance (no queue group) hears every commit notice, its own included:
    // the tail already has what its own notices announce and reads nothing for them.
    if (kind === "nats")
      unsubscribes.add(
        transport.subscribe(noticeSubject, (message) => bus.wake(noticeSequence(message.data))),
      );
    relay = createRelay({ outbox, transport: () => transport, logger, ...options.relay });
  }

  let noticePending = false;
  let noticeUpTo = 0;
  function sendNotice(events: readonly HubEvent[]): void {
    if (kind !== "nats") return;
    for (const event of events) if (event.sequence > noticeUpTo) noticeUpTo = event.sequence;
    if (noticePending) return;
    noticePending = true;
    setImmediate(() => {
      noticePending = false;
      transport?.notify(noticeSubject, String(noticeUpTo));
    });
  }

  stopAppended = bus.onAppended((events) => {
    relay?.wake();
    sendNotice(events);
    // Most hubs have no rules: skip a promise per event for nothing to call.
    if (router.size() > 0)
      for (const event of events) void router.route(event.subject, event.payload, event);
  });

  return {
    kind,
    connect() {
      connecting ??= start();
      return connecting;
    },
    async disconnect() {
      stopAppended?.();
      stopAppended = undefined;
      stopping.abort();
      await connecting?.catch(() => {});
      await relay?.stop();
      for (const unsubscribe of unsubscribes) unsubscribe();
      unsubscribes.clear();
      await transport?.close();
    },
    async publishInternalToNats(subject, payload, correlationId) {
      const result = await bus.publish({ subject, payload, correlationId });
      return result.event;
    },
    async subscribeNatsToInternal(subjectFilter, handler) {
      validatePattern(subjectFilter, "subjectFilter");
      await this.connect();
      const subscriber = createRouter(logger);
      subscriber.add(subjectFilter, handler);
      const unsubscribe = (transport as Transport).subscribe(subjectFilter, (message) => {
        const result = decodeInbound(message, bus.hubId, bus.maxPayloadBytes, true);
        if ("event" in result) {
          const { payloadJson, ingested: _, ...rest } = result.event;
          const payload = JSON.parse(payloadJson) as JsonObject;
          void subscriber.route(message.subject, payload, { ...rest, payload });
        }
      });
      unsubscribes.add(unsubscribe);
      // The promise means "subscribed": a message published after it is seen.
      await (transport as Transport).flush();
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
        origin: { hubId: bus.hubId, service: DEFAULT_ORIGIN_SERVICE },
        correlationId: resolveCorrelationId(undefined),
        payload: data,
        timestamp: nowTimestamp(),
      });
    },
    getRoutingRules: () => router.list(),
    forwardedCount: () => relay?.forwarded() ?? 0,
    health(): ServiceHealth {
      if (kind === "in-process") return "disabled";
      return transport?.health() ?? "unhealthy";
    },
    async details() {
      const backlog = await outbox.backlog();
      const details: Record<string, string> = { outbox_backlog: String(backlog.count) };
      if (backlog.oldestTimestamp) {
        details.outbox_oldest_age_ms = String(
          Math.max(0, Date.now() - Date.parse(backlog.oldestTimestamp)),
        );
      }
      return details;
    },
  };
}
