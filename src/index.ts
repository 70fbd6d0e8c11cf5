/**
 * hubbus as a library: `createHub()` runs a hub in this process, with its
 * bridge (`hub.bridge`) offering the seed design's NATSBridge API.
 */
export type {
  Bridge,
  RoutedEvent,
  RouteHandler,
  RoutingRule,
  RoutingRuleInfo,
  RoutingRuleOptions,
  Unsubscribe,
} from "./bridge/index.js";
export { type ConfigSource, type HubConfig, loadConfig } from "./config/index.js";
export {
  type EventBus,
  HubError,
  type HubErrorCode,
  type HubEvent,
  type HubListing,
  type HubStatus,
  type JsonObject,
  matchSubject,
  type Origin,
} from "./core/index.js";
export type { Federation } from "./federation/index.js";
export { createHub, type Hub, type HubOptions } from "./hub.js";
export { VERSION } from "./version.js";
