import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort } from "../live/gateway-process.js";
import { waitUntil } from "../live/support.js";

// `npm start` runs the compiled gateway, not the sources tsx runs in every
// other test: the SQLite writer thread, in particular, is started from a
// different file there (a .js module next to the dialect). This compiles
// the sources as `npm run build` does, into a directory of its own, and
// stores an event through the result.

const ROOT = join(import.meta.dirname, "../..");
let out: string;
let data: string;

beforeAll(() => {
  // Under node_modules so the compiled files resolve the packages as dist/ does.
  mkdirSync(join(ROOT, "node_modules/.cache"), { recursive: true });
  out = mkdtempSync(join(ROOT, "node_modules/.cache/hubbus-dist-"));
  data = mkdtempSync(join(tmpdir(), "hubbus-dist-data-"));
  execFileSync(
    process.execPath,
    [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", out],
    { cwd: ROOT, stdio: "pipe" },
  );
}, 120_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
  if (data) rmSync(data, { recursive: true, force: true });
});

it("the compiled gateway stores a publish in an SQLite file (its writer thread runs from the build)", async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [join(out, "src/cli/main.js"), "serve"], {
    cwd: data,
    env: {
      PATH: process.env.PATH ?? "",
      PORT: String(port),
      DATABASE_URL: `sqlite:${join(data, "hub.db")}`,
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`the gateway exited: ${stderr}`);
        return fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      "the compiled gateway to answer /healthz",
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    const rpc = async (method: string, params: object) =>
      (await (
        await fetch(`${base}/rpc`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
        })
      ).json()) as {
        result?: { sequence?: number; events?: { subject: string }[] };
        error?: unknown;
      };
    const published = await rpc("bus.publish", { topic: "dist.check", payload: { ok: true } });
    expect(published.error, JSON.stringify(published)).toBeUndefined();
    expect(published.result?.sequence).toBe(1);
    const read = await rpc("bus.subscribe", { subject: "hub.local-hub.dist.>" });
    expect(read.result?.events?.map((e) => e.subject)).toEqual(["hub.local-hub.dist.check"]);
    // The compiled server finds the console `npm run build` put in the package's dist/console.
    const page = await fetch(`${base}/console`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
  expect(stderr).not.toMatch(/error/i);
}, 60_000);
