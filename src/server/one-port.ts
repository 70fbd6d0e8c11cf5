import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Logger } from "pino";

/** The first bytes of every HTTP/2 connection (RFC 9113, section 3.4). */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A request handler that serves both HTTP/1.1 and the HTTP/2 compatibility API. */
export type DualHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** What serves the port. */
export interface Handlers {
  /** Requests of both HTTP versions, through the HTTP/2 compatibility API for HTTP/2. */
  readonly handler: DualHandler;
  /**
   * Sees each HTTP/2 stream first, as node:http2 emits it; returns true for
   * a stream it serves itself, which then gets no compatibility objects.
   */
  readonly takeStream?: (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
  ) => boolean;
}

/** The servers behind one listening port, and what shutdown needs to reach. */
export interface OnePort {
  /** The only listening server. */
  readonly listener: net.Server;
  /** Open HTTP/2 sessions. */
  readonly sessions: ReadonlySet<http2.ServerHttp2Session>;
  /** Every accepted socket, until it closes (for TLS, the TCP socket under the TLS one). */
  readonly sockets: ReadonlySet<net.Socket>;
  /** Sockets whose protocol is not known yet: no request in flight, safe to drop on shutdown. */
  readonly peeking: ReadonlySet<net.Socket>;
  /** Ends the HTTP/1.1 connections with no request in flight. */
  closeIdleConnections(): void;
  /** Ends every HTTP/1.1 connection, busy or not. */
  closeAllConnections(): void;
  /** Once the listener closed: stops the timers of the servers behind it. */
  release(): void;
}

/** What both kinds of port take besides their handlers. */
export interface PortOptions {
  readonly keepAliveTimeoutMs: number;
  readonly logger: Logger;
  /**
   * True once shutdown began: a session that opens later (its handshake was
   * under way) is told GOAWAY at once, as the open ones were.
   */
  readonly isShuttingDown: () => boolean;
}

/**
 * Makes `takeStream` see each HTTP/2 stream before node's compatibility
 * layer, and tracks the server's sessions in `sessions`.
 */
export function attachHttp2(
  h2: http2.Http2Server | http2.Http2SecureServer,
  takeStream: Handlers["takeStream"],
  sessions: Set<http2.ServerHttp2Session>,
  options: PortOptions,
): void {
  if (takeStream !== undefined) {
    // The request listener made node add its compatibility layer as a 'stream' listener; it now runs second.
    const compat = h2.listeners("stream") as ((...args: unknown[]) => void)[];
    h2.removeAllListeners("stream");
    h2.on("stream", (stream, headers, ...rest) => {
      if (takeStream(stream, headers)) return;
      for (const listener of compat) listener.call(h2, stream, headers, ...rest);
    });
  }
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (options.isShuttingDown()) session.close();
  });
  h2.on("sessionError", (error) => options.logger.debug({ err: error }, "http2 session error"));
}

/**
 * Serves HTTP/1.1 and HTTP/2 cleartext (h2c, prior knowledge, as gRPC
 * clients speak it) on one port: each new socket is read until its first 24
 * bytes equal the HTTP/2 preface or stop matching it, then handed to the
 * matching server. `POST` starts with `P` like the preface, hence the wait.
 *
 * A TLS port needs no peeking: ALPN names the protocol (see tls-port.ts).
 */
export function createOnePort(
  { handler, takeStream }: Handlers,
  options: PortOptions & { readonly peekTimeoutMs: number },
): OnePort {
  const { peekTimeoutMs, keepAliveTimeoutMs, logger } = options;
  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<net.Socket>();
  const peeking = new Set<net.Socket>();

  const http1 = http.createServer(handler as http.RequestListener);
  http1.keepAliveTimeout = keepAliveTimeoutMs;
  // Node wants headersTimeout above keepAliveTimeout, or idle sockets race the header timer.
  http1.headersTimeout = Math.max(http1.headersTimeout, keepAliveTimeoutMs + 1000);
  // The HTTP/1.1 server never listens itself, but only a listening server
  // tracks its connections (closeIdleConnections, header and request timeouts).
  http1.emit("listening");

  const h2 = http2.createServer(
    {},
    handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  );
  attachHttp2(h2, takeStream, sessions, options);

  function handOff(socket: net.Socket, head: Buffer): void {
    socket.setNoDelay(true);
    socket.pause();
    socket.unshift(head);
    if (head.length >= HTTP2_PREFACE.length && head.subarray(0, 24).equals(HTTP2_PREFACE)) {
      // The http2 session reads the socket itself: resuming here would eat the preface.
      h2.emit("connection", socket);
    } else {
      http1.emit("connection", socket);
      socket.resume();
    }
  }

  // http.Server turns Nagle off for the sockets it accepts itself; these it is handed.
  const listener = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    peeking.add(socket);
    let head: Buffer = Buffer.alloc(0);

    const cleanup = () => {
      peeking.delete(socket);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("end", onEnd);
      socket.off("timeout", onTimeout);
      socket.setTimeout(0);
    };
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, HTTP2_PREFACE.length);
      const stillPreface = head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      if (stillPreface && head.length < HTTP2_PREFACE.length) return;
      cleanup();
      handOff(socket, head);
    };
    const onError = (error: Error) => {
      logger.debug({ err: error }, "socket error before the first request");
      cleanup();
      socket.destroy();
    };
    const onEnd = () => {
      cleanup();
      socket.destroy();
    };
    const onTimeout = () => {
      cleanup();
      socket.destroy();
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("end", onEnd);
    socket.on("timeout", onTimeout);
    socket.setTimeout(peekTimeoutMs);
  });

  return {
    listener,
    sessions,
    sockets,
    peeking,
    closeIdleConnections: () => http1.closeIdleConnections(),
    closeAllConnections: () => http1.closeAllConnections(),
    release() {
      // Stops the HTTP/1.1 connection-checking timer; neither server listens itself.
      http1.close(() => {});
      h2.close(() => {});
    },
  };
}
