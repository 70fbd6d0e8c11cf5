import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { type AuthSettings, loadAuthFile } from "../auth/index.js";
import { isValidHubId, validatePattern } from "../core/index.js";
import { type DatabaseTarget, parseDatabaseUrl } from "../database-url.js";
import {
  DEFAULT_DATABASE_URL,
  DEFAULT_FEDERATION_METRICS_INTERVAL_MS,
  DEFAULT_GATEWAY_URL,
  DEFAULT_HOST,
  DEFAULT_HUB_ID,
  DEFAULT_IDEMPOTENCY_WINDOW_MS,
  DEFAULT_INGEST_SUBJECTS,
  DEFAULT_LOG_LEVEL,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_STREAMS_PER_CONNECTION,
  DEFAULT_PORT,
  DEFAULT_PRESENCE_GONE_RETENTION_MS,
  DEFAULT_PRESENCE_INTERVAL_MS,
  DEFAULT_PRESENCE_TIMEOUT_MS,
  DEFAULT_REQUEST_BODY_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
} from "../defaults.js";
import type { TracingOptions } from "../tracing/index.js";
import { tracingOptions } from "./tracing.js";
import { ConfigError, type ConfigSource, integer, list, parseDuration } from "./values.js";

export { ConfigError, type ConfigSource, parseDuration } from "./values.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The gateway's configuration: defaults ← environment ← command-line flags. */
export interface HubConfig {
  /** `HUB_ID`: this hub's id, the second token of its subjects. */
  readonly hubId: string;
  /** `PORT`: the one port for gRPC, Connect, gRPC-Web, JSON-RPC and HTTP. */
  readonly port: number;
  /** `HOST`: the address to listen on. */
  readonly host: string;
  /** `DATABASE_URL` as given. */
  readonly databaseUrl: string;
  /** `DATABASE_URL`, parsed. */
  readonly database: DatabaseTarget;
  /** `NATS_URL`, split on commas; empty = the in-process bus. */
  readonly natsServers: readonly string[];
  /** `NATS_CREDS`: path of a NATS credentials file. */
  readonly natsCreds?: string;
  /** `NATS_JS_DOMAIN`: the JetStream domain, for a hub on a leaf node. */
  readonly natsJsDomain?: string;
  /** `MAX_PAYLOAD_BYTES`. */
  readonly maxPayloadBytes: number;
  /** `INGEST_SUBJECTS`, split on commas. */
  readonly ingestSubjects: readonly string[];
  /** `LOG_LEVEL`. */
  readonly logLevel: LogLevel;
  /** `SHUTDOWN_GRACE_MS`. */
  readonly shutdownGraceMs: number;
  /** `MAX_STREAMS_PER_CONNECTION`: concurrent HTTP/2 streams per connection. */
  readonly maxStreamsPerConnection: number;
  /** `MAX_HEADER_BYTES`: largest request header block, HTTP/1.1 and HTTP/2. */
  readonly maxHeaderBytes: number;
  /** `REQUEST_BODY_TIMEOUT_MS`: time for a request's headers and body to arrive. */
  readonly requestBodyTimeoutMs: number;
  /** `METRICS`: `on` counts calls and serves `GET /metrics`; `off` does neither. */
  readonly metrics: boolean;
  /** `AUTH_FILE`: callers and permissions (contract §7), read and validated at start; absent = open. */
  readonly auth?: { readonly file: string; readonly settings: AuthSettings };
  /** `TLS_CERT_FILE`, `TLS_KEY_FILE` and `TLS_CLIENT_CA_FILE`; absent = cleartext (HTTP/1.1 and h2c). */
  readonly tls?: TlsFiles;
  /** `IDEMPOTENCY_WINDOW`: how long a publish's idempotency key is remembered, in ms. */
  readonly idempotencyWindowMs: number;
  /** `RETENTION_MAX_AGE`: events older than this are pruned, in ms; absent = kept forever. */
  readonly retentionMaxAgeMs?: number;
  /** `RETENTION_MAX_EVENTS`: the log keeps about this many newest events; absent = no cap. */
  readonly retentionMaxEvents?: number;
  /**
   * OpenTelemetry's standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or
   * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, …): spans exported over OTLP;
   * absent = no tracer (trace contexts are still kept and forwarded).
   */
  readonly tracing?: TracingOptions;
  /** `FEDERATION`: `on` publishes presence and federation metrics and keeps the registry (with NATS); `off` lists this hub alone. */
  readonly federation: boolean;
  /** `PUBLIC_URL`: where other hubs and people reach this one, sent in its presence; "" = unset. */
  readonly publicUrl: string;
  /** `PRESENCE_INTERVAL`, in ms. */
  readonly presenceIntervalMs: number;
  /** `PRESENCE_TIMEOUT`, in ms; longer than the interval. */
  readonly presenceTimeoutMs: number;
  /** `PRESENCE_GONE_RETENTION`, in ms. */
  readonly presenceGoneRetentionMs: number;
  /** `FEDERATION_METRICS_INTERVAL`, in ms; 0 = off. */
  readonly federationMetricsIntervalMs: number;
}

/** The certificate files that make the port TLS only; the server reads them (again on SIGHUP). */
export interface TlsFiles {
  /** `TLS_CERT_FILE`: PEM, the server's certificate followed by any intermediates. */
  readonly certFile: string;
  /** `TLS_KEY_FILE`: PEM, its private key, unencrypted. */
  readonly keyFile: string;
  /** `TLS_CLIENT_CA_FILE`: PEM, the CA(s) client certificates must be signed by (mutual TLS). */
  readonly clientCaFile?: string;
}

/** Both or neither of the certificate and its key; a client CA only on a TLS port. */
function tlsFiles(get: (name: string) => string | undefined): TlsFiles | undefined {
  const certFile = get("TLS_CERT_FILE")?.trim();
  const keyFile = get("TLS_KEY_FILE")?.trim();
  const clientCaFile = get("TLS_CLIENT_CA_FILE")?.trim();
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) {
      throw new ConfigError(
        "TLS_CLIENT_CA_FILE",
        "needs TLS_CERT_FILE and TLS_KEY_FILE: client certificates are asked for only over TLS",
      );
    }
    return undefined;
  }
  if (keyFile === undefined) {
    throw new ConfigError("TLS_KEY_FILE", "is required with TLS_CERT_FILE (set both or neither)");
  }
  if (certFile === undefined) {
    throw new ConfigError("TLS_CERT_FILE", "is required with TLS_KEY_FILE (set both or neither)");
  }
  return Object.freeze({
    certFile,
    keyFile,
    ...(clientCaFile === undefined ? {} : { clientCaFile }),
  });
}

/**
 * Reads the configuration: defaults, then `env`, then `flags` (both keyed by
 * environment variable name). Throws a ConfigError naming the first bad
 * variable. The result is frozen.
 */
export function loadConfig(env: ConfigSource = process.env, flags: ConfigSource = {}): HubConfig {
  const get = (name: string): string | undefined => {
    const value = flags[name] ?? env[name];
    return value === undefined || value.trim() === "" ? undefined : value;
  };

  const hubId = get("HUB_ID")?.trim() ?? DEFAULT_HUB_ID;
  if (!isValidHubId(hubId)) {
    throw new ConfigError("HUB_ID", `"${hubId}" must be 1..64 of [A-Za-z0-9_-] and not "global"`);
  }

  const portRaw = get("PORT");
  const port = portRaw === undefined ? DEFAULT_PORT : integer("PORT", portRaw, 0, 65535);

  const databaseUrl = get("DATABASE_URL")?.trim() ?? DEFAULT_DATABASE_URL;
  let database: DatabaseTarget;
  try {
    database = parseDatabaseUrl(databaseUrl);
  } catch (error) {
    throw new ConfigError("DATABASE_URL", (error as Error).message);
  }

  const natsRaw = get("NATS_URL");
  const natsServers = natsRaw === undefined ? [] : list(natsRaw);
  for (const server of natsServers) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s]+$|^[^\s:/]+(:\d+)?$/.test(server)) {
      throw new ConfigError("NATS_URL", `"${server}" is not a NATS server URL (nats://host:port)`);
    }
  }

  const maxRaw = get("MAX_PAYLOAD_BYTES");
  const maxPayloadBytes =
    maxRaw === undefined
      ? DEFAULT_MAX_PAYLOAD_BYTES
      : integer("MAX_PAYLOAD_BYTES", maxRaw, 2, 64 * 1024 * 1024);

  const ingestRaw = get("INGEST_SUBJECTS");
  const ingestSubjects = ingestRaw === undefined ? [...DEFAULT_INGEST_SUBJECTS] : list(ingestRaw);
  for (const pattern of ingestSubjects) {
    try {
      validatePattern(pattern);
    } catch (error) {
      throw new ConfigError(
        "INGEST_SUBJECTS",
        (error as Error).message.replace(/^invalid subject: /, ""),
      );
    }
  }

  const logLevel = (get("LOG_LEVEL")?.trim() ?? DEFAULT_LOG_LEVEL) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError("LOG_LEVEL", `"${logLevel}" is not one of ${LOG_LEVELS.join(", ")}`);
  }

  const graceRaw = get("SHUTDOWN_GRACE_MS");
  const shutdownGraceMs =
    graceRaw === undefined
      ? DEFAULT_SHUTDOWN_GRACE_MS
      : integer("SHUTDOWN_GRACE_MS", graceRaw, 0, 600_000);

  const setting = (variable: string, fallback: number, min: number, max: number): number => {
    const raw = get(variable);
    return raw === undefined ? fallback : integer(variable, raw, min, max);
  };
  // 1..2^31-1: HTTP/2's own range for SETTINGS_MAX_CONCURRENT_STREAMS is wider, node's timers are not.
  const maxStreamsPerConnection = setting(
    "MAX_STREAMS_PER_CONNECTION",
    DEFAULT_MAX_STREAMS_PER_CONNECTION,
    1,
    2 ** 31 - 1,
  );
  // Below 1 KiB not even a gRPC call's own headers fit.
  const maxHeaderBytes = setting("MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES, 1024, 1024 * 1024);
  const requestBodyTimeoutMs = setting(
    "REQUEST_BODY_TIMEOUT_MS",
    DEFAULT_REQUEST_BODY_TIMEOUT_MS,
    100,
    2 ** 31 - 1,
  );

  const natsCreds = get("NATS_CREDS")?.trim();
  const natsJsDomain = get("NATS_JS_DOMAIN")?.trim();
  if (natsJsDomain !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(natsJsDomain)) {
    throw new ConfigError("NATS_JS_DOMAIN", `"${natsJsDomain}" must be 1..64 of [A-Za-z0-9_-]`);
  }
  const host = get("HOST")?.trim() ?? DEFAULT_HOST;
  const tls = tlsFiles(get);

  const metricsRaw = get("METRICS")?.trim().toLowerCase() ?? "on";
  if (metricsRaw !== "on" && metricsRaw !== "off") {
    throw new ConfigError("METRICS", `"${get("METRICS")}" is not on or off`);
  }

  const windowRaw = get("IDEMPOTENCY_WINDOW");
  const idempotencyWindowMs =
    windowRaw === undefined
      ? DEFAULT_IDEMPOTENCY_WINDOW_MS
      : parseDuration("IDEMPOTENCY_WINDOW", windowRaw, 1000);
  const maxAgeRaw = get("RETENTION_MAX_AGE");
  const retentionMaxAgeMs =
    maxAgeRaw === undefined ? undefined : parseDuration("RETENTION_MAX_AGE", maxAgeRaw, 1000);
  const maxEventsRaw = get("RETENTION_MAX_EVENTS");
  const retentionMaxEvents =
    maxEventsRaw === undefined
      ? undefined
      : integer("RETENTION_MAX_EVENTS", maxEventsRaw, 1, Number.MAX_SAFE_INTEGER);
  const tracing = tracingOptions(get);

  const authFile = get("AUTH_FILE")?.trim();
  let auth: HubConfig["auth"];
  if (authFile !== undefined) {
    try {
      auth = { file: authFile, settings: loadAuthFile(authFile) };
    } catch (error) {
      throw new ConfigError("AUTH_FILE", (error as Error).message);
    }
  }

  const federationRaw = get("FEDERATION")?.trim().toLowerCase() ?? "on";
  if (federationRaw !== "on" && federationRaw !== "off") {
    throw new ConfigError("FEDERATION", `"${get("FEDERATION")}" is not on or off`);
  }
  const publicUrl = get("PUBLIC_URL")?.trim() ?? "";
  if (publicUrl !== "") {
    let parsed: URL | undefined;
    try {
      parsed = new URL(publicUrl);
    } catch {}
    if (parsed === undefined || !/^(https?|grpcs?):$/.test(parsed.protocol)) {
      throw new ConfigError(
        "PUBLIC_URL",
        `"${publicUrl}" is not an http:// or https:// URL (e.g. https://hub.example.com)`,
      );
    }
  }
  const durationOf = (variable: string, fallback: number, minMs: number) => {
    const raw = get(variable);
    return raw === undefined ? fallback : parseDuration(variable, raw, minMs, 365 * 86_400_000);
  };
  const presenceIntervalMs = durationOf("PRESENCE_INTERVAL", DEFAULT_PRESENCE_INTERVAL_MS, 10);
  const presenceTimeoutMs = durationOf("PRESENCE_TIMEOUT", DEFAULT_PRESENCE_TIMEOUT_MS, 10);
  if (presenceTimeoutMs <= presenceIntervalMs) {
    throw new ConfigError(
      "PRESENCE_TIMEOUT",
      `${presenceTimeoutMs} ms must be longer than PRESENCE_INTERVAL (${presenceIntervalMs} ms), or every hub would flicker gone between heartbeats`,
    );
  }
  const presenceGoneRetentionMs = durationOf(
    "PRESENCE_GONE_RETENTION",
    DEFAULT_PRESENCE_GONE_RETENTION_MS,
    0,
  );
  const federationMetricsIntervalMs = durationOf(
    "FEDERATION_METRICS_INTERVAL",
    DEFAULT_FEDERATION_METRICS_INTERVAL_MS,
    0,
  );
  if (federationMetricsIntervalMs > 0 && federationMetricsIntervalMs < 100) {
    throw new ConfigError(
      "FEDERATION_METRICS_INTERVAL",
      `${federationMetricsIntervalMs} ms is too short (0 = off, else at least 100ms): each one stores an event`,
    );
  }

  return Object.freeze({
    hubId,
    federation: federationRaw === "on",
    publicUrl,
    presenceIntervalMs,
    presenceTimeoutMs,
    presenceGoneRetentionMs,
    federationMetricsIntervalMs,
    port,
    host,
    databaseUrl,
    database,
    natsServers: Object.freeze(natsServers),
    ...(natsCreds === undefined ? {} : { natsCreds }),
    ...(natsJsDomain === undefined ? {} : { natsJsDomain }),
    maxPayloadBytes,
    ingestSubjects: Object.freeze(ingestSubjects),
    logLevel,
    shutdownGraceMs,
    maxStreamsPerConnection,
    maxHeaderBytes,
    requestBodyTimeoutMs,
    metrics: metricsRaw === "on",
    ...(auth === undefined ? {} : { auth }),
    ...(tls === undefined ? {} : { tls }),
    idempotencyWindowMs,
    ...(retentionMaxAgeMs === undefined ? {} : { retentionMaxAgeMs }),
    ...(retentionMaxEvents === undefined ? {} : { retentionMaxEvents }),
    ...(tracing === undefined ? {} : { tracing }),
  });
}

/** Configuration of the CLI's client commands (`pub`, `sub`, `events`, `health`). */
export interface ClientConfig {
  /** `HUBBUS_URL`: the gateway's base URL, `http://` (h2c) or `https://`. */
  readonly url: string;
  /** `HUBBUS_TOKEN`: sent as `Authorization: Bearer <token>` with every call. */
  readonly token?: string;
  /** `HUBBUS_CA_FILE`: path of the PEM file with the CA(s) to trust for an `https://` gateway. */
  readonly caFile?: string;
  /** The contents of `caFile`, read and checked: a certificate. */
  readonly ca?: string;
}

/** Characters a bearer token may hold (RFC 6750's b64token, plus what JWTs and API keys use). */
const TOKEN = /^[\x21-\x7e]+$/;

function readCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    const reason = (error as Error).message.replace(/, \w+ '.*'$/, "");
    throw new ConfigError("HUBBUS_CA_FILE", `cannot read ${path}: ${reason}`);
  }
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new ConfigError(
      "HUBBUS_CA_FILE",
      `${path} is not a PEM certificate (${(error as Error).message})`,
    );
  }
  return pem;
}

/**
 * Reads the client configuration: defaults ← env ← flags (keyed by
 * variable name). A CA file is read here, so a bad one is a configuration
 * error before any call.
 */
export function loadClientConfig(
  env: ConfigSource = process.env,
  flags: ConfigSource = {},
): ClientConfig {
  const get = (name: string): string | undefined => {
    const value = (flags[name] ?? env[name])?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const raw = get("HUBBUS_URL") ?? DEFAULT_GATEWAY_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError("HUBBUS_URL", `"${raw}" is not a URL (e.g. ${DEFAULT_GATEWAY_URL})`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError("HUBBUS_URL", `"${raw}" must be http:// or https://`);
  }
  const token = get("HUBBUS_TOKEN");
  // Never echoed: it is a secret.
  if (token !== undefined && !TOKEN.test(token)) {
    throw new ConfigError("HUBBUS_TOKEN", "must be one word of printable ASCII (no spaces)");
  }
  const caFile = get("HUBBUS_CA_FILE");
  if (caFile !== undefined && url.protocol !== "https:") {
    throw new ConfigError("HUBBUS_CA_FILE", `is for https:// gateways, and "${raw}" is not one`);
  }
  return Object.freeze({
    url: raw.replace(/\/+$/, ""),
    ...(token === undefined ? {} : { token }),
    ...(caFile === undefined ? {} : { caFile, ca: readCa(caFile) }),
  });
}
