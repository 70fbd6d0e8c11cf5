// biome-ignore-all lint/suspicious/noExplicitAny: JSON-RPC results are untyped wire JSON
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { postRpc } from "../server/harness.js";

/** What a truthy value of `T` can be (`cond && value` probes return `false | value`). */
export type Truthy<T> = Exclude<T, false | null | undefined | 0 | "">;

/** Waits until `probe` returns something truthy and returns it; fails naming `what` after `timeoutMs`. */
export async function waitUntil<T>(
  probe: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 20,
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as Truthy<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A hub id no other suite uses, so subjects and stream names never collide on a shared NATS. */
export function uniqueHubId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/** A temporary SQLite file for one hub. */
export function tempSqlite(): { url: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "hubbus-bridge-"));
  return {
    url: `sqlite:${join(dir, "hub.db")}`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Calls a JSON-RPC method over HTTP/1.1 and returns its result; an error answer throws. */
export async function rpc(baseUrl: string, method: string, params: object = {}): Promise<any> {
  const { status, body } = await postRpc(baseUrl, { jsonrpc: "2.0", id: 1, method, params });
  if (status !== 200 || body?.error)
    throw new Error(`${method}: ${status} ${JSON.stringify(body)}`);
  return body.result;
}

/** A message as a raw NATS client saw it. */
export interface SeenMessage {
  readonly subject: string;
  readonly body: string;
  readonly headers: Record<string, string>;
}

function seen(msg: Pick<Msg, "subject" | "data" | "headers">): SeenMessage {
  const headers: Record<string, string> = {};
  for (const [key, values] of msg.headers ?? []) headers[key] = values[0] ?? "";
  return { subject: msg.subject, body: new TextDecoder().decode(msg.data), headers };
}

/** A plain NATS client (nats.js, no hubbus code): what any other program on the bus sees. */
export interface RawNats {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  /** Subscribes and collects every message; resolves once the server has the subscription. */
  collect(pattern: string): Promise<SeenMessage[]>;
  /** Publishes a bare message (no headers), flushed to the server. */
  publishBare(subject: string, body: object): Promise<void>;
  /** Every message of a stream, by sequence; the stream must hold exactly what it was sent once. */
  readStream(name: string): Promise<(SeenMessage & { seq: number })[]>;
  /** The stream's message count, or -1 while it does not exist. */
  streamCount(name: string): Promise<number>;
  close(): Promise<void>;
}

export async function rawNats(url: string): Promise<RawNats> {
  const nc = await connect({ servers: url, name: "raw-test-client" });
  const jsm = await jetstreamManager(nc);
  return {
    nc,
    jsm,
    async collect(pattern) {
      const messages: SeenMessage[] = [];
      nc.subscribe(pattern, {
        callback: (error, msg) => {
          if (!error) messages.push(seen(msg));
        },
      });
      await nc.flush();
      return messages;
    },
    async publishBare(subject, body) {
      nc.publish(subject, JSON.stringify(body));
      await nc.flush();
    },
    async readStream(name) {
      const info = await jsm.streams.info(name);
      const out: (SeenMessage & { seq: number })[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
        const stored = await jsm.streams.getMessage(name, { seq });
        // StoredMsg exposes its fields as getters: pass them by name, a spread would drop them.
        if (stored)
          out.push({
            ...seen({ subject: stored.subject, data: stored.data, headers: stored.header }),
            seq,
          });
      }
      if (out.length !== info.state.messages) throw new Error(`stream ${name} changed while read`);
      return out;
    },
    async streamCount(name) {
      try {
        return (await jsm.streams.info(name)).state.messages;
      } catch {
        return -1;
      }
    },
    async close() {
      await nc.close();
    },
  };
}

const ROOT = join(import.meta.dirname, "../..");
const MAIN = join(ROOT, "src/cli/main.ts");
// tsx runs the sources, so no build is needed; named by absolute path because the cwd is a temp dir.
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;

/** `hubbus serve` as a real process. */
export interface GatewayProcess {
  readonly child: ChildProcess;
  /** Resolves with the port once the gateway logs that it serves; rejects if it exits first. */
  readonly serving: Promise<number>;
  readonly exited: Promise<number | null>;
  output(): string;
}

/**
 * Spawns `hubbus serve` with a clean environment plus `env` and returns at
 * once: a test that must act before the gateway serves (kill it while its
 * relay forwards) has the process in hand from the start.
 */
export function startGateway(env: Record<string, string>): GatewayProcess {
  const cwd = mkdtempSync(join(tmpdir(), "hubbus-gateway-"));
  const child = spawn(process.execPath, ["--import", TSX, MAIN, "serve"], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: cwd, LOG_LEVEL: "info", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      rmSync(cwd, { recursive: true, force: true });
      resolve(code);
    }),
  );
  const serving = waitUntil(
    () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error("gateway exited before serving");
      return /serving hub/.test(output) && Number(/"port":(\d+)/.exec(output)?.[1]);
    },
    "the gateway to serve",
    20_000,
    50,
  ).catch((error: Error) => {
    child.kill("SIGKILL");
    throw new Error(`${error.message}\n--- gateway output ---\n${output}`);
  });
  // A test that kills the gateway early never awaits this; keep that from being an unhandled rejection.
  serving.catch(() => {});
  return { child, serving, exited, output: () => output };
}

/** Spawns `hubbus serve` and waits until it serves; returns its JSON-RPC base URL too. */
export async function spawnGateway(
  env: Record<string, string>,
): Promise<GatewayProcess & { baseUrl: string }> {
  const gateway = startGateway(env);
  const port = await gateway.serving;
  return { ...gateway, baseUrl: `http://127.0.0.1:${port}` };
}

/** SIGKILLs a gateway (a crash: no shutdown code runs) and waits for it to be gone. */
export async function crash(gateway: GatewayProcess): Promise<void> {
  if (gateway.child.exitCode === null && gateway.child.signalCode === null)
    gateway.child.kill("SIGKILL");
  await gateway.exited;
}
