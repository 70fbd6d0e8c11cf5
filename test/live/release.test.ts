import { describe, expect, it } from "vitest";
import { createGrpcJsClient } from "../server/harness.js";
import { publishFromWorker } from "./publishers.js";
import { openRawSubscription } from "./raw-h2.js";
import { ALL_PROTOCOLS, subscriberFactory } from "./subscribers.js";
import { uniqueHubId, useSqliteGateway, waitForSubscriptions, waitUntil } from "./support.js";

// Issue 4, acceptance 5 (first half): after a client cancels, after a
// deadline, or when its connection drops, the server holds no subscription
// for it, as its health reports (`details.subscriptions`).
const HUB = uniqueHubId("live-release");

const suite = useSqliteGateway(HUB);

async function publish(count: number, padBytes = 0) {
  return publishFromWorker({
    ports: [suite.gateway.port],
    publishers: 1,
    count,
    subjects: ["release.tick"],
    batch: 100,
    jsonRpcOnly: true,
    padBytes,
  });
}

describe.each(ALL_PROTOCOLS)("releasing a subscription over %s", (protocol) => {
  it("on cancel: the client sees Canceled, the server's count goes back to 0", async () => {
    const clients = subscriberFactory(suite.gateway.port);
    try {
      const sub = clients.subscribe(protocol, { subject: `hub.${HUB}.release.>` });
      await waitForSubscriptions(suite.gateway.baseUrl, 1);
      await publish(5);
      await waitUntil(() => sub.sequences.length === 5, "the events");
      sub.cancel();
      await waitForSubscriptions(suite.gateway.baseUrl, 0);
      // raw-h2's cancel is a RST_STREAM; the others report their own cancel.
      if (protocol !== "raw-h2") expect((await sub.ended).code).toBe("Canceled");
    } finally {
      clients.close();
    }
  });

  it("on a deadline: the stream ends with DeadlineExceeded and is released", async () => {
    const clients = subscriberFactory(suite.gateway.port);
    try {
      const sub = clients.subscribe(protocol, { subject: ">", timeoutMs: 1000 });
      await waitForSubscriptions(suite.gateway.baseUrl, 1);
      expect((await sub.ended).code).toBe("DeadlineExceeded");
      await waitForSubscriptions(suite.gateway.baseUrl, 0);
    } finally {
      clients.close();
    }
  });

  it("when the connection drops without a goodbye", async () => {
    const clients = subscriberFactory(suite.gateway.port);
    try {
      const sub = clients.subscribe(protocol, { subject: ">" });
      await waitForSubscriptions(suite.gateway.baseUrl, 1);
      sub.cut();
      await waitForSubscriptions(suite.gateway.baseUrl, 0);
    } finally {
      clients.close();
    }
  });
});

describe("releasing a subscription whose client stopped reading", () => {
  // The server is parked in a write that waits for the client's flow-control
  // window; connect-node's write then waits for 'drain' alone, which a client
  // that leaves never sends. The subscription must go anyway.
  it.each(["cancel", "cut"] as const)("on %s", async (how) => {
    const stuck = openRawSubscription(suite.gateway.port, { subject: ">" });
    await waitForSubscriptions(suite.gateway.baseUrl, 1);
    stuck.pause();
    // ~3 MB: far beyond the HTTP/2 window and the subscriber's 1,024-event buffer.
    await publish(3000, 1000);
    await waitUntil(async () => {
      const before = stuck.bytesReceived();
      await new Promise((r) => setTimeout(r, 200));
      return stuck.bytesReceived() === before;
    }, "the server to stop sending");
    // Counted once it stopped: what flow control let through, not a snapshot mid-flight.
    expect(stuck.bytesReceived()).toBeLessThan(1024 * 1024);
    if (how === "cancel") stuck.cancel();
    else stuck.cut();
    await waitForSubscriptions(suite.gateway.baseUrl, 0);
  });
});

describe("the count itself", () => {
  it("is in GetHealth's details over gRPC as in hub.health's over JSON-RPC", async () => {
    const grpcClient = createGrpcJsClient(suite.gateway.port);
    const clients = subscriberFactory(suite.gateway.port);
    try {
      const subs = [
        clients.subscribe("grpc-js", { subject: ">" }),
        clients.subscribe("connect-h1", { subject: ">" }),
      ];
      await waitForSubscriptions(suite.gateway.baseUrl, 2);
      const health = await grpcClient.call("GetHealth", {});
      expect(health.details).toMatchObject({ subscriptions: "2" });
      for (const s of subs) s.cancel();
      await waitForSubscriptions(suite.gateway.baseUrl, 0);
      expect((await grpcClient.call("GetHealth", {})).details).toMatchObject({
        subscriptions: "0",
      });
    } finally {
      clients.close();
      grpcClient.close();
    }
  });
});
