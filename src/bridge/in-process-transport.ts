import { compilePattern, type SubjectMatcher } from "../core/index.js";
import { HEADER, type InboundMessage, type Transport } from "./transport.js";

interface Subscriber {
  readonly matches: SubjectMatcher;
  readonly onMessage: (message: InboundMessage) => void;
  readonly queue: string | undefined;
  readonly own: boolean;
}

const encoder = new TextEncoder();

/**
 * The bus used when `NATS_URL` is unset: one process, NATS's subject
 * semantics, queue groups delivering each message to one member. Delivery
 * is asynchronous (a microtask later), as it would be from a server. Every
 * message on it is this transport's own, so only subscriptions that asked
 * for their own messages see any.
 */
export function createInProcessTransport(): Transport {
  const subscribers = new Set<Subscriber>();
  const rotation = new Map<string, number>();
  let ownSubscribers = 0;

  function deliver(message: InboundMessage): void {
    const groups = new Map<string, Subscriber[]>();
    for (const sub of subscribers) {
      if (!sub.own || !sub.matches(message.subject)) continue;
      if (sub.queue === undefined) {
        sub.onMessage(message);
        continue;
      }
      const members = groups.get(sub.queue) ?? [];
      members.push(sub);
      groups.set(sub.queue, members);
    }
    for (const [queue, members] of groups) {
      const turn = rotation.get(queue) ?? 0;
      rotation.set(queue, turn + 1);
      members[turn % members.length]?.onMessage(message);
    }
  }

  return {
    kind: "in-process",
    async publish(event, trace) {
      if (ownSubscribers === 0) return;
      const headers = new Map<string, string>([
        [HEADER.msgId, event.id],
        [HEADER.correlationId, event.correlationId],
        [HEADER.origin, event.origin.hubId],
        [HEADER.service, event.origin.service],
        [HEADER.timestamp, event.timestamp],
      ]);
      if (trace !== undefined) {
        headers.set(HEADER.traceparent, trace.traceparent);
        if (trace.tracestate !== undefined) headers.set(HEADER.tracestate, trace.tracestate);
      }
      const message: InboundMessage = {
        subject: event.subject,
        data: encoder.encode(event.payloadJson ?? JSON.stringify(event.payload)),
        header: (name) => headers.get(name),
      };
      queueMicrotask(() => deliver(message));
    },
    notify() {
      // One process: the core already knows of its own commits.
    },
    subscribe(pattern, onMessage, queue, own = false) {
      const sub: Subscriber = { matches: compilePattern(pattern), onMessage, queue, own };
      subscribers.add(sub);
      if (own) ownSubscribers++;
      return () => {
        if (subscribers.delete(sub) && own) ownSubscribers--;
      };
    },
    // Subscribing is synchronous here: nothing is ever in flight.
    async flush() {},
    health() {
      return "disabled";
    },
    async close() {
      subscribers.clear();
      ownSubscribers = 0;
    },
  };
}
