import { type Logger, pino } from "pino";
import type { EventBus, HubDirectory } from "../core/index.js";
import {
  DEFAULT_HOST,
  DEFAULT_PORT,
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

/** Options of {@link createServer}. All but the core are optional. */
export interface ServerOptions {
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
  /** What `ListHubs` answers (the federation's registry). @default this hub alone */
  readonly hubs?: HubDirectory;
}

/** ServerOptions with every default applied. */
export type ParsedServerOptions = Required<Omit<ServerOptions, "tls" | "metrics" | "hubs">> & {
  readonly tls: TlsOptions | undefined;
} & Pick<ServerOptions, "metrics" | "hubs">;

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
    hubs: options.hubs,
  };
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
