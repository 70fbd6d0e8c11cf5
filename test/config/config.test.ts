import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/index.js";
import { DEFAULT_PORT } from "../../src/defaults.js";

describe("loadConfig", () => {
  it("has defaults that run one embedded instance", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      hubId: "local-hub",
      port: DEFAULT_PORT,
      databaseUrl: "sqlite:./data/hub.db",
      database: { kind: "sqlite", path: "./data/hub.db" },
      natsServers: [],
      maxPayloadBytes: 1048576,
      ingestSubjects: ["hub.>"],
      metrics: true,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("reads the environment and lets flags override it", () => {
    const config = loadConfig(
      {
        HUB_ID: "east",
        PORT: "9100",
        NATS_URL: "nats://a:4222, nats://b:4222",
        INGEST_SUBJECTS: "hub.>,other.*",
      },
      { PORT: "9200" },
    );
    expect(config.hubId).toBe("east");
    expect(config.port).toBe(9200);
    expect(config.natsServers).toEqual(["nats://a:4222", "nats://b:4222"]);
    expect(config.ingestSubjects).toEqual(["hub.>", "other.*"]);
  });

  it("switches metrics off with METRICS=off", () => {
    expect(loadConfig({ METRICS: "off" }).metrics).toBe(false);
    expect(loadConfig({ METRICS: " ON " }).metrics).toBe(true);
  });

  it.each([
    ["sqlite+aiosqlite:////app/data/hub.db", { kind: "sqlite", path: "/app/data/hub.db" }],
    ["sqlite+aiosqlite:///data/hub.db", { kind: "sqlite", path: "data/hub.db" }],
    ["sqlite::memory:", { kind: "sqlite", path: ":memory:" }],
    ["postgres://u:p@db:5432/hub", { kind: "postgres", url: "postgres://u:p@db:5432/hub" }],
    ["postgresql://db/hub", { kind: "postgres", url: "postgresql://db/hub" }],
  ])("accepts DATABASE_URL %s", (url, database) => {
    expect(loadConfig({ DATABASE_URL: url }).database).toEqual(database);
  });

  it.each([
    ["HUB_ID", "global"],
    ["HUB_ID", "two.tokens"],
    ["HUB_ID", "x".repeat(65)],
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["DATABASE_URL", "mysql://localhost/db"],
    ["DATABASE_URL", "sqlite:"],
    ["DATABASE_URL", "postgres://"],
    ["MAX_PAYLOAD_BYTES", "1MB"],
    ["MAX_PAYLOAD_BYTES", "1"],
    ["INGEST_SUBJECTS", "hub.>.x"],
    ["NATS_URL", "http://x y"],
    ["LOG_LEVEL", "loud"],
    ["SHUTDOWN_GRACE_MS", "soon"],
    ["METRICS", "maybe"],
  ])("refuses %s=%s with an error naming the variable", (variable, value) => {
    const error = (() => {
      try {
        loadConfig({ [variable]: value });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message.startsWith(`${variable}: `)).toBe(true);
  });
});
