import type { HubEvent, NewEvent } from "../core/index.js";
import type { ReadStatement } from "./log-reads.js";

/** What the event log needs from a database; one implementation per dialect. */
export interface Dialect {
  readonly name: "sqlite" | "postgres";
  /**
   * Inserts the events in one transaction and returns their sequences, in
   * order; undefined for an event whose id is already stored, or whose
   * idempotency key its scope already holds (the unique index refused it).
   */
  insert(events: readonly NewEvent[]): Promise<(number | undefined)[]>;
  /** Runs a SELECT with `?` parameters. */
  all<Row>(sql: string, params: readonly unknown[]): Promise<Row[]>;
  /**
   * Runs a write with `?` parameters; returns the number of rows changed.
   * `relaxed`: the write may be lost in a power failure, though never torn
   * (SQLite commits it without waiting for the disk; the next durable
   * commit makes it durable too). Only for writes whose loss is repaired,
   * such as the outbox cursor: events forwarded again are dropped by
   * JetStream as duplicates of their `Nats-Msg-Id`.
   */
  run(sql: string, params: readonly unknown[], relaxed?: boolean): Promise<number>;
  query(pattern: string, limit: number): Promise<HubEvent[]>;
  readAfter(sequence: number, pattern: string, limit: number): Promise<HubEvent[]>;
  lastSequence(): Promise<number>;
  /**
   * Runs `query` (`after` undefined) or `readAfter` and returns the
   * statements it ran, their SQL as sent to the database.
   */
  traceRead(pattern: string, after: number | undefined, limit: number): Promise<ReadStatement[]>;
  ping(): Promise<void>;
  /** Releases what the dialect holds (not the MikroORM instance). */
  release(): Promise<void>;
}
