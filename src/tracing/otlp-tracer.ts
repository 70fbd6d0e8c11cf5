import {
  isSampled,
  type SpanAttributes,
  type SpanKindName,
  spanIdOf,
  type TraceContext,
  type Tracer,
  type TraceSpan,
  traceIdOf,
} from "../core/index.js";
import type { TracerIdentity } from "./index.js";
import {
  DEFAULT_EXPORT_DELAY_MS,
  DEFAULT_EXPORT_TIMEOUT_MS,
  DEFAULT_MAX_EXPORT_BATCH_SPANS,
  DEFAULT_MAX_QUEUE_SPANS,
  DEFAULT_SAMPLER,
  DEFAULT_SERVICE_NAME,
  type SamplerName,
  type TracingOptions,
} from "./options.js";
import type { FinishedSpan } from "./otlp-encode.js";
import { createOtlpExporter, type OtlpExporter } from "./otlp-exporter.js";

const NO_ATTRIBUTES: SpanAttributes = Object.freeze({});

/** Each byte's two hex digits. */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) =>
  i.toString(16).padStart(2, "0"),
);

/** Four random bytes as hex. */
function hexWord(): string {
  const r = (Math.random() * 0x100000000) >>> 0;
  return (
    (HEX[r >>> 24] as string) +
    (HEX[(r >>> 16) & 0xff] as string) +
    (HEX[(r >>> 8) & 0xff] as string) +
    (HEX[r & 0xff] as string)
  );
}

/**
 * A random id of `words` × 4 bytes as lower-case hex, never all zero (W3C:
 * an all-zero id is invalid). From Math.random, as the OpenTelemetry JS
 * SDK's ids are: they must be unique, not secret, and a native call for
 * crypto bytes cost more than the rest of a span.
 */
function randomHex(words: 2 | 4): string {
  for (;;) {
    let id = hexWord() + hexWord();
    if (words === 4) id += hexWord() + hexWord();
    if (id !== ZERO_IDS[words]) return id;
  }
}

const ZERO_IDS = { 2: "0".repeat(16), 4: "0".repeat(32) } as const;

/**
 * OpenTelemetry's TraceIdRatioBased decision, computed as the JS SDK does
 * (the trace id's 8-hex words XORed, against ratio × 2^32), so hubbus and
 * an SDK-instrumented service keep or drop the same traces.
 */
function ratioSampled(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  let accumulation = 0;
  for (let i = 0; i < traceId.length / 8; i++) {
    const part = Number.parseInt(traceId.slice(i * 8, i * 8 + 8), 16);
    accumulation = (accumulation ^ part) >>> 0;
  }
  return accumulation < Math.floor(ratio * 0xffffffff);
}

/** The sampler's answer for a span: record it, or hand on its context unsampled. */
type Decide = (traceId: string, parent: TraceContext | undefined) => boolean;

function samplerOf(name: SamplerName, ratio: number): Decide {
  switch (name) {
    case "always_on":
      return () => true;
    case "always_off":
      return () => false;
    case "traceidratio":
      return (traceId) => ratioSampled(traceId, ratio);
    case "parentbased_always_on":
      return (_, parent) => parent === undefined || isSampled(parent);
    case "parentbased_always_off":
      return (_, parent) => parent !== undefined && isSampled(parent);
    case "parentbased_traceidratio":
      return (traceId, parent) =>
        parent === undefined ? ratioSampled(traceId, ratio) : isSampled(parent);
  }
}

/**
 * A span the sampler kept. When it ends it is queued for export as it is:
 * the span is its own export record, so a traced call allocates one object.
 */
class RecordedSpan implements TraceSpan, FinishedSpan {
  readonly context: TraceContext;
  readonly spanId: string;
  readonly parentSpanId: string;
  // Every parent hubbus sees came from outside: a request, a message or the log.
  readonly parentRemote = true;
  readonly tracestate: string | undefined;
  readonly startMs: number;
  endMs = 0;
  attributes: SpanAttributes = NO_ATTRIBUTES;
  error: string | undefined = undefined;
  readonly #exporter: OtlpExporter;
  #ended = false;

  constructor(
    exporter: OtlpExporter,
    readonly name: string,
    readonly kind: SpanKindName,
    readonly traceId: string,
    parent: TraceContext | undefined,
  ) {
    this.#exporter = exporter;
    this.spanId = randomHex(2);
    this.parentSpanId = parent === undefined ? "" : spanIdOf(parent);
    this.tracestate = parent?.tracestate;
    this.startMs = performance.timeOrigin + performance.now();
    const traceparent = `00-${traceId}-${this.spanId}-01`;
    this.context =
      this.tracestate === undefined
        ? { traceparent }
        : { traceparent, tracestate: this.tracestate };
  }

  end(attributes: SpanAttributes, error?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.endMs = performance.timeOrigin + performance.now();
    this.attributes = attributes;
    this.error = error;
    this.#exporter.add(this);
  }
}

/** A span the sampler dropped: its context is handed on with the sampled flag off. */
class UnsampledSpan implements TraceSpan {
  readonly context: TraceContext;

  constructor(traceId: string, tracestate: string | undefined) {
    const traceparent = `00-${traceId}-${randomHex(2)}-00`;
    this.context = tracestate === undefined ? { traceparent } : { traceparent, tracestate };
  }

  end(): void {}
}

/**
 * The tracer: W3C trace context in, OTLP/HTTP protobuf out, with the
 * standard samplers. Written for hubbus's three spans (a call, a forward,
 * an ingest) rather than on the OpenTelemetry SDK, whose span start and
 * export cost about 20 µs per span (measured) where a publish costs about
 * 120: with two spans per event that was a third of a traced publish.
 * Under a parent-based sampler, a parent that was not sampled means no span
 * at all, and the parent's context is handed on as it came.
 */
export function createOtlpTracer(options: TracingOptions, identity: TracerIdentity): Tracer {
  const samplerName = options.sampler ?? DEFAULT_SAMPLER;
  const decide = samplerOf(samplerName, options.samplerRatio ?? 1);
  const parentBased = samplerName.startsWith("parentbased_");
  const maxQueue = options.maxQueueSpans ?? DEFAULT_MAX_QUEUE_SPANS;
  const exporter = createOtlpExporter({
    url: options.url,
    headers: options.headers ?? {},
    delayMs: options.exportDelayMs ?? DEFAULT_EXPORT_DELAY_MS,
    maxQueue,
    maxBatch: Math.min(options.maxExportBatchSpans ?? DEFAULT_MAX_EXPORT_BATCH_SPANS, maxQueue),
    timeoutMs: options.exportTimeoutMs ?? DEFAULT_EXPORT_TIMEOUT_MS,
    identity: {
      resource: {
        "service.name": options.serviceName ?? DEFAULT_SERVICE_NAME,
        "service.version": identity.version,
        "service.instance.id": identity.hubId,
        "telemetry.sdk.name": "hubbus",
        "telemetry.sdk.language": "nodejs",
      },
      scopeName: "hubbus",
      scopeVersion: identity.version,
    },
    logger: identity.logger,
  });
  let shuttingDown: Promise<void> | undefined;

  return {
    start(name, kind, parent) {
      if (parent !== undefined && parentBased && !isSampled(parent)) return undefined;
      const traceId = parent === undefined ? randomHex(4) : traceIdOf(parent);
      if (!decide(traceId, parent)) return new UnsampledSpan(traceId, parent?.tracestate);
      return new RecordedSpan(exporter, name, kind, traceId, parent);
    },
    shutdown() {
      shuttingDown ??= exporter.shutdown().catch((error: unknown) => {
        identity.logger.warn({ err: error }, "tracer shutdown failed");
      });
      return shuttingDown;
    },
  };
}
