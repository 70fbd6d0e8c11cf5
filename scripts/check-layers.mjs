#!/usr/bin/env node
// The import boundaries of src/ (README, "Layout"): each module may import
// only the layers its row names, and another layer only through that
// layer's index.ts, so what a folder offers is what its index exports.
// Type-only imports count too: a type names a dependency as much as a value.
// Run by .ci/run; exits 1 naming every import that crosses a boundary.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(ROOT, "src");

/**
 * Layer → the layers it may import (besides itself). A layer is a folder
 * under src/ or a top-level file; `gen` is the generated code, `npm` any
 * package. Keep in step with the README's layer table.
 */
export const LAYERS = {
  defaults: [],
  version: [],
  "database-url": [],
  core: ["defaults"],
  store: ["core", "defaults", "database-url"],
  bridge: ["core", "defaults"],
  pipeline: ["core"],
  tracing: ["core"],
  federation: ["core", "bridge", "defaults"],
  auth: ["core", "pipeline"],
  metrics: ["core", "pipeline"],
  "adapters/wire": ["core"],
  "adapters/proto": ["core", "pipeline", "adapters/wire", "gen"],
  "adapters/connect": ["core", "pipeline", "adapters/proto", "gen"],
  "adapters/grpc": ["core", "pipeline", "adapters/proto", "adapters/wire", "gen"],
  "adapters/jsonrpc": ["core", "pipeline"],
  services: ["core", "gen"],
  server: [
    "core",
    "pipeline",
    "metrics",
    "adapters/connect",
    "adapters/grpc",
    "adapters/jsonrpc",
    "services",
    "defaults",
  ],
  config: ["core", "auth", "tracing", "defaults", "database-url"],
  hub: [
    "core",
    "store",
    "bridge",
    "federation",
    "server",
    "pipeline",
    "auth",
    "metrics",
    "tracing",
    "config",
    "defaults",
    "version",
  ],
  index: [
    "core",
    "bridge",
    "federation",
    "config",
    "pipeline",
    "auth",
    "tracing",
    "hub",
    "version",
    "defaults",
  ],
  cli: ["core", "store", "config", "hub", "version", "defaults", "database-url", "gen"],
};

/** The layer a file of src/ (or gen/) belongs to, or undefined outside both. */
function layerOf(file) {
  const rel = relative(ROOT, file).split(sep).join("/");
  if (rel.startsWith("gen/")) return "gen";
  if (!rel.startsWith("src/")) return undefined;
  const inSrc = rel.slice("src/".length);
  const parts = inSrc.split("/");
  if (parts.length === 1) return parts[0].replace(/\.ts$/, "");
  if (parts[0] === "adapters") return `adapters/${parts[1]}`;
  return parts[0];
}

/** The folder a layer's index lives in, or undefined for a one-file layer. */
function indexOf(layer) {
  if (layer === "gen") return undefined;
  const folder = join(SRC, ...layer.split("/"));
  try {
    readdirSync(folder);
    return join(folder, "index.ts");
  } catch {
    return undefined;
  }
}

function* sources(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

// Static imports and re-exports (`import … from`, `export … from`, bare
// `import "x"`) and dynamic `import("x")`, `new URL("x", import.meta.url)`
// (a worker's entry file is a dependency too).
const SPECIFIER =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url/gm;

const problems = [];
for (const file of sources(SRC)) {
  const from = layerOf(file);
  const allowed = LAYERS[from];
  const at = relative(ROOT, file);
  if (allowed === undefined) {
    problems.push(`${at}: its layer "${from}" is not in the table (scripts/check-layers.mjs)`);
    continue;
  }
  const text = readFileSync(file, "utf8");
  for (const match of text.matchAll(SPECIFIER)) {
    const specifier = match[1] ?? match[2] ?? match[3] ?? match[4];
    if (!specifier.startsWith(".")) continue; // a package (or node:)
    const target = resolve(dirname(file), specifier).replace(/\.js$/, ".ts");
    const to = layerOf(target);
    if (to === undefined) {
      problems.push(`${at}: imports ${specifier}, outside src/ and gen/`);
      continue;
    }
    if (to === from) continue;
    if (!allowed.includes(to)) {
      problems.push(`${at}: ${from} may not import ${to} (${specifier})`);
      continue;
    }
    const index = indexOf(to);
    if (index !== undefined && target !== index) {
      problems.push(`${at}: imports ${specifier} past ${relative(ROOT, index)}`);
    }
  }
}

if (problems.length > 0) {
  console.error(`Import boundaries crossed (${problems.length}):`);
  for (const problem of problems) console.error(`  ${problem}`);
  process.exit(1);
}
console.log("import boundaries hold");
