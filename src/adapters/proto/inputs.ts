import type {
  PublishRequest,
  QueryEventsRequest,
  SubscribeRequest,
} from "../../../gen/hubbus/v1/eventbus_pb.js";
import type { QueryInput, SubscribeInput } from "../../core/index.js";
import type { PublishRequestInput } from "../../pipeline/index.js";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// Proto3 cannot tell an unset scalar from its zero value, so "" and 0 mean
// "the default" in every request below. Shared by connect-node's routes and
// the native gRPC path, so both read a request the same way.

/** A PublishRequest as the core's input; the origin service comes from the call. */
export function publishInput(req: PublishRequest): PublishRequestInput {
  return {
    subject: req.subject,
    payload: req.payload,
    correlationId: req.correlationId,
    idempotencyKey: req.idempotencyKey,
  };
}

export function queryInput(req: QueryEventsRequest): QueryInput {
  return {
    subject: req.subject === "" ? undefined : req.subject,
    limit: req.limit === 0 ? undefined : req.limit,
  };
}

export function subscribeInput(req: SubscribeRequest): SubscribeInput {
  return {
    subject: req.subject === "" ? undefined : req.subject,
    // Beyond 2^53 is beyond any log's end: "live from now".
    afterSequence:
      req.afterSequence === undefined
        ? undefined
        : Number(req.afterSequence > MAX_SAFE ? MAX_SAFE : req.afterSequence),
  };
}
