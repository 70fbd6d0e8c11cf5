/**
 * The closed list of error codes the core raises. Adapters map each code to
 * a Connect code and a JSON-RPC code; nothing else is ever sent to a client.
 */
export type HubErrorCode =
  | "invalid_argument"
  | "not_found"
  | "unavailable"
  | "deadline_exceeded"
  | "canceled"
  | "resource_exhausted"
  | "unauthenticated"
  | "permission_denied"
  | "already_exists"
  | "out_of_range"
  | "internal";

/** Names the input that was wrong and why, for JSON-RPC `data` and logs. */
export interface HubErrorDetail {
  /** The parameter at fault, in the protocol-neutral name (`subject`, `payload`, `limit`, ...). */
  readonly param?: string;
  /** Why the value was refused, in words a caller can act on. */
  readonly reason?: string;
  /** The subject or pattern a permission check refused. */
  readonly subject?: string;
}

/** The one error type of hubbus. Anything that is not a HubError is a bug and becomes `internal`. */
export class HubError extends Error {
  override name = "HubError";
  readonly code: HubErrorCode;
  readonly detail: HubErrorDetail;

  constructor(code: HubErrorCode, message: string, detail: HubErrorDetail = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.detail = detail;
  }

  /** Converts any thrown value into a HubError; unforeseen errors become `internal` with the original as cause. */
  static from(reason: unknown): HubError {
    if (reason instanceof HubError) return reason;
    if (reason instanceof Error && reason.name === "AbortError") {
      return new HubError("canceled", "operation canceled", {}, reason);
    }
    return new HubError("internal", "internal error", {}, reason);
  }
}

/** A subject or pattern the caller's permissions do not allow; `param` is where it was given. */
export function permissionDenied(param: string, subject: string, reason: string): HubError {
  return new HubError("permission_denied", `permission denied: ${reason}`, {
    param,
    reason,
    subject,
  });
}

/** Shorthand for the most common error: a parameter that is not acceptable. */
export function invalidArgument(param: string, reason: string): HubError {
  return new HubError("invalid_argument", `invalid ${param}: ${reason}`, { param, reason });
}

/** Throws `canceled` when the signal has aborted, so long loops stop promptly. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new HubError("canceled", "operation canceled", {}, signal.reason);
  }
}
