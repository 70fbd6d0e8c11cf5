import { headers, type MsgHdrs, type MsgHdrsImpl } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { eventHeaders } from "../../src/bridge/nats-transport.js";
import { HEADER } from "../../src/bridge/transport.js";
import type { HubEvent } from "../../src/core/index.js";

const event: HubEvent = {
  id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
  sequence: 1,
  subject: "hub.local-hub.project.started",
  origin: { hubId: "local-hub", service: "svc-a" },
  correlationId: " corr 1 ",
  payload: { n: 1 },
  timestamp: "2026-11-27T21:00:00.123Z",
};

/** The headers as the transport built them with `headers()`, `set()` and js.publish's `msgID`. */
function withSet(e: HubEvent) {
  const h = headers();
  h.set(HEADER.correlationId, e.correlationId);
  h.set(HEADER.origin, e.origin.hubId);
  h.set(HEADER.service, e.origin.service);
  h.set(HEADER.timestamp, e.timestamp);
  h.set(HEADER.msgId, e.id);
  return h;
}

/** The header block as nats.js puts it on the wire. */
function wire(h: MsgHdrs): string {
  return new TextDecoder().decode((h as MsgHdrsImpl).encode());
}

describe("eventHeaders", () => {
  it("encodes byte for byte what headers() + set() + msgID produced, trimming values alike", () => {
    const encoded = wire(eventHeaders(event));
    expect(encoded).toBe(wire(withSet(event)));
    expect(encoded).toBe(
      "NATS/1.0\r\nCorrelation-ID: corr 1\r\nHub-Origin: local-hub\r\nHub-Service: svc-a\r\n" +
        `Hub-Timestamp: 2026-11-27T21:00:00.123Z\r\nNats-Msg-Id: ${event.id}\r\n\r\n`,
    );
    expect(eventHeaders(event).get(HEADER.msgId)).toBe(event.id);
  });

  it("refuses a value that would break the header block, as set() does", () => {
    const bad = { ...event, correlationId: "a\r\nInjected: yes" };
    expect(() => eventHeaders(bad)).toThrow(/cannot contain/);
    expect(() => withSet(bad)).toThrow(/cannot contain/);
  });
});
