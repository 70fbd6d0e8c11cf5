import type { HubEvent, NewEvent } from "../core/index.js";

/** What the event log needs from a database; one implementation per dialect. */
export interface Dialect {
  readonly name: "sqlite" | "postgres";
  /** Inserts the events in one transaction and returns their sequences, in order. */
  insert(events: readonly NewEvent[]): Promise<number[]>;
  query(pattern: string, limit: number): Promise<HubEvent[]>;
  readAfter(sequence: number, pattern: string, limit: number): Promise<HubEvent[]>;
  lastSequence(): Promise<number>;
  ping(): Promise<void>;
  /** Releases what the dialect holds (not the MikroORM instance). */
  release(): Promise<void>;
}
