export { callLoggerKey, createAccessLogInterceptor, protocolOf } from "./access-log.js";
export { eventToProto } from "./convert.js";
export { connectCodeOf, toConnectError } from "./errors.js";
export { SERVICE_HEADER } from "./inputs.js";
export { type ConnectRoutesOptions, createConnectRoutes } from "./routes.js";
