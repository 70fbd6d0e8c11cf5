import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGrpcJsClient, type GrpcJsClient, postRpc, toStruct } from "../server/harness.js";
import { ACCEPTANCE_PROTOCOLS, type LiveEvent, subscriberFactory } from "./subscribers.js";
import { uniqueHubId, useSqliteGateway, waitForSubscriptions, waitUntil } from "./support.js";

// Issue 4, acceptance 1: over gRPC (@grpc/grpc-js), Connect (HTTP/1.1) and
// gRPC-Web, a subscriber on `hub.*.project.>` receives exactly the matching
// events published through JSON-RPC and gRPC, in sequence order.
const HUB = uniqueHubId("live-parity");
const PATTERN = "hub.*.project.>";

/**
 * What gets published, and whether `hub.*.project.>` matches it, written out
 * by hand from NATS's rules rather than computed by the matcher under test.
 */
const CASES: readonly [subject: string, matches: boolean][] = [
  ["project.created", true],
  ["task.created", false],
  [`hub.${HUB}.project.renamed`, true],
  ["hub.global.project.synced", true],
  ["project.member.added.twice", true],
  ["projects.created", false],
  ["hub.global.task.project", false],
  ["deep.project.created", false],
  ["project.deleted", true],
];

const suite = useSqliteGateway(HUB);
let grpcPublisher: GrpcJsClient;

// Registered after the gateway's hooks: opened once it runs, closed before it stops.
beforeAll(() => {
  grpcPublisher = createGrpcJsClient(suite.gateway.port);
});
afterAll(() => {
  grpcPublisher?.close();
});

interface Published {
  readonly subject: string;
  readonly sequence: number;
  readonly id: string;
  readonly payload: Record<string, unknown>;
}

/** Publishes one event: even `n` through JSON-RPC, odd `n` through gRPC. */
async function publish(subject: string, n: number, tag: string): Promise<Published> {
  const payload = { n, tag, via: n % 2 === 0 ? "jsonrpc" : "grpc" };
  if (n % 2 === 0) {
    const { body } = await postRpc(suite.gateway.baseUrl, {
      jsonrpc: "2.0",
      id: n,
      method: "bus.publish",
      params: { topic: subject, payload },
    });
    const r = body.result;
    return { subject: r.subject, sequence: r.sequence, id: r.event_id, payload };
  }
  const r = await grpcPublisher.call("Publish", { subject, payload: toStruct(payload) });
  return { subject: r.subject, sequence: Number(r.sequence), id: r.event_id, payload };
}

/** Every case in order, then a matching sentinel: once it arrives, nothing earlier is still on its way. */
async function publishAll(tag: string) {
  const published: Published[] = [];
  for (const [n, [subject]] of CASES.entries()) published.push(await publish(subject, n, tag));
  const sentinel = await publish("project.sentinel", CASES.length, tag);
  const expected = published.filter((_, n) => CASES[n]?.[1]);
  return { published, expected: [...expected, sentinel], sentinel };
}

const view = (e: LiveEvent | Published) => ({
  subject: e.subject,
  sequence: e.sequence,
  id: e.id,
  payload: e.payload,
});

describe.each(ACCEPTANCE_PROTOCOLS)("Subscribe parity over %s", (protocol) => {
  it(`live: receives exactly the events matching ${PATTERN}, in sequence order`, async () => {
    const clients = subscriberFactory(suite.gateway.port);
    try {
      const sub = clients.subscribe(protocol, { subject: PATTERN, keepEvents: true });
      // Without after_sequence only events after the call count: publish once it is registered.
      await waitForSubscriptions(suite.gateway.baseUrl, 1);
      const { expected, sentinel } = await publishAll(`live-${protocol}`);
      await waitUntil(() => sub.sequences.includes(sentinel.sequence), "the sentinel", {
        describe: () => sub.sequences,
      });
      expect(sub.events.map(view)).toEqual(expected.map(view));
      expect(expected.length).toBe(CASES.filter(([, m]) => m).length + 1);
      sub.cancel();
      expect((await sub.ended).code).toBe("Canceled");
      await waitForSubscriptions(suite.gateway.baseUrl, 0);
    } finally {
      clients.close();
    }
  });

  it("replay then live: after_sequence replays the stored matches first, then continues", async () => {
    const clients = subscriberFactory(suite.gateway.port);
    try {
      const before = await publish("project.before", 0, `replay-${protocol}`);
      const stored = await publishAll(`replay-stored-${protocol}`);
      const sub = clients.subscribe(protocol, {
        subject: PATTERN,
        afterSequence: before.sequence,
        keepEvents: true,
      });
      await waitUntil(() => sub.sequences.includes(stored.sentinel.sequence), "the replay", {
        describe: () => sub.sequences,
      });
      const live = await publishAll(`replay-live-${protocol}`);
      await waitUntil(() => sub.sequences.includes(live.sentinel.sequence), "the live part", {
        describe: () => sub.sequences,
      });
      expect(sub.events.map(view)).toEqual([...stored.expected, ...live.expected].map(view));
      sub.cancel();
      await sub.ended;
    } finally {
      clients.close();
    }
  });
});

describe("Subscribe refusals, on every protocol", () => {
  it.each(ACCEPTANCE_PROTOCOLS)(
    "%s: an invalid pattern ends the stream with InvalidArgument",
    async (protocol) => {
      const clients = subscriberFactory(suite.gateway.port);
      try {
        const sub = clients.subscribe(protocol, { subject: "hub.>.project" });
        expect((await sub.ended).code).toBe("InvalidArgument");
        expect(sub.sequences).toEqual([]);
      } finally {
        clients.close();
      }
    },
  );
});
