import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Logger } from "pino";
import { type BodyDeadlines, checkEveryMs } from "../adapters/grpc/index.js";

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
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS. */
  readonly maxStreamsPerConnection: number;
  /** HTTP/1.1's maxHeaderSize and HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE. */
  readonly maxHeaderBytes: number;
  /** HTTP/1.1's requestTimeout; for HTTP/2 streams, the time until their request ends. */
  readonly requestBodyTimeoutMs: number;
  /** Where HTTP/2 streams' request deadlines are checked. */
  readonly bodyDeadlines: BodyDeadlines;
}

/** What HTTP/2 servers of both ports take from the limits. */
export function http2Limits(options: PortOptions): http2.ServerOptions {
  return {
    settings: {
      maxConcurrentStreams: options.maxStreamsPerConnection,
      maxHeaderListSize: options.maxHeaderBytes,
    },
    maxHeaderListPairs: 128,
  };
}

/**
 * Bounds the wait for a request on an HTTP/1.1 server: node answers 408
 * past `requestTimeout` and checks every so often, by default every 30 s,
 * which would let a 30 s limit hold for a minute.
 */
export function limitHttp1(server: http.Server, options: PortOptions): void {
  server.requestTimeout = options.requestBodyTimeoutMs;
  // node applies the shorter of the two to the whole request: the head must fit in it too.
  server.headersTimeout = Math.min(server.headersTimeout, options.requestBodyTimeoutMs);
  server.maxHeadersCount = 128;
  // Both read by node per connection or when tracking starts ('listening'), as properties.
  const tunable = server as unknown as {
    connectionsCheckingInterval: number;
    maxHeaderSize: number;
  };
  tunable.connectionsCheckingInterval = checkEveryMs(options.requestBodyTimeoutMs);
  tunable.maxHeaderSize = options.maxHeaderBytes;
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
      if (headerListTooLarge(stream, headers, options.maxHeaderBytes)) return;
      if (takeStream(stream, headers)) return;
      watchRequest(stream, options.bodyDeadlines);
      for (const listener of compat) listener.call(h2, stream, headers, ...rest);
    });
  } else {
    // Only tests serve without a stream taker; they get the same limits.
    const compat = h2.listeners("stream") as ((...args: unknown[]) => void)[];
    h2.removeAllListeners("stream");
    h2.on("stream", (stream, headers, ...rest) => {
      if (headerListTooLarge(stream, headers, options.maxHeaderBytes)) return;
      watchRequest(stream, options.bodyDeadlines);
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
 * node announces SETTINGS_MAX_HEADER_LIST_SIZE but lets a larger list
 * through, so it is measured here as RFC 9113 counts it (name, value and 32
 * octets per field) and answered 431 with the stream closed.
 */
function headerListTooLarge(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  maxBytes: number,
): boolean {
  let size = 0;
  for (const name in headers) {
    const value = headers[name];
    size += name.length + 32;
    if (typeof value === "string") size += value.length;
    else if (value !== undefined) for (const v of value) size += v.length + name.length + 32;
  }
  if (size <= maxBytes) return false;
  stream.on("error", () => {});
  if (!stream.destroyed) {
    stream.respond({ ":status": 431, "content-type": "application/json" });
    stream.end(JSON.stringify({ error: "request header fields too large" }));
  }
  return true;
}

/**
 * A stream whose request has not ended in time is reset (CANCEL): the
 * compatibility layer's handler holds its response, so nothing else can
 * answer it cleanly. Once the request has ended, the stream may run on.
 */
function watchRequest(stream: http2.ServerHttp2Stream, deadlines: BodyDeadlines): void {
  if (stream.readableEnded) return;
  const unwatch = deadlines.watch(() => {
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  });
  stream.once("end", unwatch);
  stream.once("close", unwatch);
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

  const http1 = http.createServer(
    { maxHeaderSize: options.maxHeaderBytes },
    handler as http.RequestListener,
  );
  http1.keepAliveTimeout = keepAliveTimeoutMs;
  // Node wants headersTimeout above keepAliveTimeout, or idle sockets race the header timer.
  http1.headersTimeout = Math.max(http1.headersTimeout, keepAliveTimeoutMs + 1000);
  limitHttp1(http1, options);
  // The HTTP/1.1 server never listens itself, but only a listening server
  // tracks its connections (closeIdleConnections, header and request timeouts).
  http1.emit("listening");

  const h2 = http2.createServer(
    http2Limits(options),
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
