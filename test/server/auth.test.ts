// biome-ignore-all lint/suspicious/noExplicitAny: grpc-js messages are untyped objects
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { type Auth, createAuth, loadAuthFile } from "../../src/auth/index.js";
import { HUB_ID, startHub, type TestHub } from "./harness.js";

// Contract §7 over every protocol: the same credentials, the same
// permissions, the same refusals, on native gRPC, Connect, gRPC-Web and
// JSON-RPC, for publishes, queries and live streams alike.

const BILLING_KEY = "billing-key-0123456789abcdef";
const AUDITOR_KEY = "auditor-key-fedcba9876543210";
const ISSUER = "https://issuer.test";
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** What a call came back with, in one vocabulary for every protocol. */
type Outcome =
  | { ok: true; value: any }
  | {
      ok: false;
      code: string;
      message: string;
      data?: any;
      status?: number;
      wwwAuthenticate?: string | null;
    };

/** A live stream's subjects, one at a time; rejects with the outcome of an error. */
interface SubjectStream {
  next(): Promise<string>;
  close(): void;
}

interface ProtocolClient {
  publish(subject: string, token?: string, headers?: Record<string, string>): Promise<Outcome>;
  publishBatch(subjects: readonly string[], token?: string): Promise<Outcome>;
  /** Subjects of the stored events the pattern matches, newest first. */
  query(pattern: string, token?: string): Promise<Outcome>;
  info(token?: string): Promise<Outcome>;
  subscribe?(pattern: string, after: number, token?: string): SubjectStream;
  close(): void;
}

const show = (value: unknown) =>
  JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
const snake = (name: string) => name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
const auth = (token?: string): Record<string, string> =>
  token === undefined ? {} : { authorization: `Bearer ${token}` };

/** Turns pushed values into a pull queue. */
function queue() {
  const items: string[] = [];
  const waiting: { resolve: (s: string) => void; reject: (e: unknown) => void }[] = [];
  let failure: unknown;
  return {
    push(subject: string) {
      const w = waiting.shift();
      if (w) w.resolve(subject);
      else items.push(subject);
    },
    fail(error: unknown) {
      failure ??= error;
      for (const w of waiting.splice(0)) w.reject(error);
    },
    next(): Promise<string> {
      const item = items.shift();
      if (item !== undefined) return Promise.resolve(item);
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
  };
}

function grpcJsClient(port: number): ProtocolClient {
  const root = join(import.meta.dirname, "../../proto");
  const definition = protoLoader.loadSync(join(root, "hubbus/v1/eventbus.proto"), {
    includeDirs: [root],
    keepCase: true,
    longs: String,
    defaults: true,
  });
  const Service = (grpc.loadPackageDefinition(definition) as any).hubbus.v1
    .EventBusService as grpc.ServiceClientConstructor;
  const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as any;
  const metadata = (token?: string, headers: Record<string, string> = {}) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries({ ...auth(token), ...headers })) md.set(k, v);
    return md;
  };
  const failed = (error: grpc.ServiceError): Outcome => ({
    ok: false,
    code: (grpc.status[error.code] ?? String(error.code)).toLowerCase(),
    message: error.details,
  });
  const unary = (method: string, request: object, md: grpc.Metadata): Promise<Outcome> =>
    new Promise((resolve) => {
      client[method](request, md, (error: grpc.ServiceError | null, res: any) =>
        resolve(error ? failed(error) : { ok: true, value: res }),
      );
    });
  return {
    publish: (subject, token, headers) => unary("Publish", { subject }, metadata(token, headers)),
    publishBatch: (subjects, token) =>
      unary("PublishBatch", { events: subjects.map((subject) => ({ subject })) }, metadata(token)),
    async query(pattern, token) {
      const out = await unary("QueryEvents", { subject: pattern, limit: 1000 }, metadata(token));
      return out.ok ? { ok: true, value: out.value.events.map((e: any) => e.subject) } : out;
    },
    info: (token) => unary("GetHubInfo", {}, metadata(token)),
    subscribe(pattern, after, token) {
      const q = queue();
      const call = client.Subscribe(
        { subject: pattern, after_sequence: String(after) },
        metadata(token),
      );
      call.on("data", (res: any) => q.push(res.event.subject));
      call.on("error", (error: grpc.ServiceError) => q.fail(failed(error)));
      return { next: q.next, close: () => call.cancel() };
    },
    close: () => client.close(),
  };
}

function connectClient(transport: Transport): ProtocolClient {
  const client = createClient(EventBusService, transport);
  const failed = (error: unknown): Outcome => {
    const e = ConnectError.from(error);
    return { ok: false, code: snake(Code[e.code]), message: e.rawMessage };
  };
  const run = async (call: () => Promise<unknown>): Promise<Outcome> => {
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      return failed(error);
    }
  };
  return {
    publish: (subject, token, headers) =>
      run(() => client.publish({ subject }, { headers: { ...auth(token), ...headers } })),
    publishBatch: (subjects, token) =>
      run(() =>
        client.publishBatch(
          { events: subjects.map((subject) => ({ subject })) },
          { headers: auth(token) },
        ),
      ),
    async query(pattern, token) {
      const out = await run(() =>
        client.queryEvents({ subject: pattern, limit: 1000 }, { headers: auth(token) }),
      );
      return out.ok ? { ok: true, value: out.value.events.map((e: any) => e.subject) } : out;
    },
    info: (token) => run(() => client.getHubInfo({}, { headers: auth(token) })),
    subscribe(pattern, after, token) {
      const q = queue();
      const controller = new AbortController();
      (async () => {
        try {
          for await (const res of client.subscribe(
            { subject: pattern, afterSequence: BigInt(after) },
            { headers: auth(token), signal: controller.signal },
          )) {
            q.push(res.event?.subject ?? "");
          }
          q.fail({ ok: false, code: "ended", message: "stream ended" });
        } catch (error) {
          q.fail(failed(error));
        }
      })();
      return { next: q.next, close: () => controller.abort() };
    },
    close() {},
  };
}

function jsonRpcClient(baseUrl: string): ProtocolClient {
  let id = 0;
  async function call(
    method: string,
    params: object,
    token?: string,
    headers: Record<string, string> = {},
  ) {
    const res = await fetch(`${baseUrl}/rpc`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth(token), ...headers },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
    });
    const body = (await res.json()) as any;
    if (body.error === undefined) return { ok: true, value: body.result } as Outcome;
    const code =
      body.error.code === -32001
        ? "unauthenticated"
        : body.error.code === -32003
          ? "permission_denied"
          : body.error.code === -32602
            ? "invalid_argument"
            : String(body.error.code);
    return {
      ok: false,
      code,
      message: body.error.message,
      data: body.error.data,
      status: res.status,
      wwwAuthenticate: res.headers.get("www-authenticate"),
    } as Outcome;
  }
  return {
    publish: (topic, token, headers) => call("bus.publish", { topic }, token, headers),
    publishBatch: (topics, token) =>
      call("bus.publishBatch", { events: topics.map((topic) => ({ topic })) }, token),
    async query(subject, token) {
      const out = await call("bus.subscribe", { subject, limit: 1000 }, token);
      return out.ok ? { ok: true, value: out.value.events.map((e: any) => e.subject) } : out;
    },
    info: (token) => call("hub.info", {}, token),
    close() {},
  };
}

let dir: string;
let authFile: string;
let hub: TestHub;
let hubAuth: Auth;
let tokens: { shipping: string; expired: string; wrongAudience: string; otherKey: string };
const clients: Record<string, () => ProtocolClient> = {};
let grpcJs: ProtocolClient;

function writeAuthFile(callers: object[]) {
  writeFileSync(
    authFile,
    JSON.stringify({
      callers,
      jwt: { jwks_file: "jwks.json", issuer: ISSUER, audience: "hubbus", algorithms: ["ES256"] },
    }),
  );
}

const BILLING = {
  name: "billing",
  api_key_sha256: sha256(BILLING_KEY),
  publish: { allow: [`hub.${HUB_ID}.billing.>`] },
  subscribe: { allow: ["hub.*.billing.>", "hub.global.>"], deny: ["hub.*.billing.secret.>"] },
};
const AUDITOR = {
  name: "auditor",
  api_key_sha256: sha256(AUDITOR_KEY),
  service: "audit",
  publish: { deny: [">"] },
  subscribe: { allow: [">"] },
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hubbus-auth-"));
  authFile = join(dir, "auth.json");
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const { privateKey: strangerKey } = await generateKeyPair("ES256");
  writeFileSync(
    join(dir, "jwks.json"),
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] }),
  );
  const sign = (claims: { aud?: string; exp?: number | string }, key = privateKey) =>
    new SignJWT({
      hubbus: {
        service: "shipping",
        publish: { allow: [`hub.${HUB_ID}.shipping.>`] },
        subscribe: { allow: [`hub.${HUB_ID}.shipping.>`] },
      },
    })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setSubject("shipping-svc")
      .setIssuer(ISSUER)
      .setAudience(claims.aud ?? "hubbus")
      .setIssuedAt()
      .setExpirationTime(claims.exp ?? "10m")
      .sign(key);
  tokens = {
    shipping: await sign({}),
    // Well past the 30 s clock tolerance.
    expired: await sign({ exp: Math.floor(Date.now() / 1000) - 3600 }),
    wrongAudience: await sign({ aud: "someone-else" }),
    otherKey: await sign({}, strangerKey),
  };
  writeAuthFile([BILLING, AUDITOR]);
  hubAuth = createAuth({ settings: loadAuthFile(authFile), file: authFile, hubId: HUB_ID });
  hub = await startHub("sqlite", { server: { stages: [hubAuth.stage] } });
  grpcJs = grpcJsClient(hub.port);
  // One channel for the file, closed in afterAll.
  clients["native gRPC (grpc-js)"] = () => ({ ...grpcJs, close() {} });
  clients.Connect = () =>
    connectClient(createConnectTransport({ baseUrl: hub.baseUrl, httpVersion: "1.1" }));
  clients["gRPC-Web"] = () =>
    connectClient(createGrpcWebTransport({ baseUrl: hub.baseUrl, httpVersion: "1.1" }));
  clients["JSON-RPC"] = () => jsonRpcClient(hub.baseUrl);
});

afterAll(async () => {
  grpcJs?.close();
  await hub?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Events in the log whose subject contains `marker`. */
async function stored(marker: string) {
  return (await hub.bus.query({ subject: ">", limit: 1000 })).filter((e) =>
    e.subject.includes(marker),
  );
}

/** Reads subjects until `last` arrives; the list includes it. */
async function readUntil(stream: SubjectStream, last: string): Promise<string[]> {
  const seen: string[] = [];
  for (;;) {
    const subject = await stream.next();
    seen.push(subject);
    if (subject === last) return seen;
  }
}

const PROTOCOLS = ["native gRPC (grpc-js)", "Connect", "gRPC-Web", "JSON-RPC"];

describe.each(PROTOCOLS)("auth over %s", (name) => {
  const tag = name.replace(/[^A-Za-z]/g, "").toLowerCase();
  const client = () => clients[name]?.() as ProtocolClient;

  function expectRefused(out: Outcome, code: string) {
    expect(out.ok, show(out)).toBe(false);
    if (out.ok) return;
    expect(out.code).toBe(code);
    if (name === "JSON-RPC" && code === "unauthenticated") {
      expect(out.status).toBe(401);
      expect(out.wwwAuthenticate).toMatch(/^Bearer/);
      expect(out.data.reason).toEqual(expect.any(String));
    }
  }

  it("refuses a call without credentials, with an unknown key, an expired JWT, a wrong audience or a foreign signature", async () => {
    const c = client();
    expectRefused(await c.publish(`billing.${tag}.anon`), "unauthenticated");
    const unknown = await c.publish(`billing.${tag}.anon`, "no-such-key");
    expectRefused(unknown, "unauthenticated");
    // A key that almost matches is answered word for word like any unknown key.
    const near = await c.publish(`billing.${tag}.anon`, `${BILLING_KEY}x`);
    expect(near).toEqual(unknown);
    expectRefused(await c.publish(`shipping.${tag}.anon`, tokens.expired), "unauthenticated");
    expectRefused(await c.publish(`shipping.${tag}.anon`, tokens.wrongAudience), "unauthenticated");
    expectRefused(await c.publish(`shipping.${tag}.anon`, tokens.otherKey), "unauthenticated");
    expectRefused(await c.query(`hub.*.billing.${tag}.>`), "unauthenticated");
    expect(await stored(`${tag}.anon`)).toEqual([]);
    c.close();
  });

  it("answers GetHubInfo without credentials", async () => {
    const c = client();
    const out = await c.info();
    expect(out.ok).toBe(true);
    c.close();
  });

  it("stores an allowed publish with the caller's service, API key and JWT alike", async () => {
    const c = client();
    const byKey = await c.publish(`billing.${tag}.paid`, BILLING_KEY);
    expect(byKey.ok, show(byKey)).toBe(true);
    const byJwt = await c.publish(`shipping.${tag}.sent`, tokens.shipping);
    expect(byJwt.ok, show(byJwt)).toBe(true);
    const [paid] = await stored(`billing.${tag}.paid`);
    expect(paid?.origin.service).toBe("billing");
    const [sent] = await stored(`shipping.${tag}.sent`);
    expect(sent?.origin.service).toBe("shipping");
    c.close();
  });

  it("refuses a Hub-Service header that names another service", async () => {
    const c = client();
    const out = await c.publish(`billing.${tag}.spoof`, BILLING_KEY, { "hub-service": "shipping" });
    expectRefused(out, "permission_denied");
    expect(await stored(`${tag}.spoof`)).toEqual([]);
    c.close();
  });

  it("refuses a forbidden publish, naming the subject, and stores nothing", async () => {
    const c = client();
    const out = await c.publish(`shipping.${tag}.forged`, BILLING_KEY);
    expectRefused(out, "permission_denied");
    if (!out.ok) expect(out.message).toContain(`hub.${HUB_ID}.shipping.${tag}.forged`);
    if (!out.ok && name === "JSON-RPC") {
      expect(out.data).toEqual({
        reason: expect.any(String),
        param: "topic",
        subject: `hub.${HUB_ID}.shipping.${tag}.forged`,
      });
    }
    expectRefused(await c.publish(`billing.${tag}.audited`, AUDITOR_KEY), "permission_denied");
    expect(await stored(`${tag}.forged`)).toEqual([]);
    expect(await stored(`${tag}.audited`)).toEqual([]);
    c.close();
  });

  it("refuses a whole batch with one forbidden event", async () => {
    const c = client();
    const out = await c.publishBatch(
      [`billing.${tag}.batch.one`, `shipping.${tag}.batch.two`, `billing.${tag}.batch.three`],
      BILLING_KEY,
    );
    expectRefused(out, "permission_denied");
    if (!out.ok && name === "JSON-RPC") expect(out.data.param).toBe("events[1].topic");
    expect(await stored(`${tag}.batch`)).toEqual([]);
    const ok = await c.publishBatch([`billing.${tag}.batch.four`], BILLING_KEY);
    expect(ok.ok, show(ok)).toBe(true);
    c.close();
  });

  it("answers a query on a covered pattern without denied subjects, and refuses an uncovered one", async () => {
    const c = client();
    for (const subject of [`q${tag}.one`, `secret.q${tag}.two`, `q${tag}.three`]) {
      await hub.bus.publish({ subject: `billing.${subject}` });
    }
    const out = await c.query(`hub.*.billing.>`, BILLING_KEY);
    expect(out.ok, show(out)).toBe(true);
    if (out.ok) {
      const mine = (out.value as string[]).filter((s) => s.includes(`q${tag}`));
      expect(mine).toEqual([
        `hub.${HUB_ID}.billing.q${tag}.three`,
        `hub.${HUB_ID}.billing.q${tag}.one`,
      ]);
    }
    expectRefused(await c.query(">", BILLING_KEY), "permission_denied");
    expectRefused(await c.query(`hub.${HUB_ID}.>`, BILLING_KEY), "permission_denied");
    // The auditor may read everything, the secret included.
    const all = await c.query(`hub.*.billing.>`, AUDITOR_KEY);
    expect(all.ok && (all.value as string[]).some((s) => s.includes(`secret.q${tag}`))).toBe(true);
    c.close();
  });

  it.skipIf(name === "JSON-RPC")(
    "streams only allowed subjects, in replay and live, and refuses an uncovered pattern",
    async () => {
      const c = client();
      const subject = (s: string) => `hub.${HUB_ID}.billing.s${tag}.${s}`;
      const after = Number((await hub.bus.publish({ subject: subject("before") })).sequence);
      await hub.bus.publish({ subject: `billing.secret.s${tag}.replayed` });
      await hub.bus.publish({ subject: subject("replayed") });
      const stream = c.subscribe?.(`hub.*.billing.>`, after, BILLING_KEY) as SubjectStream;
      const replay = await readUntil(stream, subject("replayed"));
      expect(replay).toEqual([subject("replayed")]);
      await hub.bus.publish({ subject: `billing.secret.s${tag}.live` });
      await hub.bus.publish({ subject: subject("live") });
      const live = await readUntil(stream, subject("live"));
      expect(live).toEqual([subject("live")]);
      stream.close();

      const refused = c.subscribe?.(">", 0, BILLING_KEY) as SubjectStream;
      await expect(refused.next()).rejects.toMatchObject({ code: "permission_denied" });
      const anonymous = c.subscribe?.(`hub.*.billing.>`, 0) as SubjectStream;
      await expect(anonymous.next()).rejects.toMatchObject({ code: "unauthenticated" });
      c.close();
    },
  );
});

describe("reloading the AUTH_FILE", () => {
  it("stops a removed key at once, keeps other callers' live streams, and keeps the old file when the new one is bad", async () => {
    const c = connectClient(createConnectTransport({ baseUrl: hub.baseUrl, httpVersion: "2" }));
    expect((await c.query("hub.*.billing.>", AUDITOR_KEY)).ok).toBe(true);
    const stream = c.subscribe?.("hub.*.billing.reload.>", 0, BILLING_KEY) as SubjectStream;
    await hub.bus.publish({ subject: "billing.reload.before" });
    expect(await stream.next()).toBe(`hub.${HUB_ID}.billing.reload.before`);

    writeAuthFile([BILLING]);
    hubAuth.reload();
    const out = await c.query("hub.*.billing.>", AUDITOR_KEY);
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.code).toBe("unauthenticated");
    await hub.bus.publish({ subject: "billing.reload.after" });
    expect(await stream.next()).toBe(`hub.${HUB_ID}.billing.reload.after`);

    writeFileSync(
      authFile,
      JSON.stringify({ callers: [{ ...BILLING, publish: { denny: [">"] } }] }),
    );
    expect(() => hubAuth.reload()).toThrow(
      /callers\[0\] \("billing"\)\.publish: unknown field "denny"/,
    );
    expect((await c.publish("billing.reload.still", BILLING_KEY)).ok).toBe(true);
    await hub.bus.publish({ subject: "billing.reload.last" });
    expect(await stream.next()).toBe(`hub.${HUB_ID}.billing.reload.still`);
    expect(await stream.next()).toBe(`hub.${HUB_ID}.billing.reload.last`);
    stream.close();
    expect(hubAuth.stats()).toMatchObject({ reloads: 1 });
    writeAuthFile([BILLING, AUDITOR]);
    hubAuth.reload();
  });
});
