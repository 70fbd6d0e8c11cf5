import type { HubEvent, NewEvent, OutboxEvent } from "./event.js";

/** Counters a log keeps about its own work, for health, tests and the benchmark. */
export interface EventLogStats {
  /** Events appended since the log was opened. */
  readonly appendedEvents: number;
  /** Transactions used for those appends (group commit keeps this far below appendedEvents). */
  readonly appendTransactions: number;
  /** The relay's rounds that read the log; the others were handed this instance's commits from memory. */
  readonly outboxReads: number;
}

/**
 * The event log: the source of truth. Implemented by `store/` on SQLite and
 * PostgreSQL. Sequences are assigned by the log, strictly increasing, and
 * an event is visible to readers in sequence order.
 */
export interface EventLog {
  /**
   * Appends events durably and returns them with their sequences, in the
   * given order. An event whose id is already in the log is a duplicate
   * (NATS redelivery, a second instance): it is skipped and not returned.
   * An event with an idempotency key already stored under its scope (by
   * this call, an earlier one, or another instance) is not stored either:
   * the stored event with that key is returned in its place, recognisable
   * by its other id.
   */
  append(events: readonly NewEvent[], signal?: AbortSignal): Promise<HubEvent[]>;
  /** The stored events that carry one of `keys` under `scope`, by key. */
  findKeyed?(
    scope: string,
    keys: readonly string[],
    signal?: AbortSignal,
  ): Promise<Map<string, HubEvent>>;
  /**
   * The sequence retention has pruned the log through: every event up to it
   * is gone (or going), every later one is kept. 0 when nothing was pruned.
   * Raised before the events are deleted, so a reader that checks it after
   * a read knows whether the read may have missed pruned events.
   */
  prunedThrough?(signal?: AbortSignal): Promise<number>;
  /** The sequence of the oldest event the log holds, 0 when empty. */
  firstSequence?(signal?: AbortSignal): Promise<number>;
  /** The newest `limit` events whose subject matches `pattern`, newest first. */
  query(pattern: string, limit: number, signal?: AbortSignal): Promise<HubEvent[]>;
  /** Up to `limit` events after `sequence` whose subject matches `pattern`, oldest first. */
  readAfter(
    sequence: number,
    pattern: string,
    limit: number,
    signal?: AbortSignal,
  ): Promise<HubEvent[]>;
  /** The highest sequence in the log, 0 when empty. */
  lastSequence(signal?: AbortSignal): Promise<number>;
  /** Resolves when the database answers; rejects otherwise. */
  ping(signal?: AbortSignal): Promise<void>;
  stats(): EventLogStats;
  close(): Promise<void>;
}

/** How far forwarding to NATS is behind the log. */
export interface OutboxBacklog {
  /** Events stored here and not yet forwarded. */
  readonly count: number;
  /** Timestamp of the oldest of them, when there is one. */
  readonly oldestTimestamp?: string;
}

/**
 * The log's outbox: which events have been forwarded to NATS. One relay at a
 * time owns it through a lease (several instances share one log); every
 * write names the owner, so a relay that lost its lease cannot move the cursor.
 */
export interface Outbox {
  /** Takes or renews the lease for `leaseMs`; true when `owner` holds it afterwards. */
  claim(owner: string, leaseMs: number): Promise<boolean>;
  /** Gives the lease up (on shutdown), so another instance takes over at once. */
  release(owner: string): Promise<void>;
  /** Up to `limit` events after the cursor that were not ingested, oldest first, with their trace context. */
  pending(limit: number): Promise<OutboxEvent[]>;
  /** Moves the cursor to `sequence`; false when `owner` no longer holds the lease. */
  markForwarded(owner: string, sequence: number): Promise<boolean>;
  backlog(): Promise<OutboxBacklog>;
}

/** Health of one dependency as the contract reports it. */
export type ServiceHealth = "healthy" | "unhealthy" | "disabled";

/** The message bus side (NATS, or the in-process bus), as far as the core needs it. */
/**
 * How instances that share one log tell each other of commits, so that their
 * live tails read at once instead of at the next poll. The bridge carries it
 * over core NATS; it is best effort (the poll covers a lost notice).
 */
export interface CommitNotices {
  /** Tells the other instances that the log holds events up to `sequence`. */
  announce(sequence: number): void;
  /**
   * Calls `heard` for every notice, this instance's own included, with its
   * sequence (undefined when it carried none); returns a function that stops.
   */
  listen(heard: (upTo: number | undefined) => void): () => void;
}

export interface BusStatus {
  /** `disabled` when no NATS is configured. */
  health(): ServiceHealth;
  /** Extra health fields (outbox backlog, ...), reported as strings. */
  details?(): Promise<Record<string, string>>;
}
