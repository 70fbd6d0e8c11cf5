export { type ConnectRoutesOptions, createConnectRoutes, protocolOf } from "./routes.js";
