import { create, toJson } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventBusService, EventSchema } from "../../gen/hubbus/v1/eventbus_pb.js";
import { eventToProto } from "../../src/adapters/proto/index.js";
import { startHub, type TestHub } from "./harness.js";

// connect-node's Subscribe sends binary messages as bytes encoded once per
// event (an unknown field protobuf-es copies verbatim) and JSON messages
// from the message itself. Every codec must read the same events.

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub("sqlite");
});
afterAll(async () => {
  await hub?.close();
});

const transports: Record<string, () => Transport> = {
  "Connect, binary": () =>
    createConnectTransport({ baseUrl: hub.baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
  "Connect, JSON": () =>
    createConnectTransport({ baseUrl: hub.baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
  "gRPC-Web, binary": () =>
    createGrpcWebTransport({ baseUrl: hub.baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
  "gRPC-Web, JSON": () =>
    createGrpcWebTransport({ baseUrl: hub.baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
};

describe("Subscribe over connect-node reads the same on every codec", () => {
  it("delivers stored and live events with every field, to several subscribers at once", async () => {
    const payloads = [{ a: 1, nested: { list: [1, "x", null, true] } }, {}, { text: "ü€𝄞" }];
    await hub.bus.publish({ subject: "enc.stored.x", payload: payloads[0] });
    const names = Object.keys(transports);
    const controller = new AbortController();
    const received = names.map((name) => {
      const client = createClient(EventBusService, (transports[name] as () => Transport)());
      return (async () => {
        const events: unknown[] = [];
        for await (const res of client.subscribe(
          { subject: "hub.*.enc.>", afterSequence: 0n },
          { signal: controller.signal },
        )) {
          events.push(toJson(EventSchema, res.event ?? create(EventSchema)));
          if (events.length === payloads.length) break;
        }
        return events;
      })();
    });
    // The live ones go out while every subscriber is on the tail: one event object for all.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await hub.bus.publish({ subject: "enc.live.y", payload: payloads[1] });
    await hub.bus.publish({ subject: "enc.live.z", payload: payloads[2] });
    const results = await Promise.all(received);
    controller.abort();
    const stored = (await hub.bus.query({ subject: "hub.*.enc.>" })).reverse();
    const expected = stored.map((event) => toJson(EventSchema, eventToProto(event)));
    expect(stored.map((e) => e.payload)).toEqual(payloads);
    for (const [i, events] of results.entries()) {
      expect({ codec: names[i], events }).toEqual({ codec: names[i], events: expected });
    }
  });
});
