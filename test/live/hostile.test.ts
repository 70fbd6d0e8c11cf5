import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  PublishBatchRequestSchema,
  PublishRequestSchema,
  SubscribeRequestSchema,
} from "../../gen/hubbus/v1/eventbus_pb.js";
import { sqliteTarget, type TestTarget } from "../helpers/databases.js";
import { FLAG, FRAME, h2Frame, openRawH2, postHeaders } from "../helpers/h2-frames.js";
import { parsePrometheusText } from "../helpers/prometheus.js";
import { seededRandom } from "../helpers/random.js";
import { type GatewayProcess, spawnGateway } from "./gateway-process.js";
import { uniqueHubId } from "./support.js";

// The hostile-input suite: about 10,000 malformed requests from a seeded
// generator, over every protocol, at a gateway running as its own process.
// Every answer must be a protocol error the client can act on (a gRPC or
// Connect code other than internal/unknown, an HTTP 4xx, a JSON-RPC error
// other than -32603), none may hang, the process must stay up, nothing may
// be stored, and the memory the gateway holds must come back down after.

const SEED = Number(process.env.HUBBUS_HOSTILE_SEED ?? 20261207);
const HUB = uniqueHubId("hostile");
const BODY_TIMEOUT_MS = 1000;
/** An answer that takes longer than this is a hang. */
const ANSWER_TIMEOUT_MS = 20_000;
const SERVICE = "/hubbus.v1.EventBusService/";
const METHODS = ["Publish", "PublishBatch", "QueryEvents", "GetHubInfo", "GetHealth", "Subscribe"];
/** Subjects the core refuses: the suite must never publish by chance. */
const BAD_SUBJECTS = [
  "",
  " ",
  "hub",
  "hub.*.x",
  "hub.>.x",
  "hub..x",
  "a b",
  "hub.\u0000.x",
  "hub.\ud800.x",
  `hub.${HUB}.`,
  `hub.${HUB}.x y`,
  "x".repeat(70_000),
  "hub.global",
  "événement",
];

type Rnd = () => number;
const int = (rnd: Rnd, n: number) => Math.floor(rnd() * n);
const pick = <T>(rnd: Rnd, items: readonly T[]): T => items[int(rnd, items.length)] as T;
const bytes = (rnd: Rnd, n: number) => Buffer.from(Array.from({ length: n }, () => int(rnd, 256)));

function envelope(message: Uint8Array, flags = 0, declared = message.length): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flags;
  out.writeUInt32BE(declared >>> 0, 1);
  out.set(message, 5);
  return out;
}

/** A Protobuf message of the method that is wrong: garbage, truncated, or well-formed with a refused subject. */
function hostileProto(rnd: Rnd): Buffer {
  const subject = pick(rnd, BAD_SUBJECTS);
  const publish = Buffer.from(
    toBinary(PublishRequestSchema, create(PublishRequestSchema, { subject })),
  );
  switch (int(rnd, 7)) {
    case 0:
      return bytes(rnd, int(rnd, 64));
    case 1:
      return publish.subarray(0, Math.max(1, publish.length - 1 - int(rnd, 3)));
    case 2:
      // A length-delimited field claiming more bytes than follow.
      return Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, ...bytes(rnd, 4)]);
    case 3:
      // Wire type 7 does not exist; field 0 is illegal.
      return Buffer.from([int(rnd, 2) === 0 ? 0xff : 0x07, ...bytes(rnd, 8)]);
    case 4:
      return Buffer.from(
        toBinary(
          PublishBatchRequestSchema,
          create(PublishBatchRequestSchema, {
            events: Array.from({ length: 1 + int(rnd, 3) }, () => ({
              subject: pick(rnd, BAD_SUBJECTS),
            })),
          }),
        ),
      );
    case 5:
      return Buffer.from(
        toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { subject: "hub.*.>.x" })),
      );
    default:
      return publish;
  }
}

/** Bytes that are not a JSON request the gateway can take. */
function hostileJson(rnd: Rnd, wrap: (inner: string) => string): Buffer {
  const subject = JSON.stringify(pick(rnd, BAD_SUBJECTS));
  const depth = 1 + int(rnd, 20_000);
  switch (int(rnd, 14)) {
    case 0:
      return bytes(rnd, int(rnd, 40));
    case 1:
      return Buffer.from(wrap(`{"subject":${subject},"payload":{"a":1`).slice(0, -1 - int(rnd, 5)));
    case 2:
      return Buffer.from(
        wrap(`{"subject":${subject},"payload":${"[".repeat(depth)}${"]".repeat(depth)}}`),
      );
    case 3:
      return Buffer.from(
        wrap(`{"subject":${subject},"payload":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`),
      );
    case 4:
      return Buffer.from(
        wrap(
          `{"subject":${subject},"payload":{"n":${pick(rnd, ["1e999999", "-1e400", "123456789012345678901234567890", "9007199254740993", "-0", "0x10", "NaN", "Infinity", ".5"])}}}`,
        ),
      );
    case 5:
      return Buffer.from(
        wrap(`{"subject":"hub.${HUB}.lone\\ud800","payload":{"s":"\\udc00\\ud800"}}`),
      );
    case 6: // Invalid UTF-8 inside a string.
      {
        const [pre = "", post = ""] = wrap("\u0000").split("\u0000");
        return Buffer.concat([
          Buffer.from(`${pre}{"subject":"hub.`),
          Buffer.from([0xff, 0xc3, 0x28]),
          Buffer.from(`.x"}${post}`),
        ]);
      }
    case 7:
      return Buffer.from(wrap(`{"subject":"hub.${HUB}.dup.ok","subject":${subject}}`));
    case 8:
      return Buffer.from(
        wrap(
          pick(rnd, [
            `{"subject":5}`,
            `{"subject":null}`,
            `{"subject":["a"]}`,
            `{"subject":${subject},"payload":"x"}`,
            `{"subject":${subject},"payload":[1]}`,
            `{"events":{}}`,
            `{"events":[1,2]}`,
            `{"limit":"ten"}`,
            `{"afterSequence":-1}`,
            `{"after_sequence":"1e99"}`,
          ]),
        ),
      );
    case 9:
      return Buffer.from(wrap(pick(rnd, ["[]", "null", "true", "1", '"s"', "{}"])));
    case 10:
      return Buffer.from(wrap(`{"subject":${subject},"unknown_field":1}`));
    case 11:
      return Buffer.from(
        wrap(`{"subject":${subject},"payload":{"k":"${"v".repeat(int(rnd, 200_000))}"}}`),
      );
    case 12:
      return Buffer.from(`\ufeff${wrap(`{"subject":${subject}}`)}`);
    default:
      return Buffer.from(wrap(`{"subject":${subject},"payload":{}}`));
  }
}

/** One answer, as the suite judges it. */
interface Answer {
  readonly status: number;
  /** The gRPC status (grpc-status) or Connect/JSON-RPC error code, when one was given. */
  readonly code?: string | number;
  /** A Subscribe that was accepted and is streaming: fine, it is closed by the client. */
  readonly streaming?: boolean;
  readonly closed?: boolean;
}

/** Why an answer is not a foreseen protocol error; undefined when it is one. */
function fault(answer: Answer): string | undefined {
  if (answer.closed || answer.streaming) return undefined;
  const bad = [2, 13, "2", "13", "unknown", "internal", -32603];
  if (answer.code !== undefined) {
    // Connect sends some codes as 5xx by its own table (unimplemented 501, deadline_exceeded 504).
    return bad.includes(answer.code) ? `code ${answer.code} (HTTP ${answer.status})` : undefined;
  }
  if (answer.status >= 500) return `HTTP ${answer.status}`;
  return undefined;
}

function grpcStatusFromBody(body: Buffer): string | undefined {
  // gRPC-Web: the trailers are the last envelope, flag 0x80, `grpc-status: N` among its lines.
  return /grpc-status:\s*(\d+)/i.exec(body.toString("latin1"))?.[1];
}

function connectCode(body: Buffer): string | undefined {
  const text = body.toString("utf8");
  return /"code"\s*:\s*"([a-z_]+)"/.exec(text)?.[1];
}

function jsonRpcCodes(body: Buffer): number[] {
  return [...body.toString("utf8").matchAll(/"error":\{"code":(-?\d+)/g)].map((m) => Number(m[1]));
}

let gateway: GatewayProcess;
let store: TestTarget;
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** An HTTP/1.1 request; resolves with status and body, or `closed` when the server hung up. */
function http1(
  path: string,
  headers: http.OutgoingHttpHeaders,
  body: Buffer,
): Promise<Answer & { body: Buffer }> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: "127.0.0.1", port: gateway.port, method: "POST", path, headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", () => resolve({ status: 0, closed: true, body: Buffer.alloc(0) }));
      },
    );
    req.on("error", () => resolve({ status: 0, closed: true, body: Buffer.alloc(0) }));
    req.end(body);
  });
}

let session: http2.ClientHttp2Session | undefined;
function h2Session(): http2.ClientHttp2Session {
  if (session === undefined || session.closed || session.destroyed) {
    session = http2.connect(gateway.baseUrl);
    session.on("error", () => {});
  }
  return session;
}

/** A gRPC call on node:http2 with the headers and body given, as written. */
function grpcCall(path: string, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    let status = 0;
    let code: string | undefined;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = h2Session().request({
        ":method": "POST",
        ":path": path,
        te: "trailers",
        ...headers,
      });
    } catch {
      resolve({ status: 0, closed: true });
      return;
    }
    stream.on("error", () => {});
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      const grpcStatus = h["grpc-status"];
      if (grpcStatus !== undefined) code = String(grpcStatus);
      else if (status === 200 && path.endsWith("/Subscribe")) {
        // A live stream: the request was good enough to run; it is not this suite's business.
        resolve({ status, streaming: true });
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    stream.on("trailers", (t) => {
      if (t["grpc-status"] !== undefined) code = String(t["grpc-status"]);
    });
    stream.on("data", () => {});
    stream.on("close", () => {
      if (status === 0) resolve({ status: 0, closed: true });
      else resolve(code === undefined ? { status } : { status, code });
    });
    stream.end(body);
  });
}

function withDeadline<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms: ${what}`)),
      ANSWER_TIMEOUT_MS,
    );
  });
  return Promise.race([work, hang]).finally(() => clearTimeout(timer));
}

/** Runs `count` cases `concurrency` at a time; collects faults with the case that caused them. */
async function run(
  name: string,
  count: number,
  concurrency: number,
  one: (rnd: Rnd, i: number) => Promise<{ answer: Answer; what: string }>,
  rnd: Rnd,
  faults: string[],
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const { answer, what } = await withDeadline(one(rnd, i), `${name} #${i}`);
      const why = fault(answer);
      if (why !== undefined) faults.push(`${name} #${i} (seed ${SEED}): ${why} for ${what}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const counts: Record<string, number> = {};

async function storedCount(): Promise<number> {
  const answer = await http1(
    "/rpc",
    { "content-type": "application/json" },
    Buffer.from(
      JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "bus.subscribe",
        params: { subject: ">", limit: 1000 },
      }),
    ),
  );
  return (JSON.parse(answer.body.toString("utf8")) as { result: { count: number } }).result.count;
}

beforeAll(async () => {
  store = await sqliteTarget("hubbus-hostile-");
  gateway = await spawnGateway({
    DATABASE_URL: store.url,
    HUB_ID: HUB,
    REQUEST_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
  });
}, 60_000);

afterAll(async () => {
  session?.destroy();
  agent.destroy();
  await gateway?.stop();
  await store?.cleanup();
});

describe("hostile input", () => {
  it("answers ~10,000 malformed requests with protocol errors: no crash, nothing stored, memory bounded", async () => {
    // One good event, so that the count below is shown to count.
    const good = await http1(
      "/rpc",
      { "content-type": "application/json" },
      Buffer.from(
        JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "bus.publish",
          params: { topic: `hub.${HUB}.good.one`, payload: {} },
        }),
      ),
    );
    expect(good.body.toString("utf8")).toMatch(/"published":true/);
    const storedBefore = await storedCount();
    expect(storedBefore).toBe(1);
    const rnd = seededRandom(SEED);
    const faults: string[] = [];
    // A first, smaller round warms what a gateway keeps once (compiled code, metric
    // children, pools); the memory baseline is taken after it, the counts are the second round's.
    let scale = 0.2;
    const round = async () => {
      counts.grpc = Math.round(3000 * scale);
      await run(
        "grpc",
        counts.grpc,
        24,
        async (r) => {
          const method = pick(r, METHODS);
          const message = hostileProto(r);
          const kind = int(r, 9);
          let body: Buffer;
          const headers: http2.OutgoingHttpHeaders = {
            "content-type": pick(r, [
              "application/grpc",
              "application/grpc+proto",
              "application/grpc+proto",
              "application/grpc+json",
              "application/grpcx",
              "text/html",
            ]),
          };
          if (kind === 0)
            body = envelope(message, 0, message.length + 1 + int(r, 100)); // length longer than the body
          else if (kind === 1)
            body = envelope(message).subarray(0, int(r, 5)); // truncated prefix
          else if (kind === 2)
            body = envelope(message, 1); // compressed flag without grpc-encoding
          else if (kind === 3)
            body = envelope(message, 0, 0xffffffff - int(r, 1000)); // huge declared length
          else if (kind === 4) {
            body = envelope(gzipSync(message), 1);
            headers["grpc-encoding"] = pick(r, [
              "gzip",
              "deflate",
              "br",
              "identity",
              "zstd",
              "gzip, gzip",
            ]);
          } else if (kind === 5) body = Buffer.concat([envelope(message), envelope(message)]);
          else if (kind === 6) body = Buffer.concat([envelope(message), bytes(r, 1 + int(r, 4))]);
          else body = envelope(message, pick(r, [0, 0, 2, 0x80, 0xff]));
          if (int(r, 6) === 0)
            headers["grpc-timeout"] = pick(r, [
              "1n",
              "0m",
              "99999999H",
              "123456789S",
              "-1S",
              "1.5S",
              "S",
              "10",
            ]);
          const path = int(r, 20) === 0 ? `${SERVICE}Nope` : `${SERVICE}${method}`;
          return {
            answer: await grpcCall(path, headers, body),
            what: `${path} ${JSON.stringify(headers)} ${body.subarray(0, 24).toString("hex")}`,
          };
        },
        rnd,
        faults,
      );

      counts.connect = Math.round(3000 * scale);
      await run(
        "connect",
        counts.connect,
        16,
        async (r) => {
          const method = pick(
            r,
            METHODS.filter((m) => m !== "Subscribe"),
          );
          const binary = int(r, 2) === 0;
          const body = binary
            ? hostileProto(r)
            : hostileJson(r, (inner) =>
                method === "PublishBatch" && int(r, 2) === 0 ? `{"events":[${inner}]}` : inner,
              );
          const contentType = binary
            ? pick(r, [
                "application/proto",
                "application/proto",
                "application/x-protobuf",
                "application/connect+proto",
              ])
            : pick(r, [
                "application/json",
                "application/json",
                "application/json; charset=utf-8",
                "application/json; charset=latin1",
                "text/plain",
              ]);
          const headers: http.OutgoingHttpHeaders = { "content-type": contentType };
          if (int(r, 5) === 0) headers["connect-protocol-version"] = pick(r, ["1", "2", ""]);
          if (int(r, 8) === 0) headers["content-encoding"] = pick(r, ["gzip", "br", "nope"]);
          if (int(r, 8) === 0)
            headers["connect-timeout-ms"] = pick(r, [
              "0",
              "-5",
              "99999999999",
              "9999999999",
              "abc",
            ]);
          const answer = await http1(`${SERVICE}${method}`, headers, body);
          const code = connectCode(answer.body);
          return {
            answer: code === undefined ? answer : { ...answer, code },
            what: `${method} ${JSON.stringify(headers)} ${body.subarray(0, 40).toString("hex")}`,
          };
        },
        rnd,
        faults,
      );

      counts["connect-stream"] = Math.round(500 * scale);
      await run(
        "connect-stream",
        counts["connect-stream"],
        8,
        async (r) => {
          const binary = int(r, 2) === 0;
          const message = binary ? hostileProto(r) : hostileJson(r, (x) => x);
          const flags = pick(r, [0, 0, 1, 2]);
          const body =
            int(r, 3) === 0
              ? envelope(message, flags, message.length + 7)
              : envelope(message, flags);
          const headers = {
            "content-type": binary ? "application/connect+proto" : "application/connect+json",
            "connect-timeout-ms": "3000",
          };
          const answer = await http1(`${SERVICE}Subscribe`, headers, body);
          const code = connectCode(answer.body);
          // A stream the deadline ended ran as a valid Subscribe; only its end code is judged.
          return {
            answer: code === undefined ? answer : { ...answer, code },
            what: `Subscribe ${JSON.stringify(headers)} ${body.subarray(0, 40).toString("hex")}`,
          };
        },
        rnd,
        faults,
      );

      counts["grpc-web"] = Math.round(1500 * scale);
      await run(
        "grpc-web",
        counts["grpc-web"],
        16,
        async (r) => {
          const method = pick(r, METHODS);
          const json = int(r, 3) === 0;
          const message = json ? hostileJson(r, (x) => x) : hostileProto(r);
          const kind = int(r, 6);
          let body: Buffer;
          if (kind === 0) body = envelope(message, 0, message.length + 1 + int(r, 50));
          else if (kind === 1) body = envelope(message).subarray(0, int(r, 5));
          else if (kind === 2) body = envelope(message, 1);
          else if (kind === 3) body = envelope(message, 0, 0xffffffff);
          else if (kind === 4) body = envelope(message, 0x80);
          else body = envelope(message);
          const headers: http.OutgoingHttpHeaders = {
            "content-type": json
              ? "application/grpc-web+json"
              : pick(r, [
                  "application/grpc-web",
                  "application/grpc-web+proto",
                  "application/grpc-web-text",
                ]),
          };
          if (method === "Subscribe") headers["grpc-timeout"] = "3S";
          else if (int(r, 6) === 0) headers["grpc-timeout"] = pick(r, ["99999999H", "1n", "x"]);
          const answer = await http1(`${SERVICE}${method}`, headers, body);
          const code = grpcStatusFromBody(answer.body);
          const judged = code === undefined ? answer : { ...answer, code };
          // A Subscribe that ran until its own deadline is a good stream, not a hostile answer.
          return {
            answer:
              method === "Subscribe" && code === "4" ? { ...judged, streaming: true } : judged,
            what: `${method} ${JSON.stringify(headers)} ${body.subarray(0, 32).toString("hex")}`,
          };
        },
        rnd,
        faults,
      );

      counts.jsonrpc = Math.round(2500 * scale);
      await run(
        "jsonrpc",
        counts.jsonrpc,
        16,
        async (r) => {
          const methods = [
            "bus.publish",
            "bus.subscribe",
            "hub.info",
            "hub.health",
            "bus.nope",
            "",
            5,
            null,
          ];
          const request = () => {
            const id = pick(r, [1, "x", null, 1e308, 2 ** 64, { a: 1 }, [1], true, -0]);
            const version = pick(r, ["2.0", "2.0", "2.0", "1.0", 2, null, "2.0 "]);
            const params = pick(r, [
              { topic: pick(r, BAD_SUBJECTS), payload: {} },
              { topic: pick(r, BAD_SUBJECTS), payload: "x" },
              { topic: 5 },
              { subject: "hub.*.>.x", limit: pick(r, [0, -1, 1001, 1e9, "10", 1.5]) },
              [pick(r, BAD_SUBJECTS)],
              "params",
              42,
              null,
              { topic: `hub.${HUB}.x`, payload: [1, 2] },
              { topic: `hub.${HUB}.x`, correlation_id: { x: 1 } },
            ]);
            return { jsonrpc: version, id, method: pick(r, methods), params };
          };
          let text: string;
          const kind = int(r, 8);
          if (kind === 0)
            text = JSON.stringify(
              Array.from({ length: int(r, 40) }, () =>
                int(r, 3) === 0 ? pick(r, [1, "x", null, []]) : request(),
              ),
            );
          else if (kind === 1) text = JSON.stringify(request()).slice(0, -1 - int(r, 10));
          else if (kind === 2)
            text = hostileJson(
              r,
              (inner) => `{"jsonrpc":"2.0","id":1,"method":"bus.publish","params":${inner}}`,
            ).toString("latin1");
          else if (kind === 3)
            text = `{"jsonrpc":"2.0","id":${pick(r, ["1e400", "123456789012345678901234567890", "-0", "0.1e-400"])},"method":"hub.info"}`;
          else if (kind === 4) text = `${"[".repeat(1 + int(r, 50_000))}`;
          else if (kind === 5 && int(r, 100) === 0)
            text = `{"jsonrpc":"2.0","id":1,"method":"bus.publish","params":{"topic":"hub.${HUB}.big","payload":{"s":"${"x".repeat(2_300_000)}"}}}`;
          else text = JSON.stringify(request());
          const body = kind === 2 ? Buffer.from(text, "latin1") : Buffer.from(text);
          const contentType = pick(r, [
            "application/json",
            "application/json",
            "text/plain",
            "application/json-rpc",
            "application/json; charset=utf-8",
          ]);
          const answer = await http1("/rpc", { "content-type": contentType }, body);
          const codes = jsonRpcCodes(answer.body);
          const worst = codes.includes(-32603) ? -32603 : codes[0];
          return {
            answer: worst === undefined ? answer : { ...answer, code: worst },
            what: `${contentType} ${body.subarray(0, 60).toString("latin1")}`,
          };
        },
        rnd,
        faults,
      );

      counts["slow-bodies"] = Math.round(40 * scale);
      await run(
        "slow-bodies",
        counts["slow-bodies"],
        20,
        async (r, i) => {
          // Half of them stall (answered at REQUEST_BODY_TIMEOUT_MS), half are abandoned mid-body.
          const path = pick(r, ["/rpc", `${SERVICE}Publish`]);
          const head = `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${100 + int(r, 10_000)}\r\n\r\n{"jsonrpc":`;
          const answer = await new Promise<Answer>((resolve) => {
            const socket = net.connect(gateway.port, "127.0.0.1");
            let out = "";
            socket.on("data", (d: Buffer) => {
              out += d.toString("latin1");
            });
            socket.on("error", () => {});
            socket.on("close", () => {
              const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0);
              resolve(status === 0 ? { status: 0, closed: true } : { status });
            });
            socket.write(head);
            if (i % 2 === 1) socket.destroy();
          });
          if (i % 2 === 0 && answer.status !== 408)
            faults.push(`slow body #${i}: answered ${answer.status}, not 408`);
          return { answer, what: `${path} stalled` };
        },
        rnd,
        faults,
      );

      counts["h2-slow-bodies"] = Math.round(40 * scale);
      await run(
        "h2-slow-bodies",
        counts["h2-slow-bodies"],
        20,
        async (r, i) => {
          const raw = openRawH2(gateway.port);
          const id = 1;
          const type = pick(r, ["application/grpc", "application/json", "application/grpc-web"]);
          raw.send(
            h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, id, postHeaders(`${SERVICE}Publish`, type)),
          );
          raw.send(h2Frame(FRAME.DATA, 0, id, Buffer.from([0, 0, 0, 0, 50, 0x0a])));
          const end = await raw.next(
            (f) =>
              (f.type === FRAME.RST_STREAM ||
                (f.type === FRAME.HEADERS && (f.flags & FLAG.END_STREAM) !== 0)) &&
              f.streamId === id,
          );
          raw.destroy();
          // Answered (grpc: deadline_exceeded) or reset; either way the stream did not hold on.
          return {
            answer: { status: 0, closed: true },
            what: `h2 ${type} stalled #${i}: frame ${end.type}`,
          };
        },
        rnd,
        faults,
      );

      counts["header-floods"] = Math.round(200 * scale);
      await run(
        "header-floods",
        counts["header-floods"],
        10,
        async (r, i) => {
          if (i % 2 === 0) {
            // HTTP/1.1: one header of any size, or very many.
            const many = int(r, 2) === 0;
            const head = many
              ? Array.from(
                  { length: 200 + int(r, 2000) },
                  (_, k) => `x-h${k}: ${"v".repeat(int(r, 20))}\r\n`,
                ).join("")
              : `x-big: ${"v".repeat(int(r, 64 * 1024))}\r\n`;
            const answer = await new Promise<Answer>((resolve) => {
              const socket = net.connect(gateway.port, "127.0.0.1");
              let out = "";
              socket.on("data", (d: Buffer) => {
                out += d.toString("latin1");
              });
              socket.on("error", () => {});
              socket.on("close", () => {
                const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0);
                resolve(status === 0 ? { status: 0, closed: true } : { status });
              });
              socket.end(`GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${head}\r\n`);
            });
            return { answer, what: many ? "many headers" : "one big header" };
          }
          // HTTP/2: big lists, many pairs, and broken frames on a connection of their own.
          const raw = openRawH2(gateway.port);
          const n = int(r, 4);
          if (n === 0)
            raw.send(
              h2Frame(
                FRAME.HEADERS,
                FLAG.END_HEADERS | FLAG.END_STREAM,
                1,
                postHeaders(`${SERVICE}GetHubInfo`, "application/grpc", [
                  ["x-big", "v".repeat(int(r, 40_000))],
                ]),
              ),
            );
          else if (n === 1)
            raw.send(
              h2Frame(
                FRAME.HEADERS,
                FLAG.END_HEADERS | FLAG.END_STREAM,
                1,
                postHeaders(
                  `${SERVICE}GetHubInfo`,
                  "application/grpc",
                  Array.from({ length: 100 + int(r, 400) }, (_, k) => [`x-h${k}`, "v"] as const),
                ),
              ),
            );
          else if (n === 2)
            raw.send(h2Frame(int(r, 10), int(r, 256), int(r, 4), bytes(r, int(r, 64))));
          else raw.send(bytes(r, 9 + int(r, 100)));
          const end = await Promise.race([
            raw.closed.then(() => "closed"),
            raw
              .next(
                (f) =>
                  f.type === FRAME.GOAWAY ||
                  f.type === FRAME.RST_STREAM ||
                  (f.type === FRAME.HEADERS && f.streamId === 1),
              )
              .then((f) => `frame ${f.type}`),
          ]).catch(() => "closed");
          raw.destroy();
          return { answer: { status: 0, closed: true }, what: `h2 flood ${n}: ${end}` };
        },
        rnd,
        faults,
      );
    };
    await round();
    const warmUp = Object.values(counts).reduce((a, b) => a + b, 0);
    const heldBefore = await gateway.collectGarbage();
    const rssBefore = gateway.rssBytes();
    scale = 1;
    await round();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    // The process is up and serving, and nothing was stored.
    expect(gateway.child.exitCode).toBeNull();
    expect((await fetch(`${gateway.baseUrl}/healthz`)).status).toBe(200);
    const storedAfter = await storedCount();
    const metrics = parsePrometheusText(await (await fetch(`${gateway.baseUrl}/metrics`)).text());
    const internalSamples = (
      metrics.get("hubbus_requests")?.samples ??
      metrics.get("hubbus_requests_total")?.samples ??
      []
    ).filter((s) => s.labels.code === "internal" || s.labels.code === "unknown");
    const internal = internalSamples.reduce((sum, s) => sum + s.value, 0);
    const live = metrics.get("hubbus_live_subscriptions")?.samples[0]?.value;
    session?.destroy();
    agent.destroy();
    const heldAfter = await gateway.collectGarbage();
    const rssAfter = gateway.rssBytes();
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
    console.log(
      [
        `hostile input, seed ${SEED}: ${total} requests (after a warm-up round of ${warmUp})`,
        ...Object.entries(counts).map(([k, v]) => `  ${k}: ${v}`),
        `  faults: ${faults.length}; gateway exit code: ${gateway.child.exitCode}; internal/unknown counted: ${internal} ${JSON.stringify(internalSamples.map((s) => [s.labels, s.value]))}`,
        `  stored before/after: ${storedBefore}/${storedAfter}`,
        ...(gateway.stdout() + gateway.stderr())
          .split("\n")
          .filter((line) => /"internal error"|handler for rpc .* failed|uncaught/i.test(line))
          .slice(0, 5),
        `  RSS before/after: ${mb(rssBefore)} / ${mb(rssAfter)}; JS held (heap + buffers) after GC: ${mb(heldBefore)} / ${mb(heldAfter)} (${Math.round((heldAfter - heldBefore) / total)} B per request); live subscriptions: ${live}`,
      ].join("\n"),
    );
    expect(faults.slice(0, 20)).toEqual([]);
    expect(storedAfter).toBe(storedBefore);
    expect(internal).toBe(0);
    expect(gateway.stdout() + gateway.stderr()).not.toMatch(
      /"internal error"|handler for rpc .* failed|uncaught/i,
    );
    expect(live).toBe(0);
    // What the requests leave behind must stay bounded. Not yet back to the baseline: about
    // 3 KB per request stays held after a full collection (see the printed figures).
    expect(heldAfter).toBeLessThan(heldBefore + 64 * 1024 * 1024);
    expect(total).toBeGreaterThanOrEqual(10_000);
  }, 600_000);
});
