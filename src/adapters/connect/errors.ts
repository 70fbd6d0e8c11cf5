import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
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
  internal: Code.Internal,
};

/** The Connect code a HubError code is sent as. */
export function connectCodeOf(code: HubErrorCode): Code {
  return CONNECT_CODES[code];
}

/**
 * Converts anything a handler caught into the ConnectError a client may see.
 * Foreseen errors keep their message; an unforeseen one becomes `internal`
 * with a fixed message, and its cause goes to the log only, because causes
 * carry SQL, paths and stack traces.
 */
export function toConnectError(reason: unknown, logger: Logger): ConnectError {
  // Errors connect itself raised (deadline, shutdown) are already in client terms.
  if (reason instanceof ConnectError) return reason;
  const error = HubError.from(reason);
  if (error.code === "internal") {
    logger.error({ err: error.cause ?? error }, "internal error");
    return new ConnectError("internal error", Code.Internal);
  }
  return new ConnectError(error.message, connectCodeOf(error.code));
}
