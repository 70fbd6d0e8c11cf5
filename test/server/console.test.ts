import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHub, type TestHub } from "./harness.js";

let hub: TestHub;

beforeAll(async () => {
  hub = await startHub();
});
afterAll(() => hub.close());

/**
 * A raw HTTP/1.1 request: fetch would normalise `..` and `%2e%2e` away
 * before they reach the server, and the traversal checks need them sent as written.
 */
function get(
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: hub.port, path, method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("GET /console", () => {
  it("serves the page as HTML with a content security policy, at /console and /console/", async () => {
    for (const path of ["/console", "/console/", "/console?x=1"]) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(res.headers["content-security-policy"]).toContain("default-src 'self'");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.body).toContain('<script type="module" src="/console/console.js">');
    }
  });

  it("serves its assets with their content types, an etag, and 304 when unchanged", async () => {
    const expected = {
      "/console/console.js": "text/javascript; charset=utf-8",
      "/console/console.css": "text/css; charset=utf-8",
      "/console/console.js.map": "application/json; charset=utf-8",
    };
    for (const [path, type] of Object.entries(expected)) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers["content-type"], path).toBe(type);
      expect(res.headers["cache-control"], path).toBe("no-cache");
      expect(Number(res.headers["content-length"]), path).toBe(Buffer.byteLength(res.body));
      const etag = String(res.headers.etag);
      expect(etag).toMatch(/^"[\w-]+"$/);
      const again = await get(path, { "if-none-match": etag });
      expect(again.status, path).toBe(304);
      expect(again.body).toBe("");
    }
    // The bundle is the page's code, connect-web included: no CDN to fetch it from.
    const js = await get("/console/console.js");
    expect(js.body.includes("application/connect+json"), "connect-web in the bundle").toBe(true);
  });

  it("answers HEAD without a body and refuses other methods with 405", async () => {
    const head = await get("/console", {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    const post = await get("/console", {}, "POST");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  it("refuses every path outside the built files, traversal included", async () => {
    for (const path of [
      "/console/../package.json",
      "/console/..%2fpackage.json",
      "/console/%2e%2e/%2e%2e/package.json",
      "/console/../../src/server/console.ts",
      "/console//etc/passwd",
      "/console/%2fetc%2fpasswd",
      "/console/.",
      "/console/nope.js",
      "/console/index.html/",
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toContain('"name": "hubbus"');
      expect(res.body, path).not.toContain("root:");
    }
  });

  it("sends / to /console for a browser only", async () => {
    const browser = await get("/", {
      accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    });
    expect(browser.status).toBe(302);
    expect(browser.headers.location).toBe("/console");
    for (const accept of [undefined, "*/*", "application/json"]) {
      const res = await get("/", accept === undefined ? {} : { accept });
      expect(res.status, String(accept)).toBe(404);
      expect(JSON.parse(res.body)).toEqual({ error: "not found", path: "/" });
    }
    const post = await get("/", { accept: "text/html" }, "POST");
    expect(post.status).toBe(404);
  });

  it("stays public with auth on, while the API it calls still wants a token", async () => {
    // The harness's server has no authenticator; the pipeline's auth stage is checked in test/live/console-browser.
    const res = await get("/console", { authorization: "Bearer wrong" });
    expect(res.status).toBe(200);
  });
});
