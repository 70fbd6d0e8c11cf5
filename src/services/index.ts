export {
  createHealthRoutes,
  DEFAULT_HEALTH_CHECK_TIMEOUT_MS,
  DEFAULT_HEALTH_WATCH_INTERVAL_MS,
  HEALTH_SERVICE_NAMES,
  type HealthRoutesOptions,
} from "./health.js";
export { createReflectionRoutes } from "./reflection.js";
