import {
  type OutboxEvent,
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

/** What {@link Transport.consumeDurable} reads. */
export interface DurableConsumerOptions {
  readonly stream: string;
  /** The consumer's name: one per hub, so its instances share the work. */
  readonly durable: string;
  /** Only subjects matching this pattern. */
  readonly filterSubject: string;
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
  publish(event: OutboxEvent, trace?: TraceContext): Promise<void>;
  /**
   * Sends a short signal without acknowledgement (core NATS); best effort.
   * `headers` go with it as NATS headers (presence heartbeats carry their
   * origin and a `Nats-Msg-Id`).
   */
  notify(subject: string, data?: string, headers?: Readonly<Record<string, string>>): void;
  /**
   * Reads a JetStream stream through a durable consumer (created when
   * missing, shared by every instance that names it): each message once
   * to one of them, from where the consumer stopped, so nothing published
   * while no instance ran is missed. A message is acknowledged once
   * `onMessage` resolves and redelivered after it rejects. Keeps retrying
   * its setup until it succeeds or the returned function stops it.
   * Absent in-process (nothing outlives the process there).
   */
  consumeDurable?(
    options: DurableConsumerOptions,
    onMessage: (message: InboundMessage) => Promise<void>,
  ): Unsubscribe;
  /**
   * Subscribes to a pattern; with `queue`, each message goes to one member
   * of the group. Messages this transport published itself (its events,
   * notices, heartbeats) are not delivered, as the hub would only refuse
   * them, unless `own` asks for everything on the pattern.
   */
  subscribe(
    pattern: string,
    onMessage: (message: InboundMessage) => void,
    queue?: string,
    own?: boolean,
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
