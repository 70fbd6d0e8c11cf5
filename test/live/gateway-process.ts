import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { waitUntil } from "./support.js";

const ROOT = join(import.meta.dirname, "../..");
const MAIN = join(ROOT, "src/cli/main.ts");
// tsx runs the sources, so no build is needed; named by path, as the cwd may be elsewhere.
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;
/** Bytes of a process's output kept for failure messages. */
const MAX_OUTPUT = 64 * 1024;

/** A `hubbus` process started as a user would start it. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything written to stdout (the whole of it: client commands print little). */
  stdout(): string;
  /** The tail of stderr. */
  stderr(): string;
}

/** Runs `hubbus <args>` with a clean environment plus `env`; `nodeArgs` go to node itself. */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
): CliProcess {
  const child = spawn(process.execPath, ["--import", TSX, ...nodeArgs, MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? ROOT, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  child.stderr?.on("data", (d: Buffer) => {
    err = (err + d.toString("utf8")).slice(-MAX_OUTPUT);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, stdout: () => out, stderr: () => err };
}

/** A free TCP port on 127.0.0.1, for a gateway whose logs are too quiet to name its port. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A gateway running as its own process (`hubbus serve`). */
export interface GatewayProcess extends CliProcess {
  readonly pid: number;
  readonly port: number;
  readonly baseUrl: string;
  /** Resident set size of the gateway process, from /proc/<pid>/status, in bytes. */
  rssBytes(): number;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /**
   * A full garbage collection in the gateway (see gc-on-signal.ts); resolves
   * with the bytes its main thread's JavaScript still holds (heap + buffers).
   */
  collectGarbage(): Promise<number>;
}

const GC_PRELOAD = pathToFileURL(join(import.meta.dirname, "gc-on-signal.ts")).href;

/**
 * Starts `hubbus serve` with `env` (DATABASE_URL, HUB_ID, NATS_URL, …) on a
 * free port and waits until `/healthz` answers. Logs stay at `warn`: an
 * access-log line per call would cost the gateway more than the work measured.
 */
export async function spawnGateway(env: Record<string, string>): Promise<GatewayProcess> {
  const port = await freePort();
  const cli = runCli(["serve"], { LOG_LEVEL: "warn", PORT: String(port), ...env }, [
    "--expose-gc",
    "--import",
    GC_PRELOAD,
  ]);
  let collections = 0;
  const pid = cli.child.pid as number;
  const baseUrl = `http://127.0.0.1:${port}`;
  const gateway: GatewayProcess = {
    ...cli,
    pid,
    port,
    baseUrl,
    rssBytes() {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
      if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
      return Number(kb) * 1024;
    },
    async collectGarbage() {
      const marker = `gc-on-signal: ${++collections} held=`;
      cli.child.kill("SIGUSR2");
      await waitUntil(() => cli.stderr().includes(marker), "a garbage collection in the gateway");
      const held = new RegExp(`${marker}(\\d+)`).exec(cli.stderr())?.[1];
      return Number(held);
    },
    async stop(graceMs = 5000) {
      if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
      cli.child.kill("SIGTERM");
      const timer = setTimeout(() => cli.child.kill("SIGKILL"), graceMs);
      await cli.exited;
      clearTimeout(timer);
    },
  };
  try {
    await waitUntil(
      async () => {
        if (cli.child.exitCode !== null) {
          throw new Error(`hubbus serve exited with ${cli.child.exitCode}: ${cli.stderr()}`);
        }
        try {
          return (await fetch(`${baseUrl}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      "hubbus serve to answer /healthz",
      { timeoutMs: 20_000, intervalMs: 50 },
    );
  } catch (error) {
    cli.child.kill("SIGKILL");
    throw error;
  }
  return gateway;
}
