import { type ConnectNodeAdapterOptions, connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import {
  admitConnectRequest,
  connectContextValues,
  createConnectRoutes,
  guardConnectRoutes,
} from "../adapters/connect/index.js";
import { type BodyDeadlines, createNativeGrpc } from "../adapters/grpc/index.js";
import {
  createJsonRpcHandler,
  type NodeRequest,
  type NodeResponse,
  sendJson,
} from "../adapters/jsonrpc/index.js";
import type { EventBus, HubDirectory, Tracer } from "../core/index.js";
import type { Metrics } from "../metrics/index.js";
import { createPipeline, type Stage } from "../pipeline/index.js";
import { createHealthRoutes, createReflectionRoutes } from "../services/index.js";
import { createConsoleSite } from "./console.js";
import type { Handlers } from "./one-port.js";

// connect-node types requests and responses with its own unions of node's types.
type NodeHandlerFn = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
type NodeServerRequest = Parameters<NodeHandlerFn>[0];
type NodeServerResponse = Parameters<NodeHandlerFn>[1];

/** How long `/readyz` waits for the database to answer. */
const READINESS_TIMEOUT_MS = 5000;

interface Route {
  readonly methods: readonly string[];
  handle(req: NodeRequest, res: NodeResponse): void;
}

/** What the request handler needs from the server around it. */
export interface RoutesOptions {
  readonly bus: EventBus;
  readonly logger: Logger;
  /** The pipeline's stages, outermost first. */
  readonly stages: readonly Stage[];
  /** Counts every call and serves `GET /metrics`; absent: no `/metrics`. */
  readonly metrics?: Metrics | undefined;
  /** A span per call; absent: none. */
  readonly tracer?: Tracer | undefined;
  /** What `ListHubs` answers; absent: this hub alone. */
  readonly hubs?: HubDirectory | undefined;
  readonly maxRequestBytes: number;
  readonly maxMessageBytes: number;
  /** Aborted by `close()`: ends every RPC's `ctx.signal`. */
  readonly shutdownSignal: AbortSignal;
  /** True once `close()` began: readiness fails and HTTP/1.1 answers close their connection. */
  readonly isShuttingDown: () => boolean;
  /** Native gRPC answers a body that has not arrived by then `deadline_exceeded`. */
  readonly requestBodyTimeoutMs?: number;
  /** Where those deadlines are checked, shared with the port's. */
  readonly bodyDeadlines?: BodyDeadlines;
}

/**
 * What serves the port: native gRPC (HTTP/2, binary) takes its streams
 * before the compatibility API; other EventBusService calls go to
 * connect-node (Connect, gRPC-Web, gRPC with JSON), and so do
 * `grpc.health.v1.Health` and server reflection, in every protocol;
 * everything else is routed here.
 */
export function createRoutes(options: RoutesOptions): Handlers {
  const { bus, logger, isShuttingDown, metrics } = options;
  // The one road to the core for every protocol below.
  const pipeline = createPipeline({
    bus,
    logger,
    stages: options.stages,
    ...(metrics === undefined ? {} : { onDone: metrics.onDone }),
    tracer: options.tracer,
    ...(options.hubs === undefined ? {} : { hubs: options.hubs }),
  });
  const jsonRpc = createJsonRpcHandler({
    pipeline,
    logger,
    maxRequestBytes: options.maxRequestBytes,
  });

  async function scrape(req: NodeRequest, res: NodeResponse, using: Metrics): Promise<void> {
    const body = await using.scrape();
    res.writeHead(200, {
      "content-type": using.contentType,
      "content-length": Buffer.byteLength(body),
      "cache-control": "no-store",
    });
    if (req.method === "HEAD") res.end();
    else res.end(body);
  }

  async function ready(res: NodeResponse): Promise<void> {
    const health = await bus.health(AbortSignal.timeout(READINESS_TIMEOUT_MS));
    if (isShuttingDown()) {
      // Still the hub.health shape (contract §8), saying why a healthy hub is not ready.
      const details = { ...health.details, shutting_down: "true" };
      sendJson(res, 503, { ...health, status: "unhealthy", details });
      return;
    }
    sendJson(res, health.status === "unhealthy" ? 503 : 200, health);
  }

  const routes = new Map<string, Route>([
    ["/rpc", { methods: ["POST"], handle: jsonRpc.handleRpc }],
    ["/rpc/methods", { methods: ["GET", "POST"], handle: jsonRpc.handleMethods }],
    ["/api/federation/hubs", { methods: ["GET"], handle: jsonRpc.handleHubs }],
    // Liveness: the process answers. Dependencies are /readyz's business.
    [
      "/healthz",
      { methods: ["GET", "HEAD"], handle: (_req, res) => sendJson(res, 200, { status: "ok" }) },
    ],
    [
      "/readyz",
      {
        methods: ["GET", "HEAD"],
        handle(_req, res) {
          ready(res).catch((error: unknown) => {
            logger.error({ err: error }, "readiness check failed");
            if (!res.headersSent) sendJson(res, 503, { status: "unhealthy" });
          });
        },
      },
    ],
  ]);
  if (metrics !== undefined) {
    // Open like the health endpoints: a scraper carries no caller's credentials.
    routes.set("/metrics", {
      methods: ["GET", "HEAD"],
      handle(req, res) {
        scrape(req, res, metrics).catch((error: unknown) => {
          logger.error({ err: error }, "metrics scrape failed");
          if (!res.headersSent) sendJson(res, 500, { error: "metrics unavailable" });
        });
      },
    });
  }

  // Outside the pipeline: the page is public, the API calls it makes carry the caller's token.
  const consoleSite = createConsoleSite();

  function fallback(req: NodeServerRequest, response: NodeServerResponse): void {
    const res = response as NodeResponse;
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const route = routes.get(path);
    if (route === undefined) {
      if (consoleSite.handle(req as NodeRequest, res, path)) return;
      sendJson(res, 404, { error: "not found", path });
    } else if (!route.methods.includes(req.method ?? "GET")) {
      const allow = route.methods.join(", ");
      sendJson(res, 405, { error: "method not allowed", allow }, { allow });
    } else {
      route.handle(req as NodeRequest, res);
    }
  }

  const eventBusRoutes = createConnectRoutes({ pipeline });
  // Outside the pipeline, so without auth: probes and schema tools carry no credentials.
  const healthRoutes = createHealthRoutes({
    bus,
    shutdownSignal: options.shutdownSignal,
    logger,
  });
  // Last: it reflects every service registered before it.
  const reflectionRoutes = createReflectionRoutes();
  const connect = connectNodeAdapter({
    routes(router) {
      eventBusRoutes(router);
      healthRoutes(router);
      reflectionRoutes(router);
      guardConnectRoutes(router, { pipeline });
    },
    shutdownSignal: options.shutdownSignal,
    readMaxBytes: options.maxMessageBytes,
    fallback,
    contextValues: connectContextValues,
  });

  const grpc = createNativeGrpc({
    pipeline,
    maxMessageBytes: options.maxMessageBytes,
    shutdownSignal: options.shutdownSignal,
    ...(options.requestBodyTimeoutMs === undefined
      ? {}
      : { requestBodyTimeoutMs: options.requestBodyTimeoutMs }),
    ...(options.bodyDeadlines === undefined ? {} : { bodyDeadlines: options.bodyDeadlines }),
  });

  return {
    takeStream: grpc.take,
    handler(req, res) {
      // While draining, each HTTP/1.1 answer ends its connection so keep-alive clients move on.
      if (isShuttingDown() && req.httpVersionMajor === 1) res.setHeader("connection", "close");
      // The JSON-RPC hot path skips connect-node's own path lookup before its fallback.
      if (req.url === "/rpc" && req.method === "POST") {
        jsonRpc.handleRpc(req, res);
        return;
      }
      if (admitConnectRequest(req, res)) connect(req, res as NodeServerResponse);
    },
  };
}
