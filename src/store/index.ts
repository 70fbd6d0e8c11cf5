export {
  DEFAULT_POSTGRES_POOL_SIZE,
  type EventLogOptions,
  migrateEventLog,
  openEventLog,
  type SqlEventLog,
} from "./event-log.js";
export { DEFAULT_GROUP_COMMIT_MAX_BATCH } from "./group-commit.js";
export type { ReadStatement } from "./log-reads.js";
export {
  DEFAULT_PRUNE_INTERVAL_MS,
  DEFAULT_PRUNE_LEASE_MS,
  DEFAULT_PRUNE_STEP_EVENTS,
  type PruneReport,
  type Pruner,
  type PrunerOptions,
  type RetentionOptions,
} from "./pruner.js";
