import {
  GLOBAL_HUB_ID,
  isValidHubId,
  type JsonObject,
  type NewEvent,
  newEventId,
  nowTimestamp,
  PRESENCE_HEARTBEAT_SUBJECT,
  parseTraceContext,
  resolveCorrelationId,
  serializePayload,
  validateSubject,
} from "../core/index.js";
import { HEADER, type InboundMessage } from "./transport.js";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC3339_UTC_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const SERVICE_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Why an inbound message was not turned into an event. */
export type InboundRejection =
  | "own-event"
  | "system-subject"
  | "presence-heartbeat"
  | "invalid-subject"
  | "payload-too-large";

/** The outcome of decoding a message: an event to store, or why not. */
export type InboundResult =
  | { readonly event: NewEvent }
  | { readonly rejected: InboundRejection; readonly detail?: string };

/**
 * A message body as a payload object. Bodies that are not a JSON object are
 * still events (contract section 3): a JSON value is kept as `{value}`, other
 * UTF-8 text as `{text}`, and bytes that are not UTF-8 as `{base64}`.
 */
export function decodeBody(data: Uint8Array): JsonObject {
  if (data.length === 0) return {};
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    return { base64: Buffer.from(data).toString("base64") };
  }
  try {
    const value = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value))
      return value as JsonObject;
    return { value };
  } catch {
    return { text };
  }
}

/**
 * Turns a message from the bus into an event for this hub's log. A message
 * that carries the contract's headers keeps its id, correlation id, origin
 * and timestamp; a bare one gets new ones and origin
 * `{hub_id: <second subject token>, service: "nats"}`. Messages this hub
 * published itself are recognised by `Hub-Origin` and refused, unless
 * `keepOwn` (a subscriber that wants everything on a subject).
 */
export function decodeInbound(
  message: InboundMessage,
  hubId: string,
  maxPayloadBytes: number,
  keepOwn = false,
): InboundResult {
  // Heartbeats are signals between live hubs (contract §10): never events of a log.
  if (message.subject === PRESENCE_HEARTBEAT_SUBJECT) return { rejected: "presence-heartbeat" };
  const originHub = message.header(HEADER.origin);
  if (originHub === hubId && !keepOwn) return { rejected: "own-event" };
  // `_INBOX.`, `_HUBBUS.`, `$JS.`…: the plumbing of NATS and of hubbus, never events.
  if (message.subject.startsWith("_") || message.subject.startsWith("$"))
    return { rejected: "system-subject" };
  try {
    validateSubject(message.subject);
  } catch (error) {
    return { rejected: "invalid-subject", detail: (error as Error).message };
  }
  let payloadJson: string;
  try {
    payloadJson = serializePayload(decodeBody(message.data), maxPayloadBytes);
  } catch (error) {
    return { rejected: "payload-too-large", detail: (error as Error).message };
  }
  const tokens = message.subject.split(".");
  const fromHub =
    originHub !== undefined && (isValidHubId(originHub) || originHub === GLOBAL_HUB_ID);
  const msgId = message.header(HEADER.msgId);
  const service = message.header(HEADER.service);
  const timestamp = message.header(HEADER.timestamp);
  let correlationId: string;
  try {
    correlationId = resolveCorrelationId(message.header(HEADER.correlationId));
  } catch {
    correlationId = resolveCorrelationId(undefined);
  }
  const subjectHub = tokens[0] === "hub" && tokens.length > 1 ? (tokens[1] as string) : hubId;
  const event: { -readonly [K in keyof NewEvent]: NewEvent[K] } = {
    id: fromHub && msgId !== undefined && UUID_RE.test(msgId) ? msgId.toLowerCase() : newEventId(),
    subject: message.subject,
    origin: fromHub
      ? {
          hubId: originHub,
          service: service !== undefined && SERVICE_RE.test(service) ? service : "nats",
        }
      : { hubId: subjectHub, service: "nats" },
    correlationId,
    payloadJson,
    timestamp:
      fromHub && timestamp !== undefined && RFC3339_UTC_RE.test(timestamp)
        ? timestamp
        : nowTimestamp(),
    ingested: true,
  };
  // Any publisher's W3C context, not only a hub's: ingest continues the trace.
  const traceparent = message.header(HEADER.traceparent);
  if (traceparent !== undefined) {
    const traceContext = parseTraceContext(traceparent, message.header(HEADER.tracestate));
    if (traceContext !== undefined) event.traceContext = traceContext;
  }
  return { event };
}
