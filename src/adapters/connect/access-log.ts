import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { type Logger, pino } from "pino";

/**
 * The per-call logger, scoped with protocol and method. The access-log
 * interceptor sets it, so handlers log with the same fields.
 */
export const callLoggerKey = createContextKey<Logger>(pino({ level: "silent" }), {
  description: "hubbus per-call logger",
});

/** The RPC protocol of a request, read from its content type as connect-node does. */
export function protocolOf(contentType: string | null): "grpc" | "grpc-web" | "connect" {
  const type = contentType?.toLowerCase() ?? "";
  if (type.startsWith("application/grpc-web")) return "grpc-web";
  if (type.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/**
 * One access-log line per RPC: protocol, method, code and duration. For a
 * server stream the line is written when the stream ends, not when it starts.
 */
export function createAccessLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const log = logger.child({
      protocol: protocolOf(req.header.get("content-type")),
      method: `${req.service.typeName}/${req.method.name}`,
    });
    req.contextValues.set(callLoggerKey, log);
    const done = (error?: unknown) => {
      const durationMs = Math.round((performance.now() - started) * 10) / 10;
      const code = error === undefined ? "ok" : Code[ConnectError.from(error).code];
      log.info({ code, durationMs }, "rpc");
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      done(error);
      throw error;
    }
    if (!res.stream) {
      done();
      return res;
    }
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
        } catch (error) {
          done(error);
          throw error;
        }
        done();
      })(),
    };
  };
}
