import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { connect } from "@nats-io/transport-node";
import { EventBusService, type Hub } from "../../gen/hubbus/v1/eventbus_pb.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { freePort, type GatewayProcess, spawnGateway } from "../live/gateway-process.js";
import { waitUntil } from "../live/support.js";

/** One hub of a federation test: a `hubbus serve` process with its own SQLite log. */
export interface TestHub {
  readonly hubId: string;
  readonly databaseUrl: string;
  gateway: GatewayProcess;
  client: ReturnType<typeof createClient<typeof EventBusService>>;
}

const dirs: string[] = [];

/** Starts (or restarts, keeping its log) a hub process. */
export async function startHub(
  hubId: string,
  natsUrl: string,
  env: Record<string, string>,
  databaseUrl?: string,
): Promise<TestHub> {
  let url = databaseUrl;
  if (url === undefined) {
    const dir = mkdtempSync(join(tmpdir(), `hubbus-fed-${hubId}-`));
    dirs.push(dir);
    url = `sqlite:${join(dir, "hub.db")}`;
  }
  const gateway = await spawnGateway({
    HUB_ID: hubId,
    DATABASE_URL: url,
    NATS_URL: natsUrl,
    ...env,
  });
  const client = createClient(EventBusService, createGrpcTransport({ baseUrl: gateway.baseUrl }));
  return { hubId, databaseUrl: url, gateway, client };
}

/** Restarts a stopped hub on its own log, with `env`. */
export async function restartHub(hub: TestHub, natsUrl: string, env: Record<string, string>) {
  const again = await startHub(hub.hubId, natsUrl, env, hub.databaseUrl);
  hub.gateway = again.gateway;
  hub.client = again.client;
}

/** Removes the hubs' temporary directories. */
export function cleanupHubDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** hub id → status, as `hub` answers ListHubs. */
export async function statuses(hub: TestHub): Promise<Record<string, string>> {
  const { hubs } = await hub.client.listHubs({});
  return Object.fromEntries(hubs.map((h: Hub) => [h.hubId, h.status]));
}

/** A 3-node nats-server cluster with JetStream (distinct server names and stores). */
export async function startCluster(): Promise<NatsServerHandle[]> {
  const clusterPorts = [await freePort(), await freePort(), await freePort()];
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  return Promise.all(
    clusterPorts.map((port, i) =>
      startNatsServer({
        args: [
          "--server_name",
          `n${i + 1}`,
          "--cluster_name",
          "hubbus-test",
          "--cluster",
          `nats://127.0.0.1:${port}`,
          "--routes",
          routes,
        ],
        startTimeoutMs: 20_000,
      }),
    ),
  );
}

/**
 * Two nats-servers linked as leaf nodes: a hub server with JetStream and a
 * leaf without it, whose clients use the hub server's JetStream.
 */
export async function startLeafPair(): Promise<{
  hub: NatsServerHandle;
  leaf: NatsServerHandle;
  cleanup(): void;
}> {
  const dir = mkdtempSync(join(tmpdir(), "hubbus-leaf-"));
  const leafPort = await freePort();
  const hubConf = join(dir, "hub.conf");
  writeFileSync(
    hubConf,
    `server_name: hubside\njetstream { domain: central }\nleafnodes { listen: "127.0.0.1:${leafPort}" }\n`,
  );
  const leafConf = join(dir, "leaf.conf");
  writeFileSync(
    leafConf,
    `server_name: leafside\nleafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leafPort}" } ] }\n`,
  );
  const hub = await startNatsServer({ args: ["-c", hubConf] });
  const leaf = await startNatsServer({ jetstream: false, args: ["-c", leafConf] });
  await waitForLeafLink(hub.url, leaf.url);
  return { hub, leaf, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Resolves once a message published on the leaf reaches a subscriber on the hub server. */
async function waitForLeafLink(hubUrl: string, leafUrl: string): Promise<void> {
  const onHub = await connect({ servers: hubUrl });
  const onLeaf = await connect({ servers: leafUrl });
  try {
    let heard = false;
    onHub.subscribe("leaf.probe", {
      callback: () => {
        heard = true;
      },
    });
    await onHub.flush();
    await waitUntil(
      async () => {
        onLeaf.publish("leaf.probe");
        await onLeaf.flush();
        return heard;
      },
      "the leaf node link",
      { intervalMs: 100 },
    );
  } finally {
    await onHub.close();
    await onLeaf.close();
  }
}
