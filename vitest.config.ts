import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/nats-server.ts", "test/setup/console.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Every suite uses its own database, port and NATS subjects, so files may run in parallel.
    fileParallelism: true,
  },
});
