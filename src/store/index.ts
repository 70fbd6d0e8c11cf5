export {
  DEFAULT_POSTGRES_POOL_SIZE,
  type EventLogOptions,
  migrateEventLog,
  openEventLog,
  type SqlEventLog,
} from "./event-log.js";
export { DEFAULT_GROUP_COMMIT_MAX_BATCH } from "./group-commit.js";
export type { ReadStatement } from "./log-reads.js";
