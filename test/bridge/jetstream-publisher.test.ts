import { randomBytes } from "node:crypto";
import type { JetStreamManager } from "@nats-io/jetstream";
import { jetstreamManager } from "@nats-io/jetstream";
import { headers, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import {
  createJetStreamPublisher,
  JetStreamPublishError,
  type JetStreamPublisher,
  type PubAck,
} from "../../src/bridge/jetstream-publisher.js";
import { HEADER } from "../../src/bridge/transport.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { waitUntil } from "./support.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Headers as the transport sets them, Nats-Msg-Id included. */
function withMsgId(id: string): MsgHdrs {
  const h = headers();
  h.set(HEADER.msgId, id);
  return h;
}

function body(value: object): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** A stream of its own, so suites sharing the global nats-server never meet. */
async function addStream(jsm: JetStreamManager): Promise<{ name: string; subject: string }> {
  const tag = randomBytes(4).toString("hex");
  const name = `PUBTEST_${tag}`;
  await jsm.streams.add({ name, subjects: [`pubtest.${tag}.>`] });
  return { name, subject: `pubtest.${tag}` };
}

/** The rejection of `promise` (fails the test if it resolves) and how long it took. */
async function rejection(
  promise: Promise<unknown>,
): Promise<{ error: JetStreamPublishError; ms: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(JetStreamPublishError);
    return { error: error as JetStreamPublishError, ms: performance.now() - started };
  }
  throw new Error("expected the publish to be rejected");
}

describe("JetStream publisher on a running server", () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let publisher: JetStreamPublisher;
  let stream: { name: string; subject: string };

  beforeAll(async () => {
    nc = await connect({ servers: inject("natsUrl") });
    jsm = await jetstreamManager(nc);
    publisher = createJetStreamPublisher(nc, { ackTimeoutMs: 5000 });
    stream = await addStream(jsm);
  });
  afterAll(async () => {
    publisher?.close();
    await nc?.close();
  });

  it("resolves with JetStream's acknowledgement, stored with the headers and body given", async () => {
    const h = withMsgId("ack-1");
    h.set(HEADER.correlationId, "corr-1");
    const ack = await publisher.publish(`${stream.subject}.ack`, body({ n: 1 }), h);
    expect(ack).toEqual({ stream: stream.name, seq: 1, duplicate: false });
    const stored = await jsm.streams.getMessage(stream.name, { seq: 1 });
    expect(stored?.subject).toBe(`${stream.subject}.ack`);
    expect(decoder.decode(stored?.data)).toBe('{"n":1}');
    expect(stored?.header.get(HEADER.msgId)).toBe("ack-1");
    expect(stored?.header.get(HEADER.correlationId)).toBe("corr-1");
    expect(publisher.pending()).toBe(0);
  });

  it("resolves a duplicate Nats-Msg-Id as a duplicate, and the stream keeps one", async () => {
    const own = await addStream(jsm);
    const first = await publisher.publish(`${own.subject}.dup`, body({ n: 1 }), withMsgId("dup"));
    const again = await Promise.all([
      publisher.publish(`${own.subject}.dup`, body({ n: 1 }), withMsgId("dup")),
      publisher.publish(`${own.subject}.dup`, body({ n: 1 }), withMsgId("dup")),
    ]);
    expect(first).toEqual({ stream: own.name, seq: 1, duplicate: false });
    expect(again).toEqual([
      { stream: own.name, seq: 1, duplicate: true },
      { stream: own.name, seq: 1, duplicate: true },
    ]);
    expect((await jsm.streams.info(own.name)).state.messages).toBe(1);
  });

  it("keeps the order of 2000 pipelined publishes, each acknowledged once", async () => {
    const own = await addStream(jsm);
    const count = 2000;
    const acks: PubAck[] = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        publisher.publish(`${own.subject}.order.${i % 7}`, body({ i }), withMsgId(`order-${i}`)),
      ),
    );
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(acks.every((a) => !a.duplicate)).toBe(true);
    for (const i of [0, 1, 999, 1999]) {
      const stored = await jsm.streams.getMessage(own.name, { seq: i + 1 });
      expect(stored?.header.get(HEADER.msgId)).toBe(`order-${i}`);
      expect(JSON.parse(decoder.decode(stored?.data))).toEqual({ i });
    }
    expect(publisher.pending()).toBe(0);
  });

  it("rejects at once, saying so, when no stream captures the subject", async () => {
    const subject = `nostream.${randomBytes(4).toString("hex")}.x`;
    const { error } = await rejection(publisher.publish(subject, body({}), withMsgId("none")));
    // "no-responders", not "timeout": the server's 503 answered it, not the ack timer.
    expect(error.code).toBe("no-responders");
    expect(error.message).toContain(subject);
    expect(error.message).toMatch(/no JetStream stream captures/);
    expect(publisher.pending()).toBe(0);
  });

  it("rejects with JetStream's own description when it refuses the message", async () => {
    const h = withMsgId("refused");
    // An expectation the stream does not meet makes JetStream answer with an API error.
    h.set("Nats-Expected-Stream", "NOT_THIS_ONE");
    const { error } = await rejection(publisher.publish(`${stream.subject}.refused`, body({}), h));
    expect(error.code).toBe("api");
    expect(error.message).toMatch(/expected stream does not match/);
    expect(error.apiErrorCode).toBeTypeOf("number");
  });

  it("still works after an unrelated failure (the map and the inbox are shared)", async () => {
    const ack = await publisher.publish(`${stream.subject}.after`, body({}), withMsgId("after"));
    expect(ack.stream).toBe(stream.name);
    expect(ack.duplicate).toBe(false);
  });
});

describe("JetStream publisher when the server goes away", () => {
  const ACK_TIMEOUT_MS = 600;
  const SWEEP_MS = 100;
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;
  let stream: { name: string; subject: string };

  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterEach(async () => {
    publisher?.close();
    if (nc && !nc.isClosed()) await nc.close();
    if (!nats.running) await nats.restart();
  });
  afterAll(async () => {
    await nats?.dispose();
  });

  async function open(): Promise<void> {
    nc = await connect({
      servers: nats.url,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    publisher = createJetStreamPublisher(nc, {
      ackTimeoutMs: ACK_TIMEOUT_MS,
      sweepIntervalMs: SWEEP_MS,
    });
    stream ??= await addStream(await jetstreamManager(nc));
  }

  /** Resolves once nats.js has seen the connection drop. */
  async function disconnected(): Promise<void> {
    for await (const status of nc.status()) if (status.type === "disconnect") return;
  }

  it("settles every publish in flight when the server is killed, none after the timeout", async () => {
    await open();
    const settled: ("acked" | string)[] = [];
    const publishes = Array.from({ length: 500 }, (_, i) =>
      publisher.publish(`${stream.subject}.inflight`, body({ i }), withMsgId(`inflight-${i}`)).then(
        () => void settled.push("acked"),
        (error: JetStreamPublishError) => void settled.push(error.code),
      ),
    );
    await nats.stop({ signal: "SIGKILL" });
    await Promise.all(publishes);
    expect(settled).toHaveLength(500);
    expect(publisher.pending()).toBe(0);
  });

  it("rejects a publish sent while the server is down within the ack timeout", async () => {
    await open();
    const down = disconnected();
    await nats.stop({ signal: "SIGKILL" });
    await down;
    const { error, ms } = await rejection(
      publisher.publish(`${stream.subject}.down`, body({}), withMsgId("down")),
    );
    expect(error.code).toBe("timeout");
    expect(error.message).toMatch(/no JetStream acknowledgement within 600 ms/);
    expect(ms).toBeGreaterThanOrEqual(ACK_TIMEOUT_MS - 5);
  });

  it("keeps working after a reconnect: the reply subscription comes back with the connection", async () => {
    await open();
    await publisher.publish(`${stream.subject}.before`, body({}), withMsgId("before-restart"));
    const reconnected = (async () => {
      for await (const status of nc.status()) if (status.type === "reconnect") return;
    })();
    await nats.restart();
    await reconnected;
    const ack = await publisher.publish(
      `${stream.subject}.after`,
      body({}),
      withMsgId("after-restart"),
    );
    expect(ack).toMatchObject({ stream: stream.name, duplicate: false });
    // And the id from before the restart is still known to the stream's duplicate window.
    const again = await publisher.publish(
      `${stream.subject}.before`,
      body({}),
      withMsgId("before-restart"),
    );
    expect(again.duplicate).toBe(true);
  });

  it("rejects what is pending when the connection closes, without waiting for the timeout", async () => {
    await open();
    const down = disconnected();
    await nats.stop({ signal: "SIGKILL" });
    await down;
    const pending = rejection(
      publisher.publish(`${stream.subject}.closed`, body({}), withMsgId("closed")),
    );
    await waitUntil(() => publisher.pending() === 1, "the publish to be pending");
    await nc.close();
    const { error } = await pending;
    // "connection", not "timeout": the close rejected it, not the ack timer.
    expect(error.code).toBe("connection");

    // A publish on the closed connection fails at once too.
    const late = await rejection(publisher.publish(`${stream.subject}.late`, body({})));
    expect(late.error.code).toBe("publish");
  });

  it("rejects what is pending when the publisher closes, and refuses later publishes", async () => {
    await open();
    const down = disconnected();
    await nats.stop({ signal: "SIGKILL" });
    await down;
    const pending = rejection(publisher.publish(`${stream.subject}.stop`, body({})));
    publisher.close();
    const { error } = await pending;
    expect(error.code).toBe("connection");
    const after = await rejection(publisher.publish(`${stream.subject}.stop`, body({})));
    expect(after.error.code).toBe("publish");
  });
});
