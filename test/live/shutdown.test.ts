import { afterEach, describe, expect, it } from "vitest";
import {
  TEST_DATABASE_KINDS,
  type TestDatabaseKind,
  type TestTarget,
  testTarget,
} from "../helpers/databases.js";
import { type GatewayProcess, spawnGateway } from "./gateway-process.js";
import { publishFromWorker } from "./publishers.js";
import { openRawSubscription } from "./raw-h2.js";
import { ALL_PROTOCOLS, type SubscriberFactory, subscriberFactory } from "./subscribers.js";
import { uniqueHubId, waitForSubscriptions, waitUntil, within } from "./support.js";

// Issue 4, acceptance 5 (second half): on SIGTERM a real gateway process
// ends its open streams with `unavailable`, so clients know to resume
// elsewhere, and exits within 5 s. About 20 s.
const HUB = uniqueHubId("live-shutdown");
const BACKLOG = 10_000;
/** Streams per client stack replaying the backlog from staggered points when the signal comes. */
const REPLAYS_PER_PROTOCOL = 6;

let store: TestTarget;
let gateway: GatewayProcess;
let clients: SubscriberFactory;

async function start(kind: TestDatabaseKind) {
  store = await testTarget(kind, "hubbus-live-");
  gateway = await spawnGateway({ DATABASE_URL: store.url, HUB_ID: HUB });
  clients = subscriberFactory(gateway.port);
}
afterEach(async () => {
  clients?.close();
  await gateway?.stop();
  await store?.cleanup();
});

function publishBacklog(padBytes = 0) {
  return publishFromWorker({
    ports: [gateway.port],
    publishers: 2,
    count: BACKLOG,
    subjects: ["shutdown.backlog"],
    batch: 100,
    jsonRpcOnly: true,
    padBytes,
  });
}

describe.each(TEST_DATABASE_KINDS)("SIGTERM to a gateway on %s", (kind) => {
  it("ends every stream with Unavailable and exits within 5 s", async () => {
    await start(kind);
    // A backlog, so many streams are in the middle of a replay (reading the log) when
    // the signal comes: on PostgreSQL each read is real I/O the signal can interrupt.
    await publishBacklog();
    const idle = ALL_PROTOCOLS.map((p) =>
      clients.subscribe(p, { subject: `hub.${HUB}.shutdown.live` }),
    );
    const replaying = ALL_PROTOCOLS.flatMap((p) =>
      Array.from({ length: REPLAYS_PER_PROTOCOL }, (_, i) =>
        clients.subscribe(p, { subject: ">", afterSequence: i * 997 }),
      ),
    );
    const streams = [...idle, ...replaying];
    await waitForSubscriptions(gateway.baseUrl, streams.length);
    await waitUntil(() => replaying.every((s) => s.sequences.length > 0), "the replays to start");

    const signalledAt = performance.now();
    gateway.child.kill("SIGTERM");
    const exit = await within(gateway.exited, 10_000, "the gateway's exit");
    const exitMs = Math.round(performance.now() - signalledAt);
    const ends = await within(Promise.all(streams.map((s) => s.ended)), 5000, "the streams' ends");
    const unfinished = replaying.filter(
      (s, i) => s.sequences.length < BACKLOG - (i % REPLAYS_PER_PROTOCOL) * 997,
    );
    console.log(
      `[${kind}] SIGTERM: the gateway exited with ${exit.code ?? exit.signal} after ${exitMs} ms, ` +
        `${unfinished.length} of ${replaying.length} replays still running`,
    );

    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(5000);
    expect(ends.map((end, i) => ({ protocol: streams[i]?.protocol, code: end.code }))).toEqual(
      streams.map((s) => ({ protocol: s.protocol, code: "Unavailable" })),
    );
    // Replays really were cut short, not all finished before the signal.
    expect(unfinished.length).toBeGreaterThan(0);
  });
});

describe("SIGTERM with a stalled stream", () => {
  it("exits within 5 s even when a client has stopped reading", async () => {
    await start("sqlite");
    // The server cannot even send that stream its end: the grace period (3 s) cuts it.
    const stuck = openRawSubscription(gateway.port, { subject: ">", afterSequence: 0 });
    stuck.pause();
    const reading = clients.subscribe("grpc-js", { subject: ">" });
    await waitForSubscriptions(gateway.baseUrl, 2);
    await publishBacklog(200);
    await waitUntil(() => reading.sequences.length === BACKLOG, "the reading one to be live");

    const signalledAt = performance.now();
    gateway.child.kill("SIGTERM");
    const exit = await within(gateway.exited, 10_000, "the gateway's exit");
    const exitMs = Math.round(performance.now() - signalledAt);
    console.log(`SIGTERM with a stalled stream: exited with ${exit.code} after ${exitMs} ms`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(5000);
    expect((await reading.ended).code).toBe("Unavailable");
    stuck.resume();
    const end = await within(stuck.ended, 5000, "the stalled stream's end");
    console.log(`the stalled stream, read again, ended with ${end.code}`);
  });
});
