import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import type { NodeRequest, NodeResponse } from "../adapters/jsonrpc/index.js";

/** Content types of the files `npm run build:console` writes. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
};

/** The page calls only its own origin; nothing inline, nothing from elsewhere. */
const CSP = "default-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/** A built file, read once. */
interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** What `createConsoleSite` takes. */
export interface ConsoleSiteOptions {
  /** The built console; default `dist/console` of the package this module belongs to. */
  readonly directory?: string | undefined;
}

/** Serves the web console (contract §11); the page is public, its API calls carry the caller's token. */
export interface ConsoleSite {
  /** True when `path` is the console's (or `/` asked for by a browser) and it answered. */
  handle(req: NodeRequest, res: NodeResponse, path: string): boolean;
}

/**
 * The package root: the nearest directory above this module with a
 * package.json. Sources (tsx), `dist/src/server` and any other build
 * directory inside the checkout all find the same `dist/console`.
 */
function defaultDirectory(): string {
  let dir = import.meta.dirname;
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return join(dir, "dist/console");
    const parent = dirname(dir);
    if (parent === dir) return join(import.meta.dirname, "console");
    dir = parent;
  }
}

/**
 * Reads the flat directory of built files into memory. Serving only names
 * found here is what keeps a request from reaching any other file: a path
 * is looked up, never joined onto the directory.
 */
function load(directory: string): Map<string, Asset> | undefined {
  if (!existsSync(join(directory, "index.html"))) return undefined;
  const assets = new Map<string, Asset>();
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const type = CONTENT_TYPES[extname(entry.name)];
    if (!entry.isFile() || type === undefined) continue;
    const body = readFileSync(join(directory, entry.name));
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    assets.set(entry.name, { body, type, etag });
  }
  return assets;
}

function send(res: NodeResponse, status: number, text: string): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

/** Routes `/console`, `/console/<file>` and, for a browser, `/` → `/console`. */
export function createConsoleSite(options: ConsoleSiteOptions = {}): ConsoleSite {
  const directory = options.directory ?? defaultDirectory();
  // Read on first use: a gateway that never serves the page never reads it.
  let assets: Map<string, Asset> | undefined;

  function serve(req: NodeRequest, res: NodeResponse, name: string): void {
    assets ??= load(directory);
    if (assets === undefined) {
      send(res, 503, `the console is not built (no ${directory}): run npm run build\n`);
      return;
    }
    const asset = assets.get(name);
    if (asset === undefined) {
      send(res, 404, "not found\n");
      return;
    }
    const headers: Record<string, string | number> = {
      "content-type": asset.type,
      // Names are not fingerprinted: a browser keeps the file but asks each time (304 when unchanged).
      "cache-control": "no-cache",
      etag: asset.etag,
      "x-content-type-options": "nosniff",
    };
    if (asset.type.startsWith("text/html")) headers["content-security-policy"] = CSP;
    if (req.headers["if-none-match"] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    headers["content-length"] = asset.body.length;
    res.writeHead(200, headers);
    if (req.method === "HEAD") res.end();
    else res.end(asset.body);
  }

  return {
    handle(req, res, path) {
      const method = req.method ?? "GET";
      const readOnly = method === "GET" || method === "HEAD";
      if (path === "/") {
        // Only a browser is sent on: curl and API clients keep the JSON 404.
        const accept = String(req.headers.accept ?? "");
        if (!readOnly || !accept.includes("text/html")) return false;
        res.writeHead(302, {
          location: "/console",
          "content-length": 0,
          "cache-control": "no-store",
        });
        res.end();
        return true;
      }
      if (path !== "/console" && !path.startsWith("/console/")) return false;
      if (!readOnly) {
        res.writeHead(405, { allow: "GET, HEAD", "content-length": 0 });
        res.end();
        return true;
      }
      const rest = path.slice("/console/".length);
      serve(req, res, path === "/console" || rest === "" ? "index.html" : rest);
      return true;
    },
  };
}
