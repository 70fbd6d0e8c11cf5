import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const MAIN = join(ROOT, "src/cli/main.ts");
// tsx runs the sources, so the test needs no build; named by path, as the cwd is a temp dir.
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;
const dir = mkdtempSync(join(tmpdir(), "hubbus-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI as a user would (a real process), with a clean environment plus `env`. */
function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ["--import", TSX, MAIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: dir, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function waitFor(check: () => boolean, what: string, child: ChildProcess, ms = 20_000) {
  const start = Date.now();
  while (!check()) {
    if (child.exitCode !== null) throw new Error(`process exited before ${what}`);
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("hubbus CLI", () => {
  it("prints help with every command", async () => {
    const p = run(["--help"]);
    expect(await p.exited).toBe(0);
    for (const command of ["serve", "migrate"]) expect(p.out()).toContain(command);
  });

  it.each([
    [{ PORT: "abc" }, "PORT"],
    [{ HUB_ID: "not.valid" }, "HUB_ID"],
    [{ DATABASE_URL: "mysql://x/y" }, "DATABASE_URL"],
  ])("refuses to start with %o, naming %s in one line", async (env, variable) => {
    const p = run(["serve"], env);
    expect(await p.exited).toBe(2);
    const lines = p.err().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`invalid configuration: ${variable}:`);
  });

  it("reports a flag that overrides a variable by the variable's name", async () => {
    const p = run(["serve", "--port", "99999"]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain("PORT:");
  });

  it("migrates, then serves on embedded SQLite, and stops on SIGTERM", async () => {
    const db = join(dir, "data", "cli.db");
    const migrate = run(["migrate"], { DATABASE_URL: `sqlite:${db}` });
    expect(await migrate.exited).toBe(0);
    expect(migrate.out()).toContain("applied 5 migration(s)");
    const again = run(["migrate"], { DATABASE_URL: `sqlite:${db}` });
    expect(await again.exited).toBe(0);
    expect(again.out()).toContain("schema is current");

    const serve = run(["serve", "--port", "0"], { DATABASE_URL: `sqlite:${db}` });
    await waitFor(() => /serving hub/.test(serve.out()), "the serving line", serve.child);
    const port = Number(/"port":(\d+)/.exec(serve.out())?.[1]);
    const response = await fetch(`http://127.0.0.1:${port}/rpc`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "hub.info" }),
    });
    expect(await response.json()).toMatchObject({
      result: { hub_id: "local-hub", status: "running" },
    });
    serve.child.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
    expect(serve.out()).toContain("stopped");
  });
});
