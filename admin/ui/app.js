// tickwire console: the page. Plain ES module, no dependencies; every
// piece of server data goes into the page as text (textContent), never as
// HTML.
import { Chart, fmt, units } from "./plot.js";

const $ = (id) => document.getElementById(id);
const state = {
  me: null, csrf: "", tickRate: 20, history: 900, samples: [], tab: "overview",
  es: null, charts: [], poll: null, players: [], sort: { key: "since", dir: 1 }, zonesPrev: null,
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** api calls the console's API; state-changing calls carry the CSRF token. */
async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: {}, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET") init.headers["X-CSRF-Token"] = state.csrf;
  const res = await fetch(path, init);
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const err = new ApiError(res.status, data?.error?.code || "", data?.error?.message || res.statusText);
    if (res.status === 401 && path !== "/api/login" && state.me) {
      stop();
      showLogin("Your session ended; log in again.");
    }
    throw err;
  }
  return data;
}

// ---- small DOM helpers ----
function el(tag, props = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === "data") for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = dv;
    else e[k] = v;
  }
  e.append(...kids.filter((x) => x != null));
  return e;
}
const td = (text, cls) => el("td", { class: cls || "", textContent: text ?? "" });
const pad = (n) => String(n).padStart(2, "0");
function when(t) {
  if (!t || String(t).startsWith("0001")) return "–";
  const d = new Date(t);
  const today = new Date().toDateString() === d.toDateString();
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return today ? hms : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}
function badge(text, kind) {
  return el("span", { class: `badge ${kind || ""}`, textContent: text });
}

// ---- login ----
function showLogin(message) {
  state.me = null;
  $("tabs").hidden = true;
  $("who").hidden = true;
  for (const s of document.querySelectorAll(".tab")) s.hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  $("login-name").focus();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  $("login-button").disabled = true;
  try {
    const sess = await api("/api/login", { method: "POST", body: { name: $("login-name").value, password: $("login-password").value } });
    $("login-password").value = "";
    start(sess);
  } catch (e) {
    $("login-error").textContent = e.message;
  } finally {
    $("login-button").disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await api("/api/logout", { method: "POST" });
  } catch {}
  stop();
  showLogin("Logged out.");
});

function start(sess) {
  state.me = sess.name;
  state.csrf = sess.csrf;
  state.tickRate = sess.tick_rate || 20;
  state.history = sess.history || 900;
  $("login-view").hidden = true;
  $("tabs").hidden = false;
  $("who").hidden = false;
  $("me").textContent = sess.name;
  buildCharts();
  connect();
  showTab(state.tab);
}

function stop() {
  state.es?.close();
  state.es = null;
  clearInterval(state.poll);
  state.poll = null;
  setLive(false);
}

function setLive(on) {
  const l = $("live");
  l.className = `live ${on ? "on" : "off"}`;
  l.title = on ? "live: updated every second" : "not connected";
}

// ---- live samples (server-sent events) ----
function connect() {
  state.es?.close();
  const es = new EventSource("/api/events");
  state.es = es;
  es.addEventListener("history", (e) => {
    state.samples = JSON.parse(e.data).samples || [];
    setLive(true);
    render();
  });
  es.addEventListener("sample", (e) => {
    state.samples.push(JSON.parse(e.data));
    if (state.samples.length > state.history) state.samples.splice(0, state.samples.length - state.history);
    setLive(true);
    render();
  });
  es.addEventListener("logout", () => {
    stop();
    showLogin("Your session ended; log in again.");
  });
  es.onerror = () => {
    setLive(false);
    if (es.readyState === EventSource.CLOSED && state.es === es) {
      // Refused (401, 429): find out whether the session is still alive.
      setTimeout(async () => {
        if (state.es !== es) return;
        try {
          await api("/api/session");
          connect();
        } catch {}
      }, 2000);
    }
  };
}

// ---- overview ----
const palette = ["#4f8cff", "#3ecf8e", "#e0a030", "#ef5b5b", "#b07cff", "#2dc6d6", "#ff8ac4", "#c6d62d"];
const perMinute = (key) => (s, i, arr) => {
  let sum = 0;
  for (let j = i; j >= 0 && arr[j].t > s.t - 60000; j--) sum += arr[j][key] || 0;
  return sum;
};
const field = (key) => (s) => s[key];
/** keyed returns one series per key found in the samples' map member. */
const keyed = (member) => (samples) => {
  const keys = new Set();
  for (const s of samples) for (const k of Object.keys(s[member] || {})) keys.add(k);
  return [...keys].sort().map((k, i) => ({ label: k, color: palette[i % palette.length], value: (s) => (s[member] || {})[k] || 0 }));
};

function buildCharts() {
  const box = $("charts");
  box.replaceChildren();
  const defs = [
    { title: "Tick time", unitLabel: "ms per tick, each second", unit: "ms", minMax: 1,
      refLine: { value: 1000 / state.tickRate, label: `budget ${fmt(1000 / state.tickRate)} ms (${state.tickRate} ticks/s)` },
      series: [
        { label: "mean", color: palette[0], value: field("tick_mean_ms") },
        { label: "p99", color: palette[2], value: field("tick_p99_ms") },
        { label: "max", color: palette[3], value: field("tick_max_ms") },
      ] },
    { title: "Players online", unitLabel: "count", unit: "count", minMax: 5,
      series: [
        { label: "players", color: palette[0], value: field("players") },
        { label: "connections", color: palette[1], value: field("conns") },
        { label: "held seats", color: palette[2], value: field("held") },
      ] },
    { title: "Connections by transport", unitLabel: "count", unit: "count", minMax: 5, series: keyed("transports") },
    { title: "Connections by encoding", unitLabel: "count", unit: "count", minMax: 5, series: keyed("encodings") },
    { title: "Messages in", unitLabel: "messages per second", unit: "perSec", minMax: 10,
      series: [{ label: "from clients", color: palette[0], value: field("msgs_in") }] },
    { title: "Traffic", unitLabel: "bytes per second", unit: "bytesPerSec", minMax: 1024,
      series: [
        { label: "in", color: palette[0], value: field("bytes_in") },
        { label: "out", color: palette[1], value: field("bytes_out") },
      ] },
    { title: "Cuts, kicks, strikes and bans", unitLabel: "per minute (last 60 s)", unit: "perMin", minMax: 3,
      series: [
        { label: "slow-consumer cuts", color: palette[3], value: perMinute("slow_consumer") },
        { label: "kicks", color: palette[4], value: perMinute("kicked") },
        { label: "strikes", color: palette[2], value: perMinute("strikes") },
        { label: "bans", color: palette[0], value: perMinute("bans") },
      ] },
    { title: "Refusals and failed logins", unitLabel: "per minute (last 60 s)", unit: "perMin", minMax: 3,
      series: [
        { label: "refused connections", color: palette[3], value: perMinute("refused") },
        { label: "rate-limited messages", color: palette[4], value: perMinute("rate_limited") },
        { label: "failed account logins", color: palette[2], value: perMinute("auth_failed") },
        { label: "rate-limited logins", color: palette[0], value: perMinute("auth_limited") },
      ] },
    { title: "GC pauses", unitLabel: "ms, each second", unit: "ms", minMax: 0.1,
      series: [
        { label: "longest", color: palette[3], value: field("gc_pause_max_ms") },
        { label: "total", color: palette[0], value: field("gc_pause_total_ms") },
      ] },
    { title: "Heap", unitLabel: "MiB", unit: "mib", minMax: 4,
      series: [
        { label: "live heap", color: palette[0], value: field("heap_mib") },
        { label: "GC goal", color: palette[2], value: field("heap_goal_mib") },
      ] },
    { title: "CPU", unitLabel: "% of one core", unit: "pct", minMax: 5,
      series: [{ label: "process", color: palette[1], value: (s) => (s.cpu >= 0 ? s.cpu : null) }] },
  ];
  state.charts = defs.map((d) => {
    const card = el("div", { data: { chart: d.title } });
    box.append(card);
    return new Chart(card, d);
  });
}

function render() {
  const s = state.samples[state.samples.length - 1];
  if (!s) return;
  const kpi = (label, value) => el("div", { class: "kpi" }, el("div", { class: "label", textContent: label }), el("div", { class: "value", textContent: value }));
  $("kpis").replaceChildren(
    kpi("Players online", fmt(s.players)),
    kpi("Connections", fmt(s.conns)),
    kpi("Tick p99 (last s)", units.ms(s.tick_p99_ms)),
    kpi("CPU", s.cpu >= 0 ? units.pct(s.cpu) : "–"),
    kpi("Heap", units.mib(s.heap_mib)),
    kpi("Goroutines", fmt(s.goroutines)),
    kpi("Messages in", units.perSec(s.msgs_in)),
    kpi("Out", units.bytesPerSec(s.bytes_out)),
  );
  $("kpis").dataset.players = String(s.players);
  // The last 15 minutes; 5 while the server has run for less, so that a
  // fresh start is not a sliver at the right edge.
  const span = s.t - state.samples[0].t;
  const windowMs = span > 5 * 60000 ? 15 * 60000 : 5 * 60000;
  if (state.tab === "overview") for (const c of state.charts) c.draw(state.samples, s.t, windowMs);
}
window.addEventListener("resize", () => state.tab === "overview" && render());

// ---- tabs ----
const refreshers = {
  overview: null,
  players: { every: 2000, fn: loadPlayers },
  zones: { every: 2000, fn: loadZones },
  security: { every: 3000, fn: loadSecurity },
  accounts: { every: 0, fn: loadAccounts },
  audit: { every: 5000, fn: loadAudit },
  logs: { every: 2000, fn: loadLogs },
};

function showTab(name) {
  state.tab = name;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== name;
  clearInterval(state.poll);
  state.poll = null;
  const r = refreshers[name];
  if (r) {
    r.fn().catch(() => {});
    if (r.every) state.poll = setInterval(() => r.fn().catch(() => {}), r.every);
  } else render();
}
for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));

// ---- dialog ----
/**
 * ask opens the dialog with fields; submit(values) runs on OK and may
 * throw to keep it open with the error shown.
 */
function ask({ title, fields = [], text, secret, ok = "OK", danger = false, submit }) {
  const dlg = $("dialog");
  $("dialog-title").textContent = title;
  $("dialog-error").textContent = "";
  const body = $("dialog-body");
  body.replaceChildren();
  if (text) body.append(el("p", { textContent: text }));
  if (secret) body.append(el("p", { class: "secret", id: "temp-password", textContent: secret }));
  const inputs = {};
  for (const f of fields) {
    let input;
    if (f.options) {
      input = el("select", { id: `dlg-${f.id}` }, ...f.options.map(([v, label]) => el("option", { value: v, textContent: label })));
      input.value = f.value ?? "";
    } else if (f.type === "checkbox") {
      input = el("input", { id: `dlg-${f.id}`, type: "checkbox", checked: !!f.value });
    } else {
      input = el("input", { id: `dlg-${f.id}`, value: f.value ?? "", required: !!f.required, maxLength: f.max || 200 });
    }
    inputs[f.id] = input;
    body.append(el("label", {}, f.label, input));
  }
  const okBtn = $("dialog-ok");
  okBtn.textContent = ok;
  okBtn.className = danger ? "danger" : "";
  return new Promise((resolve) => {
    const onSubmit = async (ev) => {
      if (ev.submitter?.value !== "ok") return;
      ev.preventDefault();
      const values = {};
      for (const [k, i] of Object.entries(inputs)) values[k] = i.type === "checkbox" ? i.checked : i.value;
      okBtn.disabled = true;
      try {
        const res = await submit(values);
        cleanup();
        dlg.close();
        resolve(res);
      } catch (e) {
        $("dialog-error").textContent = e.message;
      } finally {
        okBtn.disabled = false;
      }
    };
    const onClose = () => {
      cleanup();
      resolve(null);
    };
    const cleanup = () => {
      $("dialog-form").removeEventListener("submit", onSubmit);
      dlg.removeEventListener("close", onClose);
    };
    $("dialog-form").addEventListener("submit", onSubmit);
    dlg.addEventListener("close", onClose);
    dlg.showModal();
    (Object.values(inputs)[0] || okBtn).focus();
  });
}

function kickDialog(p) {
  return ask({
    title: `Kick ${p.name || `connection ${p.conn_id}`}`,
    text: `${p.addr} over ${p.transport}. The player sees BYE "kicked: <reason>" and may come back; ban the address to keep it out.`,
    fields: [{ id: "reason", label: "Reason (shown to the player)", required: true, max: 48 }],
    ok: "Kick", danger: true,
    submit: (v) => api("/api/kick", { method: "POST", body: { conn_id: p.conn_id, reason: v.reason } }),
  }).then(() => loadPlayers().catch(() => {}));
}

const durations = [["", "escalating (15m, 1h, 4h…)"], ["15m", "15 minutes"], ["1h", "1 hour"], ["24h", "1 day"], ["168h", "7 days"], ["720h", "30 days"]];
function banDialog(ip, who) {
  return ask({
    title: `Ban ${ip}`,
    text: `${who ? who + ": " : ""}every connection from this address is refused, and its open sessions end with BYE banned. Players behind the same NAT are banned too.`,
    fields: [
      { id: "duration", label: "Duration", options: durations, value: "1h" },
      { id: "reason", label: "Reason (kept with the ban)", required: true, max: 120 },
    ],
    ok: "Ban", danger: true,
    submit: (v) => api("/api/ban", { method: "POST", body: { ip, duration: v.duration, reason: v.reason } }),
  }).then(() => (state.tab === "security" ? loadSecurity() : loadPlayers()).catch(() => {}));
}

// ---- players ----
async function loadPlayers() {
  const data = await api("/api/players");
  state.players = data.players;
  renderPlayers();
}
$("player-filter").addEventListener("input", renderPlayers);
for (const th of document.querySelectorAll("#player-table th[data-sort]")) {
  th.addEventListener("click", () => {
    const key = th.dataset.sort;
    state.sort = state.sort.key === key ? { key, dir: -state.sort.dir } : { key, dir: 1 };
    renderPlayers();
  });
}
function renderPlayers() {
  const q = $("player-filter").value.trim().toLowerCase();
  const { key, dir } = state.sort;
  const rows = state.players
    .filter((p) => !q || [p.name, p.addr, p.transport, p.encoding, String(p.player_id)].some((f) => (f || "").toLowerCase().includes(q)))
    .sort((a, b) => {
      const x = a[key], y = b[key];
      return (typeof x === "number" ? x - y : String(x).localeCompare(String(y))) * dir || a.conn_id - b.conn_id;
    });
  for (const th of document.querySelectorAll("#player-table th[data-sort]")) {
    th.classList.toggle("sorted-asc", th.dataset.sort === key && dir > 0);
    th.classList.toggle("sorted-desc", th.dataset.sort === key && dir < 0);
  }
  const online = state.players.filter((p) => p.player_id).length;
  $("player-count").textContent = `${online} players, ${state.players.length} connections; ${rows.length} shown`;
  if (!rows.length) {
    $("player-table").tBodies[0].replaceChildren(el("tr", {}, el("td", { colSpan: 10, class: "hint", textContent: state.players.length ? "no connection matches the filter" : "nobody is connected" })));
    return;
  }
  $("player-table").tBodies[0].replaceChildren(...rows.map((p) => el("tr", { data: { conn: String(p.conn_id), name: p.name || "" } },
    el("td", {}, p.name ? p.name : el("span", { class: "hint", textContent: "(logging in)" }), p.guest ? " " : null, p.guest ? badge("guest") : null),
    td(p.player_id ? String(p.player_id) : "–"),
    td(p.addr),
    td(p.encoding),
    td(p.transport),
    td(fmt(p.in_rate), "num"),
    td(fmt(p.out_rate), "num"),
    td(p.rtt_ms ? p.rtt_ms.toFixed(1) : "–", "num"),
    td(when(p.since)),
    el("td", {},
      el("button", { class: "small danger", textContent: "Kick", on: { click: () => kickDialog(p) } }), " ",
      el("button", { class: "small danger", textContent: "Ban", on: { click: () => banDialog(p.addr, p.name) } })),
  )));
}

// ---- zones ----
async function loadZones() {
  const data = await api("/api/zones");
  if (!data.available) {
    $("zones-note").textContent = "This game does not report zones (it would implement admin.ZoneStater).";
    $("zone-table").tBodies[0].replaceChildren();
    return;
  }
  const prev = state.zonesPrev;
  state.zonesPrev = data;
  const secs = prev ? (data.at - prev.at) / 1000 : 0;
  const before = new Map((prev?.zones || []).map((z) => [z.id, z]));
  // The counters are cumulative since the game started: one that went
  // down means a restart in between, which leaves no rate to show.
  const rate = (z, k, per) => {
    const b = before.get(z.id);
    return b && secs > 0 && z[k] >= b[k] ? fmt(((z[k] - b[k]) / secs) * per) : "…";
  };
  $("zones-note").textContent = `${data.zones.length} zones; rates over the last ${secs ? fmt(secs) + " s" : "refresh"}.`;
  $("zone-table").tBodies[0].replaceChildren(...data.zones.map((z) => el("tr", {},
    td(z.id), td(z.name), td(fmt(z.players), "num"), td(fmt(z.entities), "num"), td(rate(z, "sync_bytes", 1), "num"),
    td(rate(z, "snapshots", 60), "num"), td(rate(z, "resyncs", 60), "num"), td(rate(z, "desyncs", 60), "num"))));
}

// ---- security ----
async function loadSecurity() {
  const [sec, bans] = await Promise.all([api("/api/security"), api("/api/bans").catch((e) => (e.code === "no_bans" ? { bans: [] } : Promise.reject(e)))]);
  const t = sec.totals;
  const kpi = (label, value) => el("div", { class: "kpi" }, el("div", { class: "label", textContent: label }), el("div", { class: "value", textContent: value }));
  $("sec-totals").replaceChildren(
    kpi("Strikes", fmt(t.strikes)), kpi("Bans from strikes", fmt(t.strike_bans)), kpi("Ban lines logged", fmt(t.bans_logged)),
    kpi("Failed account logins", fmt(t.auth_login_failed)), kpi("Rate-limited logins", fmt(t.auth_rate_limited)),
    kpi("Failed console logins", fmt(t.admin_login_failed)), kpi("Refused connections", fmt(t.refused)), kpi("Rate-limited messages", fmt(t.rate_limited)),
  );
  $("ban-table").tBodies[0].replaceChildren(...bans.bans.map((b) => el("tr", { data: { ip: b.ip } },
    el("td", {}, b.ip, b.enforced ? null : " ", b.enforced ? null : badge("allow-listed", "warn")),
    td(b.reason, "wrap"), td(when(b.created_at)), td(when(b.expires_at)), td(String(b.offences), "num"),
    el("td", {}, el("button", { class: "small", textContent: "Remove", on: { click: () => unbanDialog(b.ip) } })))));
  const none = (cols, text) => el("tr", {}, el("td", { colSpan: cols, class: "hint", textContent: text }));
  if (!bans.bans.length) $("ban-table").tBodies[0].replaceChildren(none(6, "no active bans"));
  $("strike-addr-table").tBodies[0].replaceChildren(...(sec.by_addr.length ? [] : [none(4, sec.feed ? "no strikes in the last 10 minutes" : "this server records no strikes")]), ...sec.by_addr.map((a) => el("tr", {},
    td(a.ip), td(String(a.count), "num"), td(when(a.last)),
    el("td", {}, el("button", { class: "small danger", textContent: "Ban", on: { click: () => banDialog(a.ip) } })))));
  $("strike-table").tBodies[0].replaceChildren(...(sec.strikes.length ? [] : [none(5, "no strikes yet")]), ...sec.strikes.map((s) => el("tr", {},
    td(when(s.time)), td(s.ip), td(s.reason), td(String(s.count), "num"), el("td", {}, s.banned ? badge("banned", "bad") : ""))));
}

function unbanDialog(ip) {
  return ask({
    title: `Lift the ban of ${ip}`,
    fields: [{ id: "forget", label: "Also forget its past offences (its next ban counts as a first one)", type: "checkbox" }],
    ok: "Lift ban",
    submit: (v) => api("/api/unban", { method: "POST", body: { ip, forget: v.forget } }),
  }).then(() => loadSecurity().catch(() => {}));
}

$("ban-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("ban-error").textContent = "";
  try {
    await api("/api/ban", { method: "POST", body: { ip: $("ban-ip").value, duration: $("ban-duration").value, reason: $("ban-reason").value } });
    $("ban-ip").value = "";
    $("ban-reason").value = "";
    await loadSecurity();
  } catch (e) {
    $("ban-error").textContent = e.message;
  }
});

// ---- accounts ----
let searchTimer = null;
$("account-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => loadAccounts().catch(() => {}), 250);
});
async function loadAccounts() {
  const q = encodeURIComponent($("account-search").value.trim());
  const data = await api(`/api/accounts?q=${q}&limit=200`);
  if (!data.accounts.length) {
    $("account-table").tBodies[0].replaceChildren(el("tr", {}, el("td", { colSpan: 8, class: "hint", textContent: "no account matches" })));
    return;
  }
  $("account-table").tBodies[0].replaceChildren(...data.accounts.map((a) => {
    const stateBadges = [];
    if (a.disabled) stateBadges.push(badge("disabled", "bad"));
    if (a.reset_required) stateBadges.push(badge("reset pending", "warn"));
    if (!stateBadges.length) stateBadges.push(badge("active", "ok"));
    const actions = el("td");
    if (a.role !== "admin") {
      actions.append(
        a.disabled
          ? el("button", { class: "small", textContent: "Enable", on: { click: () => accountAction("enable", a) } })
          : el("button", { class: "small danger", textContent: "Disable", on: { click: () => accountAction("disable", a) } }),
        " ",
        el("button", { class: "small danger", textContent: "Force password reset", on: { click: () => accountAction("reset", a) } }),
      );
    }
    return el("tr", { data: { name: a.name } },
      td(a.name), td(String(a.id), "num"), el("td", {}, a.role ? badge(a.role) : ""), el("td", {}, ...stateBadges),
      td(when(a.created_at)), td(when(a.last_login_at)), td(a.online ? "online" : ""), actions);
  }));
}

async function accountAction(action, a) {
  const texts = {
    disable: `Disable ${a.name}? Logins are refused and its live sessions end, until it is enabled again.`,
    enable: `Enable ${a.name} again?`,
    reset: `Force a password reset of ${a.name}? Its password is replaced by a temporary one shown once here; hand it to the owner, who must set a new password (POST /v1/password) before logging in again. Live sessions end.`,
  };
  const res = await ask({
    title: { disable: "Disable account", enable: "Enable account", reset: "Force password reset" }[action],
    text: texts[action], ok: { disable: "Disable", enable: "Enable", reset: "Reset password" }[action], danger: action !== "enable",
    submit: () => api(`/api/accounts/${action}`, { method: "POST", body: { name: a.name } }),
  });
  if (res?.temp_password) {
    await ask({
      title: `Temporary password of ${a.name}`, text: "Shown once: it is not stored or logged anywhere.",
      secret: res.temp_password, ok: "Done", submit: async () => null,
    });
  }
  loadAccounts().catch(() => {});
}

// ---- audit ----
$("audit-actor").addEventListener("change", () => loadAudit().catch(() => {}));
$("audit-action").addEventListener("change", () => loadAudit().catch(() => {}));
async function loadAudit() {
  const p = new URLSearchParams({ limit: "200" });
  if ($("audit-actor").value.trim()) p.set("actor", $("audit-actor").value.trim());
  if ($("audit-action").value) p.set("action", $("audit-action").value);
  const data = await api(`/api/audit?${p}`);
  $("audit-table").tBodies[0].replaceChildren(...data.entries.map((e) => el("tr", { data: { action: e.action } },
    td(when(e.at)), td(e.actor), el("td", {}, badge(e.action)), td(e.target, "wrap"), td(e.detail, "wrap"), td(e.addr))));
}

// ---- logs ----
$("log-level").addEventListener("change", () => loadLogs().catch(() => {}));
$("log-filter").addEventListener("input", () => loadLogs().catch(() => {}));
async function loadLogs() {
  const p = new URLSearchParams({ level: $("log-level").value, limit: "300" });
  if ($("log-filter").value.trim()) p.set("q", $("log-filter").value.trim());
  const data = await api(`/api/logs?${p}`);
  $("log-note").textContent = data.available ? `${data.records.length} records (newest first; the server keeps the last 1000 warnings and errors)` : "The server keeps no log tail.";
  $("log-table").tBodies[0].replaceChildren(...data.records.slice().reverse().map((r) => el("tr", {},
    td(when(r.time)), td(r.level, `level-${r.level}`), td(r.msg, "wrap"), td(r.attrs, "wrap"))));
}

// ---- boot ----
api("/api/session").then(start, () => showLogin());
