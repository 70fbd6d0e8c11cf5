import { setTimeout as sleep } from "node:timers/promises";
import { fromBinary } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import { SubscribeResponseSchema } from "../../gen/hubbus/v1/eventbus_pb.js";
import type { BenchContext, ServerProcess } from "../lib/context.js";
import { call, connectH2, healthDetails, sessionsFor, unary } from "../lib/h2.js";
import { STREAMS_PER_CONNECTION } from "../lib/options.js";
import { benchPayload, PATHS, publishRequest, subscribeRequest } from "../lib/payload.js";
import type { Scope } from "../lib/scope.js";

/** How long a server may take to register every requested stream. */
const STREAMS_OPEN_TIMEOUT_MS = 60_000;

/**
 * A server seen through its streaming side: the gateway or the bare
 * connect-node server (both speak EventBusService), or NATS itself.
 */
export interface StreamTarget {
  readonly name: string;
  /** The server's pid, for its CPU; undefined when it is not ours to watch. */
  readonly pid: number | undefined;
  /** Where the server records its GC pauses; undefined when it does not. */
  readonly gcFile?: string | undefined;
  /**
   * Opens `count` subscriptions; `onMessages(i, n)` is told of n messages on
   * subscription i. Resolves once the server has all of them, and
   * `alreadyOpen` more, registered.
   */
  open(
    count: number,
    onMessages: (index: number, messages: number, body?: Buffer) => void,
    decode: boolean,
    alreadyOpen?: number,
  ): Promise<void>;
  /** Publishes event `i` (payload field "i"); resolves once the server accepted it. */
  publish(i: number): Promise<void>;
  /** The "i" of a received message's payload. */
  indexOf(body: Buffer): number;
}

/** Open subscriptions the server reports in GetHealth's details. */
async function subscriptionsOf(port: number, scope: Scope): Promise<number> {
  return Number((await healthDetails(connectH2(port, scope))).subscriptions ?? Number.NaN);
}

/** Polls the server's count of subscriptions until `done(count)`. */
export async function waitForSubscriptions(
  server: ServerProcess,
  scope: Scope,
  done: (count: number) => boolean,
  what: string,
): Promise<void> {
  const deadline = Date.now() + STREAMS_OPEN_TIMEOUT_MS;
  let last = Number.NaN;
  while (Date.now() < deadline) {
    last = await subscriptionsOf(server.port, scope);
    if (done(last)) return;
    await sleep(100);
  }
  throw new Error(
    `${server.name}: ${what} not reached within ${STREAMS_OPEN_TIMEOUT_MS} ms (at ${last})`,
  );
}

/**
 * A gRPC server-streaming target: subscriptions are Subscribe calls, many
 * per HTTP/2 connection; publishes are unary Publish calls on a connection
 * of their own. A stream that ends early fails the measurement.
 */
export function grpcStreamTarget(
  server: ServerProcess,
  scope: Scope,
  subjects: { subscribe: string; publish: string },
): StreamTarget & { failure(): string | undefined } {
  const publisher = connectH2(server.port, scope);
  let failure: string | undefined;
  return {
    name: server.name,
    pid: server.pid,
    gcFile: server.gcFile,
    failure: () => failure,
    async open(count, onMessages, decode, alreadyOpen = 0) {
      // Streams left by a previous target on this server close first: the count must be ours.
      await waitForSubscriptions(
        server,
        scope,
        (n) => n === alreadyOpen,
        `${alreadyOpen} open subscriptions`,
      );
      const sessions = sessionsFor(server.port, count, STREAMS_PER_CONNECTION, scope);
      const request = subscribeRequest(subjects.subscribe);
      for (let i = 0; i < count; i++) {
        const session = sessions[Math.floor(i / STREAMS_PER_CONNECTION)];
        if (!session) throw new Error("no session for a stream");
        const handlers = decode
          ? { onMessage: (body: Buffer) => onMessages(i, 1, body) }
          : { onCount: (n: number) => onMessages(i, n) };
        const { ended } = call(session, PATHS.subscribe, request, handlers);
        void ended.then(({ status }) => {
          failure ??= `a subscription ended: ${status}`;
        });
      }
      const all = count + alreadyOpen;
      await waitForSubscriptions(server, scope, (n) => n >= all, `${all} open subscriptions`);
    },
    async publish(i) {
      await unary(publisher, PATHS.publish, publishRequest(subjects.publish, i));
    },
    indexOf(body) {
      return Number(fromBinary(SubscribeResponseSchema, body).event?.payload?.i ?? Number.NaN);
    },
  };
}

/**
 * NATS core as a target: plain subscriptions, many per connection as the
 * gRPC streams share HTTP/2 connections, and a publisher connection of its own.
 */
export async function natsTarget(
  url: string,
  pid: number | undefined,
  scope: Scope,
  subject: string,
): Promise<StreamTarget> {
  const open = async (name: string) => {
    const nc = await connect({ servers: url, name });
    scope.defer(`close NATS connection ${name}`, () => nc.close());
    return nc;
  };
  const publisher = await open("bench-publisher");
  return {
    name: "NATS core",
    pid,
    async open(count, onMessages, decode) {
      const connections = await Promise.all(
        Array.from({ length: Math.ceil(count / STREAMS_PER_CONNECTION) }, (_, c) =>
          open(`bench-sub-${c}`),
        ),
      );
      for (let i = 0; i < count; i++) {
        const nc = connections[Math.floor(i / STREAMS_PER_CONNECTION)];
        nc?.subscribe(subject, {
          callback: (_error, msg) => onMessages(i, 1, decode ? Buffer.from(msg.data) : undefined),
        });
      }
      // A flush round-trip per connection: the server has every subscription.
      await Promise.all(connections.map((nc) => nc.flush()));
    },
    async publish(i) {
      publisher.publish(subject, JSON.stringify(benchPayload(i)));
    },
    indexOf(body) {
      return Number((JSON.parse(body.toString("utf8")) as { i?: unknown }).i ?? Number.NaN);
    },
  };
}

/** A target as the scenarios measure it; a gRPC one also says whether a stream ended early. */
export type MeasuredTarget = StreamTarget & { failure?(): string | undefined };

/**
 * Measures one target in a scope of its own, so its streams close before the
 * next target is measured. A stream that ended early fails the measurement;
 * otherwise `summary` of the result goes to the progress log.
 */
export async function measureTarget<R>(
  ctx: BenchContext,
  scope: Scope,
  measurement: {
    readonly what: string;
    make(scope: Scope): Promise<MeasuredTarget>;
    drive(target: StreamTarget): Promise<R>;
    summary(result: R): string;
  },
): Promise<R> {
  const { what } = measurement;
  const own = scope.child(what);
  try {
    const target = await measurement.make(own);
    const result = await measurement.drive(target);
    const failed = target.failure?.();
    if (failed) throw new Error(`${what}: ${failed}`);
    ctx.progress(measurement.summary(result));
    return result;
  } finally {
    await own.close();
  }
}
