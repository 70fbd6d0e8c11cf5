import { createInbox, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";

/** How long a JetStream publish waits for its acknowledgement. */
export const DEFAULT_PUBLISH_ACK_TIMEOUT_MS = 5000;
/** How often pending publishes are checked against the ack timeout. */
export const DEFAULT_ACK_SWEEP_INTERVAL_MS = 250;

/** Options of {@link createJetStreamPublisher}. */
export interface JetStreamPublisherOptions {
  /**
   * A publish without an acknowledgement after this long is rejected; it
   * fails somewhere between this and this plus {@link sweepIntervalMs}.
   * @default DEFAULT_PUBLISH_ACK_TIMEOUT_MS (5 s)
   */
  readonly ackTimeoutMs?: number;
  /** @default DEFAULT_ACK_SWEEP_INTERVAL_MS (250 ms) */
  readonly sweepIntervalMs?: number;
}

/** JetStream's acknowledgement of a stored message. */
export interface PubAck {
  readonly stream: string;
  readonly seq: number;
  /** True when the stream already had a message with this Nats-Msg-Id and dropped this one. */
  readonly duplicate: boolean;
}

/** Why a publish failed. */
export type JetStreamPublishErrorCode =
  /** Nothing answers on the subject: no stream captures it, or JetStream is down (status 503). */
  | "no-responders"
  /** JetStream answered with an error (`error.description` in the message, `err_code` in `apiErrorCode`). */
  | "api"
  /** No acknowledgement within the ack timeout. */
  | "timeout"
  /** The connection closed, or was lost, before the acknowledgement came. */
  | "connection"
  /** The client refused to send (closed or draining connection, payload too large, bad subject). */
  | "publish"
  /** An answer that is neither a PubAck nor a JetStream error. */
  | "invalid-ack";

/** A failed JetStream publish. */
export class JetStreamPublishError extends Error {
  override name = "JetStreamPublishError";
  constructor(
    readonly code: JetStreamPublishErrorCode,
    message: string,
    options?: { cause?: unknown; apiErrorCode?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.apiErrorCode = options?.apiErrorCode;
  }
  /** JetStream's `err_code` when `code` is `api`. */
  readonly apiErrorCode: number | undefined;
}

/** Publishes to JetStream pipelined, over one reply subscription. */
export interface JetStreamPublisher {
  /**
   * Publishes `data` on `subject` with `headers` (Nats-Msg-Id included by the
   * caller) and resolves with JetStream's acknowledgement; rejects with a
   * {@link JetStreamPublishError}.
   */
  publish(subject: string, data: Uint8Array, headers?: MsgHdrs): Promise<PubAck>;
  /** Publishes awaiting their acknowledgement. */
  pending(): number;
  /** Rejects every pending publish with `reason` (code `connection`): their acks will not come. */
  failPending(reason: string): void;
  /** Rejects what is pending and stops the reply subscription. Idempotent. */
  close(): void;
}

interface Pending {
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (error: Error) => void;
  readonly startedAt: number;
  readonly subject: string;
}

const decoder = new TextDecoder();

/**
 * What `js.publish` of nats.js does, without its per-message costs: there a
 * publish is a request with its own timer and two Error objects (for stack
 * traces a success never shows), which was a fifth of the gateway's CPU under
 * load. Here every reply comes to one wildcard subscription on a private
 * inbox, `<inbox>.<token>` finds the waiting publish in a map, one sweep
 * timer enforces the ack timeout for all of them, and an Error exists only
 * for a publish that failed.
 *
 * The subscription is made once; nats.js renews it on every reconnect.
 */
export function createJetStreamPublisher(
  nc: NatsConnection,
  options: JetStreamPublisherOptions = {},
): JetStreamPublisher {
  const ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_PUBLISH_ACK_TIMEOUT_MS;
  const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_ACK_SWEEP_INTERVAL_MS;
  if (!(ackTimeoutMs > 0)) throw new RangeError("ackTimeoutMs must be a positive number");
  if (!(sweepIntervalMs > 0)) throw new RangeError("sweepIntervalMs must be a positive number");

  const prefix = `${createInbox()}.`;
  // Insertion order is publish order, so the sweep stops at the first entry still in time.
  const pending = new Map<string, Pending>();
  let counter = 0;
  let sweeper: NodeJS.Timeout | undefined;
  let closed = false;

  const sub = nc.subscribe(`${prefix}*`, {
    callback: (error, msg) => {
      // A subscription error (a permission violation on the inbox) means no ack can arrive.
      if (error) failAll(new JetStreamPublishError("connection", error.message, { cause: error }));
      else settle(msg);
    },
  });

  function settle(msg: Msg): void {
    const token = msg.subject.slice(prefix.length);
    const entry = pending.get(token);
    // Late: already rejected by the sweep or a lost connection.
    if (!entry) return;
    pending.delete(token);
    const outcome = readAck(msg, entry.subject);
    if (outcome instanceof Error) entry.reject(outcome);
    else entry.resolve(outcome);
  }

  function sweep(): void {
    if (pending.size === 0) {
      // Stopped only here, not whenever the map empties: a relay empties and refills it every round.
      clearInterval(sweeper);
      sweeper = undefined;
      return;
    }
    const cutoff = performance.now() - ackTimeoutMs;
    let error: JetStreamPublishError | undefined;
    for (const [token, entry] of pending) {
      if (entry.startedAt > cutoff) break;
      pending.delete(token);
      // One Error for all of a sweep's victims: the relay reads only the first.
      error ??= new JetStreamPublishError(
        "timeout",
        `no JetStream acknowledgement within ${ackTimeoutMs} ms (subject ${entry.subject})`,
      );
      entry.reject(error);
    }
  }

  function failAll(error: Error): void {
    const entries = [...pending.values()];
    pending.clear();
    for (const entry of entries) entry.reject(error);
  }

  function failPending(reason: string): void {
    if (pending.size > 0) failAll(new JetStreamPublishError("connection", reason));
  }

  nc.closed().then(
    () => failPending("NATS connection closed before the JetStream acknowledgement"),
    () => failPending("NATS connection closed before the JetStream acknowledgement"),
  );

  return {
    publish(subject, data, headers) {
      if (closed) {
        return Promise.reject(new JetStreamPublishError("publish", "JetStream publisher closed"));
      }
      const token = (counter++).toString(36);
      return new Promise<PubAck>((resolve, reject) => {
        try {
          nc.publish(subject, data, {
            reply: `${prefix}${token}`,
            ...(headers === undefined ? {} : { headers }),
          });
        } catch (error) {
          reject(
            new JetStreamPublishError(
              "publish",
              `could not publish to ${subject}: ${message(error)}`,
              {
                cause: error,
              },
            ),
          );
          return;
        }
        pending.set(token, { resolve, reject, startedAt: performance.now(), subject });
        if (sweeper === undefined) {
          sweeper = setInterval(sweep, sweepIntervalMs);
          // Pending acks must not keep a process alive that has nothing else to do.
          sweeper.unref();
        }
      });
    },
    pending: () => pending.size,
    failPending,
    close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      sweeper = undefined;
      failPending("JetStream publisher closed before the acknowledgement");
      if (!nc.isClosed()) sub.unsubscribe();
    },
  };
}

/** The PubAck in a reply, or the error it stands for. */
function readAck(msg: Msg, subject: string): PubAck | JetStreamPublishError {
  // Statuses come without a body; a PubAck or an API error always has one.
  if (msg.data.length === 0) {
    const code = msg.headers?.code ?? 0;
    if (code === 503) {
      return new JetStreamPublishError(
        "no-responders",
        `no JetStream stream captures subject ${subject}, or JetStream is unavailable (503 no responders)`,
      );
    }
    return new JetStreamPublishError(
      "invalid-ack",
      `unexpected reply to a JetStream publish on ${subject}: status ${msg.headers?.status || "none"}`,
    );
  }
  let body: {
    stream?: unknown;
    seq?: unknown;
    duplicate?: unknown;
    error?: { code?: number; err_code?: number; description?: string };
  };
  try {
    body = JSON.parse(decoder.decode(msg.data));
  } catch (error) {
    return new JetStreamPublishError(
      "invalid-ack",
      `JetStream answered a publish on ${subject} with non-JSON`,
      { cause: error },
    );
  }
  if (body.error) {
    const { description, code, err_code: errCode } = body.error;
    return new JetStreamPublishError(
      "api",
      `JetStream refused a publish on ${subject}: ${description ?? "no description"} (code ${code}, err_code ${errCode})`,
      errCode === undefined ? {} : { apiErrorCode: errCode },
    );
  }
  if (typeof body.stream !== "string" || body.stream === "" || typeof body.seq !== "number") {
    return new JetStreamPublishError(
      "invalid-ack",
      `JetStream answered a publish on ${subject} without a stream and sequence`,
    );
  }
  return { stream: body.stream, seq: body.seq, duplicate: body.duplicate === true };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
