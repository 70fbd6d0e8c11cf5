import * as http2 from "node:http2";
import * as net from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { createEventBus, type EventLog, type NewEvent } from "../../src/core/index.js";
import { createServer, type HubServer, type ServerOptions } from "../../src/server/index.js";
import { openEventLog } from "../../src/store/index.js";
import { createGrpcJsClient, HUB_ID, postRpc, startHub, type TestHub } from "./harness.js";

/**
 * A real SQLite log (in memory) whose every call first waits on `gate` and
 * can be made to fail, so a test can hold a call inside the core or make the
 * database "go away" at a moment it chooses.
 */
async function gatedLog(
  behaviour: { fail?: Error; gate?: (signal?: AbortSignal) => Promise<void> } = {},
) {
  const real = await openEventLog({ url: "sqlite::memory:" });
  cleanups.push(() => real.close());
  const seen: { appendSignals: (AbortSignal | undefined)[]; entered: number } = {
    appendSignals: [],
    entered: 0,
  };
  let entered: () => void = () => {};
  const run = async <T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> => {
    seen.entered++;
    entered();
    await behaviour.gate?.(signal);
    if (behaviour.fail) throw behaviour.fail;
    return call();
  };
  const log: EventLog = {
    append: (events: readonly NewEvent[], signal) => {
      seen.appendSignals.push(signal);
      return run(() => real.append(events), signal);
    },
    query: (p, l, signal) => run(() => real.query(p, l), signal),
    readAfter: (s, p, l, signal) => run(() => real.readAfter(s, p, l), signal),
    lastSequence: (signal) => run(() => real.lastSequence(), signal),
    ping: (signal) => run(() => real.ping(), signal),
    stats: () => real.stats(),
    close: async () => {},
  };
  /** Resolves once `count` calls in all have reached the log. */
  const calls = (count: number) =>
    new Promise<void>((resolve) => {
      entered = () => {
        if (seen.entered >= count) resolve();
      };
      entered();
    });
  return { log, seen, calls };
}

/** A gate the test opens by hand. */
function latch() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, wait: () => opened };
}

/** Collects pino's JSON lines. */
function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => lines.push(JSON.parse(line)) },
  );
  return { logger, lines };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(log: EventLog, options: Partial<ServerOptions> = {}) {
  const bus = createEventBus({ log, hubId: HUB_ID });
  const server: HubServer = createServer({ bus, shutdownGraceMs: 2000, ...options });
  const { port } = await server.listen(0, "127.0.0.1");
  cleanups.push(() => server.close());
  return { server, port, baseUrl: `http://127.0.0.1:${port}` };
}

async function realHub(): Promise<TestHub> {
  const hub = await startHub("sqlite");
  cleanups.push(() => hub.close());
  return hub;
}

describe("HTTP routes", () => {
  it("answers /healthz and /readyz, 404 and 405, over HTTP/1.1 and h2c", async () => {
    const hub = await realHub();
    expect(await (await fetch(`${hub.baseUrl}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${hub.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "healthy",
      services: { nats: "disabled", database: "healthy" },
    });
    expect((await fetch(`${hub.baseUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${hub.baseUrl}/healthz`, { method: "DELETE" })).status).toBe(405);

    const session = http2.connect(hub.baseUrl);
    cleanups.push(() => void session.close());
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const stream = session.request({ ":path": "/healthz" });
      stream.on("response", (headers) => resolve(headers[":status"]));
      stream.on("error", reject);
      stream.resume();
    });
    expect(status).toBe(200);
  });

  it("reports not ready when the database is gone", async () => {
    const { baseUrl } = await serve((await gatedLog({ fail: new Error("database is down") })).log);
    const res = await fetch(`${baseUrl}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      status: "unhealthy",
      services: { database: "unhealthy" },
    });
  });
});

describe("protocol detection on one port", () => {
  function rawSocket(port: number) {
    const socket = net.connect(port, "127.0.0.1");
    cleanups.push(() => void socket.destroy());
    const closed = new Promise<number>((resolve) => {
      const opened = Date.now();
      socket.on("close", () => resolve(Date.now() - opened));
      socket.on("error", () => {});
    });
    return { socket, closed };
  }

  it("closes a connection that sends nothing within the peek timeout", async () => {
    const { port } = await serve((await gatedLog()).log, { peekTimeoutMs: 200 });
    const { closed } = rawSocket(port);
    // Not at once: the server waited for bytes. (If it never closes, the test times out.)
    expect(await closed).toBeGreaterThanOrEqual(150);
  });

  it("closes a connection that stops inside the HTTP/2 preface", async () => {
    const { port } = await serve((await gatedLog()).log, { peekTimeoutMs: 200 });
    const { socket, closed } = rawSocket(port);
    socket.write("PRI * HTTP/2.0\r\n");
    expect(await closed).toBeGreaterThanOrEqual(150);
  });

  it("hands what is not HTTP/2 to the HTTP/1.1 server, which refuses garbage with 400", async () => {
    const { port } = await serve((await gatedLog()).log);
    const { socket } = rawSocket(port);
    const reply = await new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk;
      });
      socket.on("close", () => resolve(text));
      socket.write("HELLO\r\n\r\n");
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
  });
});

describe("errors the client did not cause", () => {
  const SECRET = "postgres://admin:hunter2@db.internal/hub";

  it("answers an unforeseen failure with -32603 / INTERNAL, logs the cause, sends nothing of it", async () => {
    const { logger, lines } = captureLogger();
    const { baseUrl, port } = await serve(
      (await gatedLog({ fail: new TypeError(`boom at ${SECRET}`) })).log,
      {
        logger,
      },
    );
    const { status, body } = await postRpc(baseUrl, {
      jsonrpc: "2.0",
      id: 1,
      method: "bus.subscribe",
      params: {},
    });
    expect(status).toBe(200);
    expect(body.error).toEqual({ code: -32603, message: "Internal error" });

    const client = createGrpcJsClient(port);
    cleanups.push(() => client.close());
    const error = await client.call("QueryEvents", {}).catch((e: grpc.ServiceError) => e);
    expect(error.code).toBe(grpc.status.INTERNAL);
    expect(error.details).toBe("internal error");
    expect(JSON.stringify(error.metadata.getMap())).not.toContain("hunter2");

    const logged = lines.filter((l) => l.msg === "internal error");
    expect(logged.map((l) => l.protocol)).toEqual(["jsonrpc", "grpc"]);
    expect(JSON.stringify(logged)).toContain("hunter2");
  });

  it("answers a closed log with -32603 data.code unavailable / UNAVAILABLE", async () => {
    const hub = await realHub();
    await hub.log.close();
    const { body } = await postRpc(hub.baseUrl, {
      jsonrpc: "2.0",
      id: 1,
      method: "bus.publish",
      params: { topic: "a.b" },
    });
    expect(body.error).toMatchObject({ code: -32603, data: { code: "unavailable" } });
    const client = createGrpcJsClient(hub.port);
    cleanups.push(() => client.close());
    const error = await client
      .call("Publish", { subject: "a.b" })
      .catch((e: grpc.ServiceError) => e);
    expect(error.code).toBe(grpc.status.UNAVAILABLE);
  });

  it("answers a Subscribe with an invalid pattern with INVALID_ARGUMENT", async () => {
    const hub = await realHub();
    const client = createClient(EventBusService, createGrpcTransport({ baseUrl: hub.baseUrl }));
    const error = await (async () => {
      for await (const _ of client.subscribe({ subject: "hub.>.x" })) {
        /* nothing arrives */
      }
    })().catch((e: unknown) => ConnectError.from(e));
    expect(error?.code).toBe(Code.InvalidArgument);
  });
});

describe("cancellation", () => {
  it("aborts the core call's signal when a gRPC client gives up (deadline)", async () => {
    const stub = await gatedLog({
      gate: (signal) =>
        new Promise((resolve) => signal?.addEventListener("abort", () => resolve())),
    });
    const { baseUrl } = await serve(stub.log);
    const client = createClient(EventBusService, createGrpcTransport({ baseUrl }));
    const error = await client
      .publish({ subject: "a.b" }, { timeoutMs: 200 })
      .catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    await vi.waitFor(() => expect(stub.seen.appendSignals[0]?.aborted).toBe(true), {
      timeout: 10_000,
    });
  });

  it("aborts the core call's signal when a JSON-RPC client disconnects", async () => {
    const stub = await gatedLog({
      gate: (signal) =>
        new Promise((resolve) => signal?.addEventListener("abort", () => resolve())),
    });
    // A grace period longer than any test: close() returns only if nothing waits for it.
    const { server, baseUrl } = await serve(stub.log, { shutdownGraceMs: 600_000 });
    await fetch(`${baseUrl}/rpc`, {
      method: "POST",
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "bus.publish",
        params: { topic: "a.b" },
      }),
      signal: AbortSignal.timeout(200),
    }).catch(() => undefined);
    await vi.waitFor(() => expect(stub.seen.appendSignals[0]?.aborted).toBe(true), {
      timeout: 10_000,
    });
    // The client's aborted connection must not hold up shutdown until the grace period.
    await server.close();
  });
});

describe("graceful shutdown", () => {
  it("finishes in-flight calls on both HTTP versions, then refuses new connections", async () => {
    const release = latch();
    const stub = await gatedLog({ gate: release.wait });
    const { server, port, baseUrl } = await serve(stub.log, { shutdownGraceMs: 600_000 });
    const client = createGrpcJsClient(port);
    cleanups.push(() => client.close());
    await client.call("GetHubInfo", {});
    const inside = stub.calls(stub.seen.entered + 2);

    const viaGrpc = client.call("Publish", { subject: "a.b" });
    const viaJsonRpc = postRpc(baseUrl, {
      jsonrpc: "2.0",
      id: 1,
      method: "bus.publish",
      params: { topic: "a.b" },
    });
    await inside;
    const closing = server.close();
    release.open();
    expect((await viaGrpc).published).toBe(true);
    expect((await viaJsonRpc).body.result.published).toBe(true);
    await closing;
    await expect(fetch(`${baseUrl}/healthz`)).rejects.toThrow();
  });

  it("does not wait for idle keep-alive connections and HTTP/2 sessions", async () => {
    const { server, port, baseUrl } = await serve((await gatedLog()).log, {
      shutdownGraceMs: 600_000,
    });
    const client = createGrpcJsClient(port);
    cleanups.push(() => client.close());
    await client.call("GetHubInfo", {});
    await fetch(`${baseUrl}/healthz`);
    // Resolves only if close() waits for no idle connection: the grace period outlasts the test.
    await server.close();
  });

  it("cuts calls still running after the grace period", async () => {
    const stub = await gatedLog({ gate: () => new Promise<void>(() => {}) });
    const { server, baseUrl } = await serve(stub.log, { shutdownGraceMs: 300 });
    const inside = stub.calls(stub.seen.entered + 1);
    const stuck = fetch(`${baseUrl}/rpc`, {
      method: "POST",
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "hub.health" }),
    });
    await inside;
    // The call never ends by itself: close() returns because the grace period cut it.
    await server.close();
    await expect(stuck).rejects.toThrow();
  });

  it("is idempotent", async () => {
    const { server } = await serve((await gatedLog()).log);
    await Promise.all([server.close(), server.close()]);
    await server.close();
  });
});

describe("access log", () => {
  it("writes one line per call with protocol, method and code", async () => {
    const { logger, lines } = captureLogger();
    const { baseUrl, port } = await serve((await gatedLog()).log, { logger });
    await postRpc(baseUrl, { jsonrpc: "2.0", id: 1, method: "hub.info" });
    const client = createGrpcJsClient(port);
    cleanups.push(() => client.close());
    await client.call("GetHubInfo", {});
    await client.call("QueryEvents", { limit: 5000 }).catch(() => undefined);
    const rpcLines = lines.filter((l) => l.msg === "rpc");
    expect(rpcLines).toEqual([
      expect.objectContaining({ protocol: "jsonrpc", method: "hub.info", code: "ok" }),
      expect.objectContaining({
        protocol: "grpc",
        method: "hubbus.v1.EventBusService/GetHubInfo",
        code: "ok",
      }),
      expect.objectContaining({
        protocol: "grpc",
        method: "hubbus.v1.EventBusService/QueryEvents",
        code: "invalid_argument",
      }),
    ]);
  });
});
