// Test-only preload for a spawned gateway (`node --expose-gc --import …`): a full
// garbage collection on SIGUSR2, then a line on stderr with what the main
// thread's JavaScript still holds (heap in use plus buffers), so a test can
// tell what the gateway keeps from garbage V8 has not yet collected and from
// memory the allocators keep after a collection (RSS shrinks late, if at all).
let collections = 0;
process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  collections++;
  const { heapUsed, external } = process.memoryUsage();
  process.stderr.write(`gc-on-signal: ${collections} held=${heapUsed + external}\n`);
});
