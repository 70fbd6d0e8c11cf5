import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type Event, EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import type { ClientConfig } from "../config/index.js";

/** Sends the token with every call, unary and streaming alike. */
function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/**
 * The gateway's client over gRPC: HTTP/2 over TLS for https:// URLs
 * (trusting `config.ca` when given, else the system's CAs), h2c for http://.
 */
export function gatewayClient(config: ClientConfig) {
  return createClient(
    EventBusService,
    createGrpcTransport({
      baseUrl: config.url,
      ...(config.ca === undefined ? {} : { nodeOptions: { ca: config.ca } }),
      ...(config.token === undefined ? {} : { interceptors: [bearer(config.token)] }),
    }),
  );
}

/** An event in the contract's JSON shape (section 2), as JSON-RPC and `--json` print it. */
export function eventJson(event: Event) {
  return {
    id: event.id,
    subject: event.subject,
    origin: { hub_id: event.origin?.hubId ?? "", service: event.origin?.service ?? "" },
    correlation_id: event.correlationId,
    payload: event.payload ?? {},
    timestamp: event.timestamp ? timestampDate(event.timestamp).toISOString() : "",
    sequence: Number(event.sequence),
  };
}

/** One line for a person: sequence, time, subject, payload. */
export function eventLine(event: Event): string {
  const e = eventJson(event);
  return `${e.sequence}\t${e.timestamp}\t${e.subject}\t${JSON.stringify(e.payload)}`;
}

/** Node's codes for a server certificate that no trusted CA signed. */
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
]);

/** `tlsv13 alert certificate required` out of OpenSSL's `…:SSL routines:<function>:<reason>:<file>…`. */
function opensslReason(message: string): string {
  return /SSL routines:[^:]*:([^:]+)/.exec(message)?.[1] ?? message.trim();
}

/** What went wrong with TLS, if that is what failed: node puts its error in the ConnectError's cause. */
function describeTlsProblem(error: ConnectError, url: string): string | undefined {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const code = typeof cause?.code === "string" ? cause.code : undefined;
  if (code === undefined) return undefined;
  const reason = opensslReason(String(cause?.message ?? code));
  const certificate = `TLS: the certificate of the gateway at ${url}`;
  if (UNTRUSTED.has(code)) {
    return `${certificate} is not trusted (${reason}): pass the CA that signed it with --ca <file> or HUBBUS_CA_FILE`;
  }
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") {
    return `${certificate} is not valid now (${reason})`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `${certificate} is not for this host name (${reason})`;
  }
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER") {
    return `TLS: the gateway at ${url} does not speak TLS (${reason}): use an http:// URL`;
  }
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) {
    return `TLS: the handshake with the gateway at ${url} failed: ${reason}`;
  }
  return undefined;
}

/** A client error as one line a person can act on. */
export function describeClientError(error: unknown, url: string): string {
  if (error instanceof ConnectError) {
    const tls = describeTlsProblem(error, url);
    if (tls !== undefined) return tls;
    // A TLS-only gateway answers h2c by closing the connection, which says nothing about why.
    if (
      url.startsWith("http:") &&
      /stream closed|ECONNRESET|socket hang up/.test(error.rawMessage)
    ) {
      return `the gateway at ${url} closed the connection (${error.rawMessage}); if it serves TLS, use an https:// URL`;
    }
    if (error.code === Code.Unavailable)
      return `the gateway at ${url} is unavailable: ${error.rawMessage}`;
    return `${Code[error.code]}: ${error.rawMessage}`;
  }
  return error instanceof Error ? error.message : String(error);
}
