import type { Logger } from "pino";
import {
  compilePattern,
  type HubEvent,
  type JsonObject,
  type SubjectMatcher,
  validatePattern,
} from "../core/index.js";

/**
 * An event as a handler sees it. Events from the log carry their sequence;
 * messages seen straight off NATS (`subscribeNatsToInternal`) have none.
 */
export type RoutedEvent = Omit<HubEvent, "sequence"> & { readonly sequence?: number };

/** A routing handler: `(subject, data, event)`; it may be async. */
export type RouteHandler = (
  subject: string,
  data: JsonObject,
  event: RoutedEvent,
) => void | Promise<void>;

/** Options of a routing rule. */
export interface RoutingRuleOptions {
  /** @default true */
  readonly enabled?: boolean;
  readonly description?: string;
}

/** A registered rule; `enabled` may be switched at any time. */
export interface RoutingRule {
  readonly subjectPattern: string;
  readonly handler: RouteHandler;
  enabled: boolean;
  readonly description: string | undefined;
}

/** A rule as `getRoutingRules()` lists it. */
export interface RoutingRuleInfo {
  readonly subjectPattern: string;
  readonly enabled: boolean;
  readonly description: string | undefined;
}

/** The routing rules of one instance. */
export interface Router {
  add(pattern: string, handler: RouteHandler, options?: RoutingRuleOptions): RoutingRule;
  remove(rule: RoutingRule): boolean;
  list(): RoutingRuleInfo[];
  /** How many rules there are, enabled or not. */
  size(): number;
  /** Calls every enabled matching rule once; resolves with how many matched once all have run. */
  route(subject: string, data: JsonObject, event: RoutedEvent): Promise<number>;
}

/**
 * Routing rules: each enabled rule whose pattern matches is called once per
 * event. A handler that throws or rejects is logged with its rule and the
 * subject, and the others still run.
 */
export function createRouter(logger: Logger): Router {
  const rules = new Map<RoutingRule, SubjectMatcher>();

  return {
    add(pattern, handler, options = {}) {
      validatePattern(pattern, "subjectPattern");
      if (typeof handler !== "function")
        throw new TypeError("a routing rule needs a handler function");
      const rule: RoutingRule = {
        subjectPattern: pattern,
        handler,
        enabled: options.enabled ?? true,
        description: options.description,
      };
      rules.set(rule, compilePattern(pattern));
      return rule;
    },
    remove(rule) {
      return rules.delete(rule);
    },
    size: () => rules.size,
    list() {
      return [...rules.keys()].map(({ subjectPattern, enabled, description }) => ({
        subjectPattern,
        enabled,
        description,
      }));
    },
    async route(subject, data, event) {
      const calls: Promise<void>[] = [];
      for (const [rule, matches] of rules) {
        if (!rule.enabled || !matches(subject)) continue;
        calls.push(
          (async () => {
            try {
              await rule.handler(subject, data, event);
            } catch (error) {
              logger.error(
                { err: error, rule: rule.description ?? rule.subjectPattern, subject },
                "routing rule handler failed",
              );
            }
          })(),
        );
      }
      await Promise.all(calls);
      return calls.length;
    },
  };
}
