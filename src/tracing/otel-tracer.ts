import {
  createTraceState,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
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
  DEFAULT_MAX_EXPORT_BATCH_SPANS,
  DEFAULT_MAX_QUEUE_SPANS,
  DEFAULT_SAMPLER,
  DEFAULT_SERVICE_NAME,
  type SamplerName,
  type TracingOptions,
} from "./options.js";

const KINDS: Readonly<Record<SpanKindName, SpanKind>> = {
  server: SpanKind.SERVER,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

/** Export failures logged: the first, then one in this many. */
const LOG_EVERY_FAILURES = 100;

function samplerOf(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

/** The SDK's view of a context that came from outside (a request, a message, the log). */
function remoteSpanContext(parent: TraceContext): SpanContext {
  return {
    traceId: traceIdOf(parent),
    spanId: spanIdOf(parent),
    traceFlags: isSampled(parent) ? 1 : 0,
    isRemote: true,
    ...(parent.tracestate === undefined ? {} : { traceState: createTraceState(parent.tracestate) }),
  };
}

/** A span of the SDK behind hubbus's own small interface. */
class OtelSpan implements TraceSpan {
  readonly #span: Span;
  readonly #tracestate: string | undefined;
  #context: TraceContext | undefined;
  #ended = false;

  constructor(span: Span, tracestate: string | undefined) {
    this.#span = span;
    this.#tracestate = tracestate;
  }

  get context(): TraceContext {
    if (this.#context === undefined) {
      const { traceId, spanId, traceFlags } = this.#span.spanContext();
      const traceparent = `00-${traceId}-${spanId}-${(traceFlags & 1) === 1 ? "01" : "00"}`;
      this.#context =
        this.#tracestate === undefined
          ? { traceparent }
          : { traceparent, tracestate: this.#tracestate };
    }
    return this.#context;
  }

  end(attributes: SpanAttributes, error?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const span = this.#span;
    // A span the sampler dropped records nothing: skip the attribute work.
    if (!span.isRecording()) return;
    for (const key in attributes) {
      const value = attributes[key];
      if (value !== undefined) span.setAttribute(key, value);
    }
    if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    span.end();
  }
}

/** Passes spans on to the OTLP exporter and logs its failures (the SDK's own diagnostics are silent). */
function loggingExporter(exporter: SpanExporter, identity: TracerIdentity): SpanExporter {
  let failures = 0;
  return {
    export(spans: ReadableSpan[], done) {
      exporter.export(spans, (result) => {
        if (result.code !== 0) {
          failures++;
          if (failures === 1 || failures % LOG_EVERY_FAILURES === 0) {
            identity.logger.warn(
              { err: result.error, failures, spans: spans.length },
              "could not export spans over OTLP; they are dropped",
            );
          }
        }
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

/**
 * The tracer over the OpenTelemetry SDK: a batch span processor and the
 * OTLP/HTTP protobuf exporter. Sampling is decided before the SDK is asked
 * when it can be: under a parent-based sampler, a parent that was not
 * sampled means no span at all, and the parent's context is handed on as
 * it came (no ids, objects or attributes made for it).
 */
export function createOtelTracer(options: TracingOptions, identity: TracerIdentity): Tracer {
  const samplerName = options.sampler ?? DEFAULT_SAMPLER;
  const exporter = new OTLPTraceExporter({ url: options.url, headers: { ...options.headers } });
  const processor = new BatchSpanProcessor(loggingExporter(exporter, identity), {
    scheduledDelayMillis: options.exportDelayMs ?? DEFAULT_EXPORT_DELAY_MS,
    maxQueueSize: options.maxQueueSpans ?? DEFAULT_MAX_QUEUE_SPANS,
    maxExportBatchSize: Math.min(
      options.maxExportBatchSpans ?? DEFAULT_MAX_EXPORT_BATCH_SPANS,
      options.maxQueueSpans ?? DEFAULT_MAX_QUEUE_SPANS,
    ),
  });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName ?? DEFAULT_SERVICE_NAME,
      [ATTR_SERVICE_VERSION]: identity.version,
      "service.instance.id": identity.hubId,
    }),
    sampler: samplerOf(samplerName, options.samplerRatio ?? 1),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer("hubbus", identity.version);
  const parentBased = samplerName.startsWith("parentbased_");
  let shuttingDown: Promise<void> | undefined;

  return {
    start(name, kind, parent) {
      let context = ROOT_CONTEXT;
      if (parent !== undefined) {
        if (parentBased && !isSampled(parent)) return undefined;
        context = trace.setSpanContext(ROOT_CONTEXT, remoteSpanContext(parent));
      }
      const span = tracer.startSpan(name, { kind: KINDS[kind] }, context);
      return new OtelSpan(span, parent?.tracestate);
    },
    shutdown() {
      shuttingDown ??= provider.shutdown().catch((error: unknown) => {
        identity.logger.warn({ err: error }, "tracer shutdown failed");
      });
      return shuttingDown;
    },
  };
}
