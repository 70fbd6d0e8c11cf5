import type { X509Certificate } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";

/**
 * What the subject is read from: a `tls.TLSSocket`, or the stand-in an
 * HTTP/2 session offers for its socket (which forwards to the real one).
 */
interface PeerSocket {
  readonly encrypted?: boolean;
  readonly authorized?: boolean;
  getPeerX509Certificate?(): X509Certificate | undefined;
}

/** Per connection, once: `null` when it has no verified client certificate. */
const subjects = new WeakMap<object, string | null>();

/**
 * A certificate subject as one line, attributes in the certificate's order:
 * `CN=billing, O=Acme`. Node's `X509Certificate.subject` has one attribute
 * a line with values escaped as RFC 4514 asks (`O=Acme\, Inc.`), so the
 * joined line stays unambiguous.
 */
export function formatSubject(multiline: string): string {
  return multiline.split("\n").join(", ");
}

/**
 * The subject of the client certificate a connection presented and the
 * server verified (mutual TLS), e.g. `CN=billing`; undefined for a
 * cleartext connection, a TLS one without a client certificate, or one
 * whose certificate did not verify. Computed once per connection: pass the
 * same object for every call on it (an HTTP/1.1 request's `socket`, an
 * HTTP/2 session's `socket`).
 */
export function tlsSubjectOf(socket: object | null | undefined): string | undefined {
  if (socket === null || socket === undefined) return undefined;
  const known = subjects.get(socket);
  if (known !== undefined) return known ?? undefined;
  let subject: string | null = null;
  try {
    const peer = socket as PeerSocket;
    if (peer.encrypted === true && peer.authorized === true) {
      const certificate = peer.getPeerX509Certificate?.();
      if (certificate !== undefined) subject = formatSubject(certificate.subject);
    }
  } catch {
    // A session whose socket is gone throws on access: no call is coming from it.
    return undefined;
  }
  subjects.set(socket, subject);
  return subject ?? undefined;
}

/**
 * {@link tlsSubjectOf} for a request of either HTTP version. An HTTP/2
 * request's own `socket` is a new stand-in per stream; its session's is one
 * per connection, which keeps the cache to one entry a connection.
 */
export function tlsSubjectOfRequest(req: IncomingMessage | Http2ServerRequest): string | undefined {
  return tlsSubjectOf(
    req.httpVersionMajor === 2 ? (req as Http2ServerRequest).stream.session?.socket : req.socket,
  );
}
