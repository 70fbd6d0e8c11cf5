import jayson from "jayson/promise/index.js";
import type { Logger } from "pino";
import type { EventBus } from "../../core/index.js";
import { invalidRequest, JsonRpcCode, type JsonRpcError, toJsonRpcError } from "./errors.js";
import { type CallContext, checkParams, createMethods, type MethodSpec } from "./methods.js";

/** Most requests one batch may hold. */
export const DEFAULT_MAX_BATCH_LENGTH = 100;

/** A JSON-RPC 2.0 response object. */
export type JsonRpcResponse =
  | { jsonrpc: "2.0"; id: string | number | null; result: unknown }
  | { jsonrpc: "2.0"; id: string | number | null; error: JsonRpcError };

/** What a dispatch needs from the transport around it. */
export interface DispatchContext {
  /**
   * Aborts when the client goes away. Several calls may share it (all
   * requests of one HTTP/1.1 connection do): a listener added to it must be
   * removed when its call ends.
   */
  readonly signal: AbortSignal;
  /** The origin service the transport was told (the `hub-service` header). */
  readonly service: unknown;
}

/** Runs parsed JSON-RPC bodies against the core. */
export interface JsonRpcDispatcher {
  readonly methods: readonly MethodSpec[];
  /**
   * Answers one parsed body: a request, a notification or a batch. Resolves
   * to `undefined` when nothing is to be sent (notifications only).
   */
  dispatch(
    body: unknown,
    ctx: DispatchContext,
  ): Promise<JsonRpcResponse | JsonRpcResponse[] | undefined>;
}

function isJsonRpcError(value: unknown): value is JsonRpcError {
  return (
    typeof value === "object" && value !== null && typeof (value as JsonRpcError).code === "number"
  );
}

function errorResponse(error: JsonRpcError): JsonRpcResponse {
  return { jsonrpc: "2.0", id: null, error };
}

/** A call's context; its scoped logger is made when first used. */
class Call implements CallContext {
  readonly signal: AbortSignal;
  readonly service: unknown;
  readonly #parent: Logger;
  readonly #method: string | undefined;
  #logger: Logger | undefined;

  constructor(ctx: DispatchContext, parent: Logger, method: string | undefined) {
    this.signal = ctx.signal;
    this.service = ctx.service;
    this.#parent = parent;
    this.#method = method;
  }

  get logger(): Logger {
    this.#logger ??= this.#parent.child({ protocol: "jsonrpc", method: this.#method });
    return this.#logger;
  }
}

/**
 * Creates the dispatcher: jayson routes requests and applies the JSON-RPC
 * rules for single requests and notifications. Batches are unrolled here,
 * because jayson answers a nested batch (`[[…]]`) with `null` or never.
 */
export function createJsonRpcDispatcher(options: {
  bus: EventBus;
  logger: Logger;
  maxBatchLength?: number;
}): JsonRpcDispatcher {
  const { bus, logger } = options;
  const maxBatchLength = options.maxBatchLength ?? DEFAULT_MAX_BATCH_LENGTH;
  const methods = createMethods(bus);
  const availableMethods = methods.map((m) => m.name);

  const server = new jayson.Server(
    {},
    {
      router(name) {
        return this.getMethod(name) ?? methodNotFound(name);
      },
    },
  );
  for (const spec of methods) {
    const handler = async (params: unknown, context: object) => {
      const ctx = context as CallContext;
      try {
        return await spec.run(checkParams(spec, params), ctx);
      } catch (error) {
        throw isJsonRpcError(error) ? error : toJsonRpcError(error, spec.paramNames, ctx.logger);
      }
    };
    server.method(spec.name, new jayson.Method(handler, { useContext: true }));
  }

  function methodNotFound(name: string) {
    return new jayson.Method(async () => {
      throw {
        code: JsonRpcCode.MethodNotFound,
        message: `Method not found: ${name}`,
        data: { available_methods: availableMethods },
      } satisfies JsonRpcError;
    });
  }

  function answer(item: unknown, context: CallContext): Promise<JsonRpcResponse | undefined> {
    if (Array.isArray(item)) {
      return Promise.resolve(errorResponse(invalidRequest("a batch must not contain a batch")));
    }
    // Only objects go to jayson: it would parse a string a second time, as JSON.
    if (typeof item !== "object" || item === null) {
      return Promise.resolve(errorResponse(invalidRequest("a request is a JSON object")));
    }
    return new Promise((resolve) => {
      server.call(item as jayson.JSONRPCRequest, context, (error, result) => {
        resolve((error ?? result) as JsonRpcResponse | undefined);
      });
    });
  }

  /** One request or notification, with its access-log line. */
  async function callOne(
    item: unknown,
    ctx: DispatchContext,
  ): Promise<JsonRpcResponse | undefined> {
    const started = performance.now();
    const name = (item as { method?: unknown } | null)?.method;
    const context = new Call(ctx, logger, typeof name === "string" ? name : undefined);
    const response = await answer(item, context);
    // Checked first: a pino child per call is a visible cost when access logs are off.
    if (logger.isLevelEnabled("info")) {
      const durationMs = Math.round((performance.now() - started) * 10) / 10;
      const code =
        response === undefined ? "notification" : "error" in response ? response.error.code : "ok";
      context.logger.info({ code, durationMs }, "rpc");
    }
    return response;
  }

  return {
    methods,
    async dispatch(body, ctx) {
      if (!Array.isArray(body)) return callOne(body, ctx);
      if (body.length === 0) return errorResponse(invalidRequest("empty batch"));
      if (body.length > maxBatchLength) {
        return errorResponse(invalidRequest(`a batch holds at most ${maxBatchLength} requests`));
      }
      // Concurrently, so a batch of publishes shares the log's group commit.
      const responses = await Promise.all(body.map((item) => callOne(item, ctx)));
      const answered = responses.filter((r): r is JsonRpcResponse => r !== undefined);
      return answered.length === 0 ? undefined : answered;
    },
  };
}
