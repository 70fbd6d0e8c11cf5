export { admitConnectRequest, type GuardOptions, guardConnectRoutes } from "./refusals.js";
export {
  type ConnectRoutesOptions,
  connectContextValues,
  createConnectRoutes,
  protocolOf,
} from "./routes.js";
