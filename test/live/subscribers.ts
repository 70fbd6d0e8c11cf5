// biome-ignore-all lint/suspicious/noExplicitAny: grpc-js messages are untyped objects
import { join } from "node:path";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { fromStruct } from "../server/harness.js";
import { openRawSubscription } from "./raw-h2.js";

/** The client stacks a subscriber can use; `raw-h2` is node:http2 with gRPC framing done by hand. */
export type Protocol = "grpc-js" | "connect-h1" | "grpc-web" | "connect-grpc" | "raw-h2";

/** The protocols of acceptance 1 (gRPC via @grpc/grpc-js, Connect over HTTP/1.1, gRPC-Web). */
export const ACCEPTANCE_PROTOCOLS: readonly Protocol[] = ["grpc-js", "connect-h1", "grpc-web"];

/** Every client stack, for the suites that hold the server to account on each (release, shutdown). */
export const ALL_PROTOCOLS: readonly Protocol[] = [
  "grpc-js",
  "connect-h1",
  "grpc-web",
  "connect-grpc",
  "raw-h2",
];

export interface LiveEvent {
  readonly sequence: number;
  readonly subject: string;
  readonly id: string;
  readonly payload: Record<string, unknown>;
}

/** How a stream ended: the status code by name (`OK`, `Unavailable`, `Canceled`, …). */
export interface StreamEnd {
  readonly code: string;
  readonly message: string;
}

export interface SubscribeOptions {
  readonly subject: string;
  readonly afterSequence?: number;
  /** A deadline, as each protocol sends one (grpc-timeout, connect-timeout-ms). */
  readonly timeoutMs?: number;
  /** Keep whole events in `events`; otherwise only `sequences` are kept (cheap for fan-out). */
  readonly keepEvents?: boolean;
  /** Called for each event; `cancel()` inside it stops delivery at exactly that event. */
  readonly onEvent?: (event: LiveEvent, subscription: Subscription) => void;
}

/** One open Subscribe stream. */
export interface Subscription {
  readonly protocol: Protocol;
  readonly sequences: number[];
  readonly events: LiveEvent[];
  readonly ended: Promise<StreamEnd>;
  /** Cancels the call the protocol's way (RST_STREAM, an aborted request); no event is taken after it. */
  cancel(): void;
  /** Drops the connection under the stream without a goodbye (where the client allows it). */
  cut(): void;
}

/** Creates subscriptions against one gateway; `close()` releases clients and connections. */
export interface SubscriberFactory {
  subscribe(protocol: Protocol, options: SubscribeOptions): Subscription;
  close(): void;
}

const PROTO_ROOT = join(import.meta.dirname, "../../proto");

function loadGrpcJsService(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(join(PROTO_ROOT, "hubbus/v1/eventbus.proto"), {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  return (grpc.loadPackageDefinition(definition) as any).hubbus.v1.EventBusService;
}

function codeName(code: number): string {
  return code === 0 ? "OK" : (Code[code] ?? `code ${code}`);
}

/** Collects events and the stream's end for one protocol's callbacks. */
function recorder(protocol: Protocol, options: SubscribeOptions, cancelImpl: () => void) {
  let stopped = false;
  let resolveEnd!: (end: StreamEnd) => void;
  const ended = new Promise<StreamEnd>((resolve) => {
    resolveEnd = resolve;
  });
  const subscription: Subscription & { cutImpl?: () => void } = {
    protocol,
    sequences: [],
    events: [],
    ended,
    cancel() {
      stopped = true;
      cancelImpl();
    },
    cut() {
      stopped = true;
      (subscription.cutImpl ?? cancelImpl)();
    },
  };
  return {
    subscription,
    push(event: LiveEvent) {
      if (stopped) return;
      subscription.sequences.push(event.sequence);
      if (options.keepEvents) subscription.events.push(event);
      options.onEvent?.(event, subscription);
    },
    end: (code: string, message = "") => resolveEnd({ code, message }),
  };
}

function subscribeGrpcJs(client: grpc.Client, options: SubscribeOptions): Subscription {
  const request: Record<string, unknown> = { subject: options.subject };
  if (options.afterSequence !== undefined) request.after_sequence = String(options.afterSequence);
  const callOptions: grpc.CallOptions =
    options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
  const call: grpc.ClientReadableStream<any> = (client as any).Subscribe(
    request,
    new grpc.Metadata(),
    callOptions,
  );
  const r = recorder("grpc-js", options, () => call.cancel());
  call.on("data", (res: any) => {
    const e = res.event;
    r.push({
      sequence: Number(e.sequence),
      subject: e.subject,
      id: e.id,
      payload: fromStruct(e.payload),
    });
  });
  // Errors arrive as a status too; the listener keeps them from being thrown.
  call.on("error", () => {});
  call.on("status", (status: grpc.StatusObject) => r.end(codeName(status.code), status.details));
  return r.subscription;
}

function subscribeConnect(
  protocol: Protocol,
  transport: Transport,
  options: SubscribeOptions,
  cut?: () => void,
): Subscription {
  const client = createClient(EventBusService, transport);
  const controller = new AbortController();
  const r = recorder(protocol, options, () => controller.abort());
  if (cut) r.subscription.cutImpl = cut;
  (async () => {
    try {
      const stream = client.subscribe(
        {
          subject: options.subject,
          ...(options.afterSequence === undefined
            ? {}
            : { afterSequence: BigInt(options.afterSequence) }),
        },
        {
          signal: controller.signal,
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        },
      );
      for await (const { event } of stream) {
        if (!event) continue;
        r.push({
          sequence: Number(event.sequence),
          subject: event.subject,
          id: event.id,
          payload: (event.payload ?? {}) as Record<string, unknown>,
        });
      }
      r.end("OK");
    } catch (error) {
      const e = ConnectError.from(error);
      r.end(codeName(e.code), e.rawMessage);
    }
  })();
  return r.subscription;
}

/**
 * Subscribers against one gateway port, over any client stack. The gRPC
 * clients multiplex their streams on one HTTP/2 connection each, as real
 * clients do; Connect over HTTP/1.1 and gRPC-Web open one connection per stream.
 */
export function subscriberFactory(
  port: number,
  options: { compression?: boolean } = {},
): SubscriberFactory {
  const baseUrl = `http://127.0.0.1:${port}`;
  let grpcJs: grpc.Client | undefined;
  const sessions = new Set<Http2SessionManager>();
  // Without gzip in accept-encoding the gateway sends messages as they are (grpc-js always offers it).
  const compression = options.compression === false ? { acceptCompression: [] } : {};
  const connectH1 = createConnectTransport({ baseUrl, httpVersion: "1.1", ...compression });
  const grpcWeb = createGrpcWebTransport({ baseUrl, httpVersion: "1.1", ...compression });
  const raws = new Set<Subscription>();

  return {
    subscribe(protocol, options) {
      switch (protocol) {
        case "grpc-js": {
          grpcJs ??= new (loadGrpcJsService())(
            `127.0.0.1:${port}`,
            grpc.credentials.createInsecure(),
          );
          return subscribeGrpcJs(grpcJs, options);
        }
        case "connect-h1":
          return subscribeConnect(protocol, connectH1, options);
        case "grpc-web":
          return subscribeConnect(protocol, grpcWeb, options);
        case "connect-grpc": {
          // A connection per stream, so cut() drops this stream only.
          const own = new Http2SessionManager(baseUrl);
          sessions.add(own);
          const transport = createGrpcTransport({ baseUrl, sessionManager: own, ...compression });
          return subscribeConnect(protocol, transport, options, () => own.abort());
        }
        case "raw-h2": {
          const raw = openRawSubscription(port, options);
          raws.add(raw);
          return raw;
        }
      }
    },
    close() {
      grpcJs?.close();
      for (const session of sessions) session.abort();
      for (const raw of raws) raw.cut();
    },
  };
}
