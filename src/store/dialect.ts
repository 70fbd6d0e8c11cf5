import type { HubEvent, NewEvent } from "../core/index.js";

/** What the event log needs from a database; one implementation per dialect. */
export interface Dialect {
  readonly name: "sqlite" | "postgres";
  /**
   * Inserts the events in one transaction and returns their sequences, in
   * order; undefined for an event whose id is already stored.
   */
  insert(events: readonly NewEvent[]): Promise<(number | undefined)[]>;
  /** Runs a SELECT with `?` parameters. */
  all<Row>(sql: string, params: readonly unknown[]): Promise<Row[]>;
  /** Runs a write with `?` parameters; returns the number of rows changed. */
  run(sql: string, params: readonly unknown[]): Promise<number>;
  query(pattern: string, limit: number): Promise<HubEvent[]>;
  readAfter(sequence: number, pattern: string, limit: number): Promise<HubEvent[]>;
  lastSequence(): Promise<number>;
  ping(): Promise<void>;
  /** Releases what the dialect holds (not the MikroORM instance). */
  release(): Promise<void>;
}
