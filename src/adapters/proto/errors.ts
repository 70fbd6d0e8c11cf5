import { Code, ConnectError } from "@connectrpc/connect";
import { HubError, type HubErrorCode } from "../../core/index.js";

const CONNECT_CODES: Readonly<Record<HubErrorCode, Code>> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  canceled: Code.Canceled,
  resource_exhausted: Code.ResourceExhausted,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  already_exists: Code.AlreadyExists,
  out_of_range: Code.OutOfRange,
  internal: Code.Internal,
};

const HUB_CODES = new Map<Code, HubErrorCode>(
  Object.entries(CONNECT_CODES).map(([hub, code]) => [code, hub as HubErrorCode]),
);

/** The Connect (and gRPC) code a HubError code is sent as. */
export function connectCodeOf(code: HubErrorCode): Code {
  return CONNECT_CODES[code];
}

/**
 * The error a Connect, gRPC or gRPC-Web client sees for a HubError: foreseen
 * errors keep their message; `internal` says no more than that (the
 * pipeline logged its cause, which carries SQL, paths and stack traces).
 */
export function connectErrorOf(error: HubError): ConnectError {
  if (error.code === "internal") return new ConnectError("internal error", Code.Internal);
  return new ConnectError(error.message, CONNECT_CODES[error.code]);
}

/**
 * A reason connect-node aborted a handler's signal with (its deadline, the
 * client going away) as a HubError, for the pipeline's `abortReason`.
 */
export function hubErrorOfAbort(reason: unknown): HubError {
  if (reason instanceof ConnectError) {
    const code = HUB_CODES.get(reason.code) ?? "canceled";
    return new HubError(code, reason.rawMessage, {}, reason);
  }
  return HubError.from(reason);
}

/** The lower-case word the access log uses for a protocol error's code (`resource_exhausted`). */
export function codeWord(code: Code): string {
  return (
    HUB_CODES.get(code) ?? Code[code].replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase())
  );
}
