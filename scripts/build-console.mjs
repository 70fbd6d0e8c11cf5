#!/usr/bin/env node
// Builds the web console (contract §11) into dist/console/, which the
// gateway serves at /console: one bundled script (connect-web, the generated
// code in gen/ and console/src), the page and its stylesheet. Run by
// `npm run build` (so `npm ci` builds it) and by the test setup, so tests
// always see the current sources. No network: everything is bundled.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "dist/console");

// A fresh directory, so a file removed from the sources is not served on.
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
await build({
  entryPoints: [join(ROOT, "console/src/main.ts")],
  outfile: join(OUT, "console.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  sourcemap: true,
  legalComments: "none",
  logLevel: "warning",
});
for (const file of ["index.html", "console.css"]) {
  copyFileSync(join(ROOT, "console", file), join(OUT, file));
}
