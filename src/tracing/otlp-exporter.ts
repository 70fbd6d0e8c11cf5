import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Logger } from "pino";
import {
  type ExportIdentity,
  encodeIdentity,
  type FinishedSpan,
  SpanBatch,
} from "./otlp-encode.js";

/** Options of {@link createOtlpExporter}. */
export interface OtlpExporterOptions {
  /** The traces endpoint (`…/v1/traces`), http or https. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** How long spans wait for the next export, at most. */
  readonly delayMs: number;
  /** Spans kept waiting at most; past it new ones are dropped and counted. */
  readonly maxQueue: number;
  /** Spans in one request at most; a full batch is sent without waiting for the delay. */
  readonly maxBatch: number;
  /** How long one export request may take. */
  readonly timeoutMs: number;
  readonly identity: ExportIdentity;
  readonly logger: Logger;
}

/** Batches finished spans and sends them over OTLP/HTTP (protobuf), one request at a time. */
export interface OtlpExporter {
  /**
   * Encodes a span into the batch being filled; drops it when the queue is
   * full. Cheap: the span's path calls it, and the span is not kept.
   */
  add(span: FinishedSpan): void;
  /** Sends everything queued, then stops. */
  shutdown(): Promise<void>;
  /** For tests and logs. */
  stats(): { readonly exported: number; readonly dropped: number; readonly failedRequests: number };
}

/** Export failures logged: the first, then one in this many. */
const LOG_EVERY_FAILURES = 100;

/**
 * The batch span processor and OTLP/HTTP exporter in one: what the
 * OpenTelemetry SDK's BatchSpanProcessor and OTLPTraceExporter do for
 * hubbus's spans, without their per-span objects. Behaves as the SDK's
 * defaults do: a span waits at most the delay, a full batch goes at once,
 * one request is in flight at a time, a full queue drops new spans, and a
 * failed request's spans are dropped (and logged), not retried forever.
 */
export function createOtlpExporter(options: OtlpExporterOptions): OtlpExporter {
  const url = new URL(options.url);
  const https = url.protocol === "https:";
  const agent = https
    ? new HttpsAgent({ keepAlive: true, maxSockets: 1 })
    : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const send = https ? httpsRequest : httpRequest;
  // Spans are encoded as they end, into the batch being filled; a full one
  // waits in `ready` for its turn, and a sent one is kept to be filled again.
  const identity = encodeIdentity(options.identity);
  let filling = new SpanBatch(identity);
  const ready: SpanBatch[] = [];
  // One is enough: batches wait in `ready` only while a request is slow.
  let spare: SpanBatch | undefined;
  /** The batch to fill next: the spare one, else a new one. */
  const nextBatch = (): SpanBatch => {
    const batch = spare ?? new SpanBatch(identity);
    spare = undefined;
    return batch;
  };
  let queued = 0;
  let inFlight: Promise<void> | undefined;
  let soon: NodeJS.Immediate | undefined;
  let exported = 0;
  let dropped = 0;
  let failedRequests = 0;
  let stopped = false;

  const timer = setInterval(() => flush(), options.delayMs);
  timer.unref();

  function failed(error: unknown, spans: number): void {
    failedRequests++;
    if (failedRequests === 1 || failedRequests % LOG_EVERY_FAILURES === 0) {
      options.logger.warn(
        { err: error, failures: failedRequests, spans, url: options.url },
        "could not export spans over OTLP; they are dropped",
      );
    }
  }

  function post(body: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        {
          method: "POST",
          agent,
          timeout: options.timeoutMs,
          headers: {
            ...options.headers,
            "content-type": "application/x-protobuf",
            "content-length": body.byteLength,
          },
        },
        (res) => {
          // Drained so the connection is kept; a partial success's details are not acted on.
          res.resume();
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve();
            else reject(new Error(`the OTLP endpoint answered HTTP ${status}`));
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer in ${options.timeoutMs} ms`)));
      req.on("error", reject);
      req.end(body);
    });
  }

  /** Sends one batch unless one is in flight; the batch after it follows when it is done. */
  function flush(): void {
    if (inFlight !== undefined) return;
    let sent = ready.shift();
    if (sent === undefined) {
      if (filling.count === 0) return;
      sent = filling;
      filling = nextBatch();
    }
    const batch = sent;
    const spans = batch.count;
    // The body is a view of the batch's buffer: it is not filled again until the request is over.
    inFlight = post(batch.request()).then(
      () => {
        exported += spans;
      },
      (error: unknown) => failed(error, spans),
    );
    void inFlight.finally(() => {
      inFlight = undefined;
      queued -= spans;
      batch.reset();
      spare ??= batch;
      if (ready.length > 0 || (stopped && filling.count > 0)) flush();
    });
  }

  return {
    add(span) {
      if (queued >= options.maxQueue) {
        dropped++;
        return;
      }
      try {
        filling.add(span);
      } catch (error) {
        // Not a request that failed: one span hubbus made and could not
        // encode (a bug), dropped alone; the batch is as it was.
        dropped++;
        options.logger.warn(
          { err: error, span: span.name },
          "could not encode a span; it is dropped",
        );
        return;
      }
      queued++;
      if (filling.count < options.maxBatch) return;
      ready.push(filling);
      filling = nextBatch();
      if (inFlight === undefined && soon === undefined) {
        soon = setImmediate(() => {
          soon = undefined;
          flush();
        });
      }
    },
    async shutdown() {
      stopped = true;
      clearInterval(timer);
      if (soon !== undefined) clearImmediate(soon);
      flush();
      while (inFlight !== undefined) await inFlight;
      agent.destroy();
    },
    stats: () => ({ exported, dropped, failedRequests }),
  };
}
