// The federation as the core's callers see it (contract §10): the subjects
// hubs announce themselves on and the directory `ListHubs` reads. The
// federation module fills the directory; the core and the adapters only
// name these types, so neither depends on how presence travels.

/** Stored event an instance publishes when it starts (and when its info changes). */
export const PRESENCE_ANNOUNCED_SUBJECT = "hub.global.presence.announced";
/** Stored event an instance publishes when it stops cleanly. */
export const PRESENCE_DEPARTED_SUBJECT = "hub.global.presence.departed";
/**
 * Core NATS subject of presence heartbeats: never stored, never ingested
 * (the bridge refuses it like its own plumbing).
 */
export const PRESENCE_HEARTBEAT_SUBJECT = "hub.global.presence.heartbeat";
/** The pattern all three presence subjects match. */
export const PRESENCE_PATTERN = "hub.global.presence.*";
/** Prefix of the federation metrics subjects, `hub.global.metrics.<hub_id>`. */
export const FEDERATION_METRICS_PREFIX = "hub.global.metrics.";

/** Whether a listed hub is heard from. */
export type HubStatus = "online" | "gone";

/** One hub of the federation, as `ListHubs` answers it. */
export interface HubListing {
  readonly hubId: string;
  readonly version: string;
  /** Its `PUBLIC_URL`; empty when it gave none. */
  readonly url: string;
  readonly status: HubStatus;
  /** RFC 3339 UTC: when an instance of it was last heard from. */
  readonly lastSeen: string;
  /** RFC 3339 UTC: when its longest-running online instance started (its last one, when gone). */
  readonly startedAt: string;
  /** Instances heard from within the presence time-out; 0 when gone. */
  readonly instances: number;
}

/** What `ListHubs` reads: the federation's registry, or this hub alone without one. */
export interface HubDirectory {
  /** Every hub heard of and not yet forgotten, this hub included, ordered by hub id. */
  list(): HubListing[];
}
