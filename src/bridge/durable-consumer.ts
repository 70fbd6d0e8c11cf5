import { setTimeout as sleep } from "node:timers/promises";
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { DurableConsumerOptions, InboundMessage, Unsubscribe } from "./transport.js";

/** How long JetStream waits for an acknowledgement before it delivers a message again. */
export const DEFAULT_CONSUMER_ACK_WAIT_MS = 30_000;
/** Messages delivered and not yet acknowledged, at most: bounds the ingest in flight. */
export const DEFAULT_CONSUMER_MAX_ACK_PENDING = 1000;
/** Delay before a message whose storing failed is delivered again. */
const NAK_DELAY_MS = 1000;

const ns = (ms: number) => ms * 1_000_000;

/**
 * Runs a durable pull consumer until stopped. The consumer is created
 * when missing (deliver all: a hub new to the stream reads what it still
 * holds) and left as it is when another instance made it. Setup failures
 * (NATS down, the stream not there yet) are retried with backoff.
 */
export function runDurableConsumer(
  nc: NatsConnection,
  options: DurableConsumerOptions,
  onMessage: (message: InboundMessage) => Promise<void>,
  logger: Logger,
  domain?: string,
): Unsubscribe {
  const jsOptions = domain === undefined ? {} : { domain };
  const stopping = new AbortController();
  let messages: ConsumerMessages | undefined;
  const log = logger.child({ stream: options.stream, consumer: options.durable });

  async function setUp(): Promise<ConsumerMessages> {
    const jsm = await jetstreamManager(nc, jsOptions);
    try {
      await jsm.consumers.info(options.stream, options.durable);
    } catch {
      await jsm.consumers.add(options.stream, {
        durable_name: options.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: options.filterSubject,
        ack_wait: ns(DEFAULT_CONSUMER_ACK_WAIT_MS),
        max_ack_pending: DEFAULT_CONSUMER_MAX_ACK_PENDING,
      });
      log.info("JetStream durable consumer created");
    }
    const consumer = await jetstream(nc, jsOptions).consumers.get(options.stream, options.durable);
    return consumer.consume({ max_messages: 256 });
  }

  void (async () => {
    for (let attempt = 1; !stopping.signal.aborted; attempt++) {
      try {
        messages = await setUp();
        break;
      } catch (error) {
        if (stopping.signal.aborted || nc.isClosed()) return;
        const delayMs = Math.min(2000, 100 * 2 ** Math.min(attempt, 5));
        if (attempt === 1 || attempt % 20 === 0)
          log.warn({ err: error, attempt }, "durable consumer not ready; retrying");
        await sleep(delayMs, undefined, { signal: stopping.signal }).catch(() => {});
      }
    }
    if (messages === undefined) return;
    if (stopping.signal.aborted) {
      messages.stop();
      return;
    }
    for await (const msg of messages) {
      const message: InboundMessage = {
        subject: msg.subject,
        data: msg.data,
        header: (name) => msg.headers?.get(name) || undefined,
      };
      // Not awaited: concurrent messages share the log's group commit; max_ack_pending bounds them.
      onMessage(message).then(
        () => msg.ack(),
        (error: unknown) => {
          log.warn({ err: error, subject: msg.subject }, "message not stored; redelivering");
          msg.nak(NAK_DELAY_MS);
        },
      );
    }
  })().catch((error: unknown) => log.error({ err: error }, "durable consumer stopped"));

  return () => {
    stopping.abort();
    messages?.stop();
  };
}
