import type { TestProject } from "vitest/node";
import { startNatsServer } from "../helpers/nats.js";

declare module "vitest" {
  interface ProvidedContext {
    /** URL of the nats-server shared by every suite (`inject("natsUrl")`). */
    natsUrl: string;
  }
}

/**
 * Vitest global setup: one throwaway nats-server (random port, JetStream in a
 * temporary directory) for the whole run. It is shared, so no suite may stop
 * it: a suite that kills NATS mid-run starts its own with `startNatsServer()`.
 * A server that cannot start fails the run; there is no skip.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startNatsServer();
  project.provide("natsUrl", server.url);
  return () => server.dispose();
}
