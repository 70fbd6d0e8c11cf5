export {
  eventsToProto,
  eventToProto,
  eventToSubscribeResponse,
  healthToProto,
  hubsToProto,
  infoToProto,
  preEncodedSubscribeResponse,
  publishResultsToProto,
  publishResultToProto,
} from "./convert.js";
export { MAX_TIMER_MS, parseGrpcTimeout } from "./deadline.js";
export { codeWord, connectCodeOf, connectErrorOf, hubErrorOfAbort } from "./errors.js";
export { publishInput, queryInput, subscribeInput } from "./inputs.js";
