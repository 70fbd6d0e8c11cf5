import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteTarget, type TestTarget } from "../helpers/databases.js";
import { type GatewayProcess, spawnGateway } from "./gateway-process.js";
import { type PublishReport, publishFromWorker } from "./publishers.js";
import { openRawSubscription } from "./raw-h2.js";
import { type SubscriberFactory, type Subscription, subscriberFactory } from "./subscribers.js";
import { orderProblems, uniqueHubId, waitForSubscriptions, waitUntil } from "./support.js";

// Issue 4, acceptance 4: a subscriber stops reading for 10 s while 50,000
// events are published. The others are not held up, the gateway's RSS grows
// by less than 100 MB, and the slow one then receives all 50,000 in order.
// The gateway is a real `hubbus serve` process, so the RSS is its own.
// About 25 s on a 2-core machine.
const HUB = uniqueHubId("live-slow");
const EVENTS = 50_000;
/** Read by everyone first: the JIT, the heap and the tail's ring are warm before the baseline. */
const WARM_UP = 10_000;
const PAUSE_MS = 10_000;
/** Payloads of ~540 bytes: 50,000 events then weigh ~40 MB as JavaScript objects. */
const PAD_BYTES = 500;
/**
 * Growth of what the gateway still holds after a full garbage collection
 * (V8 heap in use plus buffers). Peak RSS is mostly garbage V8 has not
 * collected yet and moves by tens of MB from run to run, and RSS after a
 * collection still counts pages the allocators keep; what is held is the
 * point. Bounded buffers keep a few MB; a gateway that kept every event for
 * the slow subscriber (50,000 events of ~700 bytes as objects) holds tens
 * of MB more, which this catches. Peak RSS is printed, never asserted.
 */
const MAX_HELD_GROWTH = 25 * 1024 * 1024;
/** What the paused stream may still receive: HTTP/2 windows and socket buffers, not the backlog. */
const MAX_BYTES_WHILE_PAUSED = 1024 * 1024;

let store: TestTarget;
let gateway: GatewayProcess;
let clients: SubscriberFactory;

beforeAll(async () => {
  store = await sqliteTarget("hubbus-live-");
  gateway = await spawnGateway({ DATABASE_URL: store.url, HUB_ID: HUB });
  // Connect clients without gzip: the gateway would compress every message of
  // 1 KiB or more once per subscriber, and zlib's speed is not under test here.
  clients = subscriberFactory(gateway.port, { compression: false });
});
afterAll(async () => {
  clients?.close();
  await gateway?.stop();
  await store?.cleanup();
});

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** What the gateway holds once its garbage is collected (twice: finalizers free more). */
async function heldBytes(): Promise<number> {
  await gateway.collectGarbage();
  await sleep(200);
  return gateway.collectGarbage();
}

function publish(count: number, publishers: number): Promise<PublishReport> {
  // Several clients, each sending JSON-RPC batches: the cheapest way to 50,000 events.
  return publishFromWorker({
    ports: [gateway.port],
    publishers,
    count,
    subjects: ["slow.created", "slow.updated"],
    batch: 100,
    jsonRpcOnly: true,
    padBytes: PAD_BYTES,
  });
}

describe("a subscriber that stops reading", () => {
  it(`does not hold up the others nor grow the gateway by 100 MB, and then gets all ${EVENTS}`, async () => {
    // The slow one speaks gRPC over node:http2 directly, so pausing it really stops the reading.
    const slow = openRawSubscription(gateway.port, { subject: ">" });
    const fast: Subscription[] = [
      clients.subscribe("connect-grpc", { subject: ">" }),
      clients.subscribe("connect-h1", { subject: `hub.${HUB}.slow.>` }),
      clients.subscribe("grpc-web", { subject: "hub.*.slow.*" }),
    ];
    const everyone = [slow, ...fast];
    await waitForSubscriptions(gateway.baseUrl, everyone.length);
    const warm = await publish(WARM_UP, 2);
    await waitUntil(() => everyone.every((s) => s.sequences.length === WARM_UP), "the warm-up", {
      timeoutMs: 30_000,
    });

    // RSS as the gateway runs, read before the collection: a forced full GC
    // shrinks the heap below its working size, and growing back to it under
    // the same kind of load is not growth the paused subscriber caused.
    const rssBefore = gateway.rssBytes();
    const heldBefore = await heldBytes();
    slow.pause();
    const pausedAt = performance.now();
    const bytesAtPause = slow.bytesReceived();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, gateway.rssBytes());
    }, 100);
    let report: PublishReport;
    try {
      report = await publish(EVENTS, 4);
      const publishedMs = performance.now() - pausedAt;
      await waitUntil(
        () => fast.every((s) => s.sequences.length === WARM_UP + EVENTS),
        "the other subscribers to have everything",
        { timeoutMs: 60_000, intervalMs: 50, describe: () => fast.map((s) => s.sequences.length) },
      );
      const lagMs = performance.now() - pausedAt - publishedMs;
      console.log(
        `${EVENTS} events published in ${report.elapsedMs} ms while one subscriber did not ` +
          `read; the others had all of them ${Math.round(lagMs)} ms after the last ack`,
      );
      // Not held up: they kept pace with the publishers while the slow one still was not reading.
      expect(slow.sequences).toHaveLength(WARM_UP);
      // The slow one stays paused for the full 10 s, however long publishing took.
      await sleep(Math.max(0, PAUSE_MS - (performance.now() - pausedAt)));
    } finally {
      clearInterval(sampler);
    }
    const bytesWhilePaused = slow.bytesReceived() - bytesAtPause;
    const heldAfter = await heldBytes();
    console.log(
      `gateway RSS ${mb(rssBefore)} before; peak +${mb(rssPeak - rssBefore)} while paused, ` +
        `+${mb(heldAfter - heldBefore)} held (heap and buffers after a full GC, of ${mb(heldBefore)}) ` +
        `at the end of the pause; the paused stream received ` +
        `${mb(bytesWhilePaused)} of the ~${mb(EVENTS * (PAD_BYTES + 180))} published`,
    );
    // The server really stopped sending: otherwise the backlog would sit in the client's buffers.
    expect(bytesWhilePaused).toBeLessThan(MAX_BYTES_WHILE_PAUSED);
    expect(heldAfter - heldBefore).toBeLessThan(MAX_HELD_GROWTH);

    const resumedAt = performance.now();
    slow.resume();
    await waitUntil(() => slow.sequences.length >= WARM_UP + EVENTS, "the slow one to catch up", {
      timeoutMs: 60_000,
      intervalMs: 50,
      describe: () => slow.sequences.length,
    });
    console.log(
      `the slow subscriber caught up on ${EVENTS} events in ${Math.round(performance.now() - resumedAt)} ms`,
    );
    const all = [...warm.sequences, ...report.sequences].sort((a, b) => a - b);
    expect(orderProblems(slow.sequences, all)).toEqual([]);
    for (const s of fast) expect(orderProblems(s.sequences, all)).toEqual([]);
    for (const s of everyone) s.cancel();
    await waitForSubscriptions(gateway.baseUrl, 0);
  }, 120_000);
});
