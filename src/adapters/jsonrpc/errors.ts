import { HubError } from "../../core/index.js";

/** The JSON-RPC 2.0 error codes hubbus answers with. */
export const JsonRpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Contract §7: missing, unknown, expired or malformed credentials; answered with HTTP 401. */
  Unauthenticated: -32001,
  /** Contract §7: a subject or pattern the caller may not use. */
  PermissionDenied: -32003,
} as const;

/** A JSON-RPC error object, as it goes into a response's `error` member. */
export interface JsonRpcError {
  readonly code: number;
  readonly message: string;
  readonly data?: Record<string, unknown>;
}

/**
 * A param refused by the JSON-RPC layer itself, already in this method's
 * JSON-RPC names (`events[1].subject` is an unknown field there, not the
 * core's name for `events[1].topic`), so it is never renamed.
 */
export class ParamError extends HubError {
  constructor(param: string, reason: string) {
    super("invalid_argument", `invalid ${param}: ${reason}`, { param, reason });
  }
}

/** `-32602` naming the JSON-RPC param at fault and why. */
export function invalidParams(param: string, reason: string): JsonRpcError {
  return {
    code: JsonRpcCode.InvalidParams,
    message: `Invalid params: ${param}: ${reason}`,
    data: { param, reason },
  };
}

/** `-32600` with the reason in `data`, for requests that are not JSON-RPC 2.0. */
export function invalidRequest(reason?: string): JsonRpcError {
  return reason === undefined
    ? { code: JsonRpcCode.InvalidRequest, message: "Invalid request" }
    : { code: JsonRpcCode.InvalidRequest, message: `Invalid request: ${reason}`, data: { reason } };
}

/** `-32700`: the body is not JSON. The parser's message is not sent: it quotes the input. */
export function parseError(): JsonRpcError {
  return {
    code: JsonRpcCode.ParseError,
    message: "Parse error: the request body is not valid JSON",
  };
}

/**
 * A core param name in a method's JSON-RPC terms: the whole name when
 * `paramNames` has it, else its last segment (`events[3].subject` →
 * `events[3].topic`), else unchanged.
 */
function renameParam(param: string, paramNames: Readonly<Record<string, string>>): string {
  const whole = paramNames[param];
  if (whole !== undefined) return whole;
  const dot = param.lastIndexOf(".");
  const leaf = dot < 0 ? undefined : paramNames[param.slice(dot + 1)];
  return leaf === undefined ? param : `${param.slice(0, dot + 1)}${leaf}`;
}

/**
 * The JSON-RPC error for a HubError. `paramNames` renames the core's
 * protocol-neutral param names to this method's JSON-RPC names (`subject`
 * is `topic` in `bus.publish`). Other foreseen HubErrors become `-32603`
 * with the hub's code in `data.code`; `internal` says no more than that
 * (the pipeline logged its cause).
 */
export function toJsonRpcError(
  error: HubError,
  paramNames: Readonly<Record<string, string>>,
): JsonRpcError {
  // A reused idempotency key is a bad param to the caller (contract §9: -32602).
  if (error.code === "invalid_argument" || error.code === "already_exists") {
    const param = error.detail.param ?? "params";
    const named = error instanceof ParamError ? param : renameParam(param, paramNames);
    return invalidParams(named, error.detail.reason ?? error.message);
  }
  if (error.code === "unauthenticated") {
    return {
      code: JsonRpcCode.Unauthenticated,
      message: error.message,
      data: { reason: error.detail.reason ?? "unauthenticated" },
    };
  }
  if (error.code === "permission_denied") {
    const param = renameParam(error.detail.param ?? "subject", paramNames);
    return {
      code: JsonRpcCode.PermissionDenied,
      message: error.message,
      data: {
        reason: error.detail.reason ?? "permission denied",
        param,
        ...(error.detail.subject === undefined ? {} : { subject: error.detail.subject }),
      },
    };
  }
  if (error.code === "internal") {
    return { code: JsonRpcCode.InternalError, message: "Internal error" };
  }
  return { code: JsonRpcCode.InternalError, message: error.message, data: { code: error.code } };
}

/** The access log's word for a JSON-RPC error the envelope caused (no method ran). */
export function refusalWord(code: number): string {
  switch (code) {
    case JsonRpcCode.ParseError:
      return "parse_error";
    case JsonRpcCode.InvalidRequest:
      return "invalid_request";
    case JsonRpcCode.MethodNotFound:
      return "method_not_found";
    case JsonRpcCode.InvalidParams:
      return "invalid_argument";
    case JsonRpcCode.Unauthenticated:
      return "unauthenticated";
    case JsonRpcCode.PermissionDenied:
      return "permission_denied";
    default:
      return "internal";
  }
}
