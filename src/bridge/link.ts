import type { Logger } from "pino";
import {
  type BusStatus,
  type CommitNotices,
  GLOBAL_HUB_ID,
  type Outbox,
  type ServiceHealth,
} from "../core/index.js";
import { createInProcessTransport } from "./in-process-transport.js";
import { connectNatsTransport } from "./nats-transport.js";
import { hubStreamName, type StreamOptions } from "./streams.js";
import { NOTICE_PREFIX, type Transport } from "./transport.js";

/** Options of {@link createLink}. */
export interface LinkOptions {
  readonly hubId: string;
  /** Its backlog is reported in the health details. */
  readonly outbox: Outbox;
  readonly logger: Logger;
  /** NATS servers; empty = the in-process bus (one instance only). @default [] */
  readonly natsServers?: readonly string[];
  /** Path of a NATS credentials file. */
  readonly natsCreds?: string;
  /** JetStream domain (`NATS_JS_DOMAIN`), for a hub on a leaf node. */
  readonly natsJsDomain?: string;
  readonly streams?: StreamOptions;
}

/**
 * The hub's connection to the message bus, apart from what travels on it: it
 * chooses the transport, connects, reports health and carries commit notices.
 * It needs nothing of the core, so the hub creates it first and hands the core
 * its status and notices; the bridge then runs ingest and forwarding on it.
 */
export interface Link extends BusStatus {
  /** `nats` when NATS servers are configured, else `in-process`. */
  readonly kind: "nats" | "in-process";
  /** The JetStream stream of `hub.global.>` (HUB_GLOBAL unless the stream options name another). */
  readonly globalStream: string;
  /** Commit notices between instances on one log; absent in-process (one instance). */
  readonly notices: CommitNotices | undefined;
  /**
   * Connects (NATS: keeps trying until it succeeds or the link closes) and
   * sets up the streams. Idempotent. Resolves with the transport, or with
   * undefined when the link closed first.
   */
  connect(): Promise<Transport | undefined>;
  /** The transport once connected. */
  transport(): Transport | undefined;
  /** Gives up a connection attempt under way (connect() then resolves with undefined). */
  stopConnecting(): void;
  /** Stops connecting and closes the connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * The sequence a commit notice carries; undefined for an empty or malformed
 * one (an older instance sends none), which makes the tail read the log.
 */
function noticeSequence(data: Uint8Array): number | undefined {
  if (data.length === 0 || data.length > 20) return undefined;
  const sequence = Number(Buffer.from(data).toString("latin1"));
  return Number.isSafeInteger(sequence) && sequence > 0 ? sequence : undefined;
}

/** Creates the link; `connect()` starts it. */
export function createLink(options: LinkOptions): Link {
  const { hubId, outbox } = options;
  const logger = options.logger.child({ component: "bridge" });
  const servers = options.natsServers ?? [];
  const kind = servers.length > 0 ? "nats" : "in-process";
  let transport: Transport | undefined;
  let connecting: Promise<Transport | undefined> | undefined;
  // Aborted by close(): stops the attempts to reach NATS, which may never succeed.
  const stopping = new AbortController();
  const noticeSubject = `${NOTICE_PREFIX}${hubId}.appended`;
  const heard = new Set<(upTo: number | undefined) => void>();
  let stopNotices: (() => void) | undefined;

  async function start(): Promise<Transport | undefined> {
    if (kind === "in-process") {
      transport = createInProcessTransport();
      logger.info("NATS_URL is unset: using the in-process bus (one instance only)");
      return transport;
    }
    logger.info({ servers }, "connecting to NATS");
    try {
      transport = await connectNatsTransport({
        servers,
        hubId,
        logger,
        signal: stopping.signal,
        ...(options.natsCreds === undefined ? {} : { credsFile: options.natsCreds }),
        ...(options.natsJsDomain === undefined ? {} : { jsDomain: options.natsJsDomain }),
        ...(options.streams === undefined ? {} : { streams: options.streams }),
      });
    } catch (error) {
      if (stopping.signal.aborted) return undefined;
      throw error;
    }
    logger.info("connected to NATS; JetStream streams ready");
    // Every instance (no queue group) hears every notice, its own included.
    stopNotices = transport.subscribe(noticeSubject, (message) => {
      const upTo = noticeSequence(message.data);
      for (const listener of heard) listener(upTo);
    });
    return transport;
  }

  const notices: CommitNotices = {
    announce(sequence) {
      transport?.notify(noticeSubject, String(sequence));
    },
    listen(listener) {
      heard.add(listener);
      return () => heard.delete(listener);
    },
  };

  return {
    kind,
    globalStream: options.streams?.globalName ?? hubStreamName(GLOBAL_HUB_ID),
    notices: kind === "nats" ? notices : undefined,
    connect() {
      connecting ??= start();
      return connecting;
    },
    transport: () => transport,
    stopConnecting() {
      stopping.abort();
    },
    async close() {
      stopping.abort();
      await connecting?.catch(() => {});
      stopNotices?.();
      stopNotices = undefined;
      heard.clear();
      await transport?.close();
    },
    health(): ServiceHealth {
      if (kind === "in-process") return "disabled";
      return transport?.health() ?? "unhealthy";
    },
    async details() {
      const backlog = await outbox.backlog();
      const details: Record<string, string> = { outbox_backlog: String(backlog.count) };
      if (backlog.oldestTimestamp) {
        details.outbox_oldest_age_ms = String(
          Math.max(0, Date.now() - Date.parse(backlog.oldestTimestamp)),
        );
      }
      return details;
    },
  };
}
