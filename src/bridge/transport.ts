import {
  type HubEvent,
  type ServiceHealth,
  TRACEPARENT_HEADER,
  TRACESTATE_HEADER,
  type TraceContext,
} from "../core/index.js";

/** Header names of contract sections 3 and 8 (W3C trace context, lower case as W3C writes them). */
export const HEADER = {
  msgId: "Nats-Msg-Id",
  correlationId: "Correlation-ID",
  origin: "Hub-Origin",
  service: "Hub-Service",
  timestamp: "Hub-Timestamp",
  traceparent: TRACEPARENT_HEADER,
  tracestate: TRACESTATE_HEADER,
} as const;

/**
 * Subjects of hubbus's own signals between instances (commit notices). They
 * start with `_` so no ingest pattern under `hub.` sees them, and ingest
 * refuses them even under `>`.
 */
export const NOTICE_PREFIX = "_HUBBUS.";

/** A message as it arrives from the bus, NATS or in-process. */
export interface InboundMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** A header's first value, or undefined. */
  header(name: string): string | undefined;
}

/** Stops a subscription. */
export type Unsubscribe = () => void;

/**
 * The message bus the bridge forwards to and ingests from: NATS JetStream,
 * or the in-process bus when no NATS is configured. Both have NATS's
 * subject semantics.
 */
export interface Transport {
  readonly kind: "nats" | "in-process";
  /**
   * Publishes a stored event with the contract's headers, and `trace` as
   * `traceparent`/`tracestate` when given; resolves once the bus has it
   * (JetStream ack).
   */
  publish(event: HubEvent, trace?: TraceContext): Promise<void>;
  /** Sends a short signal without acknowledgement (core NATS); best effort. */
  notify(subject: string, data?: string): void;
  /** Subscribes to a pattern; with `queue`, each message goes to one member of the group. */
  subscribe(
    pattern: string,
    onMessage: (message: InboundMessage) => void,
    queue?: string,
  ): Unsubscribe;
  /**
   * Resolves once the bus has taken everything sent before it, subscriptions
   * included, so a message published elsewhere after it reaches them. Does not
   * wait for a reconnect: while disconnected it resolves at once.
   */
  flush(): Promise<void>;
  health(): ServiceHealth;
  close(): Promise<void>;
}
