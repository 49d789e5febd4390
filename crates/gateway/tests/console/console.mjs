// Drives the gateway's web console in a real headless Chromium with playwright-core, and prints
// what it saw as one JSON line for crates/gateway/tests/it/console.rs to check.
//
// Environment: SY_URL (the gateway), SY_MASTER (master key), SY_VIEWER (a viewer key),
// SY_CHROMIUM (the browser binary), SY_PHASE (`flows` or `screenshot`), SY_SCREENSHOT (PNG path,
// screenshot phase), SY_TIMINGS=1 (also time each page's load), SY_SHOTS (a directory: a PNG of
// each page the flows visit, to look at).
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const URL = env("SY_URL");
const report = {};

const browser = await chromium.launch({
  executablePath: env("SY_CHROMIUM"),
  headless: true,
  // Containers run tests as root, where Chromium's sandbox cannot start.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});

async function signIn(page, key) {
  await page.goto(URL + "/ui/login");
  await page.fill("[data-testid=signin-key]", key);
  await page.click("[data-testid=signin-submit]");
}

async function loaded(page, name) {
  await page.waitForSelector(`#view[data-loaded="${name}"]`, { timeout: 15000 });
  if (process.env.SY_SHOTS) await page.screenshot({ path: `${process.env.SY_SHOTS}/${name}-${Date.now()}.png`, fullPage: true });
}

/// Goes to a page by its hash and waits until it has drawn.
async function visit(page, hash, name) {
  await page.evaluate(() => { document.getElementById("view").dataset.loaded = ""; });
  await page.evaluate((h) => { location.hash = h; }, hash);
  await loaded(page, name);
}

async function chat(key, model) {
  const resp = await fetch(URL + "/v1/chat/completions", {
    method: "POST",
    headers: { authorization: "Bearer " + key, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  await resp.text();
  return resp.status;
}

async function flows() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.on("dialog", (d) => d.accept());
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // Refusals the test provokes (a wrong key, a viewer's change) are logged as failed loads.
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });

  // Without a session, the console sends the browser to the sign-in page.
  await page.goto(URL + "/ui");
  report.redirected_to = new globalThis.URL(page.url()).pathname;

  // A wrong key stays on the sign-in page with an error.
  await signIn(page, "sk-wrong-key");
  await page.waitForFunction(() => document.querySelector("[data-testid=signin-error]").textContent.length > 0);
  report.wrong_key = { path: new globalThis.URL(page.url()).pathname, error: await page.textContent("[data-testid=signin-error]") };

  // A viewer sees the pages but no key controls, and its session cannot change keys.
  await signIn(page, env("SY_VIEWER"));
  await loaded(page, "overview");
  report.viewer_who = await page.textContent("[data-testid=who]");
  await visit(page, "#/keys", "keys");
  report.viewer_has_create_form = (await page.$("[data-testid=create-key]")) !== null;
  report.viewer_post_status = await page.evaluate(async () => {
    const s = await (await fetch("/ui/api/session")).json();
    const r = await fetch("/ui/api/keys", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": s.csrf },
      body: JSON.stringify({ name: "from-a-viewer" }),
    });
    return r.status;
  });
  await page.click("[data-testid=signout]");
  await page.waitForURL("**/ui/login");
  await page.goto(URL + "/ui");
  report.after_sign_out = new globalThis.URL(page.url()).pathname;

  // The master key: the overview's figures for the last hour.
  await signIn(page, env("SY_MASTER"));
  await loaded(page, "overview");
  report.master_who = await page.textContent("[data-testid=who]");
  await page.evaluate(() => { document.getElementById("view").dataset.loaded = ""; });
  await page.click("[data-testid=window-1h]");
  await loaded(page, "overview");
  report.overview = {
    spend_usd: await page.getAttribute("[data-testid=total-spend]", "data-usd"),
    spend_text: await page.textContent("[data-testid=total-spend]"),
    requests: Number(await page.getAttribute("[data-testid=total-requests]", "data-value")),
    breakdown_rows: await page.$$eval("[data-testid=breakdown] tbody tr", (rows) => rows.map((r) => r.cells[0].textContent)),
    charts: await page.$$eval("svg.chart", (c) => c.length),
  };

  await visit(page, "#/deployments", "deployments");
  report.deployments = await page.$$eval("[data-testid=deployments] tbody tr", (rows) =>
    rows.map((r) => ({ deployment: r.dataset.deployment, circuit: r.querySelector("[data-testid=circuit]")?.textContent ?? null })));

  // A key made in the console works at once; revoked in the console, it is refused at once.
  await visit(page, "#/keys", "keys");
  await page.fill("[data-testid=new-name]", "made-in-the-browser");
  await page.click("[data-testid=create-submit]");
  const secret = await page.waitForSelector("[data-testid=new-key-secret]");
  const key = await secret.textContent();
  const id = await secret.getAttribute("data-key-id");
  report.created = { id, key_prefix: key.slice(0, 6) };
  report.created_key_status = await chat(key, "priced");
  await page.waitForSelector(`tr[data-key-id="${id}"]`);
  await page.click(`[data-testid="revoke-${id}"]`);
  await page.waitForSelector(`tr[data-key-id="${id}"]`, { state: "detached" });
  report.revoked_key_status = await chat(key, "priced");

  // The request list, filtered by provider in the form.
  await visit(page, "#/requests", "requests");
  await page.fill("[data-testid=filter-provider]", "flaky");
  await page.evaluate(() => { document.getElementById("view").dataset.loaded = ""; });
  await page.click("[data-testid=filter-apply]");
  await loaded(page, "requests");
  report.filtered_hash = await page.evaluate(() => location.hash);
  report.filtered = await page.$$eval("[data-testid=requests] tbody tr", (rows) =>
    rows.map((r) => ({ request_id: r.dataset.requestId, provider: r.dataset.provider, status: Number(r.dataset.status) })));

  // One request that failed over: each attempt, in order.
  await page.evaluate(() => { document.getElementById("view").dataset.loaded = ""; });
  await page.click("[data-testid=requests] tbody tr:first-child a");
  await loaded(page, "request");
  report.attempts = await page.$$eval("[data-testid=attempts] tbody tr", (rows) =>
    rows.map((r) => ({
      attempt: Number(r.dataset.attempt),
      deployment: r.querySelector("[data-testid=attempt-deployment]").textContent,
      status: Number(r.querySelector("[data-testid=attempt-status]").textContent),
      outcome: r.querySelector("[data-testid=attempt-outcome]").textContent,
    })));
  report.page_errors = errors;
  await context.close();
}

/// The overview over a day of traffic, for the README.
async function screenshot() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1050 }, deviceScaleFactor: 1, colorScheme: "light" });
  const page = await context.newPage();
  await signIn(page, env("SY_MASTER"));
  await loaded(page, "overview");
  await page.mouse.move(0, 0);
  await page.screenshot({ path: env("SY_SCREENSHOT"), fullPage: false });
  report.screenshot = env("SY_SCREENSHOT");
  if (process.env.SY_TIMINGS === "1") {
    // Each page from the hash change until it has drawn, in the browser.
    report.timings_ms = {};
    for (const [hash, name] of [["#/overview", "overview"], ["#/deployments", "deployments"], ["#/keys", "keys"], ["#/requests", "requests"]]) {
      const t = Date.now();
      await visit(page, hash, name);
      report.timings_ms[hash] = Date.now() - t;
    }
    await visit(page, "#/overview", "overview");
    for (const w of ["1h", "24h", "7d", "30d"]) {
      const t = Date.now();
      await page.evaluate(() => { document.getElementById("view").dataset.loaded = ""; });
      await page.click(`[data-testid=window-${w}]`);
      await loaded(page, "overview");
      report.timings_ms["overview " + w] = Date.now() - t;
    }
  }
  await context.close();
}

try {
  if (process.env.SY_PHASE === "screenshot") await screenshot();
  else await flows();
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
