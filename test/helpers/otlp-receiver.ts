import { EventEmitter, once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { BinaryReader, type WireType } from "@bufbuild/protobuf/wire";

/** A span as an OTLP collector receives it, ids in hex. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** "" for a root span. */
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  /** OTLP's SpanKind: 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly attributes: Record<string, string | number | boolean>;
  /** OTLP's StatusCode: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  /** The exporting process's resource attributes (`service.name`, `service.instance.id`). */
  readonly resource: Record<string, string | number | boolean>;
}

/** An OTLP/HTTP receiver in the test's process: a real server decoding the protobuf exports. */
export interface OtlpReceiver {
  /** The traces endpoint: `http://127.0.0.1:<port>/v1/traces`. */
  readonly url: string;
  readonly spans: readonly ReceivedSpan[];
  /** Export requests received, and their bodies' total bytes. */
  readonly requests: number;
  readonly bytes: number;
  /** Resolves with the spans once `found` returns them from what arrived (checked on each export). */
  waitFor<T>(found: (spans: readonly ReceivedSpan[]) => T | undefined): Promise<T>;
  close(): Promise<void>;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** Calls `field` for each field of the message in `bytes`; skips what it does not read. */
function fields(
  bytes: Uint8Array,
  field: (no: number, reader: BinaryReader, wire: WireType) => boolean,
) {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wire] = reader.tag();
    if (!field(no, reader, wire)) reader.skip(wire);
  }
}

function anyValue(bytes: Uint8Array): string | number | boolean {
  let value: string | number | boolean = "";
  fields(bytes, (no, r) => {
    if (no === 1) value = r.string();
    else if (no === 2) value = r.bool();
    else if (no === 3) value = Number(r.int64());
    else if (no === 4) value = r.double();
    else return false;
    return true;
  });
  return value;
}

function keyValues(list: Uint8Array[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const bytes of list) {
    let key = "";
    let value: string | number | boolean = "";
    fields(bytes, (no, r) => {
      if (no === 1) key = r.string();
      else if (no === 2) value = anyValue(r.bytes());
      else return false;
      return true;
    });
    out[key] = value;
  }
  return out;
}

function decodeSpan(bytes: Uint8Array, resource: ReceivedSpan["resource"]): ReceivedSpan {
  const span = {
    traceId: "",
    spanId: "",
    parentSpanId: "",
    traceState: "",
    name: "",
    kind: 0,
    statusCode: 0,
  };
  const attributes: Uint8Array[] = [];
  fields(bytes, (no, r) => {
    if (no === 1) span.traceId = hex(r.bytes());
    else if (no === 2) span.spanId = hex(r.bytes());
    else if (no === 3) span.traceState = r.string();
    else if (no === 4) span.parentSpanId = hex(r.bytes());
    else if (no === 5) span.name = r.string();
    else if (no === 6) span.kind = r.int32();
    else if (no === 9) attributes.push(r.bytes());
    else if (no === 15) {
      fields(r.bytes(), (n, s) => {
        if (n !== 3) return false;
        span.statusCode = s.int32();
        return true;
      });
    } else return false;
    return true;
  });
  return { ...span, attributes: keyValues(attributes), resource };
}

/** ExportTraceServiceRequest → ResourceSpans → ScopeSpans → Span. */
export function decodeExportRequest(body: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  fields(body, (no, r) => {
    if (no !== 1) return false;
    const resourceAttributes: Uint8Array[] = [];
    const scopeSpans: Uint8Array[] = [];
    fields(r.bytes(), (n, rs) => {
      if (n === 1) {
        fields(rs.bytes(), (k, res) => {
          if (k !== 1) return false;
          resourceAttributes.push(res.bytes());
          return true;
        });
      } else if (n === 2) scopeSpans.push(rs.bytes());
      else return false;
      return true;
    });
    const resource = keyValues(resourceAttributes);
    for (const scope of scopeSpans) {
      fields(scope, (n, ss) => {
        if (n !== 2) return false;
        spans.push(decodeSpan(ss.bytes(), resource));
        return true;
      });
    }
    return true;
  });
  return spans;
}

/**
 * Starts the receiver on a free port. It answers every export 200 with an
 * empty ExportTraceServiceResponse; `decode: false` counts requests and
 * bytes only (the bench's receiver, whose CPU should not weigh on the gateway).
 */
export async function startOtlpReceiver(options: { decode?: boolean } = {}): Promise<OtlpReceiver> {
  const decode = options.decode ?? true;
  const spans: ReceivedSpan[] = [];
  const arrived = new EventEmitter();
  let requests = 0;
  let bytes = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      let body = Buffer.concat(chunks);
      requests++;
      bytes += body.length;
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      if (decode) {
        try {
          if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
          spans.push(...decodeExportRequest(body));
        } catch (error) {
          res.writeHead(400, { "content-type": "text/plain" }).end(String(error));
          return;
        }
      }
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      arrived.emit("spans");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    get requests() {
      return requests;
    },
    get bytes() {
      return bytes;
    },
    waitFor(found) {
      return new Promise((resolve) => {
        const check = () => {
          const result = found(spans);
          if (result === undefined) return;
          arrived.off("spans", check);
          resolve(result);
        };
        arrived.on("spans", check);
        check();
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
