import { execFileSync, spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Child, followCpu, spawnChild } from "./processes.js";
import type { Scope } from "./scope.js";
import { percentile } from "./stats.js";

/*
 * The HTTP load generator is h2load (Debian package nghttp2-client), for
 * HTTP/1.1 and HTTP/2 alike. Measured on this 2-core machine against a bare
 * Node HTTP server: h2load spends about 26 µs of CPU per request, a Node
 * keep-alive client about 140 µs, more than the server's 75-90 µs. With
 * two cores for client and server together, a Node client would measure
 * itself; h2load leaves the server most of the machine.
 */

const PACKAGE = "nghttp2-client";

function hasH2load(): boolean {
  return spawnSync("h2load", ["--version"], { stdio: "ignore" }).status === 0;
}

/** Installs h2load with apt-get when it is missing and we may; otherwise fails saying how. */
export function ensureH2load(progress: (line: string) => void): string {
  if (!hasH2load()) {
    const howTo = `install it with: apt-get install ${PACKAGE}`;
    if (process.getuid?.() !== 0) throw new Error(`h2load is required and missing; ${howTo}`);
    progress(`h2load is missing: installing Debian's ${PACKAGE} with apt-get`);
    const install = () =>
      spawnSync("apt-get", ["install", "-y", "-qq", PACKAGE], {
        stdio: "ignore",
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      }).status === 0;
    if (!install()) {
      spawnSync("apt-get", ["update", "-qq"], { stdio: "ignore" });
      if (!install()) throw new Error(`h2load is required; apt-get could not install ${PACKAGE}`);
    }
    if (!hasH2load()) throw new Error(`h2load still missing after installing ${PACKAGE}`);
  }
  return execFileSync("h2load", ["--version"], { encoding: "utf8" }).trim();
}

export interface H2loadOptions {
  readonly url: string;
  /** HTTP/1.1 keep-alive instead of HTTP/2 (prior knowledge). */
  readonly http1: boolean;
  readonly connections: number;
  /** Concurrent streams per connection (HTTP/2); 1 for HTTP/1.1. */
  readonly streamsPerConnection: number;
  readonly durationS: number;
  readonly body: Buffer | string;
  readonly headers: readonly string[];
  /** Where the request body and the per-request log go. */
  readonly dir: string;
}

export interface H2loadResult {
  readonly succeeded: number;
  readonly failed: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly clientCpuS: number;
}

let runs = 0;

/** Runs h2load for a duration; its per-request log gives the percentiles. */
export async function runH2load(options: H2loadOptions, scope: Scope): Promise<H2loadResult> {
  const id = ++runs;
  const bodyFile = join(options.dir, `h2load-${id}.body`);
  const logFile = join(options.dir, `h2load-${id}.log`);
  await writeFile(bodyFile, options.body);
  const args = [
    ...(options.http1 ? ["--h1"] : []),
    "-c",
    String(options.connections),
    "-m",
    String(options.streamsPerConnection),
    "-t",
    "1",
    "-D",
    `${Math.round(options.durationS * 1000)}ms`,
    "-d",
    bodyFile,
    "--log-file",
    logFile,
    ...options.headers.flatMap((h) => ["-H", h]),
    options.url,
  ];
  const child: Child & { stdout(): string } = spawnChild("h2load", args, { collectStdout: true });
  scope.defer("h2load", () => child.stop());
  const cpu = followCpu(child.pid);
  const how = await child.exited;
  const clientCpuS = cpu.stop();
  const out = child.stdout();
  const requests =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
      out,
    );
  const finished = /finished in ([\d.]+)(m?s)/.exec(out);
  if (how !== "code 0" || !requests || !finished) {
    throw new Error(`h2load ${how}: ${child.output().slice(-2000)}`);
  }
  const seconds = Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1);
  const succeeded = Number(requests[4]);
  const failed = Number(requests[5]) + Number(requests[6]);
  const latencies = (await readFile(logFile, "utf8"))
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => Number(line.split("\t")[2]) / 1000)
    .sort((a, b) => a - b);
  return {
    succeeded,
    failed,
    seconds,
    perSecond: succeeded / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    clientCpuS,
  };
}
