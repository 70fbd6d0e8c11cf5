import type * as http from "node:http";
import type * as http2 from "node:http2";
import { type Logger, pino } from "pino";
import { HubError } from "../../core/index.js";
import { type Pipeline, tlsSubjectOfRequest } from "../../pipeline/index.js";
import {
  createJsonRpcDispatcher,
  type JsonRpcDispatcher,
  type JsonRpcResponse,
} from "./dispatch.js";
import { invalidRequest, JsonRpcCode, parseError, refusalWord } from "./errors.js";
import { describeMethods } from "./methods.js";

/** A request from `node:http` or the `node:http2` compatibility API. */
export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
/** A response from `node:http` or the `node:http2` compatibility API. */
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Options of {@link createJsonRpcHandler}. */
export interface JsonRpcHandlerOptions {
  /** The road to the core every method takes; it also writes the access log. */
  readonly pipeline: Pipeline;
  /** Largest request body, in bytes (the server's `maxRequestBytes`). */
  readonly maxRequestBytes: number;
  /** For a request whose body could not be read. @default a silent logger */
  readonly logger?: Logger;
  /** Most requests in one batch. @default DEFAULT_MAX_BATCH_LENGTH (100) */
  readonly maxBatchLength?: number;
}

/** Node request handlers for the JSON-RPC routes. */
export interface JsonRpcHandler {
  /** `POST /rpc`. */
  handleRpc(req: NodeRequest, res: NodeResponse): void;
  /** `GET /rpc/methods` and `POST /rpc/methods`. */
  handleMethods(req: NodeRequest, res: NodeResponse): void;
  /**
   * `GET /api/federation/hubs`: `hub.list`'s result as the body, through
   * the same pipeline (credentials, access log, metrics); a refusal is its
   * HTTP status (401, 403, 500) with the JSON-RPC error as `{error}`.
   */
  handleHubs(req: NodeRequest, res: NodeResponse): void;
  readonly dispatcher: JsonRpcDispatcher;
}

/** Writes a JSON answer on either HTTP version. */
export function sendJson(
  res: NodeResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
) {
  const text = JSON.stringify(body);
  (res as http.ServerResponse).writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    ...extra,
  });
  res.end(text);
}

/**
 * Reads the body up to `limit` bytes; resolves `undefined` when it is larger.
 * It does not destroy the request on overflow, which would reset the socket
 * before the client could read the 413.
 */
function readBody(req: NodeRequest, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    // A small body arrives in one chunk: keep it as it is, without a list or a copy.
    let first: Buffer | undefined;
    let rest: Buffer[] | undefined;
    let size = 0;
    // Inline listeners, kept after an overflow to drop the rest: named ones
    // would cost tsx's keep-names wrapper on every request.
    req.on("data", (chunk: Buffer) => {
      if (size > limit) return;
      size += chunk.length;
      if (size > limit) {
        resolve(undefined);
      } else if (first === undefined) {
        first = chunk;
      } else if (rest === undefined) {
        rest = [first, chunk];
      } else {
        rest.push(chunk);
      }
    });
    req.on("end", () => {
      if (size > limit) return;
      resolve(rest === undefined ? (first ?? Buffer.alloc(0)) : Buffer.concat(rest, size));
    });
    req.on("error", reject);
  });
}

const CLIENT_GONE = new HubError("canceled", "the client closed the connection");

/** The abort signal of each HTTP/1.1 connection, made on its first JSON-RPC request. */
const connectionSignals = new WeakMap<object, AbortSignal>();

/**
 * A signal that aborts when the client goes away before the answer is
 * written. An HTTP/1.1 client goes away by closing the connection, which
 * ends every request on it at once, so its requests share one signal for
 * the connection instead of making an AbortController each (a visible cost
 * per request); an HTTP/2 stream can end alone and gets its own.
 */
function clientGone(req: NodeRequest, res: NodeResponse): AbortSignal {
  if (req.httpVersionMajor === 1) {
    const socket = req.socket;
    let signal = connectionSignals.get(socket);
    if (signal === undefined) {
      const controller = new AbortController();
      socket.once("close", () => controller.abort(CLIENT_GONE));
      signal = controller.signal;
      connectionSignals.set(socket, signal);
    }
    return signal;
  }
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort(CLIENT_GONE);
  });
  return controller.signal;
}

/**
 * True when every answer is -32001: the request as a whole lacked
 * credentials. A batch whose open calls (`hub.info`) succeeded is a 200.
 */
function unauthenticated(answer: JsonRpcResponse | JsonRpcResponse[]): boolean {
  const all = Array.isArray(answer) ? answer : [answer];
  return all.every((r) => "error" in r && r.error.code === JsonRpcCode.Unauthenticated);
}

/** Creates the HTTP side of JSON-RPC: body limit, parsing, status codes. */
export function createJsonRpcHandler(options: JsonRpcHandlerOptions): JsonRpcHandler {
  const { pipeline, maxRequestBytes } = options;
  const logger = options.logger ?? pino({ level: "silent" });
  const dispatcher = createJsonRpcDispatcher({
    pipeline,
    ...(options.maxBatchLength === undefined ? {} : { maxBatchLength: options.maxBatchLength }),
  });
  const methodList = describeMethods(dispatcher.methods);

  async function handle(req: NodeRequest, res: NodeResponse): Promise<void> {
    const startedAt = performance.now();
    const body = await readBody(req, maxRequestBytes);
    if (body === undefined) {
      const error = invalidRequest(`the request body is larger than ${maxRequestBytes} bytes`);
      // HTTP/2 forbids connection headers; there the stream alone is reset.
      const close: Record<string, string> =
        req.httpVersionMajor === 1 ? { connection: "close" } : {};
      sendJson(res, 413, { jsonrpc: "2.0", id: null, error }, close);
      pipeline.refused("jsonrpc", "", refusalWord(error.code), startedAt);
      req.resume();
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      // The JSON-RPC answer to a parse error is a response object, not an HTTP error status.
      const error = parseError();
      sendJson(res, 200, { jsonrpc: "2.0", id: null, error });
      pipeline.refused("jsonrpc", "", refusalWord(error.code), startedAt);
      return;
    }
    const headers = req.headers;
    const answer = await dispatcher.dispatch(parsed, {
      signal: clientGone(req, res),
      header(name) {
        const value = headers[name];
        return Array.isArray(value) ? value.join(",") : value;
      },
      tlsSubject: tlsSubjectOfRequest(req),
    });
    if (answer === undefined) {
      res.writeHead(204);
      res.end();
      return;
    }
    if (unauthenticated(answer)) {
      // RFC 6750: tells HTTP clients and proxies which credentials to send.
      sendJson(res, 401, answer, { "www-authenticate": 'Bearer realm="hubbus"' });
      return;
    }
    sendJson(res, 200, answer);
  }

  async function hubs(req: NodeRequest, res: NodeResponse): Promise<void> {
    const headers = req.headers;
    const answer = (await dispatcher.dispatch(
      { jsonrpc: "2.0", id: 0, method: "hub.list" },
      {
        signal: clientGone(req, res),
        header(name) {
          const value = headers[name];
          return Array.isArray(value) ? value.join(",") : value;
        },
        tlsSubject: tlsSubjectOfRequest(req),
      },
    )) as JsonRpcResponse;
    if ("result" in answer) {
      sendJson(res, 200, answer.result);
      return;
    }
    const { error } = answer;
    if (error.code === JsonRpcCode.Unauthenticated) {
      sendJson(res, 401, { error }, { "www-authenticate": 'Bearer realm="hubbus"' });
    } else {
      sendJson(res, error.code === JsonRpcCode.PermissionDenied ? 403 : 500, { error });
    }
  }

  return {
    dispatcher,
    handleHubs(req, res) {
      hubs(req, res).catch((error: unknown) => {
        logger.error({ err: error, protocol: "jsonrpc" }, "request failed");
        if (!res.headersSent)
          sendJson(res, 500, { error: { code: -32603, message: "Internal error" } });
      });
    },
    handleRpc(req, res) {
      handle(req, res).catch((error: unknown) => {
        // Only the transport can fail here (a body stream error): the methods answer in JSON-RPC.
        logger.error({ err: error, protocol: "jsonrpc" }, "request failed");
        if (!res.headersSent) {
          sendJson(res, 500, {
            jsonrpc: "2.0",
            id: null,
            error: { code: -32603, message: "Internal error" },
          });
        } else {
          res.destroy();
        }
      });
    },
    handleMethods(_req, res) {
      sendJson(res, 200, methodList);
    },
  };
}
