// Test-only preload for a spawned gateway (`node --expose-gc --import …`): a full
// garbage collection on SIGUSR2, then a line on stderr, so a test can read the
// RSS of what the gateway still holds rather than of garbage V8 has not yet collected.
let collections = 0;
process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  collections++;
  process.stderr.write(`gc-on-signal: ${collections}\n`);
});
