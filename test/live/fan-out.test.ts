import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { compilePattern } from "../../src/core/index.js";
import { postgresTarget, type TestTarget } from "../helpers/databases.js";
import { postRpc } from "../server/harness.js";
import { publishFromWorker } from "./publishers.js";
import { type Protocol, type SubscriberFactory, subscriberFactory } from "./subscribers.js";
import {
  type Gateway,
  startGateways,
  uniqueHubId,
  waitForSubscriptions,
  waitUntil,
} from "./support.js";

// Issue 4, acceptance 3: 200 concurrent subscribers with mixed patterns on
// two instances (one PostgreSQL, one NATS) each receive exactly their
// matching events of 5,000 published. About 20 s on a 2-core machine.
const HUB = uniqueHubId("live-fanout");
const SUBSCRIBERS = 200;
const EVENTS = 5000;
const PROTOCOLS: readonly Protocol[] = ["grpc-js", "connect-grpc", "connect-h1", "grpc-web"];
const SUBJECTS = [
  "project.created",
  "project.deleted",
  "project.a.updated",
  "project.b.updated",
  "task.created",
  "task.deleted",
  "task.deleted.hard",
  "task.moved.to.done",
  "user.u1.login",
  "user.u2.login",
  "user.u1.logout",
  "misc.ping",
  "misc.pong",
  "billing.invoice.paid",
  "billing.invoice.void",
  "deploy.started",
  "deploy.finished",
  "hub.global.project.created",
  "hub.global.presence.announced",
  "hub.global.deploy.started",
];
/** Every kind of pattern: `>` alone and at the end, `*` anywhere, exact, and two that match nothing. */
const PATTERNS = [
  ">",
  `hub.${HUB}.project.>`,
  "hub.*.project.>",
  `hub.${HUB}.project.*`,
  `hub.${HUB}.*.created`,
  "hub.*.*.created",
  "hub.*.task.>",
  `hub.${HUB}.task.*`,
  `hub.${HUB}.user.*.login`,
  `hub.${HUB}.user.u1.*`,
  "hub.*.*.deleted",
  `hub.${HUB}.misc.ping`,
  "hub.global.>",
  "hub.global.*.started",
  "hub.*.deploy.started",
  `hub.${HUB}.billing.invoice.*`,
  `hub.${HUB}.*.*.updated`,
  `hub.${HUB}.task.moved.>`,
  "hub.other-hub.>",
  `hub.${HUB}.nothing.here`,
  "hub.*.*.*.*.*",
  "hub.*.misc.>",
  `hub.${HUB}.deploy.*`,
  `hub.${HUB}.user.>`,
  "hub.*.billing.invoice.paid",
];
const fullSubject = (s: string) => (s.startsWith("hub.") ? s : `hub.${HUB}.${s}`);

let store: TestTarget;
let gateways: Gateway[] = [];
let factories: SubscriberFactory[] = [];

beforeAll(async () => {
  store = await postgresTarget();
  gateways = await startGateways(HUB, store, 2, inject("natsUrl"));
  factories = gateways.map((g) => subscriberFactory(g.port));
});
afterAll(async () => {
  for (const f of factories) f.close();
  for (const g of gateways) await g.hub.close();
  await store?.cleanup();
});

describe("live fan-out on two instances", () => {
  it(`${SUBSCRIBERS} subscribers with mixed patterns each get exactly their share of ${EVENTS}`, async () => {
    // Instance, protocol and pattern vary independently: each of the 25 patterns has
    // 8 subscribers, on both instances and over all four client stacks.
    const subs = Array.from({ length: SUBSCRIBERS }, (_, i) => {
      const pattern = PATTERNS[Math.floor(i / 8) % PATTERNS.length] as string;
      const protocol = PROTOCOLS[Math.floor(i / 2) % PROTOCOLS.length] as Protocol;
      const sub = (factories[i % 2] as SubscriberFactory).subscribe(protocol, { subject: pattern });
      return { pattern, protocol, instance: i % 2, sub };
    });
    // Live only (no after_sequence): every stream must be registered before the first publish.
    for (const g of gateways) await waitForSubscriptions(g.baseUrl, SUBSCRIBERS / 2, 20_000);

    const started = performance.now();
    const bulk = await publishFromWorker({
      ports: gateways.map((g) => g.port),
      publishers: 4,
      count: EVENTS,
      subjects: SUBJECTS,
      // The publish path has its own suites; JSON-RPC batches keep its cost out of this one.
      batch: 50,
      jsonRpcOnly: true,
    });
    // Then one more of each subject: each pattern matches one of them, and once a
    // subscriber has its last, no earlier event can still be on its way.
    const last = await publishFromWorker({
      ports: [(gateways[0] as Gateway).port],
      publishers: 1,
      count: SUBJECTS.length,
      subjects: SUBJECTS,
    });
    const published = [
      ...bulk.sequences.map((sequence, i) => ({ sequence, i })),
      ...last.sequences.map((sequence, i) => ({ sequence, i })),
    ]
      .map(({ sequence, i }) => ({
        sequence,
        subject: fullSubject(SUBJECTS[i % SUBJECTS.length] as string),
      }))
      .sort((a, b) => a.sequence - b.sequence);
    // The matcher is checked against nats-server itself (test/core/subject-differential.test.ts).
    const expected = new Map(
      PATTERNS.map((p) => {
        const matches = compilePattern(p);
        return [p, published.filter((e) => matches(e.subject)).map((e) => e.sequence)];
      }),
    );
    await waitUntil(
      () => subs.every((s) => s.sub.sequences.length >= (expected.get(s.pattern)?.length ?? 0)),
      "every subscriber's share",
      {
        timeoutMs: 60_000,
        intervalMs: 100,
        describe: () =>
          subs
            .filter((s) => s.sub.sequences.length < (expected.get(s.pattern)?.length ?? 0))
            .slice(0, 5)
            .map((s) => [s.pattern, s.protocol, s.instance, s.sub.sequences.length]),
      },
    );
    const deliveries = subs.reduce((n, s) => n + s.sub.sequences.length, 0);
    console.log(
      `${SUBSCRIBERS} subscribers, ${EVENTS + SUBJECTS.length} events published in ${bulk.elapsedMs} ms; ` +
        `${deliveries} deliveries complete after ${Math.round(performance.now() - started)} ms`,
    );

    for (const s of subs) {
      expect(s.sub.sequences, `${s.pattern} over ${s.protocol} on instance ${s.instance}`).toEqual(
        expected.get(s.pattern),
      );
    }
    for (const { sub } of subs) sub.cancel();
    for (const g of gateways) await waitForSubscriptions(g.baseUrl, 0, 20_000);
  }, 120_000);

  it("an instance learns of the other's commits from the NATS notice, not the poll", async () => {
    // A third instance whose fallback poll never runs within the test: each
    // event can reach its subscriber only through the commit notice.
    const [a] = gateways as [Gateway, Gateway];
    const [deaf] = await startGateways(HUB, store as TestTarget, 1, inject("natsUrl"), {
      live: { pollMs: 3_600_000 },
    });
    const clients = subscriberFactory((deaf as Gateway).port);
    try {
      const arrivals = new Map<number, number>();
      const sub = clients.subscribe("grpc-js", {
        subject: `hub.${HUB}.notice.>`,
        onEvent: (e) => arrivals.set(e.sequence, performance.now()),
      });
      await waitForSubscriptions((deaf as Gateway).baseUrl, 1);
      const delays: number[] = [];
      for (let n = 0; n < 15; n++) {
        const sentAt = performance.now();
        const { body } = await postRpc(a.baseUrl, {
          jsonrpc: "2.0",
          id: n,
          method: "bus.publish",
          params: { topic: "notice.ping", payload: { n } },
        });
        const sequence = body.result.sequence as number;
        await waitUntil(() => arrivals.has(sequence), `event ${sequence} on the other instance`, {
          intervalMs: 2,
        });
        delays.push((arrivals.get(sequence) as number) - sentAt);
      }
      sub.cancel();
      delays.sort((x, y) => x - y);
      const median = delays[Math.floor(delays.length / 2)] as number;
      console.log(
        `cross-instance delivery: median ${median.toFixed(1)} ms, max ${delays.at(-1)?.toFixed(1)} ms`,
      );
      expect(arrivals.size).toBe(15);
    } finally {
      clients.close();
      await deaf?.hub.close();
    }
  });
});
