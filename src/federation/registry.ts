import { type HubListing, isValidHubId, type JsonObject } from "../core/index.js";

/** What every presence message carries (contract §10), as this hub reads it. */
export interface Presence {
  readonly hubId: string;
  readonly version: string;
  readonly url: string;
  /** RFC 3339 UTC. */
  readonly startedAt: string;
  readonly instanceId: string;
}

/** Options of {@link createRegistry}. */
export interface RegistryOptions {
  /** This instance: always online in its own list. */
  readonly self: Presence;
  /** Silence after which an instance no longer counts as online. */
  readonly timeoutMs: number;
  /** How long a gone hub stays listed before it is dropped. */
  readonly goneRetentionMs: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** The hubs this hub has heard of, by hub id, each with its instances. */
export interface Registry {
  /** An instance spoke (heartbeat or announcement) at `atMs`. */
  heard(presence: Presence, atMs: number): void;
  /** An instance stopped cleanly: it no longer counts, whatever arrives for it later. */
  departed(presence: Presence, atMs: number): void;
  list(): HubListing[];
}

interface Instance {
  presence: Presence;
  lastSeenMs: number;
}

interface HubEntry {
  readonly instances: Map<string, Instance>;
  /** The most recently heard instance: its version and url stand for the hub. */
  latest: Presence;
  lastSeenMs: number;
}

const INSTANCE_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

/** A presence payload, or undefined when it is not one (a bad message is ignored, not fatal). */
export function presenceOf(payload: JsonObject): Presence | undefined {
  const { hub_id, version, url, started_at, instance_id } = payload;
  if (typeof hub_id !== "string" || !isValidHubId(hub_id)) return undefined;
  if (typeof instance_id !== "string" || !INSTANCE_ID_RE.test(instance_id)) return undefined;
  if (typeof started_at !== "string" || Number.isNaN(Date.parse(started_at))) return undefined;
  return {
    hubId: hub_id,
    instanceId: instance_id,
    startedAt: new Date(started_at).toISOString(),
    version: typeof version === "string" ? version.slice(0, 64) : "",
    url: typeof url === "string" ? url.slice(0, 2048) : "",
  };
}

/** The payload of a presence message this instance sends. */
export function presencePayload(presence: Presence): JsonObject {
  return {
    hub_id: presence.hubId,
    version: presence.version,
    url: presence.url,
    started_at: presence.startedAt,
    instance_id: presence.instanceId,
  };
}

/**
 * The registry behind `ListHubs`. Status is computed when asked, from when
 * each instance was last heard, so no timer is needed to turn a silent hub
 * `gone`: a hub is online while one of its instances spoke within the
 * time-out, and one entry whatever number of instances it runs.
 */
export function createRegistry(options: RegistryOptions): Registry {
  const { self, timeoutMs, goneRetentionMs } = options;
  const now = options.now ?? Date.now;
  const hubs = new Map<string, HubEntry>();
  // Instance id → when it departed: a late heartbeat or a replayed announcement must not revive it.
  const departedAt = new Map<string, number>();

  function prune(at: number): void {
    for (const [id, when] of departedAt) if (at - when > goneRetentionMs) departedAt.delete(id);
    for (const [hubId, hub] of hubs) {
      for (const [id, instance] of hub.instances)
        if (at - instance.lastSeenMs > timeoutMs) hub.instances.delete(id);
      if (hub.instances.size === 0 && at - hub.lastSeenMs > goneRetentionMs) hubs.delete(hubId);
    }
  }

  function heard(presence: Presence, atMs: number): void {
    if (departedAt.has(presence.instanceId)) return;
    let hub = hubs.get(presence.hubId);
    if (hub === undefined) {
      hub = { instances: new Map(), latest: presence, lastSeenMs: atMs };
      hubs.set(presence.hubId, hub);
    }
    const instance = hub.instances.get(presence.instanceId);
    if (instance === undefined) {
      hub.instances.set(presence.instanceId, { presence, lastSeenMs: atMs });
    } else if (atMs >= instance.lastSeenMs) {
      instance.presence = presence;
      instance.lastSeenMs = atMs;
    }
    if (atMs >= hub.lastSeenMs) {
      hub.lastSeenMs = atMs;
      hub.latest = presence;
    }
  }

  return {
    heard,
    departed(presence, atMs) {
      departedAt.set(presence.instanceId, atMs);
      const hub = hubs.get(presence.hubId);
      if (hub === undefined) return;
      hub.instances.delete(presence.instanceId);
      if (atMs > hub.lastSeenMs) hub.lastSeenMs = atMs;
    },
    list() {
      const at = now();
      heard(self, at);
      prune(at);
      const listed: HubListing[] = [];
      for (const [hubId, hub] of hubs) {
        const online = [...hub.instances.values()];
        const startedAt =
          online.length === 0
            ? hub.latest.startedAt
            : (online.map((i) => i.presence.startedAt).sort()[0] ?? hub.latest.startedAt);
        listed.push({
          hubId,
          version: hub.latest.version,
          url: hub.latest.url,
          status: online.length > 0 ? "online" : "gone",
          lastSeen: new Date(hub.lastSeenMs).toISOString(),
          startedAt,
          instances: online.length,
        });
      }
      return listed.sort((a, b) => (a.hubId < b.hubId ? -1 : a.hubId > b.hubId ? 1 : 0));
    },
  };
}
