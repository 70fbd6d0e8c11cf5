import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, readFileSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** How long a stopped child may take to exit after SIGTERM before it is killed. */
export const STOP_GRACE_MS = 3000;
/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

/**
 * Every child this run started and has not seen exit. The exit hook kills
 * what is left, so even a crash or a second Ctrl-C leaves no server behind.
 */
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** A child process: a server under test, a baseline server or a load generator. */
export interface Child {
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<string>;
  /** The tail of what it wrote, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after the grace period; resolves when it is gone. */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Also write stdout and stderr to this file. */
  readonly logFile?: string;
  /** Keep stdout for the caller (a load generator's report) instead of only its tail. */
  readonly collectStdout?: boolean;
}

const TAIL_BYTES = 16 * 1024;

export function spawnChild(command: string, args: readonly string[], options: SpawnOptions = {}) {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let tail = "";
  let stdout = "";
  const log = options.logFile ? createWriteStream(options.logFile, { flags: "a" }) : undefined;
  const take = (chunk: Buffer, isStdout: boolean) => {
    log?.write(chunk);
    if (isStdout && options.collectStdout) stdout += chunk.toString("utf8");
    tail = (tail + chunk.toString("utf8")).slice(-TAIL_BYTES);
  };
  child.stdout?.on("data", (chunk: Buffer) => take(chunk, true));
  child.stderr?.on("data", (chunk: Buffer) => take(chunk, false));
  const exited = new Promise<string>((resolve) => {
    child.once("error", (error) => {
      children.delete(child);
      log?.end();
      resolve(`could not start: ${error.message}`);
    });
    child.once("close", (code, signal) => {
      children.delete(child);
      log?.end();
      resolve(signal ?? `code ${code}`);
    });
  });
  const handle: Child & { stdout(): string } = {
    pid: child.pid ?? -1,
    process: child,
    exited,
    output: () => tail,
    stdout: () => stdout,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || !children.has(child)) {
        await exited;
        return;
      }
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
  return handle;
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released for the child to take). */
export async function freePort(): Promise<number> {
  // Servers start in parallel: a port handed out but not yet bound is free to
  // the OS, which may offer it again, and then two gateways race for it (the
  // loser exits, and the winner answers the loser's readiness check).
  for (;;) {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Every port {@link freePort} gave in this run. */
const handedOut = new Set<number>();

/** True once something accepts TCP connections on the port. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, "127.0.0.1");
    socket.setTimeout(500);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

/** Polls `ready` until it is true; throws with the child's output when it exits or time runs out. */
export async function waitUntilReady(
  child: Child,
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  let exited: string | undefined;
  void child.exited.then((how) => {
    exited = how;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      throw new Error(`${what} exited (${exited}) before it was ready:\n${child.output()}`);
    }
    if (await ready().catch(() => false)) return;
    await sleep(100);
  }
  await child.stop();
  throw new Error(`${what} was not ready within ${timeoutMs} ms:\n${child.output()}`);
}

/** CPU seconds (user + system) a process has used so far, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * Follows a process's CPU time. A load generator's last tick counts too:
 * it is sampled every 100 ms, because once it exits /proc forgets it.
 */
export function followCpu(pid: number): { stop(): number } {
  const first = cpuSeconds(pid) ?? 0;
  let last = first;
  const timer = setInterval(() => {
    last = cpuSeconds(pid) ?? last;
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      last = cpuSeconds(pid) ?? last;
      return last - first;
    },
  };
}

/** This process's CPU seconds: the in-process clients' cost. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}
