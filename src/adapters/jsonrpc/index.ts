export {
  createJsonRpcDispatcher,
  DEFAULT_MAX_BATCH_LENGTH,
  type DispatchContext,
  type JsonRpcDispatcher,
  type JsonRpcResponse,
} from "./dispatch.js";
export { JsonRpcCode, type JsonRpcError, toJsonRpcError } from "./errors.js";
export {
  createJsonRpcHandler,
  type JsonRpcHandler,
  type JsonRpcHandlerOptions,
  type NodeRequest,
  type NodeResponse,
  sendJson,
} from "./http-handler.js";
export { eventToJson, hubToJson, type MethodSpec, type ParamSpec } from "./methods.js";
