import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator } from "../../src/auth/index.js";
import { createHub } from "../../src/hub.js";

// What the AUTH_FILE's jwt.jwks_url promises: keys fetched from the URL (and
// kept), and an identity provider that cannot be reached refuses the token
// in time instead of hanging the call.

const ISSUER = "https://issuer.test";
let server: Server;
let url: string;
let fetches = 0;
let token: string;

beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwks = JSON.stringify({
    keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }],
  });
  server = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { "content-type": "application/json" }).end(jwks);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  token = await new SignJWT({ hubbus: { service: "shipping" } })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setSubject("shipping-svc")
    .setIssuer(ISSUER)
    .setAudience("hubbus")
    .setExpirationTime("10m")
    .sign(privateKey);
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const jwt = (jwksUrl: string) => ({
  jwksUrl,
  issuer: ISSUER,
  audience: "hubbus",
  algorithms: ["ES256"],
  clockToleranceS: 30,
});

describe("JWTs verified against jwks_url", () => {
  it("fetches the keys once and identifies the caller by sub and the hubbus claim", async () => {
    const authenticator = createAuthenticator({ callers: [], jwt: jwt(url) });
    const caller = await authenticator.authenticate({ authorization: `Bearer ${token}` });
    expect(caller).toMatchObject({ name: "shipping-svc", service: "shipping", via: "jwt" });
    await authenticator.authenticate({ authorization: `Bearer ${token}` });
    expect(fetches).toBe(1);
  });

  it("refuses the token as unauthenticated when the key server does not answer", async () => {
    // A socket that accepts and never answers: the fetch must give up at the time-out.
    const silent = createServer(() => {});
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    try {
      const port = (silent.address() as AddressInfo).port;
      const authenticator = createAuthenticator(
        { callers: [], jwt: jwt(`http://127.0.0.1:${port}/jwks.json`) },
        { jwksTimeoutMs: 200 },
      );
      await expect(
        authenticator.authenticate({ authorization: `Bearer ${token}` }),
      ).rejects.toMatchObject({
        code: "unauthenticated",
      });
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

describe("a gateway with auth off", () => {
  it("warns when it listens beyond loopback, and not on loopback", async () => {
    const lines: { msg?: string }[] = [];
    const logger = pino(
      { level: "warn" },
      { write: (line: string) => void lines.push(JSON.parse(line)) },
    );
    const warned = () =>
      lines.some((l) => l.msg?.startsWith("auth is off and the port is not on loopback"));
    const open = await createHub({
      databaseUrl: "sqlite::memory:",
      port: 0,
      host: "0.0.0.0",
      logger,
    });
    await open.close();
    expect(warned()).toBe(true);
    lines.length = 0;
    const local = await createHub({
      databaseUrl: "sqlite::memory:",
      port: 0,
      host: "127.0.0.1",
      logger,
    });
    await local.close();
    expect(warned()).toBe(false);
  });
});
