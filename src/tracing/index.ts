import type { Logger } from "pino";
import type { Tracer } from "../core/index.js";
import type { TracingOptions } from "./options.js";

export * from "./options.js";

/** What the tracer names besides the options: the hub it runs in. */
export interface TracerIdentity {
  readonly hubId: string;
  readonly version: string;
  readonly logger: Logger;
}

/**
 * The tracer exporting over OTLP/HTTP protobuf. Imported on first use, so
 * a hub without tracing never loads it.
 */
export async function createTracer(
  options: TracingOptions,
  identity: TracerIdentity,
): Promise<Tracer> {
  const { createOtlpTracer } = await import("./otlp-tracer.js");
  return createOtlpTracer(options, identity);
}
