import type { Logger } from "pino";
import type { HubHealth } from "./event-bus.js";
import type { BusStatus, EventLog, ServiceHealth } from "./ports.js";

/** What {@link hubHealth} reads. */
export interface HealthSources {
  readonly log: EventLog;
  readonly bus: BusStatus | undefined;
  readonly logger: Logger;
  /** Live subscriptions now, reported in the details. */
  readonly subscriptions: () => number;
}

/**
 * The hub's health: unhealthy without the database (nothing can be stored),
 * degraded without NATS (events are stored and wait in the outbox). Every
 * failure of a source is logged and reported, never thrown: a probe must
 * get an answer.
 */
export async function hubHealth(sources: HealthSources, signal?: AbortSignal): Promise<HubHealth> {
  const { log, bus, logger } = sources;
  let database: ServiceHealth = "healthy";
  try {
    await log.ping(signal);
  } catch (error) {
    logger.warn({ err: error }, "database health check failed");
    database = "unhealthy";
  }
  const nats = bus?.health() ?? "disabled";
  const status =
    database !== "healthy" ? "unhealthy" : nats === "unhealthy" ? "degraded" : "healthy";
  let details: Record<string, string> = {};
  if (database === "healthy" && bus?.details) {
    try {
      details = await bus.details();
    } catch (error) {
      logger.warn({ err: error }, "bus health details failed");
    }
  }
  details = { ...details, subscriptions: String(sources.subscriptions()) };
  if (database === "healthy") {
    try {
      const [first, last] = await Promise.all([
        log.firstSequence
          ? log.firstSequence(signal)
          : log.readAfter(0, ">", 1, signal).then((events) => events[0]?.sequence ?? 0),
        log.lastSequence(signal),
      ]);
      details = {
        ...details,
        log_first_sequence: String(first),
        log_last_sequence: String(last),
      };
    } catch (error) {
      logger.warn({ err: error }, "log bounds for health failed");
    }
  }
  return { status, services: { nats, database }, details };
}
