import * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";
import type { SecureContextOptions } from "node:tls";
import {
  attachHttp2,
  type Handlers,
  http2Limits,
  limitHttp1,
  type OnePort,
  type PortOptions,
} from "./one-port.js";

/** A port that speaks TLS only, and can take new certificates while it runs. */
export interface TlsPort extends OnePort {
  /** The certificates (and client CA) new connections get; open ones keep theirs. */
  setSecureContext(context: SecureContextOptions): void;
}

/** Options of {@link createTlsPort}. */
export interface TlsPortOptions extends PortOptions {
  /** Certificate, key and, for mutual TLS, the client CA, as `loadTls` checked them. */
  readonly context: SecureContextOptions;
  /** Require a client certificate signed by `context.ca`; refuse the handshake without one. */
  readonly requireClientCertificate: boolean;
  /** How long a new connection may take to finish its TLS handshake. */
  readonly handshakeTimeoutMs: number;
}

/**
 * Serves HTTP/2 and HTTP/1.1 over TLS on one port, and nothing in
 * cleartext: ALPN picks `h2` or `http/1.1`, so there is nothing to peek at,
 * and a cleartext request fails the handshake. HTTP/1.1 connections are
 * node's own (the secure server runs the http module's connection handling
 * for them), so keep-alive and shutdown work as on the cleartext port.
 */
export function createTlsPort({ handler, takeStream }: Handlers, options: TlsPortOptions): TlsPort {
  const { logger, keepAliveTimeoutMs } = options;
  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<net.Socket>();

  const server = http2.createSecureServer(
    {
      ...options.context,
      ...http2Limits(options),
      allowHTTP1: true,
      ALPNProtocols: ["h2", "http/1.1"],
      requestCert: options.requireClientCertificate,
      rejectUnauthorized: options.requireClientCertificate,
      handshakeTimeout: options.handshakeTimeoutMs,
      // As the cleartext port: small answers go out at once (node:http2 sets it for h2 only).
      noDelay: true,
    },
    handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  );
  // The HTTP/1.1 side reads these as an http.Server would; node leaves keep-alive unbounded here.
  const asHttp1 = server as unknown as http.Server;
  asHttp1.keepAliveTimeout = keepAliveTimeoutMs;
  asHttp1.headersTimeout = Math.max(asHttp1.headersTimeout, keepAliveTimeoutMs + 1000);
  limitHttp1(asHttp1, options);

  attachHttp2(server, takeStream, sessions, options);
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  // A scanner, a cleartext client or a client without a valid certificate: theirs to fix, not ours.
  server.on("tlsClientError", (error) =>
    logger.debug({ err: error }, "TLS handshake refused or failed"),
  );

  return {
    listener: server,
    sessions,
    sockets,
    // Which accepted socket is still in its handshake is not visible here;
    // those finish it and are closed as sessions or idle connections, or cut
    // at the end of the grace period.
    peeking: new Set(),
    closeIdleConnections: () => asHttp1.closeIdleConnections(),
    // node's secure server tracks its HTTP/1.1 connections as http.Server does, but only offers the idle half.
    closeAllConnections: () => http.Server.prototype.closeAllConnections.call(asHttp1),
    release() {},
    setSecureContext: (context) => server.setSecureContext(context),
  };
}
