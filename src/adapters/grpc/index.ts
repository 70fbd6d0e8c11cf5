export { createNativeGrpc, type NativeGrpc, type NativeGrpcOptions } from "./handler.js";
