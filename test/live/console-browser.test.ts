/// <reference lib="dom" />
// The callbacks given to page.$eval and page.evaluate run in the page: they see the DOM.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { type GatewayProcess, spawnGateway } from "./gateway-process.js";
import { uniqueHubId, waitForSubscriptions } from "./support.js";

// The console (contract §11) in Debian's Chromium, headless, driven by
// puppeteer-core against gateways started as `hubbus serve`: what a person
// sees, through the page's own connect-web calls. No Chromium fails the
// suite (CI installs it), it never skips.

const TOKEN = "console-browser-token";
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
/** Where a screenshot of the console with events flowing is written, when set (the README's picture). */
const SCREENSHOT = process.env.HUBBUS_CONSOLE_SCREENSHOT;

function chromiumPath(): string {
  for (const candidate of [process.env.CHROMIUM_PATH, "/usr/bin/chromium"]) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(
      "Chromium is missing: apt-get install -y chromium (or set CHROMIUM_PATH); this suite never skips",
    );
  }
}

let dir: string;
let browser: Browser;
let open: GatewayProcess;
let secured: GatewayProcess;
const hubId = uniqueHubId("console");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hubbus-console-"));
  const authFile = join(dir, "auth.json");
  writeFileSync(
    authFile,
    JSON.stringify({ callers: [{ name: "ops", api_key_sha256: sha256(TOKEN) }] }),
  );
  const natsUrl = inject("natsUrl");
  [browser, open, secured] = await Promise.all([
    puppeteer.launch({
      executablePath: chromiumPath(),
      headless: true,
      // Root in a container has no user namespace for Chromium's sandbox.
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
    }),
    spawnGateway({
      HUB_ID: hubId,
      DATABASE_URL: `sqlite:${join(dir, "open.db")}`,
      NATS_URL: natsUrl,
      // Other suites publish on the shared NATS: only this hub's events are ingested.
      INGEST_SUBJECTS: `hub.${hubId}.>`,
    }),
    spawnGateway({
      HUB_ID: `${hubId}-auth`,
      DATABASE_URL: `sqlite:${join(dir, "secured.db")}`,
      AUTH_FILE: authFile,
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([browser?.close(), open?.stop(), secured?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function publishRpc(baseUrl: string, topic: string, payload: object = {}): Promise<number> {
  const res = await fetch(`${baseUrl}/rpc`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "bus.publish",
      params: { topic, payload },
    }),
  });
  const body = (await res.json()) as { result?: { sequence: number }; error?: unknown };
  if (body.result === undefined) throw new Error(`bus.publish failed: ${JSON.stringify(body)}`);
  return body.result.sequence;
}

/** The sequences the live list shows, oldest first. */
async function liveSequences(page: Page): Promise<number[]> {
  const shown = await page.$$eval("#live-events li", (items) =>
    items.map((li) => Number((li as HTMLElement).dataset.sequence)),
  );
  return shown.reverse();
}

async function fill(page: Page, selector: string, value: string): Promise<void> {
  await page.$eval(
    selector,
    (el, v) => {
      (el as HTMLInputElement).value = v;
    },
    value,
  );
}

describe("the console, open gateway", () => {
  let page: Page;

  beforeAll(async () => {
    page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    await page.setViewport({ width: 1200, height: 900 });
    const res = await page.goto(`${open.baseUrl}/console`);
    expect(res?.status()).toBe(200);
    await page.waitForSelector("body[data-ready=true]");
  });

  it("shows the hub and its health, refreshed from GetHealth", async () => {
    const info = await page.$eval("#hub-info", (el) => (el as HTMLElement).dataset.hubId);
    expect(info).toBe(hubId);
    await page.waitForSelector('#health-list dd[data-key="database"]');
    const health = await page.$$eval("#health-list dd", (dds) =>
      Object.fromEntries(dds.map((dd) => [(dd as HTMLElement).dataset.key, dd.textContent])),
    );
    expect(health).toMatchObject({ nats: "healthy", database: "healthy" });
    expect(health).toHaveProperty(["outbox backlog"]);
    // ListHubs lists this hub itself, online with its one instance.
    await page.waitForSelector("#hubs-list li");
    expect(await page.$eval("#hubs-list li", (el) => el.textContent)).toMatch(
      /: online, 1 instance,/,
    );
    expect(await page.$eval("#token-form", (el) => (el as HTMLElement).hidden)).toBe(true);
  });

  it("streams a pattern live, pauses, and resumes with exactly the missed events", async () => {
    await fill(page, "#live-pattern", "hub.*.project.>");
    await page.click("#live-start");
    await waitForSubscriptions(open.baseUrl, 1);

    const first = await publishRpc(open.baseUrl, "project.task.created", { n: 1 });
    const started = Date.now();
    await page.waitForSelector(`#live-events li[data-sequence="${first}"]`);
    console.log(
      `console-browser: event shown ${Date.now() - started} ms after its publish returned`,
    );

    await page.click("#live-pause");
    await page.waitForSelector('#live-state[data-state="paused"]');
    await waitForSubscriptions(open.baseUrl, 0);
    expect(await page.$eval("#live-after", (el) => (el as HTMLInputElement).value)).toBe(
      String(first),
    );
    const missed = [];
    for (let i = 0; i < 3; i++) missed.push(await publishRpc(open.baseUrl, `project.task.n${i}`));
    await publishRpc(open.baseUrl, "billing.invoice.paid"); // not the pattern's
    expect(await liveSequences(page)).toEqual([first]);

    await page.click("#live-pause"); // now "Resume"
    await page.waitForSelector('#live-state[data-state="streaming"]');
    await waitForSubscriptions(open.baseUrl, 1);
    // A marker after the resume: once it shows, everything before it has too.
    const marker = await publishRpc(open.baseUrl, "project.task.marker");
    await page.waitForSelector(`#live-events li[data-sequence="${marker}"]`);
    expect(await liveSequences(page)).toEqual([first, ...missed, marker]);
    expect(await page.$eval("#live-rate", (el) => el.textContent)).toMatch(/^\d+\.\d ev\/s$/);
  });

  it("publishes through the form: the event appears in the live stream and in the query", async () => {
    await fill(page, "#publish-subject", "project.form.submitted");
    await fill(page, "#publish-payload", '{"from": "form", "n": 7}');
    await page.click("#publish-form button[type=submit]");
    await page.waitForFunction(() =>
      /sequence \d+/.test(document.getElementById("publish-result")?.textContent ?? ""),
    );
    const result = await page.$eval("#publish-result", (el) => el.textContent ?? "");
    const sequence = /sequence (\d+)/.exec(result)?.[1];
    expect(result).toContain(`hub.${hubId}.project.form.submitted`);
    await page.waitForSelector(`#live-events li[data-sequence="${sequence}"]`);

    if (SCREENSHOT !== undefined) await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await fill(page, "#query-pattern", "hub.*.project.form.>");
    await page.click("#query-form button[type=submit]");
    const row = `#query-events li[data-sequence="${sequence}"]`;
    await page.waitForSelector(row);
    expect(await page.$eval("#query-count", (el) => el.textContent)).toBe("1 event, newest first");
    await page.click(`${row} summary`);
    await page.waitForFunction(
      (sel) => document.querySelector(sel)?.textContent !== "",
      {},
      `${row} pre`,
    );
    const json = JSON.parse(await page.$eval(`${row} pre`, (el) => el.textContent ?? ""));
    expect(json).toMatchObject({
      subject: `hub.${hubId}.project.form.submitted`,
      payload: { from: "form", n: 7 },
      sequence: String(sequence),
    });
  });

  it("shows a bad subject's error as the server words it", async () => {
    const client = createClient(
      EventBusService,
      createConnectTransport({ baseUrl: open.baseUrl, httpVersion: "1.1" }),
    );
    const refused = await client.publish({ subject: "project..bad" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(refused?.rawMessage).toBeTruthy();
    await fill(page, "#publish-subject", "project..bad");
    await fill(page, "#publish-payload", "{}");
    await page.click("#publish-form button[type=submit]");
    await page.waitForFunction(() => document.getElementById("publish-error")?.textContent !== "");
    expect(await page.$eval("#publish-error", (el) => el.textContent)).toBe(refused?.rawMessage);
    // A payload that is not an object never leaves the page.
    await fill(page, "#publish-subject", "project.ok");
    await fill(page, "#publish-payload", "[1, 2]");
    await page.click("#publish-form button[type=submit]");
    expect(await page.$eval("#publish-error", (el) => el.textContent)).toBe(
      "payload: must be a JSON object",
    );
  });

  it("fits a phone-width window without sideways scrolling", async () => {
    await page.setViewport({ width: 360, height: 740 });
    const widths = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.client);
  });
});

describe("the console, gateway with AUTH_FILE", () => {
  it("asks for a token, refuses a wrong one, keeps a right one for the tab", async () => {
    const page = await browser.newPage();
    // Fails at the step that did not happen rather than at the test's timeout.
    page.setDefaultTimeout(10_000);
    const res = await page.goto(`${secured.baseUrl}/console`);
    expect(res?.status()).toBe(200);
    // The server's words for no token and for a wrong one, as any Connect client gets them.
    const refusal = async (token?: string) => {
      const transport = createConnectTransport({
        baseUrl: secured.baseUrl,
        httpVersion: "1.1",
        interceptors:
          token === undefined
            ? []
            : [
                (next) => (req) => {
                  req.header.set("authorization", `Bearer ${token}`);
                  return next(req);
                },
              ],
      });
      const error = await createClient(EventBusService, transport)
        .queryEvents({ subject: ">" })
        .then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        );
      expect(error?.code).toBe(Code.Unauthenticated);
      return error?.rawMessage;
    };
    await page.waitForSelector("#token-form:not([hidden])");
    expect(await page.$eval("#token-error", (el) => el.textContent)).toBe(await refusal());

    await page.type("#token-input", "wrong-token");
    await page.click("#token-form button[type=submit]");
    await page.waitForFunction(() =>
      document.getElementById("token-error")?.textContent?.includes("not valid"),
    );
    expect(await page.$eval("#token-error", (el) => el.textContent)).toBe(
      await refusal("wrong-token"),
    );
    expect(await page.evaluate(() => sessionStorage.getItem("hubbus.token"))).toBeNull();

    await page.type("#token-input", TOKEN);
    await page.click("#token-form button[type=submit]");
    await page.waitForSelector("body[data-ready=true]");
    expect(await page.$eval("#token-form", (el) => (el as HTMLElement).hidden)).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem("hubbus.token"))).toBe(TOKEN);

    // The bearer token goes with every call: a publish from the form is accepted.
    await fill(page, "#publish-subject", "ops.check.done");
    await page.click("#publish-form button[type=submit]");
    await page.waitForFunction(() =>
      /sequence 1 /.test(document.getElementById("publish-result")?.textContent ?? ""),
    );

    // A reload in the same tab keeps the token: no prompt.
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    expect(await page.$eval("#token-form", (el) => (el as HTMLElement).hidden)).toBe(true);
    await page.close();
  });
});
