import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteTarget, type TestTarget } from "../helpers/databases.js";
import { postRpc } from "../server/harness.js";
import { type CliProcess, type GatewayProcess, runCli, spawnGateway } from "./gateway-process.js";
import { uniqueHubId, waitForSubscriptions, waitUntil, within } from "./support.js";

// `hubbus sub <pattern> [--after N] [--json]` against a real gateway process:
// events printed as they come, one line each or JSON lines, resumable with --after.
const HUB = uniqueHubId("live-cli");

let store: TestTarget;
let gateway: GatewayProcess;
const running = new Set<CliProcess>();

beforeAll(async () => {
  store = await sqliteTarget("hubbus-live-");
  gateway = await spawnGateway({ DATABASE_URL: store.url, HUB_ID: HUB });
});
afterAll(async () => {
  for (const p of running) p.child.kill("SIGKILL");
  await gateway?.stop();
  await store?.cleanup();
});

interface Ack {
  subject: string;
  sequence: number;
  event_id: string;
  correlation_id: string;
}

async function publish(topic: string, payload: object): Promise<Ack> {
  const { body } = await postRpc(gateway.baseUrl, {
    jsonrpc: "2.0",
    id: 1,
    method: "bus.publish",
    params: { topic, payload },
  });
  return body.result;
}

/** Starts `hubbus sub …` against the gateway; the environment names no gateway, the flag does. */
function sub(...args: string[]): CliProcess {
  const p = runCli(["sub", ...args, "--url", gateway.baseUrl]);
  running.add(p);
  return p;
}

const lines = (p: CliProcess) =>
  p
    .stdout()
    .split("\n")
    .filter((l) => l.length > 0);

async function stop(p: CliProcess): Promise<number | null> {
  p.child.kill("SIGINT");
  const { code } = await within(p.exited, 10_000, "hubbus sub to exit");
  running.delete(p);
  return code;
}

describe("hubbus sub", () => {
  let first: Ack;
  let second: Ack;

  it("prints each matching event as it comes, one line each: sequence, time, subject, payload", async () => {
    const p = sub("hub.*.cli.>");
    // Without --after only new events come: publish once the stream is open.
    await waitForSubscriptions(gateway.baseUrl, 1, 20_000);
    first = await publish("cli.created", { n: 1 });
    await publish("other.created", { n: 0 });
    second = await publish("cli.renamed.twice", { n: 2, name: "x y" });
    await waitUntil(() => lines(p).length >= 2, "two lines", { describe: () => p.stdout() });
    const [a, b] = lines(p).map((l) => l.split("\t"));
    expect(a).toEqual([
      String(first.sequence),
      expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      `hub.${HUB}.cli.created`,
      '{"n":1}',
    ]);
    expect(b?.slice(2)).toEqual([`hub.${HUB}.cli.renamed.twice`, '{"n":2,"name":"x y"}']);
    expect(b?.[0]).toBe(String(second.sequence));
    // Ctrl-C is how a person stops it: exit 0, and the gateway lets the stream go.
    expect(await stop(p)).toBe(0);
    await waitForSubscriptions(gateway.baseUrl, 0);
  });

  it("--json prints contract JSON lines; --after replays what is stored, then goes on live", async () => {
    const p = sub("hub.*.cli.>", "--json", "--after", "0");
    await waitUntil(() => lines(p).length >= 2, "the replay", { timeoutMs: 20_000 });
    const third = await publish("cli.deleted", { n: 3 });
    await waitUntil(() => lines(p).length >= 3, "the live event", { describe: () => p.stdout() });
    const events = lines(p).map((l) => JSON.parse(l));
    expect(events.map((e) => e.sequence)).toEqual([
      first.sequence,
      second.sequence,
      third.sequence,
    ]);
    expect(events[0]).toEqual({
      id: first.event_id,
      subject: `hub.${HUB}.cli.created`,
      origin: { hub_id: HUB, service: "hubbus" },
      correlation_id: first.correlation_id,
      payload: { n: 1 },
      timestamp: expect.stringMatching(/Z$/),
      sequence: first.sequence,
    });
    expect(await stop(p)).toBe(0);
  });

  it("--after N resumes after the last sequence seen: nothing before it, nothing twice", async () => {
    const p = sub("hub.*.cli.>", "--json", "--after", String(first.sequence));
    await waitUntil(() => lines(p).length >= 2, "the resumed events", { timeoutMs: 20_000 });
    const fourth = await publish("cli.restored", { n: 4 });
    await waitUntil(() => lines(p).some((l) => l.includes(fourth.event_id)), "the live event");
    const sequences = lines(p).map((l) => JSON.parse(l).sequence as number);
    expect(sequences[0]).toBe(second.sequence);
    expect(sequences.at(-1)).toBe(fourth.sequence);
    expect(sequences.every((s, i) => i === 0 || s > (sequences[i - 1] as number))).toBe(true);
    expect(await stop(p)).toBe(0);
  });

  it("refuses an invalid pattern (exit 1) and a bad --after (exit 2), saying why", async () => {
    const bad = sub("hub.>.cli");
    const worse = sub(">", "--after", "-3");
    const [badExit, worseExit] = await within(
      Promise.all([bad.exited, worse.exited]),
      20_000,
      "both to exit",
    );
    expect(badExit.code).toBe(1);
    expect(bad.stderr()).toMatch(/InvalidArgument/);
    expect(worseExit.code).toBe(2);
    expect(worse.stderr()).toContain("--after must be a whole number");
    running.delete(bad);
    running.delete(worse);
  });

  it("says the gateway is unavailable and exits 1 when the gateway shuts down", async () => {
    const p = sub(">");
    await waitForSubscriptions(gateway.baseUrl, 1, 20_000);
    await gateway.stop();
    expect((await within(p.exited, 10_000, "exit")).code).toBe(1);
    expect(p.stderr()).toContain(`the gateway at ${gateway.baseUrl} is unavailable`);
    running.delete(p);
  });
});
