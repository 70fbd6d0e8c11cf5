/// <reference lib="dom" />
// The callbacks given to locator.evaluate, page.evaluate and page.waitForFunction run in the
// page: they see the DOM.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EventBusService } from "../../gen/hubbus/v1/eventbus_pb.js";
import { type GatewayProcess, spawnGateway } from "./gateway-process.js";
import { uniqueHubId, waitForSubscriptions } from "./support.js";

// The console (contract §11) in Debian's Chromium, headless, driven by
// playwright-core against gateways started as `hubbus serve`: what a person
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
    chromium.launch({
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
  const shown = await page
    .locator("#live-events li")
    .evaluateAll((items) => items.map((li) => Number((li as HTMLElement).dataset.sequence)));
  return shown.reverse();
}

/** Waits until an element matching `selector` is in the page (visible or not). */
async function present(page: Page, selector: string): Promise<void> {
  await page.locator(selector).waitFor({ state: "attached" });
}

async function text(page: Page, selector: string): Promise<string | null> {
  return page.locator(selector).textContent();
}

/** The element's `hidden` property, which is what the page sets, not whether it is on screen. */
async function hidden(page: Page, selector: string): Promise<boolean> {
  return page.locator(selector).evaluate((el) => (el as HTMLElement).hidden);
}

describe("the console, open gateway", () => {
  let page: Page;

  beforeAll(async () => {
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.setDefaultTimeout(10_000);
    const res = await page.goto(`${open.baseUrl}/console`);
    expect(res?.status()).toBe(200);
    await present(page, "body[data-ready=true]");
  });

  it("shows the hub and its health, refreshed from GetHealth", async () => {
    expect(await page.locator("#hub-info").getAttribute("data-hub-id")).toBe(hubId);
    await present(page, '#health-list dd[data-key="database"]');
    const health = await page
      .locator("#health-list dd")
      .evaluateAll((dds) =>
        Object.fromEntries(dds.map((dd) => [(dd as HTMLElement).dataset.key, dd.textContent])),
      );
    expect(health).toMatchObject({ nats: "healthy", database: "healthy" });
    expect(health).toHaveProperty(["outbox backlog"]);
    // ListHubs lists this hub itself, online with its one instance.
    await page.locator(`#hubs-list li[data-hub="${hubId}"]`).waitFor({ state: "attached" });
    expect(await text(page, `#hubs-list li[data-hub="${hubId}"]`)).toMatch(/: online, 1 instance,/);
    expect(await text(page, "#hubs-error")).toBe("");
    expect(await hidden(page, "#token-form")).toBe(true);
  });

  it("streams a pattern live, pauses, and resumes with exactly the missed events", async () => {
    await page.locator("#live-pattern").fill("hub.*.project.>");
    await page.locator("#live-start").click();
    await waitForSubscriptions(open.baseUrl, 1);

    const first = await publishRpc(open.baseUrl, "project.task.created", { n: 1 });
    const started = Date.now();
    await present(page, `#live-events li[data-sequence="${first}"]`);
    console.log(
      `console-browser: event shown ${Date.now() - started} ms after its publish returned`,
    );

    await page.locator("#live-pause").click();
    await present(page, '#live-state[data-state="paused"]');
    await waitForSubscriptions(open.baseUrl, 0);
    expect(await page.locator("#live-after").inputValue()).toBe(String(first));
    const missed = [];
    for (let i = 0; i < 3; i++) missed.push(await publishRpc(open.baseUrl, `project.task.n${i}`));
    await publishRpc(open.baseUrl, "billing.invoice.paid"); // not the pattern's
    expect(await liveSequences(page)).toEqual([first]);

    await page.locator("#live-pause").click(); // now "Resume"
    await present(page, '#live-state[data-state="streaming"]');
    await waitForSubscriptions(open.baseUrl, 1);
    // A marker after the resume: once it shows, everything before it has too.
    const marker = await publishRpc(open.baseUrl, "project.task.marker");
    await present(page, `#live-events li[data-sequence="${marker}"]`);
    expect(await liveSequences(page)).toEqual([first, ...missed, marker]);
    expect(await text(page, "#live-rate")).toMatch(/^\d+\.\d ev\/s$/);
  });

  it("publishes through the form: the event appears in the live stream and in the query", async () => {
    await page.locator("#publish-subject").fill("project.form.submitted");
    await page.locator("#publish-payload").fill('{"from": "form", "n": 7}');
    await page.locator("#publish-form button[type=submit]").click();
    await page.waitForFunction(() =>
      /sequence \d+/.test(document.getElementById("publish-result")?.textContent ?? ""),
    );
    const result = (await text(page, "#publish-result")) ?? "";
    const sequence = /sequence (\d+)/.exec(result)?.[1];
    expect(result).toContain(`hub.${hubId}.project.form.submitted`);
    await present(page, `#live-events li[data-sequence="${sequence}"]`);

    if (SCREENSHOT !== undefined) await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.locator("#query-pattern").fill("hub.*.project.form.>");
    await page.locator("#query-form button[type=submit]").click();
    const row = `#query-events li[data-sequence="${sequence}"]`;
    await present(page, row);
    expect(await text(page, "#query-count")).toBe("1 event, newest first");
    await page.locator(`${row} summary`).click();
    await page.waitForFunction(
      (sel) => document.querySelector(sel)?.textContent !== "",
      `${row} pre`,
    );
    const json = JSON.parse((await text(page, `${row} pre`)) ?? "");
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
    await page.locator("#publish-subject").fill("project..bad");
    await page.locator("#publish-payload").fill("{}");
    await page.locator("#publish-form button[type=submit]").click();
    await page.waitForFunction(() => document.getElementById("publish-error")?.textContent !== "");
    expect(await text(page, "#publish-error")).toBe(refused?.rawMessage);
    // A payload that is not an object never leaves the page.
    await page.locator("#publish-subject").fill("project.ok");
    await page.locator("#publish-payload").fill("[1, 2]");
    await page.locator("#publish-form button[type=submit]").click();
    expect(await text(page, "#publish-error")).toBe("payload: must be a JSON object");
  });

  it("fits a phone-width window without sideways scrolling", async () => {
    await page.setViewportSize({ width: 360, height: 740 });
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
    await present(page, "#token-form:not([hidden])");
    expect(await text(page, "#token-error")).toBe(await refusal());

    // Typed key by key, as a person would: typing appends, so the right token below only
    // works because the page empties the field on each submit.
    await page.locator("#token-input").pressSequentially("wrong-token");
    await page.locator("#token-form button[type=submit]").click();
    await page.waitForFunction(() =>
      document.getElementById("token-error")?.textContent?.includes("not valid"),
    );
    expect(await text(page, "#token-error")).toBe(await refusal("wrong-token"));
    expect(await page.evaluate(() => sessionStorage.getItem("hubbus.token"))).toBeNull();

    await page.locator("#token-input").pressSequentially(TOKEN);
    await page.locator("#token-form button[type=submit]").click();
    await present(page, "body[data-ready=true]");
    expect(await hidden(page, "#token-form")).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem("hubbus.token"))).toBe(TOKEN);

    // The bearer token goes with every call: a publish from the form is accepted.
    await page.locator("#publish-subject").fill("ops.check.done");
    await page.locator("#publish-form button[type=submit]").click();
    await page.waitForFunction(() =>
      /sequence 1 /.test(document.getElementById("publish-result")?.textContent ?? ""),
    );

    // A reload in the same tab keeps the token: no prompt.
    await page.reload();
    await present(page, "body[data-ready=true]");
    expect(await hidden(page, "#token-form")).toBe(true);
    await page.close();
  });
});
