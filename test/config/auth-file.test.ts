import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AuthFileError, loadAuthFile, parseAuthFile } from "../../src/auth/index.js";
import { ConfigError, loadConfig } from "../../src/config/index.js";

// A bad AUTH_FILE stops start-up with a message that names the entry and
// the field, so its author can fix it without reading the gateway's code.

const KEY = "a".repeat(64);
const dir = mkdtempSync(join(tmpdir(), "hubbus-authfile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const caller = (extra: object) => ({ name: "billing", api_key_sha256: KEY, ...extra });
const file = (root: object) => JSON.stringify(root);

describe("the AUTH_FILE", () => {
  it("reads the contract's example, with defaults for what it leaves out", () => {
    writeFileSync(join(dir, "jwks.json"), JSON.stringify({ keys: [{ kty: "EC" }] }));
    const settings = parseAuthFile(
      file({
        callers: [
          caller({
            service: "billing",
            publish: { allow: ["hub.local-hub.billing.>"], deny: [] },
            subscribe: {
              allow: ["hub.*.billing.>", "hub.global.>"],
              deny: ["hub.*.billing.secret.>"],
            },
          }),
          { name: "edge", tls_subject: "cn=edge,O=Acme" },
        ],
        jwt: {
          jwks_file: "jwks.json",
          issuer: "https://id",
          audience: "hubbus",
          algorithms: ["RS256", "ES256"],
        },
      }),
      dir,
    );
    expect(settings.callers[0]).toMatchObject({
      name: "billing",
      service: "billing",
      apiKeySha256: KEY,
    });
    expect(settings.callers[1]).toMatchObject({
      service: "edge",
      tlsSubject: "CN=edge, O=Acme",
      publish: {},
      subscribe: {},
    });
    expect(settings.jwt).toMatchObject({
      issuer: "https://id",
      clockToleranceS: 30,
      jwks: { keys: [{ kty: "EC" }] },
    });
  });

  it.each([
    ["not JSON", "{", /not JSON/],
    ["no callers and no jwt", file({}), /nobody could call/],
    ["a caller without a name", file({ callers: [{ api_key_sha256: KEY }] }), /callers\[0\]\.name/],
    [
      "a short digest",
      file({ callers: [caller({ api_key_sha256: "abc" })] }),
      /callers\[0\] \("billing"\)\.api_key_sha256: must be 64 hex/,
    ],
    [
      "no identity",
      file({ callers: [{ name: "x" }] }),
      /callers\[0\] \("x"\): needs api_key_sha256 or tls_subject/,
    ],
    [
      "a misspelt field",
      file({ callers: [caller({ publsh: {} })] }),
      /callers\[0\] \("billing"\): unknown field "publsh"/,
    ],
    [
      "a misspelt rule",
      file({ callers: [caller({ subscribe: { denny: [">"] } })] }),
      /\.subscribe: unknown field "denny"/,
    ],
    [
      "a bad pattern",
      file({ callers: [caller({ subscribe: { allow: ["hub.>.x"] } })] }),
      /callers\[0\] \("billing"\)\.subscribe\.allow\[0\]/,
    ],
    [
      "an empty allow list",
      file({ callers: [caller({ publish: { allow: [] } })] }),
      /\.publish\.allow: an empty list would allow everything/,
    ],
    ["a bad service", file({ callers: [caller({ service: "no spaces" })] }), /\.service: must be/],
    [
      "two callers with one key",
      file({ callers: [caller({}), caller({ name: "other" })] }),
      /callers\[1\] \("other"\)\.api_key_sha256: the same as callers\[0\]/,
    ],
    [
      "a jwt without issuer",
      file({ jwt: { jwks_url: "https://x/j", audience: "a", algorithms: ["RS256"] } }),
      /jwt\.issuer: required/,
    ],
    [
      "a jwt without algorithms",
      file({ jwt: { jwks_url: "https://x/j", issuer: "i", audience: "a" } }),
      /jwt\.algorithms: required/,
    ],
    [
      "a symmetric algorithm",
      file({ jwt: { jwks_url: "https://x/j", issuer: "i", audience: "a", algorithms: ["HS256"] } }),
      /jwt\.algorithms\[0\]: "HS256" is not one of/,
    ],
    [
      "both key sources",
      file({
        jwt: {
          jwks_url: "https://x/j",
          jwks_file: "j",
          issuer: "i",
          audience: "a",
          algorithms: ["RS256"],
        },
      }),
      /exactly one of jwks_url and jwks_file/,
    ],
    [
      "a missing JWKS file",
      file({ jwt: { jwks_file: "nope.json", issuer: "i", audience: "a", algorithms: ["RS256"] } }),
      /jwt\.jwks_file: cannot read/,
    ],
  ])("refuses %s, naming the entry and field", (_, text, message) => {
    expect(() => parseAuthFile(text, dir)).toThrow(AuthFileError);
    expect(() => parseAuthFile(text, dir)).toThrow(message);
  });

  it("stops start-up as a ConfigError naming AUTH_FILE, the path and the field", () => {
    const path = join(dir, "bad.json");
    writeFileSync(path, file({ callers: [caller({ publish: { allow: "hub.>" } })] }));
    expect(() => loadConfig({ AUTH_FILE: path })).toThrow(ConfigError);
    expect(() => loadConfig({ AUTH_FILE: path })).toThrow(
      `AUTH_FILE: ${path}: callers[0] ("billing").publish.allow: must be a list of patterns`,
    );
    expect(() => loadConfig({ AUTH_FILE: join(dir, "missing.json") })).toThrow(
      /AUTH_FILE: .*missing\.json: cannot read/,
    );
    const good = join(dir, "good.json");
    writeFileSync(good, file({ callers: [caller({})] }));
    expect(loadConfig({ AUTH_FILE: good }).auth?.settings.callers).toHaveLength(1);
    expect(loadAuthFile(good).callers[0]?.name).toBe("billing");
  });
});
