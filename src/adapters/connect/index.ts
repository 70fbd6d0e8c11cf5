export { callLoggerKey, createAccessLogInterceptor, protocolOf } from "./access-log.js";
export { eventToProto } from "./convert.js";
export { connectCodeOf, toConnectError } from "./errors.js";
export { type ConnectRoutesOptions, createConnectRoutes, SERVICE_HEADER } from "./routes.js";
