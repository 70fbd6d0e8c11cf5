import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import {
  type ConnectionOptions,
  credsAuthenticator,
  type MsgHdrs,
  MsgHdrsImpl,
  type NatsConnection,
  type Subscription,
} from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { HubEvent, ServiceHealth, TraceContext } from "../core/index.js";
import { runDurableConsumer } from "./durable-consumer.js";
import { createJetStreamPublisher, DEFAULT_PUBLISH_ACK_TIMEOUT_MS } from "./jetstream-publisher.js";
import { ensureStreams, type StreamOptions } from "./streams.js";
import { HEADER, type InboundMessage, type Transport } from "./transport.js";

export { DEFAULT_PUBLISH_ACK_TIMEOUT_MS } from "./jetstream-publisher.js";
/** Longest wait between attempts while the first connection or the stream setup fails. */
export const DEFAULT_START_MAX_BACKOFF_MS = 2000;

/** Options of {@link connectNatsTransport}. */
export interface NatsTransportOptions {
  /** Server URLs; user/password or a token in a URL are used for authentication. */
  readonly servers: readonly string[];
  /** Path of a NATS credentials file. */
  readonly credsFile?: string;
  readonly hubId: string;
  readonly logger: Logger;
  /** Connection name shown by the server. @default "hubbus-<hubId>" */
  readonly name?: string;
  readonly streams?: StreamOptions;
  /**
   * The JetStream domain to use (`NATS_JS_DOMAIN`): a hub on a leaf node
   * without JetStream of its own reaches its hub cluster's JetStream through
   * it. @default none (the connected server's account JetStream)
   */
  readonly jsDomain?: string;
  /** @default DEFAULT_PUBLISH_ACK_TIMEOUT_MS (5 s) */
  readonly publishAckTimeoutMs?: number;
  /** Gives up the attempts to connect and set up streams (the bridge stops before NATS was reached). */
  readonly signal?: AbortSignal;
}

const encoder = new TextEncoder();

/**
 * The contract's headers of an event (section 3), byte for byte what
 * `headers()` + `set()` and js.publish's `msgID` option produced, in the same
 * order. `set()` canonicalises and searches the names every time; these names
 * are constants, so the block is built directly and only the values are
 * checked (no CR/LF) and trimmed as `set()` does. A trace context (already
 * validated: printable ASCII) adds `traceparent` and `tracestate`.
 */
export function eventHeaders(event: HubEvent, trace?: TraceContext): MsgHdrs {
  const value = MsgHdrsImpl.validHeaderValue;
  const record: Record<string, string[]> = {
    [HEADER.correlationId]: [value(event.correlationId)],
    [HEADER.origin]: [value(event.origin.hubId)],
    [HEADER.service]: [value(event.origin.service)],
    [HEADER.timestamp]: [value(event.timestamp)],
  };
  if (trace !== undefined) {
    record[HEADER.traceparent] = [trace.traceparent];
    if (trace.tracestate !== undefined) record[HEADER.tracestate] = [trace.tracestate];
  }
  // Last, where msgID put it: JetStream drops a duplicate a retry creates.
  record[HEADER.msgId] = [value(event.id)];
  return MsgHdrsImpl.fromRecord(record);
}

/** Splits credentials out of server URLs: nats.js wants them as options. */
function authFromServers(servers: readonly string[]) {
  let user: string | undefined;
  let pass: string | undefined;
  let token: string | undefined;
  const clean = servers.map((server) => {
    const withScheme = server.includes("://") ? server : `nats://${server}`;
    const url = new URL(withScheme);
    if (url.username) {
      if (url.password) {
        user = decodeURIComponent(url.username);
        pass = decodeURIComponent(url.password);
      } else {
        token = decodeURIComponent(url.username);
      }
    }
    return `${url.protocol}//${url.host}`;
  });
  return { servers: clean, user, pass, token };
}

/**
 * Connects and sets up the streams, retrying both with backoff until they
 * succeed or `signal` aborts. nats.js's own `waitOnFirstConnect` would retry
 * too, but nothing can stop it: a hub that never reached NATS could not shut
 * down. A failed stream setup (NATS gone again, JetStream not ready yet)
 * closes that connection and starts over rather than leaving the bridge dead.
 */
async function connectWithStreams(
  options: NatsTransportOptions,
  connectOptions: ConnectionOptions,
): Promise<NatsConnection> {
  const { logger, signal } = options;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    const dialing = connect(connectOptions);
    let nc: NatsConnection | undefined;
    try {
      nc = await untilAborted(dialing, signal);
      const jsm = await jetstreamManager(
        nc,
        options.jsDomain === undefined ? {} : { domain: options.jsDomain },
      );
      await ensureStreams(jsm, options.hubId, options.streams ?? {}, logger);
      signal?.throwIfAborted();
      return nc;
    } catch (error) {
      // Close what this attempt connected: now, or when a dial in flight at the abort lands.
      const closing = dialing.then((connected) => connected.close()).catch(() => {});
      if (nc) await closing;
      if (signal?.aborted) throw signal.reason;
      const delayMs = Math.min(DEFAULT_START_MAX_BACKOFF_MS, 250 * 2 ** Math.min(attempt - 1, 5));
      if (attempt === 1 || attempt % 20 === 0) {
        logger.warn(
          { err: error, attempt, retryInMs: delayMs },
          "NATS not ready (connection or JetStream streams); retrying",
        );
      }
      await sleep(delayMs, undefined, signal === undefined ? {} : { signal });
    }
  }
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Connects to NATS (reconnecting forever), sets up the hub's JetStream
 * streams, and offers the bridge's transport over it. Resolves once the
 * first connection and the streams are up; while NATS is down at start it
 * keeps trying (and the gateway keeps accepting events into the outbox),
 * until `signal` aborts.
 */
export async function connectNatsTransport(options: NatsTransportOptions): Promise<Transport> {
  const { logger } = options;
  const auth = authFromServers(options.servers);
  const connectOptions: ConnectionOptions = {
    servers: auth.servers,
    name: options.name ?? `hubbus-${options.hubId}`,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 500,
    ...(auth.user === undefined ? {} : { user: auth.user, pass: auth.pass }),
    ...(auth.token === undefined ? {} : { token: auth.token }),
    ...(options.credsFile === undefined
      ? {}
      : { authenticator: credsAuthenticator(readFileSync(options.credsFile)) }),
  };
  // Without echo the server does not hand this connection back what it
  // published: the hub's own events (all of them come back on `hub.>`, each
  // to be parsed and refused) and its own commit notices.
  const nc = await connectWithStreams(options, { ...connectOptions, noEcho: true });
  const publisher = createJetStreamPublisher(nc, {
    ackTimeoutMs: options.publishAckTimeoutMs ?? DEFAULT_PUBLISH_ACK_TIMEOUT_MS,
  });
  let connected = true;
  (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        connected = false;
        // Acks owed on the lost connection never come: fail now so the relay
        // retries after the reconnect instead of waiting out the ack timeout.
        publisher.failPending("NATS disconnected before the JetStream acknowledgement");
        logger.warn({ server: status.server }, "NATS disconnected; reconnecting");
      } else if (status.type === "reconnect") {
        connected = true;
        logger.info({ server: status.server }, "NATS reconnected");
      }
    }
  })().catch(() => {});

  const subscriptions = new Set<Subscription>();
  const consumers = new Set<() => void>();
  let closed = false;

  // The few subscriptions that want this hub's own messages too (a library
  // subscriber of a subject) share a second connection, made on first use.
  let echo: Promise<NatsConnection> | undefined;
  let echoSubscribing: Promise<unknown> = Promise.resolve();
  function echoConnection(): Promise<NatsConnection> {
    echo ??= connect({ ...connectOptions, name: `${connectOptions.name}-own` }).then(
      (connection) => {
        if (closed) void connection.close();
        return connection;
      },
    );
    return echo;
  }

  function subscribeOn(
    connection: NatsConnection,
    pattern: string,
    onMessage: (message: InboundMessage) => void,
    queue: string | undefined,
  ): Subscription {
    const sub = connection.subscribe(pattern, {
      ...(queue === undefined ? {} : { queue }),
      callback: (error, msg) => {
        if (error) {
          logger.warn({ err: error, pattern }, "NATS subscription error");
          return;
        }
        const message: InboundMessage = {
          subject: msg.subject,
          data: msg.data,
          header: (name) => msg.headers?.get(name) || undefined,
        };
        onMessage(message);
      },
    });
    subscriptions.add(sub);
    return sub;
  }

  return {
    kind: "nats",
    async publish(event, trace) {
      const data = encoder.encode(event.payloadJson ?? JSON.stringify(event.payload));
      await publisher.publish(event.subject, data, eventHeaders(event, trace));
    },
    notify(subject, data, headers) {
      try {
        nc.publish(
          subject,
          data,
          headers === undefined
            ? undefined
            : { headers: MsgHdrsImpl.fromRecord(headerRecord(headers)) },
        );
      } catch (error) {
        logger.debug({ err: error, subject }, "notice not sent");
      }
    },
    consumeDurable(consumerOptions, onMessage) {
      const stop = runDurableConsumer(nc, consumerOptions, onMessage, logger, options.jsDomain);
      consumers.add(stop);
      return () => {
        consumers.delete(stop);
        stop();
      };
    },
    subscribe(pattern, onMessage, queue, own = false) {
      if (!own) {
        const sub = subscribeOn(nc, pattern, onMessage, queue);
        return () => {
          subscriptions.delete(sub);
          sub.unsubscribe();
        };
      }
      let sub: Subscription | undefined;
      let stopped = false;
      const subscribing = echoConnection().then(
        (connection) => {
          if (!stopped && !closed) sub = subscribeOn(connection, pattern, onMessage, queue);
        },
        (error: unknown) => {
          logger.error({ err: error, pattern }, "NATS subscription not made: no connection");
        },
      );
      echoSubscribing = Promise.all([echoSubscribing, subscribing]);
      return () => {
        stopped = true;
        if (sub === undefined) return;
        subscriptions.delete(sub);
        sub.unsubscribe();
      };
    },
    async flush() {
      if (!connected || nc.isClosed()) return;
      const failed = (error: unknown) => logger.debug({ err: error }, "flush failed");
      await nc.flush().catch(failed);
      if (echo === undefined) return;
      await echoSubscribing;
      const connection = await echo.catch(() => undefined);
      if (connection !== undefined && !connection.isClosed())
        await connection.flush().catch(failed);
    },
    health(): ServiceHealth {
      return connected && !nc.isClosed() ? "healthy" : "unhealthy";
    },
    async close() {
      closed = true;
      publisher.close();
      for (const stop of consumers) stop();
      consumers.clear();
      for (const sub of subscriptions) sub.unsubscribe();
      subscriptions.clear();
      const own = await echo?.catch(() => undefined);
      if (own !== undefined && !own.isClosed()) await own.close().catch(() => {});
      if (nc.isClosed()) return;
      await nc.drain().catch(() => nc.close());
    },
  };
}

function headerRecord(headers: Readonly<Record<string, string>>): Record<string, string[]> {
  const record: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers))
    record[name] = [MsgHdrsImpl.validHeaderValue(value)];
  return record;
}
