import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import {
  type ConnectRouter,
  type ContextValues,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import { EventBusService } from "../../../gen/hubbus/v1/eventbus_pb.js";
import {
  type CallContext,
  type MethodName,
  type Pipeline,
  type Protocol,
  tlsSubjectOfRequest,
  type UnaryCalls,
  type UnaryMethod,
} from "../../pipeline/index.js";
import {
  connectErrorOf,
  eventsToProto,
  eventToSubscribeResponse,
  healthToProto,
  hubErrorOfAbort,
  hubsToProto,
  infoToProto,
  preEncodedSubscribeResponse,
  publishInput,
  publishResultsToProto,
  publishResultToProto,
  queryInput,
  subscribeInput,
} from "../proto/index.js";

/** Options of {@link createConnectRoutes}. */
export interface ConnectRoutesOptions {
  /** The road to the core every RPC takes. */
  readonly pipeline: Pipeline;
}

/** The RPC protocol of a request, read from its content type as connect-node does. */
export function protocolOf(contentType: string | null): Exclude<Protocol, "jsonrpc"> {
  const type = contentType?.toLowerCase() ?? "";
  if (type.startsWith("application/grpc-web")) return "grpc-web";
  if (type.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/** The connection's verified client certificate subject, as the handlers get it from connect-node. */
const TLS_SUBJECT = createContextKey<string | undefined>(undefined, {
  description: "hubbus TLS subject",
});

/**
 * Set once a request reached the pipeline; a request connect-node refused
 * before (a body it could not parse, a bad header) is counted by
 * `guardConnectRoutes` instead.
 */
export const REACHED_PIPELINE = createContextKey<{ reached: boolean } | undefined>(undefined, {
  description: "hubbus: the request reached the pipeline",
});

/**
 * For `connectNodeAdapter`'s `contextValues`: what the handlers need from
 * the node request that connect-node does not pass on, the subject of the
 * connection's client certificate (read once per connection).
 */
export function connectContextValues(req: IncomingMessage | Http2ServerRequest): ContextValues {
  return createContextValues().set(TLS_SUBJECT, tlsSubjectOfRequest(req));
}

/**
 * The routes of `hubbus.v1.EventBusService` for `connectNodeAdapter`: the
 * same handlers answer gRPC, gRPC-Web and Connect. Each decodes, hands the
 * call to the pipeline, and encodes the answer or the error. Serve them with
 * `contextValues: connectContextValues`, or calls carry no TLS subject.
 */
export function createConnectRoutes(
  options: ConnectRoutesOptions,
): (router: ConnectRouter) => void {
  const { pipeline } = options;

  function contextOf(ctx: HandlerContext, method: MethodName): CallContext {
    const marker = ctx.values.get(REACHED_PIPELINE);
    if (marker !== undefined) marker.reached = true;
    return pipeline.context({
      protocol: protocolOf(ctx.requestHeader.get("content-type")),
      method,
      procedure: `${EventBusService.typeName}/${method}`,
      header: (name) => ctx.requestHeader.get(name) ?? undefined,
      signal: ctx.signal,
      abortReason: hubErrorOfAbort,
      tlsSubject: ctx.values.get(TLS_SUBJECT),
    });
  }

  async function unary<M extends UnaryMethod>(
    ctx: HandlerContext,
    method: M,
    decode: () => UnaryCalls[M]["input"],
  ): Promise<UnaryCalls[M]["output"]> {
    try {
      return await pipeline.unary(contextOf(ctx, method), method, decode);
    } catch (error) {
      throw connectErrorOf(error as never);
    }
  }

  return (router) => {
    router.service(EventBusService, {
      publish: async (req, ctx) =>
        publishResultToProto(await unary(ctx, "Publish", () => publishInput(req))),

      publishBatch: async (req, ctx) =>
        publishResultsToProto(await unary(ctx, "PublishBatch", () => req.events.map(publishInput))),

      queryEvents: async (req, ctx) =>
        eventsToProto(await unary(ctx, "QueryEvents", () => queryInput(req))),

      getHubInfo: async (_req, ctx) => infoToProto(await unary(ctx, "GetHubInfo", () => undefined)),

      getHealth: async (_req, ctx) => healthToProto(await unary(ctx, "GetHealth", () => undefined)),

      listHubs: async (_req, ctx) => hubsToProto(await unary(ctx, "ListHubs", () => undefined)),

      async *subscribe(req, ctx) {
        // Connect and gRPC-Web with binary messages share the per-event encoding; JSON cannot.
        const binary = !/json/i.test(ctx.requestHeader.get("content-type") ?? "");
        const toResponse = binary ? preEncodedSubscribeResponse : eventToSubscribeResponse;
        try {
          for await (const batch of pipeline.subscribe(contextOf(ctx, "Subscribe"), () =>
            subscribeInput(req),
          )) {
            for (const event of batch.events) yield toResponse(event);
          }
        } catch (error) {
          throw connectErrorOf(error as never);
        }
      },
    });
  };
}
