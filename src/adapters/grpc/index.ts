export { type BodyDeadlines, checkEveryMs, createBodyDeadlines } from "./body-deadlines.js";
export { createNativeGrpc, type NativeGrpc, type NativeGrpcOptions } from "./handler.js";
