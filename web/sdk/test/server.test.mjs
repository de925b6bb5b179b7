// The SDK against the real Go server: `tickwire serve` on free ports, the
// Client over WebSocket (the ws package: Node 20 has no global WebSocket)
// in each encoding. It checks login, chat, PING, STATS, the replica model
// against the server's own snapshot and resync checksums (no DESYNC may be
// sent), prediction with DRIVE/ACK, LOG reaching the server log, and the
// account flow through the page origin's /v1 API.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Client, Predictor, AuthError, ServerError, TooLongError, IDs } from "../dist/index.js";
import { startServer } from "../../testutil/server.mjs";

let srv;

before(async () => {
  srv = await startServer();
});

after(async () => {
  await srv?.stop();
});

function newClient(encoding, extra = {}) {
  return new Client({ url: srv.wsURL, authBase: srv.httpURL, encoding, WebSocket, pingInterval: 200, statsInterval: 200, ...extra });
}

/** pump calls update every 10 ms until cond() holds, or fails after ms. */
async function until(client, cond, what, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    client.update();
    if (cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// The server sends the first resync slice one resync period (30 s) after
// the snapshot, so the three encodings run at once.
test("every encoding: guest login, snapshot and resync verify against the server's checksums, chat, ping, stats", async () => {
  await Promise.all(["msgpack", "json", "text"].map((encoding) => playAs(encoding)));
});

async function playAs(encoding) {
  {
    const c = newClient(encoding);
    const seen = { SNAPEND: 0, RSLICE: 0, STATE: 0, chat: [] };
    c.on("SNAPEND", () => seen.SNAPEND++);
    c.on("RSLICE", () => seen.RSLICE++);
    c.on("STATE", () => seen.STATE++);
    c.on("CHAT", (m) => seen.chat.push(`${m.from}: ${m.text}`));
    await c.connect();
    assert.equal(c.encoding, encoding);
    const w = await c.loginGuest();
    assert.match(w.name, /^guest/);
    // The arena narrates to text connections for people at nc; a program
    // asks for the sync stream (docs/PROTOCOL.md §7).
    if (encoding === "text") c.send({ type: "MODE", mode: "sync" });
    // LIMITS came with WELCOME: the server's defaults.
    await until(c, () => c.limits !== null, "LIMITS");
    assert.deepEqual(c.limits, { tickRate: 20, maxMessage: 4096 });
    assert.equal(c.tickRate, 20);
    // The first snapshot, then a resync slice (the first comes right after it).
    await until(c, () => seen.SNAPEND > 0 && !c.model.loading, "the snapshot");
    assert.ok(c.model.zone.w > 0 && c.model.zone.h > 0);
    assert.ok(c.model.kindByName("tank"), "KIND tank");
    const own = [...c.model.entities()].find((e) => e.name === w.name);
    assert.ok(own, "the own tank is in the snapshot");
    await until(c, () => seen.RSLICE > 0, "a resync slice", 45000);
    assert.equal(c.stats().desyncsSent, 0, "the model disagreed with the server's checksums");
    assert.equal(c.decodeErrors, 0);

    const text = `hello from ${encoding} ☃ "quoted"`;
    c.send({ type: "SAY", text });
    await until(c, () => seen.chat.includes(`${w.name}: ${text}`), "our CHAT");

    const pong = await c.request({ type: "PING", token: "x1" });
    assert.deepEqual(pong.msg, { type: "PONG", token: "x1" });
    await until(c, () => Number.isFinite(c.stats().rttSmoothed) && Number.isFinite(c.stats().serverTickUs), "RTT and SERVERSTATS");
    const st = c.stats();
    assert.ok(st.rttSmoothed >= 0 && st.rttSmoothed < 1000, `rtt ${st.rttSmoothed}`);
    assert.equal(st.serverTickRate, 20);
    assert.ok(st.bytesIn > 0 && st.bytesOut > 0);

    await assert.rejects(c.request({ type: "OPEN", id: 999999 }), (e) => e instanceof ServerError && e.code === "no_chest");
    await c.quit();
    assert.equal(c.closeReason, "quit");
  }
}

test("prediction: DRIVE inputs are acknowledged with the predicted position", async () => {
  const c = newClient("msgpack");
  await c.connect();
  const w = await c.loginGuest();
  await until(c, () => !c.model.loading && c.model.zone.id > 0 && [...c.model.entities()].some((e) => e.name === w.name), "the snapshot");
  const own = [...c.model.entities()].find((e) => e.name === w.name);
  // A straight step of 3 units along a free axis, the arena's Step.
  const free = (x, y) => c.model.tile(Math.trunc(x / 10), Math.trunc(y / 10)) === 0;
  const start = { x: own.vals[0], y: own.vals[1] };
  const dirs = [[3, 0], [-3, 0], [0, 3], [0, -3]];
  const [dx, dy] = dirs.find(([dx, dy]) => [1, 2, 3, 4, 5].every((k) => free(start.x + dx * k, start.y + dy * k)));
  const step = (s) => ({ x: s.x + dx, y: s.y + dy });
  const p = new Predictor(start, step);
  let snapped = 0;
  c.on("ACK", (m) => {
    if (p.ack(m.seq, { x: m.vals[0], y: m.vals[1] }).snapped) snapped++;
  });
  for (let seq = 1; seq <= 5; seq++) {
    const next = p.input(seq, null);
    c.send({ type: "DRIVE", seq, x: next.x, y: next.y });
    await new Promise((r) => setTimeout(r, 60));
    c.update();
  }
  await until(c, () => p.lastAcked === 5, "ACK 5");
  assert.equal(snapped, 0, "the server disagreed with an allowed move");
  assert.deepEqual(p.state, { x: start.x + 5 * dx, y: start.y + 5 * dy });
  assert.equal(c.model.entity(own.id).vals[0], p.state.x);
  // An impossible move is refused and the ACK snaps the prediction back.
  const far = { x: Math.min(p.state.x + 200, 470), y: p.state.y };
  c.send({ type: "DRIVE", seq: 6, x: far.x, y: far.y });
  p.input(6, null);
  await until(c, () => p.lastAcked === 6, "ACK 6");
  assert.equal(snapped, 1);
  assert.deepEqual(p.state, { x: start.x + 5 * dx, y: start.y + 5 * dy });
  c.close();
});

test("LOG lines from the client reach the server log", async () => {
  const c = newClient("json");
  await c.connect();
  await c.loginGuest();
  assert.equal(c.reportError(new Error("sdk test error 7f3a")), true);
  const end = Date.now() + 5000;
  while (!srv.logs().includes("sdk test error 7f3a") && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.match(srv.logs(), /client log.*sdk test error 7f3a/);
  c.close();
});

test("accounts: register and log in through the page origin's /v1 API, then AUTH with the token", async (t) => {
  if (!(await srv.hasAccounts())) {
    t.skip("the server does not serve the auth API on its HTTP origin (/v1/...)");
    return;
  }
  const c = newClient("msgpack");
  await c.connect();
  const name = `sdk${Date.now() % 100000}`;
  const w = await c.register(name, "correct horse battery staple");
  assert.deepEqual(w.name, name);
  c.close();
  // A wrong password is refused by the service; the right one works again.
  const d = newClient("text");
  await d.connect();
  await assert.rejects(d.login(name, "wrong password here"), (e) => e instanceof AuthError && e.code === "bad_credentials");
  const w2 = await d.login(name, "correct horse battery staple");
  assert.equal(w2.name, name);
  d.close();
});

test("the message ids match the server's HELP", async () => {
  const c = newClient("text");
  await c.connect();
  const lines = [];
  c.on("INFO", (m) => lines.push(m.text));
  c.send({ type: "HELP" });
  await until(c, () => lines.some((l) => l.startsWith("strings with spaces")), "HELP");
  for (const name of ["SAY", "DRIVE", "OPEN", "TAKE", "PUT"]) {
    assert.ok(IDs[name], `${name} in the generated module`);
    assert.ok(lines.some((l) => l.startsWith(name + " ") || l === name), `${name} in HELP`);
  }
  c.close();
});

test("a dropped connection is resumed: same id and tank, a fresh snapshot that verifies, no DESYNC, and the game carries on", async () => {
  const c = newClient("msgpack");
  const events = [];
  for (const e of ["reconnecting", "resumed", "lost"]) c.on(e, (ev) => events.push([e, ev]));
  let snapshots = 0;
  c.on("SNAPEND", () => snapshots++);
  await c.connect();
  const w = await c.loginGuest();
  await until(c, () => snapshots === 1 && !c.model.loading && [...c.model.entities()].some((e) => e.name === w.name), "the snapshot");
  assert.ok(c.seatHoldMs > 0, "the server sent SEAT");
  const tank = [...c.model.entities()].find((e) => e.name === w.name).id;
  assert.equal(c.debugDropConnection(), true);
  assert.equal(c.state, "reconnecting");
  await until(c, () => c.state === "joined", "the resume", 15000);
  assert.deepEqual(c.welcome, w, "the same player");
  assert.deepEqual(events.map(([e]) => e), ["reconnecting", "resumed"]);
  assert.equal(events[1][1].id, w.id);
  await until(c, () => snapshots === 2 && !c.model.loading, "the fresh snapshot");
  const own = c.model.entity(tank);
  assert.ok(own && own.name === w.name, "the same tank");
  const seen = [];
  c.on("CHAT", (m) => seen.push(m.text));
  c.send({ type: "SAY", text: "back again" });
  await until(c, () => seen.includes("back again"), "our CHAT after the resume");
  assert.equal(c.stats().desyncsSent, 0);
  assert.equal(c.stats().resumes, 1);
  await c.quit();
  assert.equal(c.closeReason, "quit");
});

test("the server's limits: a server run with --tick 30 --max-message 64: the client learns both at login, refuses longer messages before sending them, and reads the server's own longer ones", async () => {
  const small = await startServer({ args: ["--tick", "30", "--max-message", "64"] });
  try {
    for (const encoding of ["msgpack", "text"]) {
      const c = new Client({ url: small.wsURL, encoding, WebSocket, pingInterval: 200, statsInterval: 200 });
      const limits = [];
      c.on("limits", (l) => limits.push(l));
      await c.connect();
      assert.equal(c.maxMessage, 4096, "the default before login");
      const w = await c.loginGuest();
      if (encoding === "text") c.send({ type: "MODE", mode: "sync" });
      await until(c, () => limits.length > 0, "LIMITS");
      assert.deepEqual(limits, [{ tickRate: 30, maxMessage: 64 }]);
      assert.equal(c.tickRate, 30);
      assert.equal(c.maxMessage, 64);
      // The snapshot's lines are longer than 64 bytes: the reader takes them.
      let snapshots = 0;
      c.on("SNAPEND", () => snapshots++);
      await until(c, () => snapshots > 0 && !c.model.loading && [...c.model.entities()].some((e) => e.name === w.name), "the snapshot");
      assert.equal(c.decodeErrors, 0);
      // A chat line over 64 bytes never leaves; the server would have
      // struck the address and closed with BYE too_long.
      const chat = [];
      c.on("CHAT", (m) => chat.push(m.text));
      assert.throws(() => c.send({ type: "SAY", text: "a".repeat(80) }), (e) => e instanceof TooLongError && e.limit === 64);
      c.send({ type: "SAY", text: "short" });
      await until(c, () => chat.includes("short"), "the short chat line");
      assert.equal(c.state, "joined");
      await until(c, () => c.stats().serverTickRate === 30, "SERVERSTATS");
      await c.quit();
      assert.equal(c.closeReason, "quit");
    }
    assert.doesNotMatch(small.logs(), /too_long/);
  } finally {
    await small.stop();
  }
});
