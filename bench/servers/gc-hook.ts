/*
 * Preloaded (--import) into every server process the bench starts, with
 * --expose-gc: SIGUSR2 runs a full garbage collection, so the memory figure
 * reads RSS without the garbage earlier scenarios left behind. The handler
 * is installed even without --expose-gc: SIGUSR2 must never end a server.
 */
const gc = (globalThis as { gc?: () => void }).gc;
process.on("SIGUSR2", () => gc?.());
