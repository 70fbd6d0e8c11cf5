import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { EventBusService } from "../../../gen/hubbus/v1/eventbus_pb.js";
import type { EventBus } from "../../core/index.js";
import { callLoggerKey } from "./access-log.js";
import {
  eventsToProto,
  eventToSubscribeResponse,
  healthToProto,
  infoToProto,
  preEncodedSubscribeResponse,
  publishResultsToProto,
  publishResultToProto,
} from "./convert.js";
import { toConnectError } from "./errors.js";
import { publishInput, queryInput, SERVICE_HEADER, subscribeInput } from "./inputs.js";

/** Options of {@link createConnectRoutes}. */
export interface ConnectRoutesOptions {
  /** The core every RPC calls. */
  readonly bus: EventBus;
}

/** Runs one core call and turns whatever it throws into a ConnectError. */
async function call<T>(ctx: HandlerContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toConnectError(error, ctx.values.get(callLoggerKey));
  }
}

/**
 * The routes of `hubbus.v1.EventBusService` for `connectNodeAdapter`: the
 * same handlers answer gRPC, gRPC-Web and Connect. Proto3 cannot tell an
 * unset scalar from its zero value, so "" and 0 mean "the default" here.
 */
export function createConnectRoutes(
  options: ConnectRoutesOptions,
): (router: ConnectRouter) => void {
  const { bus } = options;
  return (router) => {
    router.service(EventBusService, {
      publish: (req, ctx) =>
        call(ctx, async () => {
          const service = ctx.requestHeader.get(SERVICE_HEADER) ?? undefined;
          const result = await bus.publish(publishInput(req, service), ctx.signal);
          return publishResultToProto(result);
        }),

      publishBatch: (req, ctx) =>
        call(ctx, async () => {
          // The header names the publishing service of the whole call: every event gets it.
          const service = ctx.requestHeader.get(SERVICE_HEADER) ?? undefined;
          const results = await bus.publishBatch(
            req.events.map((event) => publishInput(event, service)),
            ctx.signal,
          );
          return publishResultsToProto(results);
        }),

      queryEvents: (req, ctx) =>
        call(ctx, async () => {
          const events = await bus.query(queryInput(req), ctx.signal);
          return eventsToProto(events);
        }),

      async *subscribe(req, ctx) {
        const logger = ctx.values.get(callLoggerKey);
        try {
          const stream = bus.subscribe(subscribeInput(req), ctx.signal);
          // Connect and gRPC-Web with binary messages share the per-event encoding; JSON cannot.
          const binary = !/json/i.test(ctx.requestHeader.get("content-type") ?? "");
          const toResponse = binary ? preEncodedSubscribeResponse : eventToSubscribeResponse;
          for await (const event of stream) yield toResponse(event);
        } catch (error) {
          // Aborted mid-read (the log calls check the signal), the core says `canceled`;
          // the signal's own reason says why: `unavailable` when the server shuts down.
          throw toConnectError(ctx.signal.aborted ? ctx.signal.reason : error, logger);
        }
        // A stream ended by the server's shutdown tells the client so (unavailable): resume elsewhere.
        if (ctx.signal.aborted) throw toConnectError(ctx.signal.reason, logger);
      },

      getHubInfo: async () => infoToProto(bus.info()),

      getHealth: (_req, ctx) => call(ctx, async () => healthToProto(await bus.health(ctx.signal))),
    });
  };
}
