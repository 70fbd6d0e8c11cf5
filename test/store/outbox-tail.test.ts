import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NewEvent, newEventId, type OutboxEvent } from "../../src/core/index.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { TEST_DATABASE_KINDS, type TestTarget, testTarget } from "../helpers/databases.js";
import { seededRandom } from "../helpers/random.js";

// The outbox hands its relay what this instance committed from memory; what
// it hands must always be what the log holds after the cursor. Here one
// instance relays while another appends to the same log, events are
// ingested (never forwarded) and idempotency keys repeat (on PostgreSQL a
// refused key still draws a sequence: a hole), in a seeded random order.
// Each round's handed events are compared with a read of the log itself by
// a second instance that holds no lease (it always reads the log).
const STEPS = 300;
const OWNER = "relay-tail-test";

let counter = 0;
function newEvent(overrides: Partial<NewEvent> = {}): NewEvent {
  counter++;
  return {
    id: newEventId(),
    subject: `hub.local-hub.tail.e${counter}`,
    origin: { hubId: "local-hub", service: "test" },
    correlationId: `c-${counter}`,
    payloadJson: JSON.stringify({ n: counter }),
    timestamp: new Date().toISOString(),
    ...overrides,
  };
}

/** What a forward depends on, whoever read the event. */
function forwarded(event: OutboxEvent) {
  return {
    id: event.id,
    sequence: event.sequence,
    subject: event.subject,
    origin: event.origin,
    correlationId: event.correlationId,
    timestamp: event.timestamp,
    payload: event.payload,
    body: event.payloadJson ?? JSON.stringify(event.payload),
    traceContext: event.traceContext,
  };
}

describe.each(TEST_DATABASE_KINDS)("the outbox's relay on %s", (kind) => {
  let target: TestTarget;
  let relaying: SqlEventLog;
  let other: SqlEventLog;

  beforeAll(async () => {
    target = await testTarget(kind, "hubbus-tail-");
    relaying = await openEventLog({ url: target.url });
    other = await openEventLog({ url: target.url });
  });
  afterAll(async () => {
    await relaying?.close();
    await other?.close();
    await target?.cleanup();
  });

  it("is handed exactly what the log holds after its cursor, round after round", async () => {
    const random = seededRandom(kind === "sqlite" ? 7 : 11);
    const keys: string[] = [];
    let rounds = 0;
    let short = 0;
    let idle = 0;
    let events = 0;
    expect(await relaying.outbox.claim(OWNER, 60_000)).toBe(true);
    const readsBefore = relaying.stats().outboxReads;
    for (let step = 0; step < STEPS; step++) {
      const r = random();
      if (r < 0.35) {
        const n = 1 + Math.floor(random() * 3);
        const traced = random() < 0.3;
        await relaying.append(
          Array.from({ length: n }, () =>
            newEvent(
              traced
                ? {
                    traceContext: {
                      traceparent: `00-${"ab".repeat(16)}-${"cd".repeat(8)}-01`,
                    },
                  }
                : {},
            ),
          ),
        );
      } else if (r < 0.45) {
        await other.append([newEvent()]);
      } else if (r < 0.52) {
        await relaying.append([newEvent({ ingested: true, subject: "hub.b.tail.in" })]);
      } else if (r < 0.6) {
        const key = keys.length > 0 && random() < 0.5 ? keys[0] : `k-${step}`;
        keys.push(key as string);
        await relaying.append([
          newEvent({ idempotency: { scope: "service:test", key: key as string } }),
        ]);
      } else {
        const limit = 1 + Math.floor(random() * 6);
        const handed = await relaying.outbox.pending(limit);
        const inLog = await other.outbox.pending(limit);
        // A run of its own that meets a hole stops there: a prefix of the log's.
        if (inLog.length > 0) expect(handed.length).toBeGreaterThan(0);
        expect(handed.map(forwarded)).toEqual(inLog.slice(0, handed.length).map(forwarded));
        if (handed.length < inLog.length) short++;
        if (inLog.length === 0) idle++;
        rounds++;
        events += handed.length;
        const last = handed.at(-1);
        if (last !== undefined)
          expect(await relaying.outbox.markForwarded(OWNER, last.sequence)).toBe(true);
      }
    }
    // And the rest, to the end of the log.
    for (;;) {
      const handed = await relaying.outbox.pending(100);
      const inLog = await other.outbox.pending(100);
      if (inLog.length > 0) expect(handed.length).toBeGreaterThan(0);
      expect(handed.map(forwarded)).toEqual(inLog.slice(0, handed.length).map(forwarded));
      const last = handed.at(-1);
      if (last === undefined) break;
      await relaying.outbox.markForwarded(OWNER, last.sequence);
    }
    expect(await other.outbox.backlog()).toEqual({ count: 0 });
    expect(rounds).toBeGreaterThan(50);
    expect(events).toBeGreaterThan(50);
    // An idle round reads the log (another instance may have written); of
    // the others, most were handed from memory: holes send one to the log.
    const reads = relaying.stats().outboxReads - readsBefore - idle;
    expect(reads).toBeLessThan((rounds - idle) / 2);
    console.log(
      `[outbox-tail] ${kind}: ${rounds - idle} rounds with work (${reads} read the log, ${short} stopped at a hole), ${idle} idle, ${events} events`,
    );
  });
});
