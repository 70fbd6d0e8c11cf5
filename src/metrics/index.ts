export {
  createCallMetrics,
  REQUEST_DURATION_BUCKETS_S,
  STREAM_DURATION_BUCKETS_S,
  UNKNOWN_LABEL,
} from "./calls.js";
export {
  createMetrics,
  type Metrics,
  type MetricsOptions,
  type MetricsSources,
} from "./metrics.js";
