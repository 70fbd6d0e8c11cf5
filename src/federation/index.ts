export {
  createFederation,
  DEFAULT_DEPART_TIMEOUT_MS,
  type Federation,
  type FederationOptions,
} from "./federation.js";
export { createRegistry, type Presence, type Registry, type RegistryOptions } from "./registry.js";
