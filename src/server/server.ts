import { once, setMaxListeners } from "node:events";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { createBodyDeadlines } from "../adapters/grpc/index.js";
import { HubError } from "../core/index.js";
import { createOnePort, type OnePort } from "./one-port.js";
import { parseServerOptions, type ServerOptions } from "./options.js";
import { createRoutes } from "./routes.js";
import { loadTls, loadTlsSync, type TlsMaterial, type TlsOptions } from "./tls.js";
import { createTlsPort, type TlsPort } from "./tls-port.js";

/** Where a server listens. */
export interface ListenAddress {
  /** The bound port: the one chosen by the system when asked for port 0. */
  readonly port: number;
  /** The bound address, e.g. `127.0.0.1` or `::`. */
  readonly host: string;
}

/** The gateway's network side: every protocol on one port. */
export interface HubServer {
  /**
   * Starts listening on `port` and `host` (the options' when not given);
   * resolves with the bound address. Port 0 picks a free port.
   */
  listen(port?: number, host?: string): Promise<ListenAddress>;
  /**
   * Graceful shutdown: stops accepting, ends streams with `unavailable`,
   * sends GOAWAY to HTTP/2 clients, closes HTTP/1.1 connections as their
   * requests finish, and cuts whatever is left after the grace period.
   * Idempotent. Does not close the bus or its log.
   */
  close(): Promise<void>;
  /**
   * Reads the TLS certificate files again (on SIGHUP): new connections get
   * the new certificates, open ones keep theirs and stay up. A file that
   * cannot be read or used leaves the current certificates serving, is
   * logged, and rejects with a `TlsFileError`. Resolves at once without TLS.
   * Reloads run one after the other.
   */
  reloadTls(): Promise<void>;
  /** The bound port, once listening. */
  readonly port: number | undefined;
  /** Whether the port is TLS only (`tls` given). */
  readonly tls: boolean;
}

/** Which certificate serves, and until when; an expired one is worth a warning. */
function logCertificate(logger: Logger, material: TlsMaterial, message: string): void {
  const fields = { subject: material.subject, validTo: material.validTo };
  if (Date.parse(material.validTo) < Date.now()) logger.warn(fields, `${message}: it has expired`);
  else logger.info(fields, message);
}

/**
 * Creates the server for a core: `EventBusService` over gRPC, Connect and
 * gRPC-Web, JSON-RPC at `/rpc`, `/rpc/methods`, `/healthz` and `/readyz`,
 * HTTP/1.1 and h2c on the same port, or HTTP/1.1 and HTTP/2 over TLS with
 * `tls`. Throws a `TlsFileError` when a certificate file cannot be used.
 */
export function createServer(options: ServerOptions): HubServer {
  const opts = parseServerOptions(options);
  const { bus } = opts;
  const logger = opts.logger.child({ component: "server" });
  const shutdown = new AbortController();
  // Every in-flight RPC listens on this signal; hundreds at once are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  let closing: Promise<void> | undefined;
  let port: number | undefined;

  const isShuttingDown = () => closing !== undefined;

  const bodyDeadlines = createBodyDeadlines(opts.requestBodyTimeoutMs);
  const handlers = createRoutes({
    bus,
    logger: opts.logger,
    stages: opts.stages,
    metrics: opts.metrics,
    tracer: opts.tracer,
    hubs: opts.hubs,
    maxRequestBytes: opts.maxRequestBytes,
    maxMessageBytes: opts.maxMessageBytes,
    shutdownSignal: shutdown.signal,
    isShuttingDown,
    requestBodyTimeoutMs: opts.requestBodyTimeoutMs,
    bodyDeadlines,
  });
  const portOptions = {
    keepAliveTimeoutMs: opts.keepAliveTimeoutMs,
    logger,
    isShuttingDown,
    maxStreamsPerConnection: opts.maxStreamsPerConnection,
    maxHeaderBytes: opts.maxHeaderBytes,
    requestBodyTimeoutMs: opts.requestBodyTimeoutMs,
    bodyDeadlines,
  };
  const { tls } = opts;
  let tlsPort: TlsPort | undefined;
  if (tls !== undefined) {
    const material = loadTlsSync(tls);
    logCertificate(logger, material, "TLS certificate loaded");
    tlsPort = createTlsPort(handlers, {
      ...portOptions,
      context: material.context,
      requireClientCertificate: tls.clientCaFile !== undefined,
      handshakeTimeoutMs: opts.peekTimeoutMs,
    });
  }
  const onePort: OnePort =
    tlsPort ?? createOnePort(handlers, { ...portOptions, peekTimeoutMs: opts.peekTimeoutMs });
  const { listener, sessions, sockets, peeking } = onePort;
  let reloading: Promise<void> = Promise.resolve();

  async function reload(port: TlsPort, files: TlsOptions): Promise<void> {
    let material: TlsMaterial;
    try {
      material = await loadTls(files);
      port.setSecureContext(material.context);
    } catch (error) {
      logger.error({ err: error }, "TLS certificates not reloaded: the current ones still serve");
      throw error;
    }
    logCertificate(logger, material, "TLS certificate reloaded");
  }

  async function drain(): Promise<void> {
    const allClosed = new Promise<void>((resolve) => listener.close(() => resolve()));
    shutdown.abort(new HubError("unavailable", "the server is shutting down"));
    for (const session of sessions) session.close();
    // Connections that have not sent a byte carry no call; some clients open one ahead of need.
    for (const socket of peeking) socket.destroy();
    // Idle keep-alive connections go now; busy ones as their request ends
    // (the handler marks those answers `connection: close`).
    onePort.closeIdleConnections();
    const sweep = setInterval(() => onePort.closeIdleConnections(), 100);
    const grace = setTimeout(() => {
      logger.warn(
        { sockets: sockets.size, sessions: sessions.size },
        "grace period over: closing the remaining connections",
      );
      onePort.closeAllConnections();
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    }, opts.shutdownGraceMs);
    try {
      await allClosed;
    } finally {
      clearInterval(sweep);
      clearTimeout(grace);
      onePort.release();
      bodyDeadlines.stop();
    }
    logger.info("server closed");
  }

  return {
    get port() {
      return port;
    },

    tls: tls !== undefined,

    async listen(listenPort = opts.port, host = opts.host) {
      if (closing) throw new Error("the server is closed");
      const listening = once(listener, "listening");
      listener.listen({ port: listenPort, host });
      await listening;
      const address = listener.address() as AddressInfo;
      port = address.port;
      logger.info({ port, host: address.address }, "listening");
      return { port, host: address.address };
    },

    close() {
      closing ??= listener.listening ? drain() : Promise.resolve();
      return closing;
    },

    reloadTls() {
      if (tlsPort === undefined || tls === undefined) return Promise.resolve();
      const port = tlsPort;
      // One after the other: a slow read must not put older files back after newer ones.
      reloading = reloading.catch(() => {}).then(() => reload(port, tls));
      return reloading;
    },
  };
}
