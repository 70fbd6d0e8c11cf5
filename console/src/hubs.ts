import { type DescMethod, type DescMethodUnary, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";

/**
 * The federation's hubs, isolated here because `ListHubs` (rpc 7) is not in
 * this proto yet: the console looks the method up in the generated service
 * at run time, so once gen/ has it the section appears with no change here
 * beyond, at most, a nicer rendering than the response's JSON.
 *
 * Returns undefined when the generated service has no `ListHubs`.
 */
export function listHubsCall(
  transport: Transport,
): ((signal: AbortSignal) => Promise<JsonValue>) | undefined {
  const methods = EventBusService.method as Record<string, DescMethod | undefined>;
  const method = methods.listHubs;
  if (method === undefined || method.methodKind !== "unary") return undefined;
  const unary = method as DescMethodUnary;
  return async (signal) => {
    const response = await transport.unary(unary, signal, undefined, undefined, {});
    return toJson(unary.output, response.message);
  };
}
