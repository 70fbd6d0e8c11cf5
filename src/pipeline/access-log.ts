import type { Logger } from "pino";
import type { MethodName, Protocol } from "./context.js";

/** What one access-log line says about a call. */
export interface AccessLogEntry {
  readonly protocol: Protocol;
  /** As the client called it: `hubbus.v1.EventBusService/Publish`, `bus.publish`. */
  readonly procedure: string;
  /**
   * The EventBusService method the call ran (JSON-RPC methods name the one
   * they call); absent for a request refused before its method was known.
   * Unlike `procedure`, never caller input: metrics label by it.
   */
  readonly method?: MethodName | undefined;
  /** `ok`, a HubError code, or the protocol's own word for a request it refused. */
  readonly code: string;
  /** The authenticated caller's name; absent when auth is off or the call was refused before. */
  readonly caller?: string | undefined;
  /** `performance.now()` when the call arrived. */
  readonly startedAt: number;
  /**
   * The call's trace id (its span's, or the caller's `traceparent`'s), when
   * there is one; filled in only while info lines are written.
   */
  readonly traceId?: string | undefined;
}

/**
 * The one access-log writer: a line per call on every protocol, written
 * when the call ends (for a stream: when the stream ends). Fields go on the
 * line itself rather than on a child logger, which would cost an object
 * per call.
 */
export function writeAccessLog(logger: Logger, entry: AccessLogEntry): void {
  if (!logger.isLevelEnabled("info")) return;
  const durationMs = Math.round((performance.now() - entry.startedAt) * 10) / 10;
  const line: Record<string, unknown> = {
    protocol: entry.protocol,
    method: entry.procedure,
    code: entry.code,
    durationMs,
  };
  if (entry.caller !== undefined) line.caller = entry.caller;
  if (entry.traceId !== undefined) line.traceId = entry.traceId;
  logger.info(line, "rpc");
}
