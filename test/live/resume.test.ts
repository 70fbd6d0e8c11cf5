import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { postgresTarget, sqliteTarget, type TestTarget } from "../helpers/databases.js";
import { seededRandom } from "../helpers/random.js";
import { publishFromWorker } from "./publishers.js";
import { type Protocol, type SubscriberFactory, subscriberFactory } from "./subscribers.js";
import {
  type Gateway,
  orderProblems,
  randomPoints,
  startGateways,
  uniqueHubId,
  waitForSubscriptions,
  within,
} from "./support.js";

// Issue 4, acceptance 2: 10,000 events published at full speed by 4
// concurrent publishers while a subscriber is cut off at 20 random points and
// resumes each time with after_sequence = the last sequence it saw,
// alternating between two instances on one PostgreSQL + NATS; it ends with
// all 10,000, in order, without a duplicate. The same on SQLite, one instance.
// About 20 s (PostgreSQL) and 10 s (SQLite) on a 2-core machine.
const TOTAL = 10_000;
const CUTS = 20;
const PUBLISHERS = 4;
/** Each leg reconnects with the next client stack, so every protocol resumes. */
const ROTATION: readonly Protocol[] = [
  "grpc-js",
  "connect-h1",
  "grpc-web",
  "raw-h2",
  "connect-grpc",
];

const setups = {
  "two instances on PostgreSQL + NATS": async () => {
    const store = await postgresTarget();
    const hubId = uniqueHubId("live-resume-pg");
    return { hubId, store, gateways: await startGateways(hubId, store, 2, inject("natsUrl")) };
  },
  "one instance on SQLite": async () => {
    const store = await sqliteTarget("hubbus-live-");
    const hubId = uniqueHubId("live-resume-sqlite");
    return { hubId, store, gateways: await startGateways(hubId, store, 1) };
  },
};

describe.each(Object.keys(setups) as (keyof typeof setups)[])("resume on %s", (name) => {
  let hubId: string;
  let store: TestTarget;
  let gateways: Gateway[] = [];
  let factories: SubscriberFactory[] = [];

  beforeAll(async () => {
    ({ hubId, store, gateways } = await setups[name]());
    factories = gateways.map((g) => subscriberFactory(g.port));
  });
  afterAll(async () => {
    for (const f of factories) f.close();
    for (const g of gateways) await g.hub.close();
    await store?.cleanup();
  });

  it(`ends with all ${TOTAL} events in order after ${CUTS} cuts and resumes`, async () => {
    const seed = Date.now() % 1_000_000;
    const cuts = randomPoints(seededRandom(seed), CUTS, 1, TOTAL - 1);
    const start = await (gateways[0] as Gateway).hub.log.lastSequence();
    const started = performance.now();
    let publishedAt: number | undefined;
    const publishing = publishFromWorker({
      ports: gateways.map((g) => g.port),
      publishers: PUBLISHERS,
      count: TOTAL,
      subjects: ["resume.created", "resume.moved.far", "resume.done"],
      batch: 10,
    }).then((report) => {
      publishedAt = performance.now();
      return report;
    });
    publishing.catch(() => {});

    const seen: number[] = [];
    let cursor = start;
    let cutsWhilePublishing = 0;
    for (let leg = 0; leg <= CUTS; leg++) {
      const target = leg < CUTS ? (cuts[leg] as number) : TOTAL;
      const gateway = gateways[leg % gateways.length] as Gateway;
      const clients = factories[leg % factories.length] as SubscriberFactory;
      const protocol = ROTATION[leg % ROTATION.length] as Protocol;
      let reached!: () => void;
      const done = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const sub = clients.subscribe(protocol, {
        subject: `hub.${hubId}.resume.>`,
        afterSequence: cursor,
        onEvent(event, s) {
          seen.push(event.sequence);
          cursor = event.sequence;
          if (seen.length < target) return;
          // Half the cuts cancel the call, half drop the connection under it
          // (grpc-js shares one connection between calls: its cut is a cancel).
          if (leg % 2 === 0) s.cancel();
          else s.cut();
          reached();
        },
      });
      const endedEarly = sub.ended.then((end) => {
        throw new Error(`leg ${leg} (${protocol} on :${gateway.port}) ended early: ${end.code}`);
      });
      endedEarly.catch(() => {});
      await within(
        Promise.race([done, endedEarly]),
        30_000,
        `leg ${leg} over ${protocol} on :${gateway.port} at ${seen.length}/${target} (seed ${seed})`,
      );
      if (publishedAt === undefined && leg < CUTS) cutsWhilePublishing++;
    }
    const report = await within(publishing, 60_000, "publishing");
    const elapsedMs = Math.round(performance.now() - started);
    console.log(
      `[${name}] ${TOTAL} events by ${PUBLISHERS} publishers in ${report.elapsedMs} ms; ` +
        `subscriber had all of them after ${elapsedMs} ms, ${CUTS} cuts ` +
        `(${cutsWhilePublishing} while publishing ran), seed ${seed}`,
    );

    expect(orderProblems(seen, report.sequences)).toEqual([]);
    expect(seen).toHaveLength(TOTAL);
    // Every stream the subscriber left behind is released on every instance.
    for (const g of gateways) await waitForSubscriptions(g.baseUrl, 0);
  }, 120_000);
});
