// The Switchyard console: four pages drawn from /ui/api/*, charts as inline SVG. No framework,
// no build step; every state-changing call carries the session's CSRF token.
"use strict";

const state = { session: null, overviewWindow: "24h", dim: "model", sort: {}, token: null };
const view = document.getElementById("view");
const tip = document.getElementById("tip");
const COLORS = ["#2f6fed", "#1b9e5a", "#d98a00", "#9b51e0", "#e0457b", "#13a8b8", "#8a94a6"];

// ---- helpers ---------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

async function api(path, opts = {}) {
  const headers = { "content-type": "application/json" };
  if (opts.method && opts.method !== "GET" && state.session) headers["x-csrf-token"] = state.session.csrf;
  const resp = await fetch(path, { credentials: "same-origin", ...opts, headers });
  if (resp.status === 401 && !path.endsWith("/session")) {
    location.assign("/ui/login");
    throw new Error("signed out");
  }
  let body = null;
  const text = await resp.text();
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = { error: { message: text } }; }
  if (!resp.ok) {
    const err = new Error((body && body.error && body.error.message) || "HTTP " + resp.status);
    err.status = resp.status;
    throw err;
  }
  return body;
}

const fmt = {
  int: (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US")),
  usd: (s) => (s === null || s === undefined ? "–" : "$" + s),
  usdShort: (nanos) => "$" + (nanos / 1e9).toLocaleString("en-US", { maximumSignificantDigits: 4 }),
  ms: (v) => (v === null || v === undefined ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms"),
  pct: (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(v < 0.1 ? 2 : 1) + "%"),
  time: (t) => new Date(t).toLocaleString(),
  tick: (t, step) => {
    const d = new Date(t);
    const p = (n) => String(n).padStart(2, "0");
    return step >= 86400000 ? p(d.getMonth() + 1) + "-" + p(d.getDate()) : p(d.getHours()) + ":" + p(d.getMinutes());
  },
  compact: (n) => Number(n).toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 1 }),
};

function query(obj) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

/// Replaces the page's content, leaving out parts that are null.
function show(...parts) {
  view.replaceChildren(...parts.flat().filter((p) => p !== null && p !== undefined && p !== false));
}

function fail(e) {
  show(h("div", { class: "card error", "data-testid": "page-error" }, e.message));
}

// ---- charts ----------------------------------------------------------------------------------

const W = 600, H = 200, PAD = { l: 56, r: 10, t: 10, b: 22 };

function frame(times, step, max, yFmt) {
  const g = svg("g", { class: "grid" });
  const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.t + ih - (ih * i) / 4;
    g.append(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y }));
    const label = svg("text", { x: PAD.l - 6, y: y + 3, "text-anchor": "end" });
    label.textContent = yFmt((max * i) / 4);
    g.append(label);
  }
  const every = Math.max(1, Math.ceil(times.length / 6));
  times.forEach((t, i) => {
    if (i % every) return;
    const label = svg("text", { x: PAD.l + (iw * (i + 0.5)) / times.length, y: H - 6, "text-anchor": "middle" });
    label.textContent = fmt.tick(t, step);
    g.append(label);
  });
  return g;
}

function hover(el, times, step, lines) {
  el.addEventListener("mousemove", (ev) => {
    const box = el.getBoundingClientRect();
    const x = ((ev.clientX - box.left) / box.width) * W;
    const i = Math.floor(((x - PAD.l) / (W - PAD.l - PAD.r)) * times.length);
    if (i < 0 || i >= times.length) { tip.hidden = true; return; }
    tip.textContent = fmt.time(times[i]) + "\n" + lines(i).join("\n");
    tip.style.left = ev.clientX + 12 + "px";
    tip.style.top = ev.clientY + 12 + "px";
    tip.hidden = false;
  });
  el.addEventListener("mouseleave", () => { tip.hidden = true; });
}

function legend(series) {
  return h("div", { class: "legend" }, series.map((s, n) => {
    const swatch = h("i", {});
    swatch.style.background = s.color || COLORS[n % COLORS.length];
    return h("span", {}, swatch, s.name);
  }));
}

/// Stacked bars: stacks[k].values[i] for each time i.
function barChart(times, step, stacks, yFmt) {
  const totals = times.map((_, i) => stacks.reduce((s, k) => s + (k.values[i] || 0), 0));
  const max = Math.max(...totals, 0) || 1;
  const el = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  el.append(frame(times, step, max, yFmt));
  const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b, bw = iw / times.length;
  times.forEach((_, i) => {
    let y = PAD.t + ih;
    stacks.forEach((k, n) => {
      const v = k.values[i] || 0;
      if (v <= 0) return;
      const hgt = (v / max) * ih;
      y -= hgt;
      el.append(svg("rect", { x: PAD.l + i * bw + bw * 0.1, y, width: bw * 0.8, height: hgt, fill: k.color || COLORS[n % COLORS.length] }));
    });
  });
  hover(el, times, step, (i) => stacks.map((k) => k.name + ": " + yFmt(k.values[i] || 0)));
  return h("div", {}, el, legend(stacks));
}

/// Lines; a null value leaves a gap.
function lineChart(times, step, lines, yFmt) {
  const max = Math.max(0, ...lines.flatMap((l) => l.values.filter((v) => v !== null))) || 1;
  const el = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  el.append(frame(times, step, max, yFmt));
  const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
  lines.forEach((l, n) => {
    let d = "", pen = false;
    l.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
        const x = PAD.l + (iw * (i + 0.5)) / times.length, y = PAD.t + ih - (v / max) * ih;
      d += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
      pen = true;
      el.append(svg("circle", { cx: x, cy: y, r: 1.8, fill: l.color || COLORS[n % COLORS.length] }));
    });
    el.append(svg("path", { d, fill: "none", stroke: l.color || COLORS[n % COLORS.length], "stroke-width": 1.6, "vector-effect": "non-scaling-stroke" }));
  });
  hover(el, times, step, (i) => lines.map((l) => l.name + ": " + (l.values[i] === null ? "–" : yFmt(l.values[i]))));
  return h("div", {}, el, legend(lines));
}

function spark(values, errors) {
  const max = Math.max(1, ...values);
  const el = svg("svg", { class: "spark", viewBox: `0 0 ${values.length * 5} 24`, preserveAspectRatio: "none" });
  values.forEach((v, i) => {
    const hgt = (v / max) * 22, e = ((errors[i] || 0) / max) * 22;
    if (hgt > 0) el.append(svg("rect", { x: i * 5, y: 24 - hgt, width: 4, height: hgt, fill: COLORS[0] }));
    if (e > 0) el.append(svg("rect", { x: i * 5, y: 24 - e, width: 4, height: e, fill: "#d33b3b" }));
  });
  return el;
}

function card(title, ...body) {
  return h("div", { class: "card" }, h("h2", {}, title), ...body.filter((b) => b !== null));
}

function sortable(table, rows, columns, key, render) {
  const s = state.sort[key] || { col: columns.findIndex((c) => c.sortDefault), desc: true };
  const sorted = rows.slice().sort((a, b) => {
    const c = columns[s.col] || columns[0];
    const x = c.value(a), y = c.value(b);
    const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return s.desc ? -cmp : cmp;
  });
  const head = h("tr", {}, columns.map((c, i) => h("th", {
    class: "sort" + (c.num ? " num" : ""),
    onclick: () => { state.sort[key] = { col: i, desc: s.col === i ? !s.desc : true }; render(); },
  }, c.title)));
  table.replaceChildren(h("thead", {}, head), h("tbody", {}, sorted.map((r) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : "" }, c.show(r)))))));
}

// ---- overview --------------------------------------------------------------------------------

async function overview() {
  const w = state.overviewWindow;
  const mine = state.token;
  const data = await api("/ui/api/overview" + query({ window: w }));
  if (state.token !== mine) return;
  const t = data.totals;
  const times = data.series.map((p) => p.t);
  const step = data.step_ms;
  const windows = h("div", { class: "seg" }, ["1h", "24h", "7d", "30d"].map((x) =>
    h("button", { class: x === w ? "on" : "", "data-testid": "window-" + x, onclick: () => { state.overviewWindow = x; render(); } }, x)));
  const dims = h("div", { class: "seg" }, ["model", "provider", "key", "team"].map((d) =>
    h("button", { class: d === state.dim ? "on" : "", onclick: () => { state.dim = d; render(); } }, "by " + d)));
  // One unit for the three, the largest's: "0.39 · 0.67 · 1.56 s".
  const q = (v) => {
    if (!v) return "–";
    const s = v.p99 >= 1000;
    const one = (x) => (s ? (x / 1000).toFixed(2) : String(Math.round(x)));
    return one(v.p50) + " · " + one(v.p95) + " · " + one(v.p99) + (s ? " s" : " ms");
  };
  const tile = (label, value, sub, testid, data, small) =>
    h("div", { class: "card tile" }, h("div", { class: "label" }, label), h("div", { class: small ? "value small" : "value", "data-testid": testid, ...data }, value), h("div", { class: "sub" }, sub || ""));
  const tiles = h("div", { class: "tiles" },
    tile("Requests", fmt.int(t.requests), fmt.int(t.errors) + " failed attempts", "total-requests", { "data-value": t.requests }),
    tile("Error rate", fmt.pct(t.error_rate), "of attempts", "total-error-rate"),
    tile("Spend", fmt.usd(t.cost_usd), t.unpriced ? fmt.int(t.unpriced) + " unpriced" : "at list price", "total-spend", { "data-usd": t.cost_usd }),
    tile("Tokens", fmt.compact(t.input_tokens + t.output_tokens), fmt.int(t.input_tokens) + " in · " + fmt.int(t.output_tokens) + " out", "total-tokens"),
    tile("Latency p50 · p95 · p99", q(t.latency_ms), "successful attempts", "total-latency", {}, true),
    tile("Time to first token", q(t.ttft_ms), "p50 · p95 · p99", "total-ttft", {}, true));
  const stacked = data.stacked[state.dim];
  const spendStacks = stacked.groups.map((g, i) => ({ name: g, values: stacked.values.map((v) => v[i]) }));
  if (stacked.values.some((v) => v[v.length - 1] > 0)) spendStacks.push({ name: "other", values: stacked.values.map((v) => v[v.length - 1]) });
  const ok = data.series.map((p) => p.requests - p.errors);
  const pick = (f, k) => data.series.map((p) => (p[f] ? p[f][k] : null));
  const charts = h("div", { class: "grid" },
    card("Requests", barChart(times, step, [{ name: "ok", values: ok }, { name: "failed", values: data.series.map((p) => p.errors), color: "#d33b3b" }], fmt.compact)),
    card("Spend by " + state.dim, barChart(times, step, spendStacks, fmt.usdShort)),
    card("Tokens", lineChart(times, step, [{ name: "input", values: data.series.map((p) => p.input_tokens) }, { name: "output", values: data.series.map((p) => p.output_tokens) }], fmt.compact)),
    card("Error rate", lineChart(times, step, [{ name: "failed attempts", values: data.series.map((p) => p.error_rate), color: "#d33b3b" }], fmt.pct)),
    card("Latency", lineChart(times, step, ["p50", "p95", "p99"].map((k) => ({ name: k, values: pick("latency_ms", k) })), fmt.ms)),
    card("Time to first token", lineChart(times, step, ["p50", "p95", "p99"].map((k) => ({ name: k, values: pick("ttft_ms", k) })), fmt.ms)));
  const table = h("table", { "data-testid": "breakdown" });
  const rows = data.breakdown[state.dim].rows;
  const cols = [
    { title: state.dim, value: (r) => r.label || r.group, show: (r) => (r.label ? r.label + " (" + r.group + ")" : r.group) },
    { title: "requests", num: true, value: (r) => r.requests, show: (r) => fmt.int(r.requests) },
    { title: "tokens", num: true, value: (r) => r.tokens, show: (r) => fmt.int(r.tokens) },
    { title: "spend", num: true, sortDefault: true, value: (r) => r.cost_nanos, show: (r) => fmt.usd(r.cost_usd) },
  ];
  const draw = () => sortable(table, rows, cols, "breakdown-" + state.dim, draw);
  draw();
  const more = data.breakdown[state.dim].groups > rows.length ? h("p", { class: "muted" }, "The " + rows.length + " largest of " + data.breakdown[state.dim].groups + ".") : null;
  const pending = data.pending_hours ? h("div", { class: "notice", "data-testid": "pending" }, "Still reading " + data.pending_hours + " past hours of the ledger; latency and error charts fill in shortly.") : null;
  show(h("div", { class: "bar" }, windows, dims, h("button", { class: "quiet", onclick: render }, "Refresh")), pending, tiles, charts,
    card("Spend by " + state.dim, h("div", { class: "scroll" }, table), more));
  if (data.pending_hours) setTimeout(() => { if (location.hash.startsWith("#/overview")) render(); }, 3000);
}

// ---- deployments -----------------------------------------------------------------------------

async function deployments() {
  const mine = state.token;
  const data = await api("/ui/api/deployments");
  if (state.token !== mine) return;
  const rows = data.deployments.map((d) => {
    const l = d.live || {};
    const hist = d.history;
    const p95 = Math.max(0, ...hist.map((x) => x.latency_p95_ms || 0));
    return h("tr", { "data-deployment": d.deployment },
      h("td", {}, h("strong", {}, d.deployment), h("div", { class: "muted" }, d.aliases.join(", "))),
      h("td", {}, d.live ? h("span", { class: "badge " + l.circuit, "data-testid": "circuit" }, l.circuit.replace("_", "-")) : h("span", { class: "muted" }, "not routed")),
      h("td", { class: "num" }, l.backoff_ms ? fmt.ms(l.backoff_ms) : "–"),
      h("td", { class: "num" }, fmt.pct(l.error_rate)),
      h("td", { class: "num" }, fmt.ms(l.latency_ms)),
      h("td", { class: "num" }, fmt.ms(l.ttft_ms)),
      h("td", { class: "num" }, fmt.int(l.in_flight)),
      h("td", { class: "num" }, fmt.int(l.requests) + " / " + fmt.int(l.failures)),
      h("td", {}, spark(hist.map((x) => x.requests), hist.map((x) => x.errors))),
      h("td", { class: "num" }, fmt.int(hist.reduce((s, x) => s + x.requests, 0)) + " · " + fmt.int(hist.reduce((s, x) => s + x.errors, 0)) + " failed"),
      h("td", { class: "num" }, p95 ? fmt.ms(p95) : "–"));
  });
  const head = ["deployment", "circuit", "back-off", "error rate", "latency", "TTFT", "in flight", "since start", "last 24 h", "attempts · failed", "worst hourly p95"];
  const pending = data.pending_hours ? h("div", { class: "notice", "data-testid": "pending" }, "Still reading " + data.pending_hours + " past hours of the ledger; the history fills in shortly.") : null;
  show(
    h("div", { class: "bar" }, h("span", { class: "muted" }, "Live health as routing sees it (moving averages since start); history from the ledger."), h("button", { class: "quiet", onclick: render }, "Refresh")),
    pending,
    card("Deployments", h("div", { class: "scroll" }, h("table", { "data-testid": "deployments" }, h("thead", {}, h("tr", {}, head.map((x, i) => h("th", { class: i > 1 && i !== 8 ? "num" : "" }, x)))), h("tbody", {}, rows)))));
  if (data.pending_hours) setTimeout(() => { if (location.hash.startsWith("#/deployments")) render(); }, 3000);
}

// ---- keys and teams --------------------------------------------------------------------------

function meter(b) {
  if (!b) return h("span", { class: "muted" }, "no budget");
  const limit = Math.max(b.limit_nanos, 1);
  const spent = Math.min(100, (b.spent_nanos / limit) * 100), held = Math.min(100 - spent, (b.reserved_nanos / limit) * 100);
  const m = h("span", { class: "meter" + (b.spent_nanos >= b.limit_nanos ? " over" : ""), title: "spent $" + b.spent_usd + " + held $" + b.reserved_usd + " of $" + b.limit_usd },
    h("span", { class: "spent" }), h("span", { class: "reserved" }));
  m.children[0].style.width = spent + "%";
  m.children[1].style.left = spent + "%";
  m.children[1].style.width = held + "%";
  return h("span", { "data-testid": "budget" }, m, " ", fmt.usd(b.spent_usd) + " of " + fmt.usd(b.limit_usd) + " / " + b.period);
}

function use(n, limit) {
  return fmt.int(n) + (limit ? " / " + fmt.int(limit) : "");
}

function createForm(reload) {
  const out = h("div", {});
  const field = (name, label, attrs) => h("label", {}, label, h("input", { name, ...attrs }));
  const form = h("form", { class: "fields", "data-testid": "create-key" },
    field("name", "name", { required: true, "data-testid": "new-name" }),
    field("team", "team", {}),
    field("models", "models (comma-separated globs)", {}),
    field("rpm", "RPM", { type: "number", min: 1 }),
    field("tpm", "TPM", { type: "number", min: 1 }),
    field("budget_usd", "budget USD", { inputmode: "decimal" }),
    h("label", {}, "period", h("select", { name: "budget_period" }, ["month", "week", "day", "total"].map((p) => h("option", { value: p }, p)))),
    field("expires_in_days", "expires in days", { type: "number", min: 0, step: "any" }),
    h("label", { class: "inline" }, h("input", { type: "checkbox", name: "viewer" }), "viewer (may sign in here, read only)"),
    h("label", { class: "inline" }, h("input", { type: "checkbox", name: "log_bodies" }), "keep its prompts and completions"),
    h("button", { type: "submit", "data-testid": "create-submit" }, "Create key"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { name: f.get("name") };
    if (f.get("team")) body.team = f.get("team");
    if (f.get("models")) body.models = f.get("models").split(",").map((s) => s.trim()).filter(Boolean);
    for (const k of ["rpm", "tpm", "expires_in_days"]) if (f.get(k)) body[k] = Number(f.get(k));
    if (f.get("budget_usd")) { body.budget_usd = f.get("budget_usd"); body.budget_period = f.get("budget_period"); }
    if (f.get("viewer")) body.viewer = true;
    if (f.get("log_bodies")) body.log_bodies = true;
    try {
      const k = await api("/ui/api/keys", { method: "POST", body: JSON.stringify(body) });
      form.reset();
      out.replaceChildren(h("div", { class: "secret" }, h("strong", {}, "Key " + k.name + " (" + k.id + ") — copy it now, it is not shown again:"), h("br"),
        h("code", { "data-testid": "new-key-secret", "data-key-id": k.id }, k.key)));
      await reload();
    } catch (e) {
      out.replaceChildren(h("p", { class: "error", "data-testid": "create-error" }, e.message));
    }
  });
  return card("New key", form, out);
}

function editRow(k, cols, reload) {
  const b = k.budget;
  const input = (name, value, attrs) => h("input", { name, value: value === null || value === undefined ? "" : value, ...attrs });
  const form = h("form", { class: "fields" },
    h("label", {}, "RPM", input("rpm", k.rpm, { type: "number", min: 1 })),
    h("label", {}, "TPM", input("tpm", k.tpm, { type: "number", min: 1 })),
    h("label", {}, "budget USD", input("budget_usd", b ? b.limit_usd : "", { inputmode: "decimal" })),
    h("label", {}, "period", h("select", { name: "budget_period" }, ["month", "week", "day", "total"].map((p) => h("option", { value: p, selected: b && b.period === p }, p)))),
    h("button", { type: "submit", "data-testid": "edit-save" }, "Save"),
    h("button", { type: "button", class: "quiet", onclick: reload }, "Cancel"),
    h("span", { class: "error" }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const num = (v) => (v === "" ? null : Number(v));
    const patch = {};
    if (num(f.get("rpm")) !== (k.rpm ?? null)) patch.rpm = num(f.get("rpm"));
    if (num(f.get("tpm")) !== (k.tpm ?? null)) patch.tpm = num(f.get("tpm"));
    const usd = f.get("budget_usd").trim();
    if (usd !== (b ? b.limit_usd : "")) patch.budget_usd = usd === "" ? null : usd;
    if (usd !== "" && (!b || f.get("budget_period") !== b.period)) patch.budget_period = f.get("budget_period");
    if (!Object.keys(patch).length) return reload();
    try {
      await api("/ui/api/keys/" + encodeURIComponent(k.id), { method: "PATCH", body: JSON.stringify(patch) });
      await reload();
    } catch (e) {
      form.lastChild.textContent = e.message;
    }
  });
  return h("tr", {}, h("td", { colspan: cols }, h("strong", {}, "Edit " + k.name + " "), form));
}

async function keys() {
  const p = new URLSearchParams(location.hash.split("?")[1] || "");
  const offset = Number(p.get("offset") || 0);
  const search = p.get("q") || "";
  const revoked = p.get("revoked") === "1";
  const mine = state.token;
  const data = await api("/ui/api/keys" + query({ offset, q: search, revoked: revoked ? "1" : "" }));
  if (state.token !== mine) return;
  const reload = () => keys().catch(fail);
  const go = (o) => { location.hash = "#/keys" + query({ offset: o || "", q: search, revoked: revoked ? "1" : "" }); };
  const cols = 10;
  const tbody = h("tbody", {});
  for (const k of data.keys) {
    const row = h("tr", { "data-key-id": k.id },
      h("td", {}, h("strong", {}, k.name), h("div", { class: "muted" }, h("code", {}, k.id))),
      h("td", {}, k.team || "–"),
      h("td", {}, k.models.length ? k.models.join(", ") : h("span", { class: "muted" }, "any")),
      h("td", { class: "num" }, use(k.last_minute.requests, k.rpm)),
      h("td", { class: "num" }, use(k.last_minute.tokens, k.tpm)),
      h("td", {}, meter(k.budget)),
      h("td", {}, k.expires_ms ? fmt.time(k.expires_ms) : "–"),
      h("td", {}, k.revoked ? h("span", { class: "badge bad" }, "revoked") : h("span", { class: "badge ok" }, "active"), k.viewer ? h("span", { class: "badge" }, "viewer") : null, k.log_bodies ? h("span", { class: "badge warn" }, "keeps bodies") : null),
      h("td", {}, data.can_edit && !k.revoked ? h("button", { class: "quiet", "data-testid": "edit-" + k.id, onclick: () => row.replaceWith(editRow(k, cols, reload)) }, "Edit") : null),
      h("td", {}, data.can_edit && !k.revoked ? h("button", { class: "danger", "data-testid": "revoke-" + k.id, onclick: async (ev) => {
        if (!confirm("Revoke " + k.name + " (" + k.id + ")? Requests with it are refused from now on.")) return;
        ev.target.disabled = true;
        try { await api("/ui/api/keys/" + encodeURIComponent(k.id), { method: "DELETE" }); await reload(); } catch (e) { ev.target.replaceWith(h("span", { class: "error" }, e.message)); }
      } }, "Revoke") : null));
    tbody.append(row);
  }
  const head = ["key", "team", "models", "req / min", "tokens / min", "budget this period", "expires", "status", "", ""];
  const filter = h("form", { class: "bar" }, h("input", { name: "q", placeholder: "name, id or team", value: search }),
    h("label", { class: "inline" }, h("input", { type: "checkbox", name: "revoked", checked: revoked }), "revoked too"), h("button", { type: "submit", class: "quiet" }, "Filter"));
  filter.addEventListener("submit", (ev) => { ev.preventDefault(); const f = new FormData(filter); location.hash = "#/keys" + query({ q: f.get("q"), revoked: f.get("revoked") ? "1" : "" }); });
  const pager = h("div", { class: "bar" }, h("span", { class: "muted" }, (data.total ? data.offset + 1 : 0) + "–" + (data.offset + data.keys.length) + " of " + data.total),
    data.offset > 0 ? h("button", { class: "quiet", onclick: () => go(Math.max(0, data.offset - 50)) }, "Previous") : null,
    data.next_offset !== null ? h("button", { class: "quiet", onclick: () => go(data.next_offset) }, "Next") : null);
  const teams = h("tbody", {}, data.teams.map((t) => h("tr", {}, h("td", {}, t.name), h("td", { class: "num" }, fmt.int(t.keys)),
    h("td", { class: "num" }, use(t.last_minute.requests, t.rpm)), h("td", { class: "num" }, use(t.last_minute.tokens, t.tpm)))));
  const existing = view.querySelector("[data-testid=create-key]");
  const create = data.can_edit ? (existing ? existing.closest(".card") : createForm(reload)) : null;
  show(create || h("div", { class: "notice" }, "Read-only session: keys cannot be changed here."),
    h("div", { class: "gap" }),
    card("Keys", filter, h("div", { class: "scroll" }, h("table", { "data-testid": "keys" }, h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))), tbody)), pager),
    h("div", { class: "gap" }),
    card("Teams", h("table", { "data-testid": "teams" }, h("thead", {}, h("tr", {}, ["team", "keys", "req / min", "tokens / min"].map((x) => h("th", {}, x)))), teams)));
}

// ---- requests --------------------------------------------------------------------------------

const FILTERS = ["alias", "key", "team", "provider", "status", "since"];

/// A row's cost: a failed attempt without a price cost nothing; a served one is "unpriced".
function cost(r) {
  if (r.cost_usd !== null) return fmt.usd(r.cost_usd);
  return r.why ? "–" : "unpriced";
}

async function requests() {
  const p = new URLSearchParams(location.hash.split("?")[1] || "");
  const filter = Object.fromEntries(FILTERS.map((f) => [f, p.get(f) || ""]));
  if (!filter.since) filter.since = "24h";
  const form = h("form", { class: "fields", "data-testid": "request-filter" },
    ["alias", "key", "team", "provider"].map((f) => h("label", {}, f, h("input", { name: f, value: filter[f], "data-testid": "filter-" + f }))),
    h("label", {}, "status", h("input", { name: "status", value: filter.status, placeholder: "ok, error, 429", "data-testid": "filter-status" })),
    h("label", {}, "since", h("select", { name: "since", "data-testid": "filter-since" }, ["1h", "24h", "7d", "30d"].map((s) => h("option", { value: s, selected: s === filter.since }, s)))),
    h("button", { type: "submit", "data-testid": "filter-apply" }, "Apply"),
    h("label", {}, "request id", h("input", { name: "id", placeholder: "req_…" })));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    if (f.get("id")) { location.hash = "#/request/" + encodeURIComponent(f.get("id").trim()); return; }
    location.hash = "#/requests" + query(Object.fromEntries(FILTERS.map((k) => [k, (f.get(k) || "").trim()])));
  });
  const tbody = h("tbody", {});
  const status = h("div", { class: "bar" });
  const table = h("table", { "data-testid": "requests" }, h("thead", {}, h("tr", {},
    ["time", "request", "attempt", "alias", "deployment", "key", "status", "outcome", "latency", "TTFT", "tokens in · out", "cost"].map((x, i) => h("th", { class: i >= 8 ? "num" : "" }, x)))), tbody);
  show(card("Filter", form), h("div", { class: "gap" }), card("Requests (one line per attempt, newest first)", h("div", { class: "scroll" }, table), status));
  let cursor = "";
  const more = async () => {
    const page = await api("/ui/api/requests" + query({ ...filter, cursor }));
    for (const r of page.rows) {
      tbody.append(h("tr", { "data-request-id": r.request_id, "data-provider": r.provider, "data-status": r.status },
        h("td", {}, fmt.time(r.at_unix_ms)),
        h("td", {}, h("a", { href: "#/request/" + encodeURIComponent(r.request_id) + "?at=" + r.at_unix_ms }, h("code", {}, r.request_id))),
        h("td", { class: "num" }, r.attempt || "–"),
        h("td", {}, r.alias), h("td", {}, r.deployment), h("td", {}, r.key_id || "–"),
        h("td", {}, h("span", { class: "badge " + (r.status < 400 && !r.why ? "ok" : "bad") }, r.status)),
        h("td", {}, r.outcome + (r.cache ? " (cache " + r.cache + ")" : "")),
        h("td", { class: "num" }, fmt.ms(r.latency_ms)), h("td", { class: "num" }, fmt.ms(r.ttft_ms)),
        h("td", { class: "num" }, fmt.int(r.input_tokens) + " · " + fmt.int(r.output_tokens)),
        h("td", { class: "num" }, cost(r))));
    }
    cursor = page.next || "";
    status.replaceChildren(...[
      h("span", { class: "muted", "data-testid": "row-count" }, tbody.children.length + " rows" + (page.scan_capped ? "; looked at " + fmt.int(page.scan_cap) + " more rows without another match" : "")),
      cursor ? h("button", { class: "quiet", "data-testid": "load-more", onclick: (ev) => { ev.target.disabled = true; more().catch(fail); } }, "Load more") : null].filter(Boolean));
  };
  await more();
}

async function request(id) {
  const at = new URLSearchParams(location.hash.split("?")[1] || "").get("at");
  const mine = state.token;
  const data = await api("/ui/api/requests/" + encodeURIComponent(id) + query({ at }));
  if (state.token !== mine) return;
  const rows = data.attempts.map((a) => h("tr", { "data-attempt": a.attempt },
    h("td", { class: "num" }, a.attempt || "–"), h("td", {}, fmt.time(a.at_unix_ms)),
    h("td", { "data-testid": "attempt-deployment" }, a.deployment), h("td", {}, a.provider + " / " + a.model),
    h("td", { "data-testid": "attempt-status" }, h("span", { class: "badge " + (a.why ? "bad" : "ok") }, a.status)),
    h("td", { "data-testid": "attempt-outcome" }, a.outcome), h("td", {}, a.why || ""),
    h("td", { class: "num" }, fmt.ms(a.latency_ms)), h("td", { class: "num" }, fmt.ms(a.ttft_ms)),
    h("td", { class: "num" }, fmt.int(a.input_tokens) + " · " + fmt.int(a.output_tokens) + (a.cached_tokens ? " (" + fmt.int(a.cached_tokens) + " cached)" : "") + (a.reasoning_tokens ? " (" + fmt.int(a.reasoning_tokens) + " reasoning)" : "")),
    h("td", { class: "num" }, cost(a))));
  const first = data.attempts[0];
  const bodies = data.bodies ? card("Prompt and completion (logged for this " + data.bodies.because + ", secrets redacted)",
    h("h2", {}, "prompt"), h("pre", { class: "body" }, data.bodies.prompt || ""), h("h2", {}, "completion"), h("pre", { class: "body" }, data.bodies.completion || "")) : null;
  show(
    h("div", { class: "bar" }, h("a", { href: "#/requests" }, "← Requests")),
    card("Request " + id, h("p", {}, "alias ", h("strong", {}, first.alias), " · key ", first.key_id || "–", " · team ", first.team || "–", " · ", first.stream ? "streamed" : "not streamed", " · total ", h("strong", {}, fmt.usd(data.cost_usd))),
      h("div", { class: "scroll" }, h("table", { "data-testid": "attempts" }, h("thead", {}, h("tr", {},
        ["#", "time", "deployment", "provider / model", "status", "outcome", "why it moved on", "latency", "TTFT", "tokens in · out", "cost"].map((x, i) => h("th", { class: i >= 7 || i === 0 ? "num" : "" }, x)))), h("tbody", {}, rows)))),
    bodies ? h("div", { class: "gap" }) : null, bodies);
}

// ---- shell -----------------------------------------------------------------------------------

const PAGES = { overview, deployments, keys, requests };

async function render() {
  const [path] = location.hash.replace(/^#\/?/, "").split("?");
  const [page, ...rest] = path.split("/");
  state.token = {};
  document.querySelectorAll(".top nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === (page === "request" ? "requests" : page || "overview")));
  try {
    if (page === "request" && rest.length) await request(decodeURIComponent(rest.join("/")));
    else await (PAGES[page] || overview)();
    view.dataset.loaded = page || "overview";
  } catch (e) {
    if (e.message !== "signed out") fail(e);
  }
}

async function start() {
  try {
    state.session = await api("/ui/api/session");
  } catch (e) {
    location.assign("/ui/login");
    return;
  }
  document.getElementById("who").textContent = state.session.role === "admin" ? "master key" : "viewer " + (state.session.key_id || "");
  document.getElementById("signout").addEventListener("click", async () => {
    try { await api("/ui/api/session", { method: "DELETE" }); } finally { location.assign("/ui/login"); }
  });
  window.addEventListener("hashchange", render);
  render();
}

start();
