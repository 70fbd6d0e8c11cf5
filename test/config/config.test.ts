import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  loadClientConfig,
  loadConfig,
  parseDuration,
} from "../../src/config/index.js";
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

  it("has connection limits by default and takes them from the environment", () => {
    const defaults = loadConfig({});
    expect([
      defaults.maxStreamsPerConnection,
      defaults.maxHeaderBytes,
      defaults.requestBodyTimeoutMs,
    ]).toEqual([1000, 16 * 1024, 30_000]);
    const set = loadConfig({
      MAX_STREAMS_PER_CONNECTION: "10",
      MAX_HEADER_BYTES: "8192",
      REQUEST_BODY_TIMEOUT_MS: "5000",
    });
    expect([set.maxStreamsPerConnection, set.maxHeaderBytes, set.requestBodyTimeoutMs]).toEqual([
      10, 8192, 5000,
    ]);
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
    ["MAX_STREAMS_PER_CONNECTION", "0"],
    ["MAX_STREAMS_PER_CONNECTION", "many"],
    ["MAX_HEADER_BYTES", "512"],
    ["MAX_HEADER_BYTES", "16KiB"],
    ["REQUEST_BODY_TIMEOUT_MS", "30s"],
    ["REQUEST_BODY_TIMEOUT_MS", "3000000000"],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "jaeger:4318"],
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "grpc://jaeger:4317"],
    ["OTEL_TRACES_EXPORTER", "zipkin"],
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

describe("loadConfig: the log over time", () => {
  it("remembers keys 24 hours and keeps every event by default", () => {
    const config = loadConfig({});
    expect(config.idempotencyWindowMs).toBe(24 * 3_600_000);
    expect(config.retentionMaxAgeMs).toBeUndefined();
    expect(config.retentionMaxEvents).toBeUndefined();
  });

  it("reads durations as 90s, 12h, 7d and a whole number of events", () => {
    expect(loadConfig({ RETENTION_MAX_AGE: "90s" }).retentionMaxAgeMs).toBe(90_000);
    expect(loadConfig({ RETENTION_MAX_AGE: "12h" }).retentionMaxAgeMs).toBe(12 * 3_600_000);
    expect(loadConfig({ RETENTION_MAX_AGE: "7d" }).retentionMaxAgeMs).toBe(7 * 86_400_000);
    expect(loadConfig({ IDEMPOTENCY_WINDOW: "15m" }).idempotencyWindowMs).toBe(900_000);
    expect(loadConfig({ RETENTION_MAX_EVENTS: "1000" }).retentionMaxEvents).toBe(1000);
    expect(parseDuration("X", "250ms")).toBe(250);
  });

  it.each([
    ["RETENTION_MAX_AGE", "7 days"],
    ["RETENTION_MAX_AGE", "-1h"],
    ["RETENTION_MAX_AGE", "1.5 hours"],
    ["RETENTION_MAX_AGE", "0s"],
    ["IDEMPOTENCY_WINDOW", "forever"],
    ["IDEMPOTENCY_WINDOW", "10ms"],
    ["RETENTION_MAX_EVENTS", "0"],
    ["RETENTION_MAX_EVENTS", "1e6"],
  ])("refuses %s=%s, naming the variable", (variable, value) => {
    let error: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(new RegExp(`^${variable}: `));
  });
});

describe("loadConfig: tracing (OpenTelemetry's variables)", () => {
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" };

  it("has no tracer without an OTLP endpoint", () => {
    expect(loadConfig({})).not.toHaveProperty("tracing");
    expect(loadConfig({ ...endpoint, OTEL_SDK_DISABLED: "true" })).not.toHaveProperty("tracing");
    expect(loadConfig({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })).not.toHaveProperty("tracing");
  });

  it("appends /v1/traces to the base endpoint and takes the traces endpoint as given", () => {
    expect(loadConfig(endpoint).tracing).toMatchObject({
      url: "http://jaeger:4318/v1/traces",
      sampler: "parentbased_always_on",
      samplerRatio: 1,
      headers: {},
    });
    const traces = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://collector/otlp/spans" };
    expect(loadConfig({ ...endpoint, ...traces }).tracing?.url).toBe(
      "https://collector/otlp/spans",
    );
  });

  it("reads headers, the service name, the sampler and the batch settings", () => {
    const tracing = loadConfig({
      ...endpoint,
      OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Bearer%20abc, x-tenant=t1",
      OTEL_SERVICE_NAME: "hubbus-eu",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.25",
      OTEL_BSP_SCHEDULE_DELAY: "1000",
    }).tracing;
    expect(tracing).toMatchObject({
      headers: { authorization: "Bearer abc", "x-tenant": "t1" },
      serviceName: "hubbus-eu",
      sampler: "parentbased_traceidratio",
      samplerRatio: 0.25,
      exportDelayMs: 1000,
    });
  });

  it.each([
    ["OTEL_TRACES_SAMPLER", "sometimes"],
    ["OTEL_TRACES_SAMPLER_ARG", "1.5"],
    ["OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"],
    ["OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign"],
    ["OTEL_BSP_MAX_QUEUE_SIZE", "lots"],
  ])("refuses %s=%s naming the variable", (variable, value) => {
    const raw = { ...endpoint, OTEL_TRACES_SAMPLER: "traceidratio", [variable]: value };
    expect(configError(() => loadConfig(raw)).variable).toBe(variable);
  });
});

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
