// biome-ignore-all lint/suspicious/noExplicitAny: grpc-js messages are untyped objects
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFile, writeFile } from "node:fs/promises";
import * as http2 from "node:http2";
import * as net from "node:net";
import { join } from "node:path";
import * as tls from "node:tls";
import { createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { createAuth, parseAuthFile } from "../../src/auth/index.js";
import { createEventBus, type EventBus } from "../../src/core/index.js";
import { createHub } from "../../src/hub.js";
import { type Protocol, type Stage, tlsSubjectOf } from "../../src/pipeline/index.js";
import { createServer, TlsFileError } from "../../src/server/index.js";
import { openEventLog, type SqlEventLog } from "../../src/store/index.js";
import { type CertFiles, createTestPki, type TestPki } from "../helpers/tls.js";
import { HUB_ID, startHub, type TestHub } from "./harness.js";

// TLS on the one port: every protocol over real TLS sockets with real
// clients (grpc-js, buf curl, connect-node, curl), cleartext refused,
// mutual TLS with the verified client certificate's subject on each call,
// certificates reloaded while connections stay up, and shutdown as graceful
// as in cleartext. Certificates are made with openssl for each run.

const ROOT = join(import.meta.dirname, "../..");
const PROTO = join(ROOT, "proto");
const BUF = join(ROOT, "node_modules/.bin/buf");
const SERVICE = "hubbus.v1.EventBusService";

let pki: TestPki;
let ca: Buffer;

beforeAll(async () => {
  pki = await createTestPki();
  ca = await pki.read(pki.caFile);
});

afterAll(async () => {
  await pki?.cleanup();
});

/** What a stage saw of each call. */
interface Seen {
  readonly protocol: Protocol;
  readonly method: string;
  readonly subject: string | undefined;
  readonly tlsSubject: string | undefined;
}

function recorder(): { readonly stage: Stage; readonly seen: Seen[] } {
  const seen: Seen[] = [];
  const record = (
    ctx: { protocol: Protocol; method: string; tlsSubject?: string },
    input: unknown,
  ) =>
    seen.push({
      protocol: ctx.protocol,
      method: ctx.method,
      subject: (input as { subject?: string } | undefined)?.subject,
      tlsSubject: ctx.tlsSubject,
    });
  return {
    seen,
    stage: {
      name: "tls-recorder",
      unary(call, next) {
        record(call.ctx, call.input);
        return next(call);
      },
      stream(call, next) {
        record(call.ctx, call.input);
        return next(call);
      },
    },
  };
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end; never rejects, the exit code says how it went. */
function exec(file: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: ROOT }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

function clientCertArgs(files: CertFiles | undefined): string[] {
  return files === undefined ? [] : ["--cert", files.certFile, "--key", files.keyFile];
}

/** `buf curl` as the README shows it, over TLS. */
async function bufCurl(
  hub: TestHub,
  protocol: "grpc" | "connect" | "grpcweb",
  method: string,
  body: object,
  client?: CertFiles,
): Promise<any> {
  const ran = await exec(BUF, [
    "curl",
    "--protocol",
    protocol,
    "--schema",
    PROTO,
    "--cacert",
    pki.caFile,
    ...clientCertArgs(client),
    "-d",
    JSON.stringify(body),
    `${hub.baseUrl}/${SERVICE}/${method}`,
  ]);
  if (ran.code !== 0) throw new Error(`buf curl ${protocol} ${method}: ${ran.stderr}`);
  return JSON.parse(ran.stdout);
}

/** The server's certificate, and client certificates required from the test CA. */
function mutualTls() {
  return { certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCaFile: pki.caFile };
}

/** curl to `/rpc`; resolves with the answer and the HTTP version curl used. */
async function curlRpc(
  hub: TestHub,
  version: "--http1.1" | "--http2",
  request: object,
  client?: CertFiles,
): Promise<{ body: any; httpVersion: string }> {
  const ran = await exec("curl", [
    "-sS",
    version,
    "--cacert",
    pki.caFile,
    ...clientCertArgs(client),
    "-H",
    "content-type: application/json",
    "-d",
    JSON.stringify(request),
    "-w",
    "\n%{http_version}",
    `${hub.baseUrl}/rpc`,
  ]);
  if (ran.code !== 0) throw new Error(`curl ${version}: exit ${ran.code}: ${ran.stderr}`);
  const cut = ran.stdout.lastIndexOf("\n");
  return { body: JSON.parse(ran.stdout.slice(0, cut)), httpVersion: ran.stdout.slice(cut + 1) };
}

function rpcPublish(topic: string) {
  return { jsonrpc: "2.0", id: 1, method: "bus.publish", params: { topic } };
}

const definition = protoLoader.loadSync(join(PROTO, "hubbus/v1/eventbus.proto"), {
  includeDirs: [PROTO],
  keepCase: true,
  longs: String,
  defaults: true,
});
const GrpcService = (grpc.loadPackageDefinition(definition) as any).hubbus.v1
  .EventBusService as grpc.ServiceClientConstructor;

/** A grpc-js client: Publish, and Subscribe read one event at a time. */
function grpcJs(port: number, credentials: grpc.ChannelCredentials) {
  // The certificate's name for the address: grpc-js would send the IP as SNI, which node warns about.
  const client = new GrpcService(`127.0.0.1:${port}`, credentials, {
    "grpc.ssl_target_name_override": "localhost",
  }) as any;
  return {
    publish: (subject: string) =>
      new Promise<number>((resolve, reject) => {
        client.Publish({ subject }, (error: grpc.ServiceError | null, res: any) =>
          error ? reject(error) : resolve(Number(res.sequence)),
        );
      }),
    /** `next()` resolves with the next event's subject, or rejects with the stream's status. */
    subscribe(subject: string, after = 0) {
      const call = client.Subscribe({ subject, after_sequence: String(after) });
      const events = call[Symbol.asyncIterator]() as AsyncIterator<any>;
      return {
        async next(): Promise<string> {
          const { value, done } = await events.next();
          if (done) throw new Error("the stream ended without a status");
          return value.event.subject;
        },
        cancel: () => call.cancel(),
      };
    },
    close: () => client.close(),
  };
}

function trustingCa(client?: CertFiles): Promise<grpc.ChannelCredentials> {
  if (client === undefined) return Promise.resolve(grpc.credentials.createSsl(ca));
  return Promise.all([pki.read(client.keyFile), pki.read(client.certFile)]).then(([key, cert]) =>
    grpc.credentials.createSsl(ca, key, cert),
  );
}

async function nodeTlsOptions(
  client?: CertFiles,
): Promise<{ ca: Buffer; key?: Buffer; cert?: Buffer }> {
  if (client === undefined) return { ca };
  return { ca, key: await pki.read(client.keyFile), cert: await pki.read(client.certFile) };
}

async function connectPublish(transport: Transport, subject: string): Promise<number> {
  const client = createClient(EventBusService, transport);
  return Number((await client.publish({ subject })).sequence);
}

/** The CN of the certificate a new TLS connection to the port is served. */
function servedCn(port: number, options: tls.ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca, ...options }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.end();
      resolve(String(cn));
    });
    socket.once("error", reject);
  });
}

/**
 * Opens a TLS connection and asks `/healthz` over HTTP/1.1: "accepted" when
 * an answer comes, else the code of the error that ended the connection.
 */
function tryHandshake(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      ca,
      ALPNProtocols: ["http/1.1"],
      ...options,
    });
    socket.once("secureConnect", () => {
      socket.write("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    });
    socket.once("data", (chunk: Buffer) => {
      if (chunk.toString("latin1").startsWith("HTTP/1.1 200")) resolve("accepted");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.once("close", () => resolve("closed"));
  });
}

/** Sends `bytes` in cleartext; resolves with whatever came back before the server closed. */
function cleartext(port: number, bytes: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    const socket = net.connect({ host: "127.0.0.1", port }, () => socket.write(bytes));
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.once("error", () => {});
    socket.once("close", () => resolve(Buffer.concat(received)));
  });
}

const H1_REQUEST =
  'POST /rpc HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"hub.info"}';
const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

describe("a TLS port", () => {
  let hub: TestHub;
  const { stage, seen } = recorder();

  beforeAll(async () => {
    hub = await startHub("sqlite", {
      server: {
        stages: [stage],
        tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile },
      },
    });
  });
  afterAll(async () => {
    await hub?.close();
  });
  beforeEach(() => {
    seen.length = 0;
  });

  it("serves native gRPC to grpc-js: Publish, and a Subscribe stream", async () => {
    const client = grpcJs(hub.port, await trustingCa());
    try {
      const stream = client.subscribe("hub.*.tls.grpcjs.>");
      await client.publish("tls.grpcjs.one");
      expect(await stream.next()).toBe(`hub.${HUB_ID}.tls.grpcjs.one`);
      await client.publish("tls.grpcjs.two");
      expect(await stream.next()).toBe(`hub.${HUB_ID}.tls.grpcjs.two`);
      stream.cancel();
    } finally {
      client.close();
    }
    expect(seen.map((s) => [s.protocol, s.method])).toEqual([
      ["grpc", "Subscribe"],
      ["grpc", "Publish"],
      ["grpc", "Publish"],
    ]);
    // TLS without client certificates: nobody is identified by one.
    expect(seen.every((s) => s.tlsSubject === undefined)).toBe(true);
  });

  it("answers buf curl over gRPC and Connect, trusting the CA with --cacert", async () => {
    const published = await bufCurl(hub, "grpc", "Publish", { subject: "tls.buf.grpc" });
    expect(published).toMatchObject({ published: true, subject: `hub.${HUB_ID}.tls.buf.grpc` });
    const info = await bufCurl(hub, "connect", "GetHubInfo", {});
    expect(info).toMatchObject({ hubId: HUB_ID, status: "running" });
    const queried = await bufCurl(hub, "connect", "QueryEvents", { subject: "hub.*.tls.buf.>" });
    expect(queried.events.map((e: any) => e.subject)).toEqual([`hub.${HUB_ID}.tls.buf.grpc`]);
  });

  it.each([
    ["Connect", "1.1", createConnectTransport],
    ["Connect", "2", createConnectTransport],
    ["gRPC-Web", "1.1", createGrpcWebTransport],
    ["gRPC-Web", "2", createGrpcWebTransport],
  ] as const)("serves %s over HTTP/%s (connect-node)", async (_name, httpVersion, transport) => {
    const sequence = await connectPublish(
      transport({ baseUrl: hub.baseUrl, httpVersion, nodeOptions: await nodeTlsOptions() }),
      "tls.connectnode.one",
    );
    expect(sequence).toBeGreaterThan(0);
  });

  it("serves gRPC with JSON through connect-node", async () => {
    const transport = createGrpcTransport({
      baseUrl: hub.baseUrl,
      useBinaryFormat: false,
      nodeOptions: await nodeTlsOptions(),
    });
    expect(await connectPublish(transport, "tls.grpcjson.one")).toBeGreaterThan(0);
  });

  it.each([
    ["--http1.1", "1.1"],
    ["--http2", "2"],
  ] as const)("answers JSON-RPC at /rpc to curl %s", async (flag, httpVersion) => {
    const answer = await curlRpc(hub, flag, rpcPublish("tls.curl.one"));
    expect(answer.httpVersion).toBe(httpVersion);
    expect(answer.body.result).toMatchObject({ published: true });
    expect(seen).toEqual([
      { protocol: "jsonrpc", method: "Publish", subject: "tls.curl.one", tlsSubject: undefined },
    ]);
  });

  it.each([
    ["HTTP/1.1", H1_REQUEST],
    ["h2c (prior knowledge)", H2_PREFACE],
  ])("refuses a cleartext %s request", async (_name, bytes) => {
    const answer = await cleartext(hub.port, bytes);
    // Nothing but, at most, a TLS alert record (content type 21); never an HTTP answer.
    expect(answer.length === 0 || answer[0] === 21).toBe(true);
    expect(answer.toString("latin1")).not.toContain("HTTP/");
    expect(seen).toEqual([]);
  });

  it("refuses a client that does not trust its certificate", async () => {
    expect(await tryHandshake(hub.port, { ca: await pki.read(pki.strangerCaFile) })).toBe(
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    );
    expect(await tryHandshake(hub.port, {})).toBe("accepted");
  });
});

describe("mutual TLS (clientCaFile)", () => {
  let hub: TestHub;
  const { stage, seen } = recorder();

  beforeAll(async () => {
    hub = await startHub("sqlite", {
      server: {
        stages: [stage],
        tls: mutualTls(),
      },
    });
  });
  afterAll(async () => {
    await hub?.close();
  });
  beforeEach(() => {
    seen.length = 0;
  });

  it("refuses a client without a certificate, or with one of another CA, at the handshake", async () => {
    expect(await tryHandshake(hub.port, {})).toBe("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
    const stranger = await nodeTlsOptions(pki.stranger);
    // node checks a presented certificate after the handshake and drops the connection, without an alert.
    expect(await tryHandshake(hub.port, { key: stranger.key, cert: stranger.cert })).toMatch(
      /^(closed|ECONNRESET)$/,
    );
    const client = grpcJs(hub.port, await trustingCa());
    try {
      await expect(client.publish("mtls.nocert")).rejects.toMatchObject({
        code: grpc.status.UNAVAILABLE,
      });
    } finally {
      client.close();
    }
    const curl = await exec("curl", ["-sS", "--cacert", pki.caFile, `${hub.baseUrl}/healthz`]);
    expect(curl.code).not.toBe(0);
    expect(seen).toEqual([]);
  });

  it("gives every call on every protocol the client certificate's subject", async () => {
    const grpcClient = grpcJs(hub.port, await trustingCa(pki.client));
    const nodeOptions = await nodeTlsOptions(pki.client);
    try {
      const stream = grpcClient.subscribe("hub.*.mtls.>");
      await grpcClient.publish("mtls.grpcjs");
      expect(await stream.next()).toBe(`hub.${HUB_ID}.mtls.grpcjs`);
      stream.cancel();
      await bufCurl(hub, "grpc", "Publish", { subject: "mtls.bufgrpc" }, pki.client);
      await bufCurl(hub, "connect", "Publish", { subject: "mtls.bufconnect" }, pki.client);
      await bufCurl(hub, "grpcweb", "Publish", { subject: "mtls.bufgrpcweb" }, pki.client);
      await connectPublish(
        createConnectTransport({ baseUrl: hub.baseUrl, httpVersion: "1.1", nodeOptions }),
        "mtls.connect",
      );
      await connectPublish(
        createGrpcWebTransport({ baseUrl: hub.baseUrl, httpVersion: "2", nodeOptions }),
        "mtls.grpcweb",
      );
      await connectPublish(
        createGrpcTransport({ baseUrl: hub.baseUrl, useBinaryFormat: false, nodeOptions }),
        "mtls.grpcjson",
      );
      for (const flag of ["--http1.1", "--http2"] as const) {
        const answer = await curlRpc(hub, flag, rpcPublish(`mtls.jsonrpc${flag}`), pki.client);
        expect(answer.body.result).toMatchObject({ published: true });
      }
    } finally {
      grpcClient.close();
    }
    expect(seen.map((s) => [s.protocol, s.method, s.subject])).toEqual([
      ["grpc", "Subscribe", "hub.*.mtls.>"],
      ["grpc", "Publish", "mtls.grpcjs"],
      ["grpc", "Publish", "mtls.bufgrpc"],
      ["connect", "Publish", "mtls.bufconnect"],
      ["grpc-web", "Publish", "mtls.bufgrpcweb"],
      ["connect", "Publish", "mtls.connect"],
      ["grpc-web", "Publish", "mtls.grpcweb"],
      ["grpc", "Publish", "mtls.grpcjson"],
      ["jsonrpc", "Publish", "mtls.jsonrpc--http1.1"],
      ["jsonrpc", "Publish", "mtls.jsonrpc--http2"],
    ]);
    expect(seen.map((s) => s.tlsSubject)).toEqual(seen.map(() => "CN=billing"));
  });

  it("names a subject's attributes in the certificate's order", async () => {
    const answer = await curlRpc(hub, "--http2", rpcPublish("mtls.acme"), pki.acmeClient);
    expect(answer.body.result).toMatchObject({ published: true });
    expect(seen.map((s) => s.tlsSubject)).toEqual(["CN=billing, O=Acme"]);
  });
});

describe("mutual TLS callers (AUTH_FILE tls_subject)", () => {
  let hub: TestHub;

  beforeAll(async () => {
    const settings = parseAuthFile(
      JSON.stringify({
        callers: [
          {
            name: "billing-edge",
            tls_subject: "CN=billing",
            service: "billing",
            publish: { allow: [`hub.${HUB_ID}.billing.>`] },
            subscribe: { allow: [`hub.${HUB_ID}.billing.>`] },
          },
        ],
      }),
      pki.dir,
    );
    const auth = createAuth({ settings, hubId: HUB_ID });
    hub = await startHub("sqlite", {
      server: {
        stages: [auth.stage],
        tls: mutualTls(),
      },
    });
  });
  afterAll(async () => {
    await hub?.close();
  });

  it("identifies a caller by its client certificate alone, with its permissions and service", async () => {
    const answer = await curlRpc(hub, "--http2", rpcPublish("billing.mtls.paid"), pki.client);
    expect(answer.body.result).toMatchObject({ published: true });
    const grpcClient = grpcJs(hub.port, await trustingCa(pki.client));
    try {
      await grpcClient.publish("billing.mtls.grpc");
      await expect(grpcClient.publish("shipping.mtls.grpc")).rejects.toMatchObject({
        code: grpc.status.PERMISSION_DENIED,
      });
    } finally {
      grpcClient.close();
    }
    const stored = await hub.bus.query({ subject: `hub.${HUB_ID}.*.mtls.>` });
    expect(stored.map((e) => [e.subject, e.origin.service])).toEqual([
      [`hub.${HUB_ID}.billing.mtls.grpc`, "billing"],
      [`hub.${HUB_ID}.billing.mtls.paid`, "billing"],
    ]);
    // A verified certificate whose subject names no caller is no caller.
    const acme = await curlRpc(hub, "--http2", rpcPublish("billing.mtls.acme"), pki.acmeClient);
    expect(acme.body.error.code).toBe(-32001);
  });
});

describe("tlsSubjectOf", () => {
  it("reads a connection's certificate once, and only a verified one", async () => {
    const certificate = new X509Certificate(await pki.read(pki.acmeClient.certFile));
    let reads = 0;
    const socket = {
      encrypted: true,
      authorized: true,
      getPeerX509Certificate() {
        reads += 1;
        return certificate;
      },
    };
    expect(tlsSubjectOf(socket)).toBe("CN=billing, O=Acme");
    expect(tlsSubjectOf(socket)).toBe("CN=billing, O=Acme");
    expect(reads).toBe(1);
    const unverified = { ...socket, authorized: false };
    expect(tlsSubjectOf(unverified)).toBeUndefined();
    expect(tlsSubjectOf({ encrypted: undefined })).toBeUndefined();
    expect(tlsSubjectOf(undefined)).toBeUndefined();
  });
});

describe("certificate files", () => {
  let log: SqlEventLog;
  let bus: EventBus;

  beforeAll(async () => {
    log = await openEventLog({ url: "sqlite::memory:" });
    bus = createEventBus({ log, hubId: HUB_ID });
  });
  afterAll(async () => {
    await log?.close();
  });

  it.each([
    ["certFile", { certFile: "/nonexistent/cert.pem" }, /cannot be read: ENOENT/],
    ["certFile", { certFile: "KEY" }, /not a PEM certificate/],
    ["keyFile", { keyFile: "CERT" }, /not an unencrypted PEM private key/],
    ["keyFile", { keyFile: "OTHER_KEY" }, /is not the private key of the certificate/],
    ["clientCaFile", { clientCaFile: "KEY" }, /not a PEM certificate/],
    ["clientCaFile", { clientCaFile: "/nonexistent/ca.pem" }, /cannot be read: ENOENT/],
  ] as const)(
    "stop the server being created when %s is unusable (%o)",
    (option, change, reason) => {
      const files = {
        certFile: pki.server.certFile,
        keyFile: pki.server.keyFile,
        clientCaFile: pki.caFile,
      };
      const named: Record<string, string> = {
        KEY: pki.server.keyFile,
        CERT: pki.server.certFile,
        OTHER_KEY: pki.server2.keyFile,
      };
      const [[name, value]] = Object.entries(change) as [[keyof typeof files, string]];
      const tlsFiles = { ...files, [name]: named[value] ?? value };
      let thrown: unknown;
      try {
        createServer({ bus, tls: tlsFiles });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TlsFileError);
      expect(thrown).toMatchObject({ option, path: tlsFiles[name] });
      expect((thrown as TlsFileError).reason).toMatch(reason);
      expect((thrown as Error).message).toContain(`tls.${option} ${tlsFiles[name]}: `);
    },
  );
});

describe("reloadTls", () => {
  let hub: TestHub;
  let live: CertFiles;

  async function install(files: CertFiles): Promise<void> {
    await copyFile(files.certFile, live.certFile);
    await copyFile(files.keyFile, live.keyFile);
  }

  beforeAll(async () => {
    live = { certFile: join(pki.dir, "live.pem"), keyFile: join(pki.dir, "live.key") };
    await install(pki.server);
    hub = await startHub("sqlite", { server: { tls: live } });
  });
  afterAll(async () => {
    await hub?.close();
  });

  it("serves new connections the new certificate while open streams keep going", async () => {
    expect(await servedCn(hub.port)).toBe("hubbus-1");
    const before = grpcJs(hub.port, await trustingCa());
    const stream = before.subscribe("hub.*.reload.>");
    await before.publish("reload.before");
    expect(await stream.next()).toBe(`hub.${HUB_ID}.reload.before`);

    await install(pki.server2);
    await hub.server.reloadTls();
    expect(await servedCn(hub.port)).toBe("hubbus-2");
    expect(await servedCn(hub.port, { ALPNProtocols: ["h2"] })).toBe("hubbus-2");
    const answer = await curlRpc(hub, "--http1.1", rpcPublish("reload.curl"));
    expect(answer.body.result).toMatchObject({ published: true });

    // A new client's publish reaches the stream opened before the reload, on its old connection.
    const after = grpcJs(hub.port, await trustingCa());
    try {
      await after.publish("reload.after");
      expect(await stream.next()).toBe(`hub.${HUB_ID}.reload.curl`);
      expect(await stream.next()).toBe(`hub.${HUB_ID}.reload.after`);
      await before.publish("reload.old-connection");
      expect(await stream.next()).toBe(`hub.${HUB_ID}.reload.old-connection`);
    } finally {
      stream.cancel();
      before.close();
      after.close();
    }
  });

  it.each([
    ["a certificate that is not one", "certFile", async () => writeFile(live.certFile, "garbage")],
    [
      "a key of another certificate",
      "keyFile",
      async () => {
        await copyFile(pki.server.certFile, live.certFile);
        await copyFile(pki.server2.keyFile, live.keyFile);
      },
    ],
  ] as const)(
    "keeps the current certificate serving and rejects for %s",
    async (_what, option, breakIt) => {
      await install(pki.server2);
      await hub.server.reloadTls();
      const client = grpcJs(hub.port, await trustingCa());
      const stream = client.subscribe("hub.*.badreload.>");
      try {
        await breakIt();
        await expect(hub.server.reloadTls()).rejects.toMatchObject({
          name: "TlsFileError",
          option,
        });
        expect(await servedCn(hub.port)).toBe("hubbus-2");
        await client.publish("badreload.one");
        expect(await stream.next()).toBe(`hub.${HUB_ID}.badreload.one`);
      } finally {
        stream.cancel();
        client.close();
      }
    },
  );
});

describe("graceful shutdown over TLS", () => {
  it("ends streams with unavailable, closes idle HTTP/1.1 and HTTP/2 connections, and does not wait for the grace period", async () => {
    // A grace period longer than the test's timeout: close() must finish by draining, not by cutting.
    const hub = await startHub("sqlite", {
      server: {
        shutdownGraceMs: 120_000,
        tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile },
      },
    });
    const client = grpcJs(hub.port, await trustingCa());
    const stream = client.subscribe("hub.*.shutdown.>");
    await client.publish("shutdown.one");
    expect(await stream.next()).toBe(`hub.${HUB_ID}.shutdown.one`);

    // An HTTP/1.1 keep-alive connection that has had its answer, and an idle HTTP/2 session.
    const keptAlive = tls.connect({
      host: "127.0.0.1",
      port: hub.port,
      ca,
      ALPNProtocols: ["http/1.1"],
    });
    const answered = new Promise<void>((resolve) => {
      keptAlive.on("data", (chunk: Buffer) => {
        if (chunk.toString("latin1").includes('{"status":"ok"}')) resolve();
      });
    });
    keptAlive.once("secureConnect", () =>
      keptAlive.write("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"),
    );
    await answered;
    const keptAliveClosed = new Promise<void>((resolve) =>
      keptAlive.once("close", () => resolve()),
    );
    const session = http2.connect(hub.baseUrl, { ca });
    session.on("error", () => {});
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));

    const closed = hub.close();
    await expect(stream.next()).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await keptAliveClosed;
    await goaway;
    session.close();
    client.close();
    await closed;
  });
});

describe("Hub.reload", () => {
  it("re-reads the certificate files, and rejects naming what failed while the old ones serve", async () => {
    const live = { certFile: join(pki.dir, "hub.pem"), keyFile: join(pki.dir, "hub.key") };
    await copyFile(pki.server.certFile, live.certFile);
    await copyFile(pki.server.keyFile, live.keyFile);
    const hub = await createHub({ databaseUrl: "sqlite::memory:", port: 0, tls: live });
    try {
      const port = hub.port as number;
      expect(await servedCn(port)).toBe("hubbus-1");
      await copyFile(pki.server2.certFile, live.certFile);
      await copyFile(pki.server2.keyFile, live.keyFile);
      await hub.reload();
      expect(await servedCn(port)).toBe("hubbus-2");
      await writeFile(live.keyFile, "");
      const failed = await hub.reload().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failed).toBeInstanceOf(AggregateError);
      expect((failed as AggregateError).errors).toEqual([
        expect.objectContaining({ name: "TlsFileError", option: "keyFile" }),
      ]);
      expect((failed as Error).message).toMatch(/^reload failed: tls\.keyFile .*hub\.key: /);
      expect(await servedCn(port)).toBe("hubbus-2");
    } finally {
      await hub.close();
    }
  });
});
