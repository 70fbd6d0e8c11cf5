/** The samplers of `OTEL_TRACES_SAMPLER` hubbus offers (the standard's, less the Jaeger remote one). */
export type SamplerName =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio";

/** OpenTelemetry's default sampler. */
export const DEFAULT_SAMPLER: SamplerName = "parentbased_always_on";
/** `OTEL_SERVICE_NAME` when unset. */
export const DEFAULT_SERVICE_NAME = "hubbus";
/** How long spans wait for the next export (OTel's `OTEL_BSP_SCHEDULE_DELAY` default). */
export const DEFAULT_EXPORT_DELAY_MS = 5000;
/** Spans kept for export at most; past it new ones are dropped (OTel's default). */
export const DEFAULT_MAX_QUEUE_SPANS = 2048;
/** Spans in one export request at most (OTel's default). */
export const DEFAULT_MAX_EXPORT_BATCH_SPANS = 512;
/** How long one export request may take (OTel's `OTEL_EXPORTER_OTLP_TIMEOUT` default). */
export const DEFAULT_EXPORT_TIMEOUT_MS = 10_000;

/** Where and how spans are exported (OTLP over HTTP, protobuf). */
export interface TracingOptions {
  /** The traces endpoint, e.g. `http://jaeger:4318/v1/traces`. */
  readonly url: string;
  /** Sent with every export request (`OTEL_EXPORTER_OTLP_HEADERS`). @default {} */
  readonly headers?: Readonly<Record<string, string>>;
  /** The resource's `service.name`. @default DEFAULT_SERVICE_NAME */
  readonly serviceName?: string;
  /** @default DEFAULT_SAMPLER */
  readonly sampler?: SamplerName;
  /** The `traceidratio` samplers' share of root traces, 0..1. @default 1 */
  readonly samplerRatio?: number;
  /** @default DEFAULT_EXPORT_DELAY_MS */
  readonly exportDelayMs?: number;
  /** @default DEFAULT_MAX_QUEUE_SPANS */
  readonly maxQueueSpans?: number;
  /** @default DEFAULT_MAX_EXPORT_BATCH_SPANS */
  readonly maxExportBatchSpans?: number;
  /** @default DEFAULT_EXPORT_TIMEOUT_MS */
  readonly exportTimeoutMs?: number;
}
