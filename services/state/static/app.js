// The dashboard: a snapshot of the state over HTTP, then every change from the SSE stream.
// No build step, no dependencies: plain DOM. Tokens are kept in memory only: the admin token
// is asked for on each kill/resume and forgotten at once; a read token (where the state API has
// read tokens) until the page is closed.
import { EventStream } from "./sse.js";

const LIVE = new Set(["PENDING_NEW", "UNKNOWN", "NEW", "UNTRIGGERED", "OPEN", "PENDING_CANCEL", "PENDING_MODIFY"]);
const LIVE_QUERY = ["PENDING_NEW", "UNKNOWN", "NEW", "UNTRIGGERED", "OPEN", "PENDING_CANCEL"];
const ACCOUNT_KINDS = ["order", "fill", "position", "balance", "account", "feed", "reconciliation"];
const FILLS_SHOWN = 50;

const S = {
  config: {}, account: null, balances: new Map(), positions: new Map(), orders: new Map(), fills: [],
  books: new Map(), health: null, lag: null, seq: 0, readToken: null, kill: null, dirty: new Set(),
};

const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("data-")) el.setAttribute(k, v);
    else el[k] = v;
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return el;
}

const num = (x) => (x === null || x === undefined || x === "" ? "-" : String(x));
const signed = (x) => { const n = Number(x); return h("td", { class: `num ${n > 0 ? "pos" : n < 0 ? "neg" : ""}` }, num(x)); };
const side = (s) => h("td", { class: String(s).toLowerCase() === "buy" || s === "LONG" ? "buy" : "sell" }, s);
const time = (ms) => (ms ? new Date(ms).toISOString().slice(11, 23) : "-");

function table(el, headers, rows) {
  el.replaceChildren(h("thead", {}, h("tr", {}, headers.map((x) => h("th", { class: x.num ? "num" : "" }, x.t ?? x)))),
    h("tbody", {}, rows.length ? rows : [h("tr", {}, h("td", { colSpan: headers.length, class: "muted" }, "none"))]));
}

function toast(text, kind = "good") {
  const t = $("toast");
  t.textContent = text;
  t.className = `show ${kind}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ""; }, 6000);
}

// ------------------------------------------------------------------------------------ HTTP

function authHeaders() { return S.readToken ? { Authorization: `Bearer ${S.readToken}` } : {}; }

async function api(path, { allow404 = false } = {}) {
  for (;;) {
    const resp = await fetch(path, { headers: authHeaders(), cache: "no-store" });
    if (resp.status === 401) { S.readToken = await askToken("Read token", "The state API needs a read token."); continue; }
    if (resp.status === 404 && allow404) return null;
    if (!resp.ok && resp.status !== 503) throw new Error(`${path}: HTTP ${resp.status}`);
    return resp.json();
  }
}

function askToken(title, help, withReason = false) {
  const dlg = $("token-dialog");
  $("token-title").textContent = title;
  $("token-help").textContent = help;
  $("token-input").value = "";
  $("reason-input").value = "";
  $("reason-input").hidden = !withReason;
  dlg.showModal();
  return new Promise((resolve, reject) => {
    dlg.addEventListener("close", () => {
      const token = $("token-input").value;
      const reason = $("reason-input").value;
      $("token-input").value = "";  // never kept in the page
      if (dlg.returnValue === "ok" && token) resolve(withReason ? { token, reason } : token);
      else reject(new Error("cancelled"));
    }, { once: true });
  });
}

// ------------------------------------------------------------------------------- the state

async function snapshot() {
  const live = LIVE_QUERY.map((s) => `status=${s}`).join("&");
  const [orders, positions, balances, account, fills, health] = await Promise.all([
    api(`/v1/orders?${live}`), api("/v1/positions"), api("/v1/balances"), api("/v1/account", { allow404: true }),
    api(`/v1/fills?limit=${FILLS_SHOWN}`), api("/v1/health")]);
  S.orders = new Map(orders.value.filter((o) => LIVE.has(o.status)).map((o) => [o.key, o]));
  S.positions = new Map(positions.value.map((p) => [p.market, p]));
  S.balances = new Map(balances.value.map((b) => [b.token, b]));
  S.account = account ? account.value : null;
  S.fills = fills.value.slice().reverse();
  S.health = health.value;
  const markets = Object.keys(health.value.books_valid || {});
  for (const m of markets.length ? markets : S.config.markets || []) {
    const b = await api(`/v1/book/${encodeURIComponent(m)}?depth=10`, { allow404: true });
    if (b) S.books.set(m, b.value);
  }
  const seqs = [orders, positions, balances, fills].map((r) => r.seq).concat(account ? [account.seq] : []);
  S.seq = Math.max(...seqs);
  ["account", "balances", "positions", "orders", "fills", "books", "health"].forEach((p) => S.dirty.add(p));
  render();
  return Math.min(...seqs);
}

function newer(held, ch) { return !held || (held.stream_seq ?? 0) <= ch.seq; }

function apply(ch) {
  const v = ch.value;
  if (ch.stream === "account") S.seq = Math.max(S.seq, ch.seq);
  switch (ch.kind) {
    case "order":
      if (v === null || !LIVE.has(v.status)) S.orders.delete(ch.key);
      else if (newer(S.orders.get(ch.key), ch)) S.orders.set(ch.key, v);
      S.dirty.add("orders");
      break;
    case "position":
      if (v === null) S.positions.delete(ch.key); else if (newer(S.positions.get(ch.key), ch)) S.positions.set(ch.key, v);
      S.dirty.add("positions");
      break;
    case "balance":
      if (v === null) S.balances.delete(ch.key); else S.balances.set(ch.key, v);
      S.dirty.add("balances");
      break;
    case "account":
      S.account = v; S.dirty.add("account");
      break;
    case "fill":
      S.fills = S.fills.filter((f) => f.fill.id !== ch.key);
      if (v !== null) S.fills.unshift(v);
      S.fills.sort((a, b) => b.fill.created_at - a.fill.created_at);
      S.fills.length = Math.min(S.fills.length, FILLS_SHOWN);
      S.dirty.add("fills");
      break;
    case "book":
      if (v) S.books.set(ch.key, v);
      S.dirty.add("books");
      break;
    case "feed": case "reconciliation":
      S.dirty.add("health");
      refreshHealth();
      break;
    default:
      break;
  }
  scheduleRender();
}

function scheduleRender() {
  if (scheduleRender.pending) return;
  scheduleRender.pending = true;
  requestAnimationFrame(() => { scheduleRender.pending = false; render(); });
}

async function refreshHealth() {
  try {
    const [health, lag] = await Promise.all([api("/v1/health"), api("/v1/lag", { allow404: true })]);
    S.health = health.value;
    S.lag = lag ? lag.value : null;
    S.kill = killState(health.value);
    S.dirty.add("health");
    scheduleRender();
  } catch (err) {
    $("health").replaceChildren(h("div", { class: "bad" }, h("span", {}, "state service"), h("b", {}, err.message)));
  }
}

// The kill switch as the state folded it (per scope: "" = global, else a strategy).
function killState(health) {
  const scopes = (health.core && health.core.kill_switch) || {};
  return Object.values(scopes).filter((k) => k.active).map((k) => k.strategy || "global");
}

// --------------------------------------------------------------------------------- render

const kv = (label, value, cls = "") => h("div", { class: cls, "data-key": label }, h("span", {}, label), h("b", {}, value));

const renderers = {
  account() {
    const a = S.account && S.account.summary;
    $("account").replaceChildren(...(a ? [
      kv("account value", num(a.account_value)), kv("total collateral", num(a.total_collateral)),
      kv("free collateral", num(a.free_collateral)), kv("initial margin", num(a.initial_margin_requirement)),
      kv("maintenance margin", num(a.maintenance_margin_requirement)), kv("margin cushion", num(a.margin_cushion)),
      kv("status", a.status, a.status === "ACTIVE" ? "good" : "bad"), kv("settlement", a.settlement_asset),
    ] : [kv("account", "no summary received yet", "warn")]));
  },
  balances() {
    table($("balances"), ["token", { t: "balance", num: true }],
      [...S.balances.values()].map((b) => h("tr", { "data-token": b.token }, h("td", {}, b.token), h("td", { class: "num" }, num(b.size)))));
  },
  positions() {
    const rows = [...S.positions.values()].sort((a, b) => a.market.localeCompare(b.market)).map((p) => {
      const x = p.position;
      return h("tr", { "data-market": p.market, "data-testid": `position-${p.market}` },
        h("td", {}, p.market), side(x.side), h("td", { class: "num", "data-field": "size" }, num(x.size)),
        h("td", { class: "num" }, num(x.average_entry_price)), signed(x.unrealized_pnl),
        signed(x.realized_positional_pnl), h("td", { class: "num" }, num(x.liquidation_price)),
        h("td", { class: "num" }, num(x.leverage)));
    });
    table($("positions"), ["market", "side", { t: "size", num: true }, { t: "entry", num: true },
      { t: "unrealized PnL", num: true }, { t: "realized PnL", num: true }, { t: "liq. price", num: true },
      { t: "leverage", num: true }], rows);
  },
  orders() {
    const groups = new Map();
    for (const o of [...S.orders.values()].sort((a, b) => a.last_updated_at - b.last_updated_at)) {
      const g = o.strategy || "(not placed through the hub)";
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(o);
    }
    $("orders-count").textContent = `(${S.orders.size})`;
    const out = [...groups.entries()].sort().map(([g, orders]) => {
      const t = h("table");
      table(t, ["market", "side", "type", { t: "size", num: true }, { t: "price", num: true },
        { t: "filled", num: true }, "status", "client id", "order id", "updated"],
      orders.map((o) => h("tr", { "data-client-id": o.client_id, "data-key": o.key, "data-status": o.status },
        h("td", {}, o.market), side(o.side), h("td", {}, o.type), h("td", { class: "num" }, num(o.size)),
        h("td", { class: "num" }, num(o.price)), h("td", { class: "num" }, num(o.filled)), h("td", {}, o.status),
        h("td", {}, o.client_id || "-"), h("td", { class: "muted", title: o.id || "" }, o.id ? `…${o.id.slice(-8)}` : "-"), h("td", {}, time(o.last_updated_at)))));
      return h("div", { class: "group", "data-strategy": g }, h("h3", {}, `${g} · ${orders.length}`), t);
    });
    $("orders").replaceChildren(...(out.length ? out : [h("div", { class: "muted" }, "no open orders")]));
  },
  fills() {
    table($("fills"), ["time", "market", "side", { t: "size", num: true }, { t: "price", num: true }, "liquidity",
      { t: "fee", num: true }, { t: "realized PnL", num: true }, "client id"],
    S.fills.map((f) => h("tr", { "data-fill-id": f.fill.id, class: f.busted ? "muted" : "" },
      h("td", {}, time(f.fill.created_at)), h("td", {}, f.fill.market), side(f.fill.side),
      h("td", { class: "num" }, num(f.fill.size)), h("td", { class: "num" }, num(f.fill.price)),
      h("td", {}, f.fill.liquidity), h("td", { class: "num" }, num(f.fill.fee)), signed(f.fill.realized_pnl),
      h("td", {}, (f.fill.client_id || "-") + (f.busted ? " (busted)" : "")))));
  },
  books() {
    const out = [...S.books.values()].sort((a, b) => a.market.localeCompare(b.market)).map((b) => {
      const t = h("table");
      const n = Math.min(5, Math.max(b.bids.length, b.asks.length));
      const rows = [];
      for (let i = 0; i < n; i++) {
        const bid = b.bids[i] || ["", ""]; const ask = b.asks[i] || ["", ""];
        rows.push(h("tr", {}, h("td", { class: "num" }, bid[1]), h("td", { class: "num buy" }, bid[0]),
          h("td", { class: "num sell" }, ask[0]), h("td", { class: "num" }, ask[1])));
      }
      table(t, [{ t: "size", num: true }, { t: "bid", num: true }, { t: "ask", num: true }, { t: "size", num: true }], rows);
      const status = b.valid ? h("span", { class: "pill good" }, "valid") : h("span", { class: "pill bad" }, `INVALID: ${b.reason}`);
      return h("div", { class: `book ${b.valid ? "" : "invalid"}`, "data-market": b.market, "data-valid": String(b.valid) },
        h("header", {}, h("b", {}, b.market), " ", status, " ", h("span", { class: "muted" }, `seq ${b.seq_no}`)), t);
    });
    $("books").replaceChildren(...(out.length ? out : [h("div", { class: "muted" }, "no books yet")]));
  },
  health() {
    const hl = S.health;
    if (!hl) return;
    const core = hl.core || {};
    const rec = core.last_reconciliation;
    const counters = core.counters || {};
    const age = (ms) => (ms < 0 ? "-" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);
    const lag = S.lag;
    $("health").replaceChildren(
      kv("state", hl.ok ? "ok" : "UNHEALTHY", hl.ok ? "good" : "bad"),
      kv("private feed", hl.feed_connected ? "connected" : "DOWN", hl.feed_connected ? "good" : "bad"),
      kv("books", Object.entries(hl.books_valid).map(([m, ok]) => `${m} ${ok ? "✓" : "✗"}`).join(" ") || "-",
        Object.values(hl.books_valid).every(Boolean) ? "good" : "bad"),
      kv("last reconciliation", rec ? `${rec.complete ? "complete" : "INCOMPLETE"} (${rec.reason})` : "none yet",
        rec && !rec.complete ? "bad" : ""),
      kv("corrections", `${counters.corrections ?? 0} total · ${rec ? rec.corrections ?? 0 : 0} last run`,
        (rec && rec.corrections) ? "warn" : ""),
      kv("stream lag", lag ? `${lag.lag} events` : "-", lag && lag.lag > 100 ? "warn" : ""),
      kv("account stream", `seq ${hl.account.applied_seq} · last ${age(hl.account.last_event_age_ms)} ago`),
      kv("market stream", `last ${age(hl.market.last_event_age_ms)} ago`, hl.market.last_event_age_ms > 5000 ? "warn" : ""),
      kv("dead letters", String(hl.dlq), hl.dlq ? "bad" : ""),
      kv("redis", hl.redis_error || "ok", hl.redis_error ? "bad" : ""),
    );
    const on = S.kill && S.kill.length > 0;
    $("kill-state").textContent = `kill switch: ${on ? `ON (${S.kill.join(", ")})` : "off"}`;
    $("kill-state").className = `pill ${on ? "bad" : "good"}`;
  },
};

function render() {
  for (const part of S.dirty) renderers[part]();
  S.dirty.clear();
  $("state-seq").textContent = `seq ${S.seq}`;
}

// --------------------------------------------------------------------------- kill switch

async function command(action) {
  let answer;
  try {
    answer = await askToken(action === "kill" ? "Kill switch" : "Resume trading",
      action === "kill" ? "Cancels every open order and refuses new ones until resumed. Admin token (not stored):"
        : "Accept orders again. Admin token (not stored):", true);
  } catch { return; }
  const body = answer.reason ? { reason: answer.reason } : {};
  try {
    const resp = await fetch(`/ui/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${answer.token}` },
      body: JSON.stringify(body), cache: "no-store" });
    const data = await resp.json().catch(() => ({}));
    if (resp.ok) toast(`${action}: ${data.status || "done"}${data.message ? ` (${data.message})` : ""}`);
    else toast(`${action} refused: HTTP ${resp.status} ${data.error || ""} ${data.message || data.reason || ""}`, "bad");
  } catch (err) {
    toast(`${action} failed: ${err.message}`, "bad");
  } finally {
    answer.token = null;
  }
  refreshHealth();
}

// ---------------------------------------------------------------------------------- start

async function main() {
  S.config = await api("/ui/config");
  $("account-id").textContent = S.config.account ? `${S.config.account.slice(0, 10)}…` : "";
  $("commands-url").textContent = `commands: ${S.config.commands_url}`;
  $("kill-button").addEventListener("click", () => command("kill"));
  $("resume-button").addEventListener("click", () => command("resume"));
  const after = await snapshot();
  const stream = new EventStream({
    kinds: [...ACCOUNT_KINDS, "book"], afterSeq: after, headers: authHeaders,
    onChange: apply,
    onReset: async () => { stream.restartAfter(await snapshot()); },
    onStatus: (state, detail) => {
      const el = $("stream-state");
      el.textContent = state === "live" ? "live" : `${state} ${detail}`;
      el.className = `pill ${state === "live" ? "good" : "bad"}`;
    },
  }).start();
  refreshHealth();
  setInterval(refreshHealth, 1000);
}

main().catch((err) => toast(`dashboard failed to start: ${err.message}`, "bad"));
