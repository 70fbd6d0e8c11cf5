// OpenTelemetry's standard OTEL_* variables, read into the tracer's options.
import type { SamplerName, TracingOptions } from "../tracing/index.js";
import { ConfigError, integer, list } from "./values.js";

const SAMPLERS: readonly SamplerName[] = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
];

/** An OTLP endpoint: an http(s) URL. */
function otlpUrl(variable: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ConfigError(variable, `"${raw}" is not a URL (e.g. http://localhost:4318)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(variable, `"${raw}" must be http:// or https:// (OTLP over HTTP)`);
  }
  return url;
}

/** `key=value,key2=value2`, values percent-encoded, as the OTel specification writes headers. */
function otlpHeaders(variable: string, raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (raw === undefined) return headers;
  for (const pair of list(raw)) {
    const eq = pair.indexOf("=");
    const key = eq > 0 ? pair.slice(0, eq).trim() : "";
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) {
      throw new ConfigError(variable, `"${pair}" is not key=value with a header name as key`);
    }
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      throw new ConfigError(variable, `the value of ${key} is not percent-encoded correctly`);
    }
    if (/[\r\n]/.test(value))
      throw new ConfigError(variable, `the value of ${key} has a line break`);
    headers[key.toLowerCase()] = value;
  }
  return headers;
}

/**
 * The tracing settings from OpenTelemetry's standard variables, or
 * undefined when no OTLP endpoint is set (or `OTEL_SDK_DISABLED=true`,
 * `OTEL_TRACES_EXPORTER=none`). Only OTLP over HTTP with protobuf is spoken.
 */
export function tracingOptions(
  get: (name: string) => string | undefined,
): TracingOptions | undefined {
  if (get("OTEL_SDK_DISABLED")?.trim().toLowerCase() === "true") return undefined;
  const exporter = get("OTEL_TRACES_EXPORTER")?.trim().toLowerCase();
  if (exporter === "none") return undefined;
  if (exporter !== undefined && exporter !== "otlp") {
    throw new ConfigError("OTEL_TRACES_EXPORTER", `"${exporter}" is not otlp or none`);
  }
  const tracesEndpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT");
  let url: string;
  if (tracesEndpoint !== undefined) {
    // Used as given: the specification appends no path to the per-signal variable.
    url = otlpUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", tracesEndpoint).href;
  } else if (endpoint !== undefined) {
    const base = otlpUrl("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint).href;
    url = `${base.replace(/\/+$/, "")}/v1/traces`;
  } else {
    return undefined;
  }
  for (const variable of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
    const protocol = get(variable)?.trim();
    if (protocol !== undefined && protocol !== "http/protobuf") {
      throw new ConfigError(
        variable,
        `"${protocol}" is not supported: hubbus exports http/protobuf`,
      );
    }
  }
  const headers = {
    ...otlpHeaders("OTEL_EXPORTER_OTLP_HEADERS", get("OTEL_EXPORTER_OTLP_HEADERS")),
    ...otlpHeaders("OTEL_EXPORTER_OTLP_TRACES_HEADERS", get("OTEL_EXPORTER_OTLP_TRACES_HEADERS")),
  };
  const sampler = (get("OTEL_TRACES_SAMPLER")?.trim().toLowerCase() ??
    "parentbased_always_on") as SamplerName;
  if (!SAMPLERS.includes(sampler)) {
    throw new ConfigError(
      "OTEL_TRACES_SAMPLER",
      `"${sampler}" is not one of ${SAMPLERS.join(", ")}`,
    );
  }
  const ratioRaw = get("OTEL_TRACES_SAMPLER_ARG")?.trim();
  let samplerRatio = 1;
  if (ratioRaw !== undefined && sampler.endsWith("traceidratio")) {
    samplerRatio = Number(ratioRaw);
    if (!/^\d*\.?\d+$/.test(ratioRaw) || samplerRatio < 0 || samplerRatio > 1) {
      throw new ConfigError("OTEL_TRACES_SAMPLER_ARG", `"${ratioRaw}" is not a number in 0..1`);
    }
  }
  const delayRaw = get("OTEL_BSP_SCHEDULE_DELAY");
  const queueRaw = get("OTEL_BSP_MAX_QUEUE_SIZE");
  const batchRaw = get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE");
  // The per-signal variable wins, as the specification has it.
  const timeoutVariable =
    get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") === undefined
      ? "OTEL_EXPORTER_OTLP_TIMEOUT"
      : "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
  const timeoutRaw = get(timeoutVariable);
  const serviceName = get("OTEL_SERVICE_NAME")?.trim();
  return Object.freeze({
    url,
    headers: Object.freeze(headers),
    sampler,
    samplerRatio,
    ...(serviceName === undefined ? {} : { serviceName }),
    ...(delayRaw === undefined
      ? {}
      : { exportDelayMs: integer("OTEL_BSP_SCHEDULE_DELAY", delayRaw, 1, 600_000) }),
    ...(queueRaw === undefined
      ? {}
      : { maxQueueSpans: integer("OTEL_BSP_MAX_QUEUE_SIZE", queueRaw, 1, 1_000_000) }),
    ...(batchRaw === undefined
      ? {}
      : { maxExportBatchSpans: integer("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", batchRaw, 1, 1_000_000) }),
    ...(timeoutRaw === undefined
      ? {}
      : { exportTimeoutMs: integer(timeoutVariable, timeoutRaw, 1, 600_000) }),
  });
}
