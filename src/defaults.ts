// What hubbus does when nobody says otherwise, for the library, the gateway
// and the CLI alike. A leaf: it imports nothing, so every layer can read it,
// and a default is written once (README, "Configuration", lists the same).
// Tuning knobs that only one module knows about (relay batch, pool size…)
// stay beside the code they tune.

/** `HUB_ID`: the hub id used when none is configured. */
export const DEFAULT_HUB_ID = "local-hub";

/** `PORT`: the one port for gRPC, Connect, gRPC-Web, JSON-RPC and HTTP. */
export const DEFAULT_PORT = 9001;

/** `HOST`: loopback unless told otherwise; exposing the gateway is a deliberate choice. */
export const DEFAULT_HOST = "127.0.0.1";

/** `DATABASE_URL`: the embedded SQLite log. */
export const DEFAULT_DATABASE_URL = "sqlite:./data/hub.db";

/** `MAX_PAYLOAD_BYTES`: largest payload, as canonical JSON (1 MiB). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** `INGEST_SUBJECTS`: NATS patterns whose messages from other clients are stored as events. */
export const DEFAULT_INGEST_SUBJECTS: readonly string[] = Object.freeze(["hub.>"]);

/** `SHUTDOWN_GRACE_MS`: how long a stop waits for in-flight calls before it cuts connections. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 3000;

/** `MAX_STREAMS_PER_CONNECTION`: concurrent HTTP/2 streams one connection may open (SETTINGS_MAX_CONCURRENT_STREAMS). */
export const DEFAULT_MAX_STREAMS_PER_CONNECTION = 1000;

/** `MAX_HEADER_BYTES`: largest request header block (HTTP/1.1 head, HTTP/2 header list), 16 KiB. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

/**
 * `REQUEST_BODY_TIMEOUT_MS`: how long a request's headers and body may take
 * to arrive; a slow or abandoned body is answered and its stream closed.
 * Streams whose request is complete (a Subscribe) are not bounded by it.
 */
export const DEFAULT_REQUEST_BODY_TIMEOUT_MS = 30_000;

/** `LOG_LEVEL`. */
export const DEFAULT_LOG_LEVEL = "info";

/** `HUBBUS_URL`: where the CLI's client commands find a gateway. */
export const DEFAULT_GATEWAY_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;

/** `PRESENCE_INTERVAL`: how often an instance sends its presence heartbeat. */
export const DEFAULT_PRESENCE_INTERVAL_MS = 5_000;

/** `PRESENCE_TIMEOUT`: silence after which a hub is `gone`. */
export const DEFAULT_PRESENCE_TIMEOUT_MS = 30_000;

/** `PRESENCE_GONE_RETENTION`: how long a gone hub stays listed before it is dropped. */
export const DEFAULT_PRESENCE_GONE_RETENTION_MS = 60 * 60 * 1000;

/** `FEDERATION_METRICS_INTERVAL`: how often a hub publishes `hub.global.metrics.<hub_id>`. */
export const DEFAULT_FEDERATION_METRICS_INTERVAL_MS = 30_000;

/** Origin service of events published without a service name, and of the gateway's own. */
export const DEFAULT_ORIGIN_SERVICE = "hubbus";

/** Room for the JSON-RPC envelope and the other params around a payload. */
export const DEFAULT_ENVELOPE_HEADROOM_BYTES = 64 * 1024;

/**
 * gRPC/Connect message limit as a multiple of the payload limit: a Struct in
 * the binary format can be several times larger than its JSON (a number is
 * 9 bytes plus framing), and the core's payload check must be the one that
 * answers, with `invalid_argument`.
 */
export const DEFAULT_MESSAGE_BYTES_PER_PAYLOAD_BYTE = 8;

/**
 * The transport limits that let a payload of `maxPayloadBytes` reach the
 * core, which then judges it: a JSON-RPC body holds the payload as JSON,
 * which escaping can double; a protobuf message holds it as a Struct.
 */
export function defaultTransportLimits(maxPayloadBytes: number): {
  readonly maxRequestBytes: number;
  readonly maxMessageBytes: number;
} {
  return {
    maxRequestBytes: 2 * maxPayloadBytes + DEFAULT_ENVELOPE_HEADROOM_BYTES,
    maxMessageBytes:
      DEFAULT_MESSAGE_BYTES_PER_PAYLOAD_BYTE * maxPayloadBytes + DEFAULT_ENVELOPE_HEADROOM_BYTES,
  };
}

/** How long a publish's idempotency key is remembered (`IDEMPOTENCY_WINDOW`): 24 hours. */
export const DEFAULT_IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;
