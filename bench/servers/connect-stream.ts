import * as http2 from "node:http2";
import type { Socket } from "node:net";
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  EventBusService,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from "../../gen/hubbus/v1/eventbus_pb.js";
import { benchPayload } from "../lib/payload.js";

/*
 * Baseline: @connectrpc/connect-node serving EventBusService's streaming
 * method over h2c with no gateway logic: no log, no patterns, no cursor.
 *
 * - Subscribe without after_sequence: an in-memory queue per stream; each
 *   Publish appends one prebuilt message to every queue (fan-out, memory).
 * - Subscribe with after_sequence: streams `replay.<count>` messages as fast
 *   as the stream takes them (the rate replay is compared with).
 * - GetHealth reports open streams in `details.subscriptions`, as the gateway does.
 */

const port = Number(process.env.PORT);

interface Subscriber {
  readonly queue: SubscribeResponse[];
  wake: (() => void) | undefined;
}

const live = new Set<Subscriber>();
let sequence = 0;

function message(subject: string, payload: JsonObject): SubscribeResponse {
  sequence++;
  return create(SubscribeResponseSchema, {
    event: {
      id: `00000000-0000-7000-8000-${sequence.toString(16).padStart(12, "0")}`,
      subject,
      origin: { hubId: "bench", service: "bench" },
      correlationId: "00000000-0000-4000-8000-000000000000",
      payload,
      timestamp: timestampFromDate(new Date()),
      sequence: BigInt(sequence),
    },
  });
}

const handler = connectNodeAdapter({
  routes(router) {
    router.service(EventBusService, {
      publish(req) {
        const next = message(`hub.bench.${req.subject}`, req.payload ?? {});
        for (const sub of live) {
          sub.queue.push(next);
          sub.wake?.();
        }
        return { published: true, subject: next.event?.subject ?? "", sequence: BigInt(sequence) };
      },

      async *subscribe(req, ctx) {
        if (req.afterSequence !== undefined) {
          const count = Number(req.subject.split(".").pop());
          for (let i = 1; i <= count && !ctx.signal.aborted; i++) {
            yield message("hub.bench.replay", benchPayload(i));
          }
          return;
        }
        const sub: Subscriber = { queue: [], wake: undefined };
        live.add(sub);
        const onAbort = () => {
          live.delete(sub);
          sub.wake?.();
        };
        ctx.signal.addEventListener("abort", onAbort);
        try {
          while (!ctx.signal.aborted) {
            const next = sub.queue.shift();
            if (next) {
              yield next;
              continue;
            }
            await new Promise<void>((resolve) => {
              sub.wake = resolve;
            });
            sub.wake = undefined;
          }
        } finally {
          ctx.signal.removeEventListener("abort", onAbort);
          live.delete(sub);
        }
      },

      getHealth() {
        return {
          status: "healthy",
          services: {},
          details: { subscriptions: String(live.size) },
        };
      },
    });
  },
});

const server = http2.createServer(handler);
// As the gateway does on its sockets: no Nagle delay on small frames.
server.on("connection", (socket: Socket) => socket.setNoDelay(true));
server.listen(port, "127.0.0.1", () => process.stdout.write(`ready ${port}\n`));
process.once("SIGTERM", () => {
  server.close();
  process.exit(0);
});
