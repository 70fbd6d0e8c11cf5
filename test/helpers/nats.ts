import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** How long a nats-server may take to accept connections before the start counts as failed. */
export const DEFAULT_NATS_START_TIMEOUT_MS = 10_000;
/** How long a graceful stop (SIGTERM) may take before the server is killed. */
export const DEFAULT_NATS_STOP_GRACE_MS = 5_000;
/** Bytes of server log kept for error messages. */
const MAX_LOG_BYTES = 64 * 1024;
/** Where Debian puts nats-server; not on PATH for every user. */
const FALLBACK_BINARIES = ["/usr/sbin/nats-server", "/usr/local/bin/nats-server"];

/** Options of {@link startNatsServer}; every one has a default that works on the dev and CI machines. */
export interface NatsServerOptions {
  /**
   * The nats-server executable.
   * @default `$NATS_SERVER_BIN`, else `nats-server` on PATH, else /usr/sbin/nats-server
   */
  readonly bin?: string;
  /**
   * Enable JetStream with a temporary store directory (`-js -sd <dir>`).
   * @default true
   */
  readonly jetstream?: boolean;
  /** More command-line arguments, e.g. `["-m", "-1"]` (monitoring on a free port: see `monitorUrl`). */
  readonly args?: readonly string[];
  /**
   * How long to wait for the server to accept connections.
   * @default DEFAULT_NATS_START_TIMEOUT_MS
   */
  readonly startTimeoutMs?: number;
}

/** Options of {@link NatsServerHandle.stop}. */
export interface NatsStopOptions {
  /**
   * `SIGKILL` is a crash: no goodbye to clients, JetStream recovers from its
   * store on restart (it writes each message before acknowledging it).
   * `SIGTERM` is a graceful shutdown (killed after {@link DEFAULT_NATS_STOP_GRACE_MS}).
   * @default "SIGKILL"
   */
  readonly signal?: "SIGKILL" | "SIGTERM";
}

/** A throwaway nats-server bound to 127.0.0.1. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>`; stays the same across {@link restart}. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory, or undefined without JetStream; kept across restarts. */
  readonly storeDir: string | undefined;
  /** The HTTP monitoring endpoint (`/connz`, `/varz`) when `args` turned it on, e.g. `http://127.0.0.1:8222`. */
  readonly monitorUrl: string | undefined;
  /** True while the process runs. */
  readonly running: boolean;
  /** Stops the process (see {@link NatsStopOptions}); the port and the store stay reserved for {@link restart}. */
  stop(options?: NatsStopOptions): Promise<void>;
  /** Starts the server again on the same port with the same store; stops it first if it still runs. */
  restart(): Promise<void>;
  /** Kills the server and removes its temporary directory. Idempotent. */
  dispose(): Promise<void>;
  /** The tail of the server's log (stderr), for failure messages. */
  log(): string;
}

/**
 * Every process this module started and has not seen exit, so a worker that
 * dies without teardown does not leave servers behind.
 */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds nats-server, or throws saying where it looked: a missing server must fail tests, never skip them. */
export function findNatsServerBinary(bin?: string): string {
  const wanted = bin ?? process.env.NATS_SERVER_BIN;
  if (wanted) {
    if (!isExecutable(wanted)) throw new Error(`nats-server binary ${wanted} is not executable`);
    return wanted;
  }
  const onPath = (process.env.PATH ?? "").split(delimiter).filter((dir) => dir.length > 0);
  const candidates = [...onPath.map((dir) => join(dir, "nats-server")), ...FALLBACK_BINARIES];
  const found = candidates.find(isExecutable);
  if (!found) {
    throw new Error(
      `nats-server not found on PATH nor at ${FALLBACK_BINARIES.join(", ")}; ` +
        "install it (Debian: apt-get install nats-server) or set NATS_SERVER_BIN",
    );
  }
  return found;
}

/** Resolves when something on the port answers with a NATS `INFO` line, not merely accepts TCP. */
function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, "127.0.0.1");
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once("data", (chunk: Buffer) => done(chunk.toString("latin1").startsWith("INFO ")));
  });
}

/** The client port from nats-server's ports file (`{"nats":["nats://127.0.0.1:4222"]}`), once written. */
function readPortsFile(path: string): { port: number; monitoring?: string } | undefined {
  try {
    const ports = JSON.parse(readFileSync(path, "utf8")) as {
      nats?: string[];
      monitoring?: string[];
    };
    const match = /:(\d+)$/.exec(ports.nats?.[0] ?? "");
    if (!match) return undefined;
    const monitoring = ports.monitoring?.[0];
    return monitoring === undefined
      ? { port: Number(match[1]) }
      : { port: Number(match[1]), monitoring };
  } catch {
    // Not there yet, or caught half-written.
    return undefined;
  }
}

/** A failed start; `portBusy` when the port was taken, which is worth a retry on restart. */
class StartError extends Error {
  override name = "StartError";
  constructor(
    message: string,
    readonly portBusy: boolean,
  ) {
    super(message);
  }
}

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly port: number;
  readonly monitoring: string | undefined;
}

/**
 * Starts a throwaway nats-server on 127.0.0.1 and resolves once it answers
 * clients. The first start lets the server pick a free port (`-p -1`) and
 * reads it back from the ports file, which has no race with other processes
 * the way "find a free port, then start" has; restarts ask for that port
 * explicitly. Throws, with the server's log, if it cannot start.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = findNatsServerBinary(options.bin);
  const jetstream = options.jetstream ?? true;
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_NATS_START_TIMEOUT_MS;
  const root = await mkdtemp(join(tmpdir(), "hubbus-nats-"));
  const portsDir = join(root, "ports");
  const storeDir = jetstream ? join(root, "jetstream") : undefined;
  await mkdir(portsDir);

  let logText = "";
  let current: Running | undefined;
  let port = -1;
  let disposed = false;

  const appendLog = (chunk: Buffer) => {
    logText += chunk.toString("utf8");
    if (logText.length > MAX_LOG_BYTES) logText = logText.slice(-MAX_LOG_BYTES);
  };

  const spawnOnce = async (deadline: number): Promise<Running> => {
    const args = ["-a", "127.0.0.1", "-p", String(port), "--ports_file_dir", portsDir];
    if (storeDir) args.push("-js", "-sd", storeDir);
    args.push(...(options.args ?? []));
    const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    live.add(child);
    let ownLog = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      appendLog(chunk);
      if (ownLog.length < MAX_LOG_BYTES) ownLog += chunk.toString("utf8");
    });
    let exitedEarly: string | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        live.delete(child);
        exitedEarly = `exited with ${signal ?? `code ${code}`}`;
        resolve();
      });
      child.once("error", (error) => {
        live.delete(child);
        exitedEarly = `could not be started: ${error.message}`;
        resolve();
      });
    });
    const portsFile = () => join(portsDir, `nats-server_${child.pid}.ports`);
    while (Date.now() < deadline) {
      if (exitedEarly) {
        throw new StartError(`nats-server ${exitedEarly}`, /address already in use/i.test(ownLog));
      }
      const listening = child.pid === undefined ? undefined : readPortsFile(portsFile());
      if (listening !== undefined && (await probe(listening.port))) {
        // A SIGKILLed server leaves its ports file behind; remove it so the directory stays small.
        await rm(portsFile(), { force: true });
        return { child, exited, port: listening.port, monitoring: listening.monitoring };
      }
      await sleep(20);
    }
    child.kill("SIGKILL");
    await exited;
    throw new StartError(
      `nats-server did not accept connections within ${startTimeoutMs} ms`,
      false,
    );
  };

  const start = async (): Promise<void> => {
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      try {
        const running = await spawnOnce(deadline);
        port = running.port;
        current = running;
        return;
      } catch (error) {
        // On restart the port can be briefly unavailable (a client socket of
        // the killed server still closing); anything else is fatal at once.
        const busy = error instanceof StartError && error.portBusy;
        if (!busy || Date.now() >= deadline) {
          throw new Error(`${(error as Error).message}\n--- nats-server log ---\n${logText}`, {
            cause: error,
          });
        }
        await sleep(100);
      }
    }
  };

  const stop = async (stopOptions: NatsStopOptions = {}): Promise<void> => {
    const running = current;
    current = undefined;
    if (!running) return;
    const signal = stopOptions.signal ?? "SIGKILL";
    running.child.kill(signal);
    if (signal === "SIGTERM") {
      const graceful = await Promise.race([
        running.exited.then(() => true),
        sleep(DEFAULT_NATS_STOP_GRACE_MS).then(() => false),
      ]);
      if (!graceful) running.child.kill("SIGKILL");
    }
    await running.exited;
  };

  try {
    await start();
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }

  return {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    storeDir,
    get monitorUrl() {
      return current?.monitoring;
    },
    get running() {
      return current !== undefined;
    },
    stop,
    async restart() {
      if (disposed) throw new Error("nats-server handle was disposed");
      await stop();
      await start();
    },
    async dispose() {
      disposed = true;
      await stop();
      await rm(root, { recursive: true, force: true });
    },
    log: () => logText,
  };
}
