export {
  type ConnectRoutesOptions,
  connectContextValues,
  createConnectRoutes,
  protocolOf,
} from "./routes.js";
