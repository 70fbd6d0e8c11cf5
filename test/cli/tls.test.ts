import { type ChildProcess, spawn } from "node:child_process";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Stage } from "../../src/pipeline/index.js";
import { type CertFiles, createTestPki, type TestPki } from "../helpers/tls.js";
import { startHub, type TestHub } from "../server/harness.js";

// The CLI against a TLS gateway: the client commands over https:// with a
// private CA and a bearer token, the errors that name what is wrong, and
// `hubbus serve` with certificate files, reloaded on SIGHUP.

const ROOT = join(import.meta.dirname, "../..");
const MAIN = join(ROOT, "src/cli/main.ts");
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;

interface Cli {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  out(): string;
  err(): string;
}

/** Runs the CLI as a user would (a real process), with a clean environment plus `env`. */
function run(args: readonly string[], env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, ["--import", TSX, MAIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: dir, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  return { child, exited, out: () => stdout, err: () => stderr };
}

/** Resolves when stdout, from character `from` on, matches `pattern`; rejects if the process exits first. */
function untilOutput(cli: Cli, pattern: RegExp, from = 0): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(cli.out().slice(from));
      if (match === null) return;
      done();
      resolve(match);
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`exited (${code}) before printing ${pattern}: ${cli.err()}`));
    };
    const done = () => {
      cli.child.stdout?.off("data", check);
      cli.child.off("exit", onExit);
    };
    cli.child.stdout?.on("data", check);
    cli.child.once("exit", onExit);
    check();
  });
}

/** The CN of the certificate a new TLS connection is served. */
function servedCn(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca }, () => {
      const cn = String(socket.getPeerCertificate().subject.CN);
      socket.end();
      resolve(cn);
    });
    socket.once("error", reject);
  });
}

let dir: string;
let pki: TestPki;
let ca: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hubbus-cli-tls-"));
  pki = await createTestPki();
  ca = await pki.read(pki.caFile);
});

afterAll(async () => {
  await pki?.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("client commands against a TLS gateway", () => {
  let hub: TestHub;
  let plain: TestHub;
  const authorization: [method: string, header: string | undefined][] = [];
  const recordAuthorization: Stage = {
    name: "authorization",
    unary(call, next) {
      authorization.push([call.ctx.method, call.ctx.header("authorization")]);
      return next(call);
    },
    stream(call, next) {
      authorization.push([call.ctx.method, call.ctx.header("authorization")]);
      return next(call);
    },
  };

  beforeAll(async () => {
    [hub, plain] = await Promise.all([
      startHub("sqlite", {
        server: {
          stages: [recordAuthorization],
          tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile },
        },
      }),
      startHub("sqlite"),
    ]);
  });
  afterAll(async () => {
    await Promise.all([hub?.close(), plain?.close()]);
  });
  beforeEach(() => {
    authorization.length = 0;
  });

  it("publish and health work over https:// with --ca", async () => {
    const pub = run([
      "pub",
      "cli.tls.created",
      '{"n":1}',
      "--url",
      hub.baseUrl,
      "--ca",
      pki.caFile,
    ]);
    expect(await pub.exited, pub.err()).toBe(0);
    expect(JSON.parse(pub.out())).toMatchObject({
      published: true,
      subject: "hub.test-hub.cli.tls.created",
    });
    const health = run(["health", "--ca", pki.caFile], { HUBBUS_URL: hub.baseUrl });
    expect(await health.exited, health.err()).toBe(0);
    expect(JSON.parse(health.out())).toMatchObject({ status: "healthy" });
  });

  it("fails without --ca, saying the gateway's certificate is not trusted and what to do", async () => {
    const p = run(["health", "--url", hub.baseUrl]);
    expect(await p.exited).toBe(1);
    expect(p.err().trim()).toBe(
      `hubbus: TLS: the certificate of the gateway at ${hub.baseUrl} is not trusted (unable to verify the first certificate): pass the CA that signed it with --ca <file> or HUBBUS_CA_FILE`,
    );
  });

  it("fails with a CA that did not sign the gateway's certificate", async () => {
    const p = run(["pub", "cli.tls.x", "--url", hub.baseUrl, "--ca", pki.strangerCaFile]);
    expect(await p.exited).toBe(1);
    expect(p.err()).toMatch(/TLS: the certificate of the gateway at .* is not trusted/);
  });

  it.each([
    [
      "unreadable",
      "/nonexistent/ca.pem",
      "cannot read /nonexistent/ca.pem: ENOENT: no such file or directory",
    ],
    ["not a certificate", "KEY", "is not a PEM certificate"],
  ])("refuses a CA file that is %s, naming HUBBUS_CA_FILE", async (_what, file, message) => {
    const path = file === "KEY" ? pki.server.keyFile : file;
    const p = run(["health", "--url", hub.baseUrl, "--ca", path]);
    expect(await p.exited).toBe(2);
    const lines = p.err().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("hubbus: invalid configuration: HUBBUS_CA_FILE: ");
    expect(lines[0]).toContain(message);
  });

  it("says so when an http:// URL reaches a TLS port, or an https:// one a cleartext port", async () => {
    const toTls = run(["health", "--url", hub.baseUrl.replace("https:", "http:")]);
    expect(await toTls.exited).toBe(1);
    expect(toTls.err()).toContain("if it serves TLS, use an https:// URL");
    const toPlain = run([
      "health",
      "--url",
      plain.baseUrl.replace("http:", "https:"),
      "--ca",
      pki.caFile,
    ]);
    expect(await toPlain.exited).toBe(1);
    expect(toPlain.err()).toMatch(
      /does not speak TLS \(wrong version number\): use an http:\/\/ URL/,
    );
  });

  it("sends --token or HUBBUS_TOKEN as a bearer token on every call, streams too", async () => {
    const common = ["--url", hub.baseUrl, "--ca", pki.caFile];
    const pub = run(["pub", "cli.tls.token", ...common, "--token", "flag-token"]);
    expect(await pub.exited, pub.err()).toBe(0);
    const events = run(["events", "hub.*.cli.tls.token", ...common], { HUBBUS_TOKEN: "env-token" });
    expect(await events.exited, events.err()).toBe(0);
    const sub = run(["sub", "hub.*.cli.tls.token", "--after", "0", ...common], {
      HUBBUS_TOKEN: "env-token",
    });
    await untilOutput(sub, /cli\.tls\.token/);
    sub.child.kill("SIGINT");
    expect(await sub.exited).toBe(0);
    const health = run(["health", ...common]);
    expect(await health.exited, health.err()).toBe(0);
    expect(authorization).toEqual([
      ["Publish", "Bearer flag-token"],
      ["QueryEvents", "Bearer env-token"],
      ["Subscribe", "Bearer env-token"],
      ["GetHealth", undefined],
    ]);
  });

  it("refuses a token that cannot be a header value, without echoing it", async () => {
    const p = run(["health", "--url", hub.baseUrl, "--ca", pki.caFile, "--token", "two words"]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain("invalid configuration: HUBBUS_TOKEN: must be one word");
    expect(p.err()).not.toContain("two words");
  });
});

describe("hubbus serve with TLS", () => {
  let live: CertFiles;

  beforeAll(() => {
    live = { certFile: join(dir, "live.pem"), keyFile: join(dir, "live.key") };
  });

  async function install(files: CertFiles): Promise<void> {
    await copyFile(files.certFile, live.certFile);
    await copyFile(files.keyFile, live.keyFile);
  }

  it.each([
    [{ TLS_CERT_FILE: "CERT" }, "TLS_KEY_FILE", "is required with TLS_CERT_FILE"],
    [{ TLS_KEY_FILE: "KEY" }, "TLS_CERT_FILE", "is required with TLS_KEY_FILE"],
    [{ TLS_CLIENT_CA_FILE: "CA" }, "TLS_CLIENT_CA_FILE", "needs TLS_CERT_FILE and TLS_KEY_FILE"],
    [{ TLS_CERT_FILE: "KEY", TLS_KEY_FILE: "KEY" }, "TLS_CERT_FILE", "not a PEM certificate"],
    [
      { TLS_CERT_FILE: "CERT", TLS_KEY_FILE: "/nonexistent.key" },
      "TLS_KEY_FILE",
      "/nonexistent.key: cannot be read: ENOENT",
    ],
    [
      { TLS_CERT_FILE: "CERT", TLS_KEY_FILE: "KEY", TLS_CLIENT_CA_FILE: "KEY" },
      "TLS_CLIENT_CA_FILE",
      "not a PEM certificate",
    ],
  ])("refuses to start with %o, naming %s in one line", async (env, variable, message) => {
    const files: Record<string, string> = {
      CERT: pki.server.certFile,
      KEY: pki.server.keyFile,
      CA: pki.caFile,
    };
    const resolved = Object.fromEntries(
      Object.entries(env).map(([name, value]) => [name, files[value] ?? value]),
    );
    const p = run(["serve", "--port", "0"], {
      ...resolved,
      DATABASE_URL: `sqlite:${join(dir, "refused.db")}`,
    });
    expect(await p.exited).toBe(2);
    const lines = p.err().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`hubbus: invalid configuration: ${variable}: `);
    expect(lines[0]).toContain(message);
  });

  it("serves TLS only, re-reads the certificate on SIGHUP, keeps it when the new one is bad", async () => {
    await install(pki.server);
    const serve = run(["serve", "--port", "0"], {
      DATABASE_URL: `sqlite:${join(dir, "serve.db")}`,
      LOG_LEVEL: "info",
      TLS_CERT_FILE: live.certFile,
      TLS_KEY_FILE: live.keyFile,
    });
    try {
      const serving = await untilOutput(serve, /"port":(\d+).*serving hub .* over TLS/);
      const port = Number(serving[1]);
      const url = `https://127.0.0.1:${port}`;
      expect(await servedCn(port, ca)).toBe("hubbus-1");

      await install(pki.server2);
      let from = serve.out().length;
      serve.child.kill("SIGHUP");
      await untilOutput(serve, /"subject":"CN=hubbus-2".*"msg":"TLS certificate reloaded"/, from);
      expect(await servedCn(port, ca)).toBe("hubbus-2");

      await writeFile(live.certFile, "not a certificate");
      from = serve.out().length;
      serve.child.kill("SIGHUP");
      await untilOutput(serve, /not a PEM certificate.*TLS certificates not reloaded/, from);
      expect(await servedCn(port, ca)).toBe("hubbus-2");
      const health = run(["health", "--url", url, "--ca", pki.caFile]);
      expect(await health.exited, health.err()).toBe(0);

      serve.child.kill("SIGTERM");
      expect(await serve.exited).toBe(0);
      expect(serve.out()).toContain("stopped");
    } finally {
      serve.child.kill("SIGKILL");
    }
  });
});
