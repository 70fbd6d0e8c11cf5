import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { matchSubject } from "../../src/core/subject.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { generateSubjectCases } from "../helpers/subject-cases.js";

/**
 * The contract says the matcher must agree with nats-server on every case, so
 * this suite asks nats-server itself: subscribe with every pattern, publish
 * every subject, and compare who got what with `matchSubject` for every pair.
 */

const SEED = 0x5eed_2025;
describe("matchSubject agrees with nats-server", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;

  // Its own server: these subjects (hub.local-hub.…, `>`) would otherwise
  // reach, and be reached by, suites sharing the global server.
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url, name: "subject-differential" });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
  });

  it("on every generated pattern/subject pair", async () => {
    const { patterns, subjects } = generateSubjectCases(SEED);
    const pairs = patterns.length * subjects.length;
    expect(pairs).toBeGreaterThanOrEqual(200);

    const subjectIndex = new Map(subjects.map((s, i) => [s, i]));
    const deliveries = new Uint16Array(pairs);
    const strays: string[] = [];
    patterns.forEach((pattern, p) => {
      nc.subscribe(pattern, {
        callback: (err, msg) => {
          const s = subjectIndex.get(msg?.subject ?? "");
          if (err || s === undefined) strays.push(`${pattern}: ${err?.message ?? msg.subject}`);
          else deliveries[p * subjects.length + s] = (deliveries[p * subjects.length + s] ?? 0) + 1;
        },
      });
    });
    // One barrier after the SUBs and one after the PUBs: the server answers a
    // PING only after everything sent before it, and delivers this
    // connection's own messages (echo) ahead of the PONG.
    await nc.flush();
    for (const subject of subjects) nc.publish(subject);
    await nc.flush();

    const disagreements: string[] = [];
    let matches = 0;
    patterns.forEach((pattern, p) => {
      subjects.forEach((subject, s) => {
        const got = deliveries[p * subjects.length + s] ?? 0;
        const expected = matchSubject(pattern, subject);
        if (expected) matches++;
        if (got !== (expected ? 1 : 0)) {
          disagreements.push(`${pattern} vs ${subject}: nats-server ${got}, matcher ${expected}`);
        }
      });
    });

    expect(strays).toEqual([]);
    expect(disagreements.slice(0, 20)).toEqual([]);
    // Guard against a vacuous run: plenty of both answers.
    expect(matches).toBeGreaterThanOrEqual(200);
    expect(pairs - matches).toBeGreaterThanOrEqual(200);
    console.info(
      `subject differential: ${patterns.length} patterns × ${subjects.length} subjects = ` +
        `${pairs} pairs, ${matches} matches, all agree with nats-server`,
    );
  });
});
