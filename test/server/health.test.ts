// biome-ignore-all lint/suspicious/noExplicitAny: grpc-js messages are untyped
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createEventBus, HubError } from "../../src/core/index.js";
import type { Stage } from "../../src/pipeline/index.js";
import { createServer, type HubServer } from "../../src/server/index.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { TEST_DATABASE_KINDS, type TestDatabaseKind, testTarget } from "../helpers/databases.js";
import { TEST_POSTGRES_URL } from "../helpers/postgres.js";
import { createGrpcJsClient, HUB_ID } from "./harness.js";

/** grpc.health.v1.Health as any gRPC client loads it: from the .proto, with grpc-js. */
function healthClient(port: number) {
  const definition = protoLoader.loadSync(
    join(import.meta.dirname, "../../proto/grpc/health/v1/health.proto"),
    { keepCase: true, enums: String, defaults: true },
  );
  const pkg = grpc.loadPackageDefinition(definition) as any;
  const client = new pkg.grpc.health.v1.Health(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as any;
  cleanups.push(() => client.close());
  return {
    check(service: string): Promise<string> {
      return new Promise((resolve, reject) =>
        client.Check({ service }, (error: grpc.ServiceError | null, response: any) =>
          error ? reject(error) : resolve(response.status),
        ),
      );
    },
    watch(service: string) {
      return watchStream(client.Watch({ service }));
    },
  };
}

/** A Watch stream read one message at a time, and how it ended. */
function watchStream(call: grpc.ClientReadableStream<any>) {
  const queued: string[] = [];
  let waiting: ((status: string) => void) | undefined;
  call.on("data", (message: any) => {
    if (waiting) {
      const wake = waiting;
      waiting = undefined;
      wake(message.status);
    } else queued.push(message.status);
  });
  const ended = new Promise<grpc.StatusObject | grpc.ServiceError>((resolve) => {
    call.on("error", resolve);
    call.on("status", resolve);
  });
  cleanups.push(() => call.cancel());
  return {
    /** The next status the server sends. */
    next(): Promise<string> {
      const first = queued.shift();
      if (first !== undefined) return Promise.resolve(first);
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    /** Resolves once the server sends `status`, skipping what comes before. */
    async until(status: string): Promise<void> {
      for (;;) {
        const next = await this.next();
        if (next === status) return;
      }
    },
    ended,
    call,
  };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A gateway over a real log, as startHub makes, that also knows its database's URL. */
interface HealthHub {
  readonly log: SqlEventLog;
  readonly server: HubServer;
  readonly port: number;
  readonly baseUrl: string;
  readonly databaseUrl: string;
}

async function hub(kind: TestDatabaseKind = "sqlite", stages: Stage[] = []): Promise<HealthHub> {
  const target = await testTarget(kind, "hubbus-health-");
  const log = await openEventLog({ url: target.url });
  const bus = createEventBus({ log, hubId: HUB_ID });
  const server = createServer({ bus, stages, shutdownGraceMs: 1000 });
  const { port } = await server.listen(0, "127.0.0.1");
  cleanups.push(async () => {
    await server.close();
    await log.close();
    await target.cleanup();
  });
  return { log, server, port, baseUrl: `http://127.0.0.1:${port}`, databaseUrl: target.url };
}

/** Makes the hub's database go away under the running server. */
async function loseDatabase(kind: TestDatabaseKind, started: HealthHub): Promise<void> {
  if (kind === "sqlite") {
    await started.log.close();
    return;
  }
  // PostgreSQL: drop the database, which also ends the log's connections to it.
  const url = new URL(started.databaseUrl);
  const name = url.pathname.slice(1);
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`drop database "${name}" with (force)`);
  } finally {
    await admin.end();
  }
}

describe("grpc.health.v1.Health", () => {
  it("answers SERVING for the server and for EventBusService, NOT_FOUND for any other name", async () => {
    const { port } = await hub();
    const health = healthClient(port);
    expect(await health.check("")).toBe("SERVING");
    expect(await health.check("hubbus.v1.EventBusService")).toBe("SERVING");
    await expect(health.check("hubbus.v1.Nope")).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it("Watch sends SERVICE_UNKNOWN for another name and keeps the stream open", async () => {
    const { port } = await hub();
    const health = healthClient(port);
    const watch = health.watch("hubbus.v1.Nope");
    expect(await watch.next()).toBe("SERVICE_UNKNOWN");
    // Still open: a Check on the same channel answers while the Watch waits.
    expect(await health.check("")).toBe("SERVING");
    watch.call.cancel();
    expect(await watch.ended).toMatchObject({ code: grpc.status.CANCELLED });
  });

  it("needs no credentials: a pipeline stage that refuses every call does not see it", async () => {
    const refuseAll: Stage = {
      name: "refuse-all",
      unary: async () => {
        throw new HubError("unauthenticated", "no credentials");
      },
      // biome-ignore lint/correctness/useYield: refuses before any event
      stream: async function* () {
        throw new HubError("unauthenticated", "no credentials");
      },
    };
    const { port } = await hub("sqlite", [refuseAll]);
    const eventBus = createGrpcJsClient(port);
    cleanups.push(() => eventBus.close());
    await expect(eventBus.call("GetHubInfo", {})).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    const health = healthClient(port);
    expect(await health.check("hubbus.v1.EventBusService")).toBe("SERVING");
    expect(await health.watch("").next()).toBe("SERVING");
  });

  it("Watch ends with NOT_SERVING, then UNAVAILABLE, when the server shuts down", async () => {
    const started = await hub();
    const health = healthClient(started.port);
    const watches = [health.watch(""), health.watch("hubbus.v1.EventBusService")];
    for (const watch of watches) expect(await watch.next()).toBe("SERVING");
    const closed = started.server.close();
    for (const watch of watches) {
      expect(await watch.next()).toBe("NOT_SERVING");
      expect(await watch.ended).toMatchObject({ code: grpc.status.UNAVAILABLE });
    }
    await closed;
  });

  describe.each(TEST_DATABASE_KINDS)("when the database goes away (%s)", (kind) => {
    it("Check and Watch say NOT_SERVING and /readyz answers 503, /healthz still 200", async () => {
      const started = await hub(kind);
      const health = healthClient(started.port);
      const watch = health.watch("");
      expect(await watch.next()).toBe("SERVING");
      expect((await fetch(`${started.baseUrl}/readyz`)).status).toBe(200);

      await loseDatabase(kind, started);

      // The open Watch hears the change without being asked again.
      await watch.until("NOT_SERVING");
      expect(await health.check("")).toBe("NOT_SERVING");
      expect(await health.check("hubbus.v1.EventBusService")).toBe("NOT_SERVING");
      const ready = await fetch(`${started.baseUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        status: "unhealthy",
        services: { nats: "disabled", database: "unhealthy" },
      });
      const live = await fetch(`${started.baseUrl}/healthz`);
      expect(live.status).toBe(200);
    });
  });
});

describe("/readyz", () => {
  it("answers 503 with the hub.health shape once shutdown has begun", async () => {
    const target = await testTarget("sqlite", "hubbus-health-");
    const log = await openEventLog({ url: target.url });
    const real = createEventBus({ log, hubId: HUB_ID });
    // Holds the readiness check inside the core until shutdown has begun.
    let entered: () => void = () => {};
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const bus = {
      ...real,
      health: async (signal?: AbortSignal) => {
        entered();
        await released;
        return real.health(signal);
      },
    };
    const server = createServer({ bus, shutdownGraceMs: 5000 });
    const { port } = await server.listen(0, "127.0.0.1");
    cleanups.push(async () => {
      await server.close();
      await log.close();
      await target.cleanup();
    });

    const ready = fetch(`http://127.0.0.1:${port}/readyz`);
    await inside;
    const closed = server.close();
    release();
    const res = await ready;
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      status: "unhealthy",
      services: { nats: "disabled", database: "healthy" },
      details: { shutting_down: "true" },
    });
    await closed;
  });
});
