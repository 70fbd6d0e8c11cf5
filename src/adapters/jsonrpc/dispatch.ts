import jayson from "jayson/promise/index.js";
import type { HubError } from "../../core/index.js";
import type { MethodName, Pipeline } from "../../pipeline/index.js";
import {
  invalidRequest,
  JsonRpcCode,
  type JsonRpcError,
  refusalWord,
  toJsonRpcError,
} from "./errors.js";
import { checkParams, createMethods, IDEMPOTENCY_KEY_HEADER, type MethodSpec } from "./methods.js";

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
  /** A request header by lower-case name (credentials, `hub-service`), as received. */
  readonly header: (name: string) => string | undefined;
  /** The connection's verified client certificate subject (mutual TLS), e.g. `CN=billing`. */
  readonly tlsSubject?: string;
}

/** Runs parsed JSON-RPC bodies through the pipeline. */
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

/** What jayson hands a method besides its params: the transport's context, and whether a method ran. */
interface JaysonContext {
  readonly dispatch: DispatchContext;
  /** The body held this request alone, not a batch. */
  readonly single: boolean;
  ran: boolean;
}

/**
 * Stands in for `"id": null` while jayson handles the request: a request
 * with an `id` member is answered whatever its value (JSON-RPC 2.0 §4), but
 * jayson takes a null id for a notification and answers nothing.
 */
const NULL_ID = "\u0000hubbus:null-id";

function errorResponse(error: JsonRpcError): JsonRpcResponse {
  return { jsonrpc: "2.0", id: null, error };
}

/**
 * Creates the dispatcher: jayson routes requests and applies the JSON-RPC
 * rules for single requests and notifications; each method decodes its
 * params, takes the pipeline to the core and encodes the answer. Batches
 * are unrolled here, because jayson answers a nested batch (`[[…]]`) with
 * `null` or never.
 */
export function createJsonRpcDispatcher(options: {
  pipeline: Pipeline;
  maxBatchLength?: number;
}): JsonRpcDispatcher {
  const { pipeline } = options;
  const maxBatchLength = options.maxBatchLength ?? DEFAULT_MAX_BATCH_LENGTH;
  const methods = createMethods();
  const availableMethods = methods.map((m) => m.name);
  const rpcOf = new Map<string, MethodName>(methods.map((m) => [m.name, m.rpc]));

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
      const jc = context as JaysonContext;
      jc.ran = true;
      const ctx = pipeline.context({
        protocol: "jsonrpc",
        method: spec.rpc,
        procedure: spec.name,
        header: jc.dispatch.header,
        signal: jc.dispatch.signal,
        tlsSubject: jc.dispatch.tlsSubject,
      });
      try {
        const output = await pipeline.unary(ctx, spec.rpc, () =>
          spec.decode(checkParams(spec, params), {
            idempotencyKeyHeader: jc.dispatch.header(IDEMPOTENCY_KEY_HEADER),
            single: jc.single,
          }),
        );
        return spec.encode(output as never);
      } catch (error) {
        throw toJsonRpcError(error as HubError, spec.paramNames);
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

  function answer(item: unknown, context: JaysonContext): Promise<JsonRpcResponse | undefined> {
    if (Array.isArray(item)) {
      return Promise.resolve(errorResponse(invalidRequest("a batch must not contain a batch")));
    }
    // Only objects go to jayson: it would parse a string a second time, as JSON.
    if (typeof item !== "object" || item === null) {
      return Promise.resolve(errorResponse(invalidRequest("a request is a JSON object")));
    }
    const nullId = (item as { id?: unknown }).id === null;
    const request = (nullId ? { ...item, id: NULL_ID } : item) as jayson.JSONRPCRequest;
    return new Promise((resolve) => {
      server.call(request, context, (error, result) => {
        const response = (error ?? result) as JsonRpcResponse | undefined;
        if (nullId && response !== undefined) response.id = null;
        resolve(response);
      });
    });
  }

  /** One request or notification; one the envelope refused is logged here, the rest by the pipeline. */
  async function callOne(
    item: unknown,
    dispatch: DispatchContext,
    single: boolean,
  ): Promise<JsonRpcResponse | undefined> {
    const startedAt = performance.now();
    const context: JaysonContext = { dispatch, single, ran: false };
    const response = await answer(item, context);
    if (!context.ran) {
      const name = (item as { method?: unknown } | null)?.method;
      const code =
        response === undefined
          ? "notification"
          : "error" in response
            ? refusalWord(response.error.code)
            : "ok";
      // A known name (a request the envelope refused) keeps its method; any other is caller input.
      const known = typeof name === "string" ? rpcOf.get(name) : undefined;
      pipeline.refused("jsonrpc", typeof name === "string" ? name : "", code, startedAt, known);
    }
    return response;
  }

  return {
    methods,
    async dispatch(body, ctx) {
      if (!Array.isArray(body)) return callOne(body, ctx, true);
      if (body.length === 0) return errorResponse(invalidRequest("empty batch"));
      if (body.length > maxBatchLength) {
        return errorResponse(invalidRequest(`a batch holds at most ${maxBatchLength} requests`));
      }
      // Concurrently, so a batch of publishes shares the log's group commit.
      const responses = await Promise.all(body.map((item) => callOne(item, ctx, false)));
      const answered = responses.filter((r): r is JsonRpcResponse => r !== undefined);
      return answered.length === 0 ? undefined : answered;
    },
  };
}
