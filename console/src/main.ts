import { type JsonObject, toJsonString } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { type Event, EventBusService, EventSchema } from "../../gen/hubbus/v1/eventbus_pb.js";

/** Rows kept in the live list: older ones are dropped so a busy stream cannot eat the tab's memory. */
const MAX_LIVE_ROWS = 500;
/** How often health (and hubs) are asked again. */
const REFRESH_MS = 2000;
/** The rate counter averages over this many one-second buckets. */
const RATE_WINDOW_S = 5;
const TOKEN_KEY = "hubbus.token";

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`console page has no #${id}`);
  return element as T;
}

// The token lives for the tab (sessionStorage): closing it forgets the credential.
const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) ?? "",
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

const bearer: Interceptor = (next) => (req) => {
  const value = token.get();
  if (value !== "") req.header.set("authorization", `Bearer ${value}`);
  return next(req);
};

// The gateway's own Connect API, same origin: the page needs no CORS and no other host.
const transport = createConnectTransport({ baseUrl: location.origin, interceptors: [bearer] });
const client = createClient(EventBusService, transport);

/** The server's own words for a failed call (they name the kind of error already). */
function describe(error: unknown): string {
  return ConnectError.from(error).rawMessage;
}

function isAuthError(error: unknown): boolean {
  const { code } = ConnectError.from(error);
  return code === Code.Unauthenticated;
}

function eventJson(event: Event): string {
  return toJsonString(EventSchema, event, { prettySpaces: 2 });
}

/** One event as a collapsible row; its JSON is rendered when first opened. */
function eventRow(event: Event): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset.sequence = String(event.sequence);
  li.dataset.subject = event.subject;
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  const seq = document.createElement("span");
  seq.className = "seq";
  seq.textContent = `#${event.sequence}`;
  const subject = document.createElement("span");
  subject.className = "subject";
  subject.textContent = event.subject;
  const time = document.createElement("span");
  time.className = "muted";
  time.textContent = event.timestamp ? timestampDate(event.timestamp).toISOString() : "";
  summary.append(seq, subject, time);
  const pre = document.createElement("pre");
  details.append(summary, pre);
  details.addEventListener("toggle", () => {
    if (details.open && pre.textContent === "") pre.textContent = eventJson(event);
  });
  li.append(details);
  return li;
}

// ---- token -------------------------------------------------------------

const tokenForm = byId<HTMLFormElement>("token-form");
const tokenInput = byId<HTMLInputElement>("token-input");
const tokenError = byId("token-error");
const tokenForget = byId<HTMLButtonElement>("token-forget");

/** Shows the token form; `why` is the server's answer to the last call. */
function askForToken(why: string): void {
  tokenForm.hidden = false;
  tokenError.textContent = why;
  tokenInput.focus();
}

tokenForm.addEventListener("submit", (e) => {
  e.preventDefault();
  token.set(tokenInput.value.trim());
  tokenInput.value = "";
  void start();
});
tokenForget.addEventListener("click", () => {
  token.clear();
  location.reload();
});

// ---- hub info, health, hubs -------------------------------------------

const hubInfo = byId("hub-info");
const healthStatus = byId("health-status");
const healthList = byId("health-list");
const healthError = byId("health-error");
const hubsList = byId<HTMLUListElement>("hubs-list");
const hubsError = byId("hubs-error");
let refreshing = false;

function showPairs(list: HTMLElement, pairs: [string, string][]): void {
  list.replaceChildren(
    ...pairs.flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dd.dataset.key = k;
      return [dt, dd];
    }),
  );
}

async function refresh(): Promise<void> {
  // A slow gateway must not pile up calls: the next tick waits for this one.
  if (refreshing) return;
  refreshing = true;
  try {
    const signal = AbortSignal.timeout(REFRESH_MS * 2);
    try {
      const health = await client.getHealth({}, { signal });
      healthStatus.textContent = health.status;
      healthStatus.className = `badge ${health.status}`;
      const services = Object.entries(health.services).map(([k, v]): [string, string] => [k, v]);
      const details = Object.entries(health.details).map(([k, v]): [string, string] => [
        k.replaceAll("_", " "),
        v,
      ]);
      showPairs(healthList, [
        ...services,
        ...details,
        ["updated", new Date().toLocaleTimeString()],
      ]);
      healthError.textContent = "";
    } catch (error) {
      healthStatus.textContent = "unknown";
      healthStatus.className = "badge unhealthy";
      healthError.textContent = describe(error);
    }
    try {
      const { hubs } = await client.listHubs({}, { signal });
      // One line per hub: this one included, online or gone, and how many instances it runs.
      hubsList.replaceChildren(
        ...hubs.map((hub) => {
          const item = document.createElement("li");
          item.dataset.hub = hub.hubId;
          const seen = hub.lastSeen ? timestampDate(hub.lastSeen).toLocaleTimeString() : "never";
          const instances = `${hub.instances} instance${hub.instances === 1 ? "" : "s"}`;
          item.textContent = `${hub.hubId}: ${hub.status}, ${instances}, last seen ${seen}${hub.url ? `, ${hub.url}` : ""}`;
          item.className = hub.status;
          return item;
        }),
      );
      hubsError.textContent = "";
    } catch (error) {
      hubsError.textContent = describe(error);
    }
  } finally {
    refreshing = false;
  }
}

// ---- live stream -------------------------------------------------------

const liveForm = byId<HTMLFormElement>("live-form");
const livePattern = byId<HTMLInputElement>("live-pattern");
const liveAfter = byId<HTMLInputElement>("live-after");
const livePause = byId<HTMLButtonElement>("live-pause");
const liveStart = byId<HTMLButtonElement>("live-start");
const liveState = byId("live-state");
const liveError = byId("live-error");
const liveEvents = byId<HTMLOListElement>("live-events");
const liveRate = byId("live-rate");

interface Stream {
  readonly pattern: string;
  /** The newest sequence shown: where a resume starts after. */
  last: bigint | undefined;
  controller: AbortController | undefined;
}
let stream: Stream | undefined;
let bucket = 0;
const buckets: number[] = [];

setInterval(() => {
  buckets.push(bucket);
  bucket = 0;
  if (buckets.length > RATE_WINDOW_S) buckets.shift();
  const rate = buckets.reduce((a, b) => a + b, 0) / buckets.length;
  liveRate.textContent = `${rate.toFixed(1)} ev/s`;
}, 1000);

function parseSequence(text: string): bigint | undefined | Error {
  const t = text.trim();
  if (t === "") return undefined;
  if (!/^\d+$/.test(t)) return new Error(`after sequence: "${t}" is not a whole number`);
  return BigInt(t);
}

function showEvent(event: Event): void {
  liveEvents.prepend(eventRow(event));
  while (liveEvents.childElementCount > MAX_LIVE_ROWS) liveEvents.lastElementChild?.remove();
  bucket++;
}

async function run(s: Stream, after: bigint | undefined): Promise<void> {
  const controller = new AbortController();
  s.controller = controller;
  livePause.disabled = false;
  livePause.textContent = "Pause";
  liveStart.textContent = "Restart";
  liveError.textContent = "";
  liveState.textContent =
    after === undefined
      ? `streaming ${s.pattern} (new events)`
      : `streaming ${s.pattern} after sequence ${after}`;
  liveState.dataset.state = "streaming";
  try {
    const request =
      after === undefined ? { subject: s.pattern } : { subject: s.pattern, afterSequence: after };
    for await (const { event } of client.subscribe(request, { signal: controller.signal })) {
      if (event === undefined) continue;
      s.last = event.sequence;
      showEvent(event);
    }
    if (stream === s && s.controller === controller) {
      liveState.textContent = `the gateway ended the stream after sequence ${s.last ?? "-"}`;
    }
  } catch (error) {
    if (controller.signal.aborted) return;
    liveError.textContent = describe(error);
    liveState.textContent = `stopped after sequence ${s.last ?? "-"}`;
    if (isAuthError(error)) askForToken(describe(error));
  } finally {
    if (s.controller === controller && !controller.signal.aborted) {
      s.controller = undefined;
      // Resume takes the box's value: after an error it must be the last event shown, not the first request's.
      if (s.last !== undefined) liveAfter.value = String(s.last);
      livePause.textContent = "Resume";
      liveState.dataset.state = "stopped";
    }
  }
}

/**
 * The newest stored sequence the pattern matches, where a resume starts
 * when the stream has shown nothing yet (0: none stored, so everything is new).
 */
async function newestStored(pattern: string): Promise<bigint> {
  const { events } = await client.queryEvents({ subject: pattern, limit: 1 });
  return events[0]?.sequence ?? 0n;
}

liveForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const after = parseSequence(liveAfter.value);
  if (after instanceof Error) {
    liveError.textContent = after.message;
    return;
  }
  stream?.controller?.abort();
  stream = { pattern: livePattern.value.trim(), last: undefined, controller: undefined };
  void run(stream, after);
});

livePause.addEventListener("click", () => {
  const s = stream;
  if (s === undefined) return;
  if (s.controller !== undefined) {
    const controller = s.controller;
    s.controller = undefined;
    livePause.disabled = true;
    // Known before the stream closes, so nothing published during the pause is skipped.
    const cursor = s.last === undefined ? newestStored(s.pattern) : Promise.resolve(s.last);
    cursor
      .then((queried) => {
        controller.abort();
        // Events may have arrived while the query ran: never resume before one already shown.
        const last = s.last !== undefined && s.last > queried ? s.last : queried;
        s.last = last;
        liveState.textContent = `paused after sequence ${last}`;
        liveState.dataset.state = "paused";
        liveAfter.value = String(last);
      })
      .catch((error: unknown) => {
        controller.abort();
        liveError.textContent = describe(error);
        liveState.dataset.state = "paused";
      })
      .finally(() => {
        livePause.disabled = false;
        livePause.textContent = "Resume";
      });
  } else {
    // Resume: what the after-sequence box says (the pause filled it in; the user may change it).
    const after = parseSequence(liveAfter.value);
    if (after instanceof Error) {
      liveError.textContent = after.message;
      return;
    }
    void run(s, after ?? s.last);
  }
});

byId("live-clear").addEventListener("click", () => liveEvents.replaceChildren());

// ---- publish -----------------------------------------------------------

const publishForm = byId<HTMLFormElement>("publish-form");
const publishResult = byId("publish-result");
const publishError = byId("publish-error");

publishForm.addEventListener("submit", (e) => {
  e.preventDefault();
  publishResult.textContent = "";
  publishError.textContent = "";
  const subject = byId<HTMLInputElement>("publish-subject").value.trim();
  const correlationId = byId<HTMLInputElement>("publish-correlation").value.trim();
  const text = byId<HTMLTextAreaElement>("publish-payload").value.trim();
  let payload: JsonObject = {};
  if (text !== "") {
    try {
      const parsed: unknown = JSON.parse(text);
      // A Struct holds an object only; anything else cannot even be sent.
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        publishError.textContent = "payload: must be a JSON object";
        return;
      }
      payload = parsed as JsonObject;
    } catch (error) {
      publishError.textContent = `payload: not JSON: ${(error as Error).message}`;
      return;
    }
  }
  client
    .publish({ subject, payload, correlationId })
    .then((r) => {
      publishResult.textContent = `published ${r.subject} as sequence ${r.sequence} (event ${r.eventId}, correlation ${r.correlationId})`;
    })
    .catch((error: unknown) => {
      publishError.textContent = describe(error);
      if (isAuthError(error)) askForToken(describe(error));
    });
});

// ---- query -------------------------------------------------------------

const queryForm = byId<HTMLFormElement>("query-form");
const queryEvents = byId<HTMLOListElement>("query-events");
const queryCount = byId("query-count");
const queryError = byId("query-error");

queryForm.addEventListener("submit", (e) => {
  e.preventDefault();
  queryError.textContent = "";
  const subject = byId<HTMLInputElement>("query-pattern").value.trim();
  const limitText = byId<HTMLInputElement>("query-limit").value.trim();
  if (!/^\d*$/.test(limitText)) {
    queryError.textContent = `limit: "${limitText}" is not a whole number`;
    return;
  }
  client
    .queryEvents({ subject, limit: limitText === "" ? 0 : Number(limitText) })
    .then(({ events, count }) => {
      queryCount.textContent = `${count} event${count === 1 ? "" : "s"}, newest first`;
      queryEvents.replaceChildren(...events.map(eventRow));
    })
    .catch((error: unknown) => {
      queryError.textContent = describe(error);
      if (isAuthError(error)) askForToken(describe(error));
    });
});

// ---- start -------------------------------------------------------------

/** Health is polled once a successful call showed the gateway answers (and takes our token). */
let polling = false;

/**
 * Whether the gateway takes this tab's token (or needs none): GetHubInfo and
 * GetHealth are open (contract §7), so a call that needs credentials is
 * asked, the cheapest there is. PermissionDenied still means the token was
 * accepted; only Unauthenticated means ask for one.
 */
async function checkCredentials(): Promise<void> {
  try {
    await client.queryEvents({ subject: ">", limit: 1 });
  } catch (error) {
    if (isAuthError(error)) throw error;
  }
}

/** Asks who the hub is and whether a token is needed; an Unauthenticated answer shows the token form. */
async function start(): Promise<void> {
  try {
    const info = await client.getHubInfo({});
    await checkCredentials();
    hubInfo.textContent = `${info.hubId} · ${info.version} · ${info.status}`;
    hubInfo.dataset.hubId = info.hubId;
    tokenForm.hidden = true;
    tokenError.textContent = "";
    tokenForget.hidden = token.get() === "";
    document.body.dataset.ready = "true";
    void refresh();
    if (!polling) {
      polling = true;
      setInterval(() => void refresh(), REFRESH_MS);
    }
  } catch (error) {
    if (isAuthError(error)) {
      // A refused token is dropped so a reload asks again rather than failing again.
      token.clear();
      askForToken(describe(error));
    } else {
      hubInfo.textContent = `gateway unreachable: ${describe(error)}`;
    }
  }
}

void start();
