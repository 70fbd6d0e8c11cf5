import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadClientConfig, loadConfig } from "../../src/config/index.js";
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

  it("reads the federation's durations, with defaults", () => {
    expect(loadConfig({})).toMatchObject({
      publicUrl: "",
      presenceIntervalMs: 5000,
      presenceTimeoutMs: 30_000,
      presenceGoneRetentionMs: 3_600_000,
      federationMetricsIntervalMs: 30_000,
    });
    expect(
      loadConfig({
        PRESENCE_INTERVAL: "200ms",
        PRESENCE_TIMEOUT: "1.5s",
        PRESENCE_GONE_RETENTION: "2h",
        FEDERATION_METRICS_INTERVAL: "0",
        PUBLIC_URL: "https://hub.example.com",
        NATS_JS_DOMAIN: "central",
      }),
    ).toMatchObject({
      presenceIntervalMs: 200,
      presenceTimeoutMs: 1500,
      presenceGoneRetentionMs: 7_200_000,
      federationMetricsIntervalMs: 0,
      publicUrl: "https://hub.example.com",
      natsJsDomain: "central",
    });
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
    ["PRESENCE_INTERVAL", "soon"],
    ["PRESENCE_INTERVAL", "5 parsecs"],
    ["PRESENCE_TIMEOUT", "-1s"],
    ["PRESENCE_TIMEOUT", "1s"],
    ["PRESENCE_GONE_RETENTION", "forever"],
    ["FEDERATION_METRICS_INTERVAL", "10ms"],
    ["PUBLIC_URL", "not a url"],
    ["PUBLIC_URL", "ftp://x"],
    ["NATS_JS_DOMAIN", "a.b"],
    ["FEDERATION", "maybe"],
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

function configError(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("no ConfigError");
}

describe("loadConfig: TLS", () => {
  it("takes the certificate files as paths (the server reads them)", () => {
    expect(loadConfig({}).tls).toBeUndefined();
    expect(loadConfig({ TLS_CERT_FILE: "/c.pem", TLS_KEY_FILE: "/k.pem" }).tls).toEqual({
      certFile: "/c.pem",
      keyFile: "/k.pem",
    });
    expect(
      loadConfig(
        { TLS_CERT_FILE: "/c.pem", TLS_KEY_FILE: "/k.pem" },
        { TLS_CLIENT_CA_FILE: "/ca.pem" },
      ).tls,
    ).toEqual({ certFile: "/c.pem", keyFile: "/k.pem", clientCaFile: "/ca.pem" });
  });

  it.each([
    [{ TLS_CERT_FILE: "/c.pem" }, "TLS_KEY_FILE"],
    [{ TLS_KEY_FILE: "/k.pem" }, "TLS_CERT_FILE"],
    [{ TLS_CLIENT_CA_FILE: "/ca.pem" }, "TLS_CLIENT_CA_FILE"],
    [{ TLS_CERT_FILE: "/c.pem", TLS_CLIENT_CA_FILE: "/ca.pem" }, "TLS_KEY_FILE"],
  ])("wants both files or neither: %o names %s", (env, variable) => {
    expect(configError(() => loadConfig(env)).variable).toBe(variable);
  });
});

describe("loadClientConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "hubbus-client-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("takes a token and no CA by default", () => {
    expect(loadClientConfig({}, {})).toEqual({ url: "http://127.0.0.1:9001" });
    expect(loadClientConfig({ HUBBUS_TOKEN: "env" }, { HUBBUS_TOKEN: "flag" }).token).toBe("flag");
  });

  it("reads the CA file of an https:// gateway, and names HUBBUS_CA_FILE when it cannot", () => {
    const notPem = join(dir, "not.pem");
    writeFileSync(notPem, "hello");
    const url = "https://gateway:9001";
    expect(
      configError(() => loadClientConfig({ HUBBUS_URL: url, HUBBUS_CA_FILE: notPem })).message,
    ).toMatch(/^HUBBUS_CA_FILE: .*not\.pem is not a PEM certificate/);
    expect(
      configError(() => loadClientConfig({ HUBBUS_URL: url, HUBBUS_CA_FILE: join(dir, "none") }))
        .message,
    ).toContain("cannot read");
    expect(
      configError(() => loadClientConfig({ HUBBUS_URL: "http://gateway", HUBBUS_CA_FILE: notPem }))
        .message,
    ).toContain("is for https:// gateways");
  });

  it.each(["two words", "tab\there", "caf\u00e9"])(
    "refuses the token %j without echoing it",
    (token) => {
      const error = configError(() => loadClientConfig({ HUBBUS_TOKEN: token }));
      expect(error.variable).toBe("HUBBUS_TOKEN");
      expect(error.message).not.toContain(token);
    },
  );
});
