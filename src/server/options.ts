import { type Logger, pino } from "pino";
import type { EventBus, HubDirectory, Tracer } from "../core/index.js";
import {
  DEFAULT_HOST,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_STREAMS_PER_CONNECTION,
  DEFAULT_PORT,
  DEFAULT_REQUEST_BODY_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  defaultTransportLimits,
} from "../defaults.js";
import type { Metrics } from "../metrics/index.js";
import type { Stage } from "../pipeline/index.js";
import type { TlsOptions } from "./tls.js";

/**
 * How long a new connection may take to send its first bytes (protocol
 * detection) or, on a TLS port, to finish its handshake.
 */
export const DEFAULT_PEEK_TIMEOUT_MS = 10_000;
/** Idle HTTP/1.1 keep-alive; above the 60 s idle timeout of common load balancers. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Limits a connection cannot exceed, whatever it sends. */
export interface ConnectionLimits {
  /** HTTP/2 streams open at once on one connection; more are refused (REFUSED_STREAM). @default DEFAULT_MAX_STREAMS_PER_CONNECTION (1000) */
  readonly maxStreamsPerConnection?: number;
  /** Largest request header block: 431 on HTTP/1.1, the stream refused on HTTP/2. @default DEFAULT_MAX_HEADER_BYTES (16 KiB) */
  readonly maxHeaderBytes?: number;
  /**
   * How long a request's headers and body may take to arrive. Past it the
   * request is answered (408, or `deadline_exceeded`) and its stream or
   * connection closed; a stream whose request has arrived (a Subscribe)
   * runs as long as it likes. @default DEFAULT_REQUEST_BODY_TIMEOUT_MS (30 s)
   */
  readonly requestBodyTimeoutMs?: number;
}

/** Options of {@link createServer}. All but the core are optional. */
export interface ServerOptions extends ConnectionLimits {
  /** The core every protocol calls. */
  readonly bus: EventBus;
  /** TCP port; 0 picks a free one (see `listen()`'s result). `listen(port)` overrides it. @default DEFAULT_PORT (9001) */
  readonly port?: number;
  /** Interface to bind; `listen(port, host)` overrides it. @default DEFAULT_HOST (127.0.0.1) */
  readonly host?: string;
  /** Access logs and errors. @default a silent logger */
  readonly logger?: Logger;
  /**
   * Steps every call takes on every protocol before the core (authentication,
   * permissions, metrics, tracing), outermost first. @default []
   */
  readonly stages?: readonly Stage[];
  /** @default DEFAULT_SHUTDOWN_GRACE_MS (3 s) */
  readonly shutdownGraceMs?: number;
  /** @default DEFAULT_PEEK_TIMEOUT_MS (10 s) */
  readonly peekTimeoutMs?: number;
  /** @default DEFAULT_KEEP_ALIVE_TIMEOUT_MS (65 s) */
  readonly keepAliveTimeoutMs?: number;
  /**
   * Largest JSON-RPC request body.
   * @default defaultTransportLimits(bus.maxPayloadBytes).maxRequestBytes
   */
  readonly maxRequestBytes?: number;
  /**
   * Largest gRPC/Connect/gRPC-Web message.
   * @default defaultTransportLimits(bus.maxPayloadBytes).maxMessageBytes
   */
  readonly maxMessageBytes?: number;
  /**
   * Serve TLS only (ALPN `h2` and `http/1.1`: every protocol, over TLS),
   * with these certificate files. `createServer` reads them at once and
   * throws a `TlsFileError` naming the file at fault; `reloadTls()` reads
   * them again. With `clientCaFile`, clients must present a certificate
   * signed by that CA (mutual TLS). @default unset: cleartext HTTP/1.1 and h2c
   */
  readonly tls?: TlsOptions;
  /**
   * Counts every call (the pipeline's `onDone`) and serves `GET /metrics`,
   * open like the health endpoints. @default absent: no `/metrics`
   */
  readonly metrics?: Metrics;
  /** A span per call (the pipeline's); absent: none. @default absent */
  readonly tracer?: Tracer | undefined;
  /** What `ListHubs` answers (the federation's registry). @default this hub alone */
  readonly hubs?: HubDirectory;
}

/** ServerOptions with every default applied. */
export type ParsedServerOptions = Required<
  Omit<ServerOptions, "tls" | "metrics" | "tracer" | "hubs">
> & {
  readonly tls: TlsOptions | undefined;
} & Pick<ServerOptions, "metrics" | "tracer" | "hubs">;

function checkInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be an integer between ${min} and ${max}, got ${value}`);
  }
}

function checkPath(name: string, path: unknown) {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`${name} must be the path of a PEM file, got ${JSON.stringify(path)}`);
  }
}

/** Applies defaults and rejects values that cannot work, naming the option. */
export function parseServerOptions(options: ServerOptions): ParsedServerOptions {
  const { bus } = options;
  const limits = defaultTransportLimits(bus.maxPayloadBytes);
  const parsed: ParsedServerOptions = {
    bus,
    port: options.port ?? DEFAULT_PORT,
    host: options.host ?? DEFAULT_HOST,
    logger: options.logger ?? pino({ level: "silent" }),
    stages: options.stages ?? [],
    shutdownGraceMs: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
    peekTimeoutMs: options.peekTimeoutMs ?? DEFAULT_PEEK_TIMEOUT_MS,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    maxRequestBytes: options.maxRequestBytes ?? limits.maxRequestBytes,
    maxMessageBytes: options.maxMessageBytes ?? limits.maxMessageBytes,
    tls: options.tls,
    metrics: options.metrics,
    maxStreamsPerConnection: options.maxStreamsPerConnection ?? DEFAULT_MAX_STREAMS_PER_CONNECTION,
    maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
    requestBodyTimeoutMs: options.requestBodyTimeoutMs ?? DEFAULT_REQUEST_BODY_TIMEOUT_MS,
    tracer: options.tracer,
    hubs: options.hubs,
  };
  checkInteger("maxStreamsPerConnection", parsed.maxStreamsPerConnection, 1, 2 ** 31 - 1);
  checkInteger("maxHeaderBytes", parsed.maxHeaderBytes, 1024);
  checkInteger("requestBodyTimeoutMs", parsed.requestBodyTimeoutMs, 1, 2 ** 31 - 1);
  checkInteger("port", parsed.port, 0, 65535);
  checkInteger("shutdownGraceMs", parsed.shutdownGraceMs, 0);
  checkInteger("peekTimeoutMs", parsed.peekTimeoutMs, 1);
  checkInteger("keepAliveTimeoutMs", parsed.keepAliveTimeoutMs, 0);
  // The transports must let a payload of maxPayloadBytes through, so the core can judge it.
  checkInteger("maxRequestBytes", parsed.maxRequestBytes, bus.maxPayloadBytes);
  checkInteger("maxMessageBytes", parsed.maxMessageBytes, bus.maxPayloadBytes, 0xffffffff);
  if (parsed.tls !== undefined) {
    const { certFile, keyFile, clientCaFile } = parsed.tls;
    checkPath("tls.certFile", certFile);
    checkPath("tls.keyFile", keyFile);
    if (clientCaFile !== undefined) checkPath("tls.clientCaFile", clientCaFile);
  }
  return parsed;
}
