import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll } from "vitest";
import { createHub, type Hub, type HubOptions } from "../../src/hub.js";
import { sqliteTarget, type TestTarget } from "../helpers/databases.js";
import { postRpc } from "../server/harness.js";

/** A hub id of its own for one suite: suites share the NATS server and run in parallel. */
export function uniqueHubId(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`;
}

/**
 * Polls `check` until it returns true; throws naming `what` (and the last
 * value `describe` gives) after `timeoutMs`. Every wait in these suites is
 * one of these, never a fixed sleep.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  options: { timeoutMs?: number; intervalMs?: number; describe?: () => unknown } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) {
      const last = options.describe ? ` (last: ${JSON.stringify(options.describe())})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`);
    }
    await sleep(options.intervalMs ?? 20);
  }
}

/** A whole gateway in this process, on a free port. */
export interface Gateway {
  readonly hub: Hub;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
}

/**
 * Starts `count` gateway instances of one hub on one store, and on NATS
 * when `natsUrl` is given (else the in-process bus, one instance only).
 * Ingest is narrowed to this hub's own subjects: other suites publish on
 * the shared NATS, and their events must not land in this log.
 */
export async function startGateways(
  hubId: string,
  store: TestTarget,
  count: number,
  natsUrl?: string,
  extra: Partial<HubOptions> = {},
): Promise<Gateway[]> {
  const gateways: Gateway[] = [];
  // One after the other: the first applies the migrations.
  for (let i = 0; i < count; i++) {
    const hub = await createHub({
      hubId,
      databaseUrl: store.url,
      natsServers: natsUrl ? [natsUrl] : [],
      ingestSubjects: [`hub.${hubId}.>`],
      waitForNats: natsUrl !== undefined,
      port: 0,
      shutdownGraceMs: 1000,
      // Presence and federation metrics are stored events of their own
      // (hub.global.…, every 30 s): suites that count what a pattern like `>`
      // delivers would see them once a busy machine stretches a test past
      // the interval. Federation's suites start their hubs themselves.
      federation: false,
      ...extra,
    });
    gateways.push({ hub, port: hub.port as number, baseUrl: `http://127.0.0.1:${hub.port}` });
  }
  return gateways;
}

/**
 * One in-process gateway on a temporary SQLite store for the calling file:
 * started in its `beforeAll`, closed with its store in its `afterAll`. Read
 * `gateway` in tests and later hooks, not before.
 */
export function useSqliteGateway(hubId: string): { readonly gateway: Gateway } {
  let store: TestTarget | undefined;
  let gateway: Gateway | undefined;
  beforeAll(async () => {
    store = await sqliteTarget("hubbus-live-");
    [gateway] = (await startGateways(hubId, store, 1)) as [Gateway];
  });
  afterAll(async () => {
    await gateway?.hub.close();
    await store?.cleanup();
  });
  return {
    get gateway(): Gateway {
      if (!gateway)
        throw new Error("the gateway starts in beforeAll: read it in a test or a later hook");
      return gateway;
    },
  };
}

/** Open live subscriptions as the gateway reports them: JSON-RPC `hub.health` → `details.subscriptions`. */
export async function subscriptionsOf(baseUrl: string): Promise<number> {
  const { status, body } = await postRpc(baseUrl, {
    jsonrpc: "2.0",
    id: 1,
    method: "hub.health",
  });
  const value = body?.result?.details?.subscriptions;
  if (status !== 200 || typeof value !== "string") {
    throw new Error(`hub.health has no details.subscriptions: ${status} ${JSON.stringify(body)}`);
  }
  return Number(value);
}

/** Waits until the gateway reports exactly `expected` open subscriptions. */
export async function waitForSubscriptions(
  baseUrl: string,
  expected: number,
  timeoutMs = 10_000,
): Promise<void> {
  let last = -1;
  await waitUntil(
    async () => {
      last = await subscriptionsOf(baseUrl);
      return last === expected;
    },
    `${expected} subscriptions on ${baseUrl}`,
    { timeoutMs, intervalMs: 50, describe: () => last },
  );
}

/** Sorted distinct integers in [min, max]. */
export function randomPoints(random: () => number, count: number, min: number, max: number) {
  const points = new Set<number>();
  while (points.size < count) points.add(min + Math.floor(random() * (max - min + 1)));
  return [...points].sort((a, b) => a - b);
}

/**
 * What is wrong with the sequences a subscriber got, against those it should
 * have got (ascending): duplicates, disorder, missing and unexpected ones.
 * Empty when it is exactly right; short, so a failure message stays readable.
 */
export function orderProblems(got: readonly number[], expected: readonly number[]): string[] {
  const problems: string[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < got.length; i++) {
    const s = got[i] as number;
    if (problems.length < 5 && seen.has(s)) problems.push(`duplicate ${s} at ${i}`);
    seen.add(s);
    if (problems.length < 5 && i > 0 && s <= (got[i - 1] as number)) {
      problems.push(`out of order ${s} at ${i}`);
    }
  }
  const want = new Set(expected);
  const missing = expected.filter((s) => !seen.has(s));
  const extra = got.filter((s) => !want.has(s));
  if (missing.length > 0) problems.push(`${missing.length} missing, first ${missing.slice(0, 5)}`);
  if (extra.length > 0) problems.push(`${extra.length} unexpected, first ${extra.slice(0, 5)}`);
  return problems;
}

/** Rejects with a message naming `what` when `promise` takes longer than `timeoutMs`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not done within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
