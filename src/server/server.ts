import { once, setMaxListeners } from "node:events";
import type { AddressInfo } from "node:net";
import { HubError } from "../core/index.js";
import { createOnePort } from "./one-port.js";
import { parseServerOptions, type ServerOptions } from "./options.js";
import { createRoutes } from "./routes.js";

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
  /** The bound port, once listening. */
  readonly port: number | undefined;
}

/**
 * Creates the server for a core: `EventBusService` over gRPC, Connect and
 * gRPC-Web, JSON-RPC at `/rpc`, `/rpc/methods`, `/healthz` and `/readyz`,
 * HTTP/1.1 and h2c on the same port.
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

  const handlers = createRoutes({
    bus,
    logger: opts.logger,
    stages: opts.stages,
    metrics: opts.metrics,
    maxRequestBytes: opts.maxRequestBytes,
    maxMessageBytes: opts.maxMessageBytes,
    shutdownSignal: shutdown.signal,
    isShuttingDown: () => closing !== undefined,
  });
  const onePort = createOnePort(handlers, {
    peekTimeoutMs: opts.peekTimeoutMs,
    keepAliveTimeoutMs: opts.keepAliveTimeoutMs,
    logger,
  });
  const { listener, http1, http2, sessions, sockets, peeking } = onePort;

  async function drain(): Promise<void> {
    const allClosed = new Promise<void>((resolve) => listener.close(() => resolve()));
    shutdown.abort(new HubError("unavailable", "the server is shutting down"));
    for (const session of sessions) session.close();
    // Connections that have not sent a byte carry no call; some clients open one ahead of need.
    for (const socket of peeking) socket.destroy();
    // Idle keep-alive connections go now; busy ones as their request ends
    // (the handler marks those answers `connection: close`).
    http1.closeIdleConnections();
    const sweep = setInterval(() => http1.closeIdleConnections(), 100);
    const grace = setTimeout(() => {
      logger.warn(
        { sockets: sockets.size, sessions: sessions.size },
        "grace period over: closing the remaining connections",
      );
      http1.closeAllConnections();
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    }, opts.shutdownGraceMs);
    try {
      await allClosed;
    } finally {
      clearInterval(sweep);
      clearTimeout(grace);
      // Stops the HTTP/1.1 connection-checking timer; neither server listens itself.
      http1.close(() => {});
      http2.close(() => {});
    }
    logger.info("server closed");
  }

  return {
    get port() {
      return port;
    },

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
  };
}
