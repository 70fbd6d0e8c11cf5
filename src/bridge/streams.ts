import {
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { Logger } from "pino";
import { GLOBAL_HUB_ID } from "../core/index.js";

/** How long JetStream remembers a Nats-Msg-Id to drop duplicates. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 2 * 60 * 1000;
/** How long the hub's stream keeps events (0 = until limits). */
export const DEFAULT_STREAM_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

/** JetStream settings of {@link ensureStreams}. */
export interface StreamOptions {
  /** The hub's stream. @default "HUB_<HUB_ID>" (upper-cased, `-` as `_`) */
  readonly name?: string;
  /** @default "hub-global" stream name "HUB_GLOBAL" */
  readonly globalName?: string;
  /** @default "limits" */
  readonly retention?: "limits" | "interest" | "workqueue";
  /** @default DEFAULT_DUPLICATE_WINDOW_MS (2 min) */
  readonly duplicateWindowMs?: number;
  /** @default DEFAULT_STREAM_MAX_AGE_MS (7 days) */
  readonly maxAgeMs?: number;
  /** @default 1 */
  readonly replicas?: number;
}

const ms = (value: number) => value * 1_000_000;

/** The default stream name of a hub: `HUB_LOCAL_HUB` for `local-hub`. */
export function hubStreamName(hubId: string): string {
  return `HUB_${hubId.toUpperCase().replace(/-/g, "_")}`;
}

function isNotFound(error: unknown): boolean {
  const e = error as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10059 || /stream not found/i.test(e?.message ?? "");
}

/**
 * Creates or updates the hub's own stream (`hub.<hubId>.>`), and creates the
 * shared `hub.global.>` stream only when it is missing: many hubs share one
 * NATS and JetStream refuses two streams with overlapping subjects, so the
 * first hub creates it and the others leave its settings alone.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  hubId: string,
  options: StreamOptions,
  logger: Logger,
): Promise<void> {
  const common: Partial<StreamConfig> = {
    retention: options.retention ?? RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: ms(options.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
    max_age: ms(options.maxAgeMs ?? DEFAULT_STREAM_MAX_AGE_MS),
    num_replicas: options.replicas ?? 1,
  };
  const own: Partial<StreamConfig> & { name: string } = {
    ...common,
    name: options.name ?? hubStreamName(hubId),
    subjects: [`hub.${hubId}.>`],
  };
  try {
    await jsm.streams.info(own.name);
    await jsm.streams.update(own.name, own);
    logger.debug({ stream: own.name }, "JetStream stream updated");
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await jsm.streams.add(own);
    logger.info({ stream: own.name, subjects: own.subjects }, "JetStream stream created");
  }

  const globalName = options.globalName ?? hubStreamName(GLOBAL_HUB_ID);
  try {
    await jsm.streams.info(globalName);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    try {
      await jsm.streams.add({ ...common, name: globalName, subjects: [`hub.${GLOBAL_HUB_ID}.>`] });
      logger.info({ stream: globalName }, "JetStream stream created");
    } catch (addError) {
      // Another hub created it (or one with these subjects) at the same moment: that one serves.
      logger.debug({ err: addError, stream: globalName }, "global stream not created");
    }
  }
}
