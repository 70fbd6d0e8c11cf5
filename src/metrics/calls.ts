import { Counter, Histogram, type Registry } from "prom-client";
import type { AccessLogEntry, MethodName, Protocol } from "../pipeline/index.js";

/**
 * Buckets of `hubbus_request_duration_seconds`: 0.5 ms (an info call, a
 * publish in a busy group commit) to 10 s (a query on a struggling database).
 */
export const REQUEST_DURATION_BUCKETS_S: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Buckets of `hubbus_stream_duration_seconds`, a `Subscribe`'s lifetime: a
 * refused one ends in milliseconds, a dashboard's lasts hours.
 */
export const STREAM_DURATION_BUCKETS_S: readonly number[] = [
  0.01, 0.1, 1, 10, 60, 300, 900, 3600, 14_400, 86_400,
];

/** The `method` label of a request refused before it named a known method. */
export const UNKNOWN_LABEL = "unknown";

/** The `code` label once a series has seen {@link MAX_CODES_PER_SERIES} codes. */
const OTHER_CODE = "other";
/**
 * Codes come from closed lists (`ok`, HubError codes, the protocols'
 * refusal words), a few dozen at most; the cap only guards the labels
 * against a future code word built from input.
 */
const MAX_CODES_PER_SERIES = 48;

const METHODS: ReadonlySet<string> = new Set<MethodName>([
  "Publish",
  "PublishBatch",
  "QueryEvents",
  "GetHubInfo",
  "GetHealth",
  "ListHubs",
  "Subscribe",
]);

const PROTOCOLS: ReadonlySet<string> = new Set<Protocol>([
  "grpc",
  "grpc-web",
  "connect",
  "jsonrpc",
]);

/** The label children of one protocol × method, bound once. */
interface Series {
  readonly protocol: string;
  readonly method: string;
  readonly duration: Histogram.Internal<"protocol" | "method">;
  readonly requests: Map<string, Counter.Internal>;
}

/**
 * Counts calls as the pipeline ends them: `hubbus_requests_total` by
 * protocol, method and code, and their duration, unary calls in
 * `hubbus_request_duration_seconds` and streams (whose duration is their
 * lifetime, which would swamp the unary buckets) in
 * `hubbus_stream_duration_seconds`. Label children are bound once per
 * protocol × method × code, so a call costs a map lookup, an increment and
 * an observation.
 */
export function createCallMetrics(registry: Registry): (entry: AccessLogEntry) => void {
  const requests = new Counter({
    name: "hubbus_requests_total",
    help: "Calls and refused requests by protocol, EventBusService method and outcome (ok, a HubError code, or the protocol's refusal word); streams are counted when they end.",
    labelNames: ["protocol", "method", "code"] as const,
    registers: [registry],
  });
  const unaryDuration = new Histogram({
    name: "hubbus_request_duration_seconds",
    help: "How long unary calls and refused requests took, from arrival to answer.",
    labelNames: ["protocol", "method"] as const,
    buckets: [...REQUEST_DURATION_BUCKETS_S],
    registers: [registry],
  });
  const streamDuration = new Histogram({
    name: "hubbus_stream_duration_seconds",
    help: "How long Subscribe streams lasted, from arrival to their end.",
    labelNames: ["protocol", "method"] as const,
    buckets: [...STREAM_DURATION_BUCKETS_S],
    registers: [registry],
  });

  // protocol → method → series; both keys are from closed sets, so this stays small.
  const byProtocol = new Map<string, Map<string, Series>>();

  function series(protocol: string, method: string): Series {
    let methods = byProtocol.get(protocol);
    if (methods === undefined) {
      methods = new Map();
      byProtocol.set(protocol, methods);
    }
    let found = methods.get(method);
    if (found === undefined) {
      const histogram = method === "Subscribe" ? streamDuration : unaryDuration;
      found = {
        protocol,
        method,
        duration: histogram.labels(protocol, method),
        requests: new Map(),
      };
      methods.set(method, found);
    }
    return found;
  }

  function counter(s: Series, code: string): Counter.Internal {
    let child = s.requests.get(code);
    if (child === undefined) {
      const label = s.requests.size < MAX_CODES_PER_SERIES ? code : OTHER_CODE;
      child = s.requests.get(label) ?? requests.labels(s.protocol, s.method, label);
      s.requests.set(label, child);
    }
    return child;
  }

  return (entry) => {
    const endedAt = performance.now();
    // Types say these are closed sets; the checks keep a stray value out of the labels.
    const protocol = PROTOCOLS.has(entry.protocol) ? entry.protocol : UNKNOWN_LABEL;
    const method =
      entry.method !== undefined && METHODS.has(entry.method) ? entry.method : UNKNOWN_LABEL;
    const s = series(protocol, method);
    counter(s, entry.code).inc();
    s.duration.observe((endedAt - entry.startedAt) / 1000);
  };
}
