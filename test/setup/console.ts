import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * Vitest global setup: builds the web console into dist/console, as
 * `npm run build` does, so the console suites test the current sources and
 * not whatever the last install left there. A failed build fails the run.
 */
export default function setup(): void {
  const root = join(import.meta.dirname, "../..");
  execFileSync(process.execPath, [join(root, "scripts/build-console.mjs")], {
    cwd: root,
    stdio: "inherit",
  });
}
