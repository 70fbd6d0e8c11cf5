export { type Bridge, type BridgeOptions, createBridge } from "./bridge.js";
export {
  DEFAULT_CONSUMER_ACK_WAIT_MS,
  DEFAULT_CONSUMER_MAX_ACK_PENDING,
} from "./durable-consumer.js";
export { decodeBody, decodeInbound } from "./inbound.js";
export { createLink, type Link, type LinkOptions } from "./link.js";
export {
  DEFAULT_RELAY_BATCH,
  DEFAULT_RELAY_LEASE_MS,
  DEFAULT_RELAY_MAX_BACKOFF_MS,
  DEFAULT_RELAY_POLL_MS,
} from "./relay.js";
export type {
  RoutedEvent,
  RouteHandler,
  RoutingRule,
  RoutingRuleInfo,
  RoutingRuleOptions,
} from "./router.js";
export {
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_STREAM_MAX_AGE_MS,
  hubStreamName,
  type StreamOptions,
} from "./streams.js";
export {
  type DurableConsumerOptions,
  HEADER,
  type InboundMessage,
  type Transport,
  type Unsubscribe,
} from "./transport.js";
