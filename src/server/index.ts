export {
  createOnePort,
  type DualHandler,
  type Handlers,
  type OnePort,
  type PortOptions,
} from "./one-port.js";
export {
  type ConnectionLimits,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_PEEK_TIMEOUT_MS,
  type ParsedServerOptions,
  parseServerOptions,
  type ServerOptions,
} from "./options.js";
export { createRoutes, type RoutesOptions } from "./routes.js";
export { createServer, type HubServer, type ListenAddress } from "./server.js";
export { TlsFileError, type TlsFileOption, type TlsOptions } from "./tls.js";
export { createTlsPort, type TlsPort, type TlsPortOptions } from "./tls-port.js";
