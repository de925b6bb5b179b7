// The Client's automatic reconnect (SEAT / RESUME, docs/PROTOCOL.md) against
// a scripted fake WebSocket, with mocked timers and clock: which drops are
// resumed and which end the session, the jittered back-off and its bounds,
// the end of the seat hold, a refused RESUME, the order of the events,
// close() during a reconnect, and what happens to requests, LOG lines,
// the model and the prediction across a resume.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as sdk from "../dist/index.js";

const { Client, ClosedError, Predictor, decode, tilesHash, entityHash } = sdk;

const TOKEN1 = "A".repeat(21) + "-_" + "a".repeat(20); // 43 chars of base64url, like the server's
const TOKEN2 = "B".repeat(43);
const TOKEN3 = "C".repeat(43);

/** FakeSocket is a WebSocket the test drives; every one made is in FakeSocket.all. */
class FakeSocket {
  static all = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.protocol = "";
    this.binaryType = "blob";
    this.sent = [];
    this.closedBy = null;
    this.bornAt = FakeSocket.clock?.t;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeSocket.all.push(this);
  }
  open(protocol = this.protocols[0]) {
    if (this.readyState !== 0) return;
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.({});
  }
  send(data) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(data);
  }
  /** close is the client closing (browsers report the close event later; here it comes at once). */
  close(code, reason) {
    if (this.readyState >= 2) return;
    this.closedBy = { code, reason };
    this.readyState = 3;
    this.onclose?.({ code: code ?? 1005, reason: reason ?? "" });
  }
  /** drop is the server or the network ending the connection: code 1006 and no reason unless given. */
  drop(code = 1006, reason = "") {
    if (this.readyState === 3) return;
    this.readyState = 3;
    if (code === 1006) this.onerror?.({});
    this.onclose?.({ code, reason });
  }
  deliver(text) {
    this.onmessage?.({ data: text });
  }
  /** lines returns what the client sent, as text lines without the newline. */
  lines() {
    return this.sent.map((d) => d.replace(/\n$/, ""));
  }
}

/**
 * setup makes a text-encoding client on fake sockets, a clock and timers
 * the test advances, and a log of every state change and client event.
 */
function setup(t, opts = {}) {
  FakeSocket.all = [];
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const clock = { t: 50000 };
  FakeSocket.clock = clock;
  const client = new Client({
    url: "ws://test/ws",
    WebSocket: FakeSocket,
    now: () => clock.t,
    pingInterval: 0,
    statsInterval: 0,
    encoding: "text",
    random: () => 0.5,
    ...opts,
  });
  const log = [];
  const events = [];
  client.onState((s) => log.push(`state ${s}`));
  for (const name of ["reconnecting", "resumed", "lost", "moved"]) {
    client.on(name, (ev) => {
      events.push({ type: name, ...ev });
      log.push(`${name}${ev.attempt ? " " + ev.attempt : ""}`);
    });
  }
  /** advance moves the clock and the timers ms milliseconds, one at a time, so each timer sees its own time. */
  const advance = (ms) => {
    for (let i = 0; i < ms; i++) {
      clock.t++;
      t.mock.timers.tick(1);
    }
  };
  return { client, clock, advance, log, events };
}

/** join connects, logs in as guest-7 and delivers SEAT with token and hold. */
async function join(t, opts = {}, { token = TOKEN1, hold = 30000 } = {}) {
  const env = setup(t, opts);
  const { client } = env;
  const p = client.connect();
  const ws = FakeSocket.all.at(-1);
  ws.open();
  await p;
  const w = client.loginGuest();
  const enc = client.encoding === "json" ? sdk.encodeJSON : sdk.encodeText;
  ws.deliver(
    [
      { type: "INFO", text: "tickwire arena on 127.0.0.1:5001: AUTH guest to play" },
      { type: "WELCOME", id: 7, name: "guest-7" },
      { type: "SEAT", token, hold_ms: hold },
      { type: "INFO", text: "you drive tank 7" },
    ]
      .map((m) => enc(m))
      .join(""),
  );
  await w;
  env.log.length = 0;
  return { ...env, ws };
}

/** resumeOn opens socket ws (an attempt) and answers its RESUME with WELCOME and SEAT token. */
function resumeOn(ws, token = TOKEN2) {
  ws.open();
  ws.deliver(`INFO "tickwire arena on 127.0.0.1:5001: AUTH guest to play"\nWELCOME 7 guest-7\nSEAT ${token} 30000\n`);
}

test("a drop without BYE is resumed: same subprotocol, RESUME name token, then WELCOME; the token is never dispatched", async (t) => {
  const { client, advance, log, events } = await join(t, { encoding: "json" });
  const seats = [];
  client.on("SEAT", (m) => seats.push(m));
  client.onAny((env) => env.msg.type === "SEAT" && seats.push(env.msg));
  const first = FakeSocket.all[0];
  assert.deepEqual(first.protocols, ["tickwire.json"]);
  first.drop();
  assert.equal(client.state, "reconnecting");
  assert.deepEqual(events, [{ type: "reconnecting", attempt: 1, reason: "connection lost", error: "", delay: 50 }]);
  assert.equal(client.send({ type: "SAY", text: "into the gap" }), false, "send drops while reconnecting");
  advance(49);
  assert.equal(FakeSocket.all.length, 1, "not before the back-off delay");
  advance(1);
  assert.equal(FakeSocket.all.length, 2);
  const ws = FakeSocket.all[1];
  assert.deepEqual(ws.protocols, ["tickwire.json"], "the same subprotocol");
  ws.open();
  const sent = ws.sent.map((d) => decode("json", new TextEncoder().encode(d.trim())));
  assert.equal(sent.length, 1, "RESUME and nothing else before WELCOME");
  assert.equal(sent[0].msg.type, "RESUME");
  assert.equal(sent[0].msg.user, "guest-7");
  assert.equal(sent[0].msg.token, TOKEN1);
  assert.ok(sent[0].rid > 0);
  ws.deliver(JSON.stringify({ type: "WELCOME", id: 7, name: "guest-7" }) + "\n" + JSON.stringify({ type: "SEAT", token: TOKEN2, hold_ms: 30000 }) + "\n");
  assert.equal(client.state, "joined");
  assert.deepEqual(client.welcome, { id: 7, name: "guest-7" });
  assert.deepEqual(events.at(-1), { type: "resumed", id: 7, name: "guest-7", attempts: 1, downtime: 50, moved: false });
  assert.deepEqual(log, ["state reconnecting", "reconnecting 1", "state joined", "resumed"]);
  assert.equal(client.send({ type: "SAY", text: "back" }), true);
  client.update();
  assert.deepEqual(seats, [], "SEAT carries a credential: it is not dispatched");
  assert.equal(client.stats().resumes, 1);
  assert.equal(client.seatHoldMs, 30000);
  assert.ok(!JSON.stringify(client).includes(TOKEN2), "the token is not in the client's enumerable state");

  // The next drop resumes with the new token (the old one was single-use).
  ws.drop(1008, "timeout");
  advance(100);
  const again = FakeSocket.all[2];
  again.open();
  assert.equal(decode("json", new TextEncoder().encode(again.sent[0].trim())).msg.token, TOKEN2);
});

test("BYE timeout, BYE slow_consumer and a bare close keep the seat: the client reconnects", async (t) => {
  for (const [bye, code, closeReason] of [
    ["timeout", 1008, "timeout"],
    ["slow_consumer", 1008, "slow_consumer"],
    ["", 1006, ""],
    ["", 1000, "closed"], // the server's close after the peer went away
    ["", 1008, "timeout"], // the BYE was lost, the close frame says it
  ]) {
    const { client, ws, advance, events } = await join(t);
    if (bye) ws.deliver(`BYE ${bye}\n`);
    ws.drop(code, closeReason);
    assert.equal(client.state, "reconnecting", `after BYE ${bye || "(none)"} / close ${code} ${closeReason}`);
    assert.equal(events[0].type, "reconnecting");
    advance(100);
    assert.equal(FakeSocket.all.length, 2, `a new socket after ${bye || code}`);
    client.close();
    t.mock.timers.reset();
  }
});

test("BYE reasons that release the seat end the session: lost, no new socket", async (t) => {
  for (const [bye, code, closeReason] of [
    ["kicked", 1008, "kicked"],
    ["afk", 1008, "afk"], // a game's own kick reason
    ["banned", 1008, "banned"],
    ["shutdown", 1001, "shutdown"],
    ["too_long", 1009, "too_long"],
    ["resumed", 1008, "resumed"],
    ["seat_expired", 1008, "seat_expired"],
    ["join_refused", 1008, "join_refused"],
    ["", 1008, "banned"], // no BYE message, but the close frame names the reason
  ]) {
    const { client, ws, advance, events, log } = await join(t);
    if (bye) ws.deliver(`BYE ${bye}\n`);
    ws.drop(code, closeReason);
    const why = bye || closeReason;
    assert.equal(client.state, "closed", why);
    assert.deepEqual(events, [{ type: "lost", reason: why }], why);
    assert.deepEqual(log, ["lost", "state closed"]);
    assert.equal(client.closeReason, why);
    advance(60000);
    assert.equal(FakeSocket.all.length, 1, `no reconnect after ${why}`);
    t.mock.timers.reset();
  }
});

test("BYE quit (the answer to quit()) is neither a reconnect nor lost", async (t) => {
  const { client, ws, advance, events } = await join(t);
  const done = client.quit();
  assert.equal(ws.lines().at(-1), "QUIT");
  ws.deliver("BYE quit\n");
  ws.drop(1000, "quit");
  await done;
  assert.equal(client.state, "closed");
  assert.equal(client.closeReason, "quit");
  assert.deepEqual(events, []);
  advance(5000);
  assert.equal(FakeSocket.all.length, 1);
});

test("a drop while quitting is not resumed", async (t) => {
  const { client, ws, advance, events } = await join(t);
  const done = client.quit();
  ws.drop();
  await done;
  assert.equal(client.state, "closed");
  assert.deepEqual(events, []);
  advance(5000);
  assert.equal(FakeSocket.all.length, 1);
});

test("without a seat (no SEAT, or hold 0) a drop is lost at once", async (t) => {
  const { client, ws, advance, events } = await join(t, {}, { hold: 0 });
  assert.equal(client.seatHoldMs, 0);
  ws.drop();
  assert.equal(client.state, "closed");
  assert.deepEqual(events, [{ type: "lost", reason: "connection lost" }]);
  advance(5000);
  assert.equal(FakeSocket.all.length, 1);
});

test("reconnect: false turns it off", async (t) => {
  const { client, ws, events } = await join(t, { reconnect: false });
  ws.drop();
  assert.equal(client.state, "closed");
  assert.deepEqual(events, [{ type: "lost", reason: "connection lost" }]);
});

test("a drop before login is not resumed and not lost: it closes", async (t) => {
  const { client, events } = setup(t);
  const p = client.connect();
  FakeSocket.all[0].open();
  await p;
  FakeSocket.all[0].drop();
  assert.equal(client.state, "closed");
  assert.deepEqual(events, []);
});

test("back-off: full jitter under 100 ms doubling to 2 s; attempts stop when the hold is over", async (t) => {
  for (const r of [0.999, 0, 0.5]) {
    const { client, ws, advance, events, log } = await join(t, { random: () => r }, { hold: 12000 });
    ws.drop();
    // Every attempt fails to connect at once.
    let seen = 1;
    const start = client.now();
    for (let ms = 0; ms < 20000 && client.state === "reconnecting"; ms++) {
      advance(1);
      while (FakeSocket.all.length > seen) FakeSocket.all[seen++].drop();
    }
    const created = FakeSocket.all.slice(1).map((s) => s.bornAt - start);
    const delays = events.filter((e) => e.type === "reconnecting").map((e) => e.delay);
    const bounds = delays.map((_, i) => Math.min(2000, 100 * 2 ** i));
    for (let i = 0; i < delays.length; i++) {
      assert.ok(delays[i] >= 0 && delays[i] <= bounds[i], `delay ${i + 1} = ${delays[i]} within [0, ${bounds[i]}] (random ${r})`);
      if (r === 0.999 && i < delays.length - 1) assert.equal(delays[i], Math.floor(0.999 * bounds[i]));
      if (r === 0) assert.equal(delays[i], 0);
    }
    // Each socket came its delay after the previous one failed (a 0 ms
    // delay shows as 1 ms: the test's clock moves in 1 ms steps).
    let at = 0;
    for (let i = 0; i < created.length; i++) {
      at += Math.max(delays[i], 1);
      assert.equal(created[i], at, `attempt ${i + 1} at ${at} ms (random ${r})`);
    }
    assert.ok(created.length >= 3, `several attempts (${created.length})`);
    assert.ok(created.at(-1) <= 12000, "no attempt after the hold");
    assert.equal(client.state, "closed");
    const lost = events.at(-1);
    assert.equal(lost.type, "lost");
    assert.match(lost.reason, /^seat hold expired/);
    assert.deepEqual(log.slice(-2), ["lost", "state closed"]);
    assert.deepEqual(
      events.filter((e) => e.type === "reconnecting").map((e) => e.attempt),
      created.map((_, i) => i + 1),
      "one reconnecting event per attempt, numbered",
    );
    assert.equal(events[1]?.error ?? "connection failed", "connection failed", "later attempts say why the previous one failed");
    const n = FakeSocket.all.length;
    advance(30000);
    assert.equal(FakeSocket.all.length, n, "nothing after lost");
    t.mock.timers.reset();
  }
});

test("the default jitter (Math.random) stays within the bounds", async (t) => {
  const { client, ws, advance, events } = await join(t, { random: undefined }, { hold: 8000 });
  ws.drop();
  let seen = 1;
  while (client.state === "reconnecting") {
    advance(1);
    while (FakeSocket.all.length > seen) FakeSocket.all[seen++].drop();
  }
  const delays = events.filter((e) => e.type === "reconnecting").map((e) => e.delay);
  assert.ok(delays.length >= 4);
  delays.forEach((d, i) => assert.ok(d >= 0 && d <= Math.min(2000, 100 * 2 ** i), `delay ${i + 1}: ${d}`));
});

test("a refused RESUME (ERR resume bad_token) is lost at once, with no retry storm", async (t) => {
  const { client, advance, events, log } = await join(t);
  FakeSocket.all[0].drop();
  advance(50);
  const ws = FakeSocket.all[1];
  ws.open();
  const rid = /^@(\d+) RESUME guest-7 /.exec(ws.lines()[0])?.[1];
  assert.ok(rid, ws.lines()[0]);
  ws.deliver(`@${rid} ERR resume "bad_token no seat is held for that name and token"\n`);
  assert.equal(client.state, "closed");
  assert.equal(events.at(-1).type, "lost");
  assert.match(events.at(-1).reason, /^resume refused: resume bad_token/);
  assert.deepEqual(log, ["state reconnecting", "reconnecting 1", "lost", "state closed"]);
  assert.ok(ws.closedBy, "the client closed the refused socket");
  advance(60000);
  assert.equal(FakeSocket.all.length, 2, "no further attempt");
});

test("ERR resume then BYE seat_expired (the seat went away meanwhile) is lost once", async (t) => {
  const { client, advance, events } = await join(t);
  FakeSocket.all[0].drop();
  advance(50);
  const ws = FakeSocket.all[1];
  ws.open();
  ws.deliver(`ERR resume "bad_token the seat was released"\nBYE seat_expired\n`);
  ws.drop(1008, "seat_expired");
  assert.equal(client.state, "closed");
  assert.deepEqual(events.filter((e) => e.type === "lost").length, 1);
  advance(10000);
  assert.equal(FakeSocket.all.length, 2);
});

test("a failed attempt is retried: refused connection, BYE timeout before WELCOME, ERR rate_limited, no answer", async (t) => {
  const { client, advance, events } = await join(t, { resumeTimeout: 3000 });
  FakeSocket.all[0].drop();
  advance(50);
  FakeSocket.all[1].drop(); // connection refused
  advance(100);
  const s2 = FakeSocket.all[2];
  s2.open();
  s2.deliver("BYE timeout\n");
  s2.drop(1008, "timeout");
  advance(200);
  const s3 = FakeSocket.all[3];
  s3.open();
  const rid = /^@(\d+) RESUME/.exec(s3.lines()[0])[1];
  s3.deliver(`@${rid} ERR rate_limited RESUME\n`);
  assert.ok(s3.closedBy, "the rate-limited socket is closed");
  advance(400);
  const s4 = FakeSocket.all[4];
  s4.open(); // and then silence
  advance(2999);
  assert.equal(s4.closedBy, null);
  advance(1);
  assert.ok(s4.closedBy, "an attempt with no answer is given up after resumeTimeout");
  advance(800);
  const s5 = FakeSocket.all[5];
  resumeOn(s5);
  assert.equal(client.state, "joined");
  assert.deepEqual(
    events.map((e) => [e.type, e.attempt ?? e.attempts, e.error]),
    [
      ["reconnecting", 1, ""],
      ["reconnecting", 2, "connection failed"],
      ["reconnecting", 3, "timeout"],
      ["reconnecting", 4, "rate_limited"],
      ["reconnecting", 5, "no answer to RESUME in 3000 ms"],
      ["resumed", 5, undefined],
    ],
  );
  // The late close events of abandoned sockets change nothing.
  s4.drop();
  s3.drop();
  assert.equal(client.state, "joined");
});

test("close() during a reconnect stops it: while waiting, and while an attempt is open", async (t) => {
  {
    const { client, advance, events, log } = await join(t);
    FakeSocket.all[0].drop();
    client.close();
    assert.equal(client.state, "closed");
    advance(30000);
    assert.equal(FakeSocket.all.length, 1, "no attempt after close()");
    assert.deepEqual(events.map((e) => e.type), ["reconnecting"], "close() is not lost");
    assert.deepEqual(log, ["state reconnecting", "reconnecting 1", "state closed"]);
    t.mock.timers.reset();
  }
  {
    const { client, advance, events } = await join(t);
    FakeSocket.all[0].drop();
    advance(50);
    const ws = FakeSocket.all[1];
    ws.open();
    client.close();
    assert.ok(ws.closedBy, "the attempt's socket is closed");
    ws.deliver("WELCOME 7 guest-7\n"); // too late: ignored
    assert.equal(client.state, "closed");
    advance(30000);
    assert.equal(FakeSocket.all.length, 2);
    assert.deepEqual(events.map((e) => e.type), ["reconnecting"]);
  }
});

test("quit() while reconnecting stops it", async (t) => {
  const { client, advance } = await join(t);
  FakeSocket.all[0].drop();
  await client.quit();
  assert.equal(client.state, "closed");
  advance(30000);
  assert.equal(FakeSocket.all.length, 1);
});

test("debugDropConnection drops the socket like the network would, and the client resumes", async (t) => {
  const { client, ws, advance, log } = await join(t);
  assert.equal(client.debugDropConnection(), true);
  assert.deepEqual(ws.closedBy, { code: 4000, reason: "debug drop" });
  assert.equal(client.state, "reconnecting");
  assert.equal(client.debugDropConnection(), false, "nothing to drop while waiting");
  advance(50);
  resumeOn(FakeSocket.all[1]);
  assert.deepEqual(log, ["state reconnecting", "reconnecting 1", "state joined", "resumed"]);
});

test("requests in flight reject at the drop; request() while reconnecting rejects; LOG lines wait for the resume", async (t) => {
  const { client, advance } = await join(t, { logBurst: 5 });
  const inFlight = client.request({ type: "LOOK" });
  FakeSocket.all[0].drop();
  await assert.rejects(inFlight, (e) => e instanceof ClosedError);
  await assert.rejects(client.request({ type: "HELP" }), (e) => e instanceof ClosedError && e.reason === "reconnecting");
  assert.equal(client.log("error", "during the gap"), true);
  advance(50);
  const ws = FakeSocket.all[1];
  ws.open();
  assert.equal(ws.lines().length, 1, "only RESUME before WELCOME");
  resumeOn(ws);
  assert.deepEqual(ws.lines().slice(1), ["LOG error during the gap"]);
});

test("banner lines are marked as arriving before login, on the first connection and on each resume", async (t) => {
  const { client, advance } = await join(t);
  const infos = [];
  client.on("INFO", (m) => infos.push([m.text, client.arrivedBeforeLogin(m)]));
  client.update();
  FakeSocket.all[0].drop();
  advance(50);
  resumeOn(FakeSocket.all[1]);
  FakeSocket.all[1].deliver('INFO "welcome back"\n');
  client.update();
  assert.deepEqual(infos, [
    ["tickwire arena on 127.0.0.1:5001: AUTH guest to play", true],
    ["you drive tank 7", false],
    ["tickwire arena on 127.0.0.1:5001: AUTH guest to play", true],
    ["welcome back", false],
  ]);
});

test("on resume the model is rebuilt from the fresh snapshot without DESYNC, and the predictor drops inputs in flight", async (t) => {
  const { client, advance, events } = await join(t);
  const ws = FakeSocket.all[0];
  const snapshot = (snap, ents) => {
    const tiles = [0, 0, 0, 0];
    let sum = tilesHash(2, 2, tiles);
    for (const [id, x, y, name] of ents) sum = (sum + entityHash(id, 1, [x, y], name)) >>> 0;
    return [
      "KIND 1 tank x,y",
      `ZONE 1 ${snap} 2 2 10`,
      "TILES 0 0 0,0",
      "TILES 0 1 0,0",
      ...ents.map(([id, x, y, name]) => `ENTER ${id} 1 ${x},${y} ${name}`),
      `SNAPEND ${snap} ${ents.length} ${sum}`,
    ].join("\n") + "\n";
  };
  ws.deliver(snapshot(1, [[7, 5, 5, "guest-7"], [9, 15, 15, "bot-1"]]));
  client.update();
  const p = new Predictor({ x: 5, y: 5 }, (s, dx) => ({ x: s.x + dx, y: s.y }));
  const pr = client.predict(p, (seq, dx) => ({ type: "DRIVE", seq, x: p.state.x + dx, y: p.state.y }), (a) => ({ x: a.vals[0], y: a.vals[1] }));
  pr.input(1);
  pr.input(1);
  assert.equal(p.pendingCount, 2);
  ws.deliver("ACK 1 7 6,5\n"); // arrived, not yet dispatched
  ws.drop();
  assert.equal(p.pendingCount, 0, "inputs in flight are dropped at the drop");
  assert.deepEqual(p.state, { x: 7, y: 5 }, "the prediction stays where it was");
  assert.equal(pr.input(1), null, "nothing predicted while reconnecting");
  client.update(); // the ACK that came before the drop
  advance(50);
  const ws2 = FakeSocket.all[1];
  resumeOn(ws2);
  // The arena: SPAWN, INFO, then a fresh snapshot (bot-1 is gone, we moved one unit), then the ACK.
  ws2.deliver('SPAWN 7 guest-7 6 5\nINFO "welcome back"\n' + snapshot(2, [[7, 6, 5, "guest-7"]]) + "ACK 1 7 6,5\n");
  client.update();
  assert.equal(client.model.size, 1, "what the model held before is gone");
  assert.equal(client.model.entity(9), undefined);
  assert.deepEqual([...client.model.entity(7).vals.slice(0, 2)], [6, 5]);
  assert.equal(client.model.loading, false);
  assert.equal(client.stats().desyncsSent, 0, "no DESYNC");
  assert.deepEqual(p.state, { x: 6, y: 5 }, "the prediction follows the server after the resume");
  assert.equal(pr.input(1).x, 7, "and carries on");
  assert.equal(ws2.lines().at(-1), `DRIVE ${pr.seq} 7 5`);
  assert.equal(events.at(-1).type, "resumed");
});

// ---- MOVED: continuing on another server (docs/PROTOCOL.md §5.3) ----

/** resumeLine decodes the RESUME an attempt socket sent (text encoding). */
function resumeLine(ws) {
  const line = ws.lines().find((l) => /^(@\d+ )?RESUME /.test(l));
  assert.ok(line, `no RESUME on ${ws.url}: ${ws.lines()}`);
  const m = /^(?:@(\d+) )?RESUME (\S+) (\S+)$/.exec(line);
  return { rid: Number(m[1] ?? 0), user: m[2], token: m[3] };
}

test("MOVED then BYE moved: the client follows at once to the ws URL with the ticket, no reconnecting, moved then resumed with the new id", async (t) => {
  const { client, ws, log, events } = await join(t);
  const dispatched = [];
  client.onAny((env) => dispatched.push(env.msg.type));
  ws.deliver("MOVED b.test:5001 ws://b.test/ws TICKET1\nBYE moved\n");
  ws.drop(1008, "moved");
  assert.equal(FakeSocket.all.length, 2, "dialled at once, no back-off");
  const next = FakeSocket.all[1];
  assert.equal(next.url, "ws://b.test/ws");
  assert.deepEqual(next.protocols, ["tickwire.text"]);
  next.open();
  assert.deepEqual(resumeLine(next), { rid: resumeLine(next).rid, user: "guest-7", token: "TICKET1" });
  assert.equal(client.send({ type: "SAY", text: "mid-move" }), false, "send drops during the move");
  next.deliver(`WELCOME 12 guest-7\nSEAT ${TOKEN3} 30000\n`);
  assert.equal(client.state, "joined");
  assert.equal(client.url, "ws://b.test/ws");
  assert.deepEqual(client.welcome, { id: 12, name: "guest-7" });
  assert.ok(!events.some((e) => e.type === "reconnecting"), "a move shows no reconnecting");
  assert.deepEqual(events.map((e) => e.type), ["moved", "resumed"]);
  assert.deepEqual(events[0], { type: "moved", url: "ws://b.test/ws", id: 12, name: "guest-7" });
  assert.equal(events[1].moved, true);
  assert.deepEqual(log, ["state reconnecting", "state joined", "moved", "resumed"]);
  assert.equal(client.stats().moves, 1);
  client.update();
  assert.ok(!dispatched.includes("MOVED"), "MOVED carries a ticket: it is not dispatched");
  // A drop now resumes on B with B's token.
  next.drop();
  t.mock.timers.tick(100);
  const again = FakeSocket.all[2];
  assert.equal(again.url, "ws://b.test/ws");
  again.open();
  assert.equal(resumeLine(again).token, TOKEN3);
});

test("MOVED answering RESUME is followed at once with the own token for -, and ERR resume unavailable is retried", async (t) => {
  const { client, ws, advance, events } = await join(t);
  ws.drop();
  advance(50);
  const a2 = FakeSocket.all[1];
  a2.open();
  a2.deliver(`@${resumeLine(a2).rid} ERR resume unavailable the seat is moving\n`);
  assert.equal(client.state, "reconnecting", "unavailable is worth another attempt");
  advance(100);
  const a3 = FakeSocket.all[2];
  assert.equal(a3.url, "ws://test/ws");
  a3.open();
  a3.deliver(`@${resumeLine(a3).rid} MOVED b.test:5001 wss://b.test/ws -\nBYE moved\n`);
  const b = FakeSocket.all[3];
  assert.equal(b.url, "wss://b.test/ws", "followed at once");
  b.open();
  assert.equal(resumeLine(b).token, TOKEN1, "- means the own seat token");
  b.deliver(`WELCOME 3 guest-7\nSEAT ${TOKEN2} 30000\n`);
  assert.equal(client.state, "joined");
  assert.deepEqual(events.map((e) => e.type + (e.attempt ? " " + e.attempt : "")), ["reconnecting 1", "reconnecting 2", "moved", "resumed"]);
});

test("an unusable MOVED is not dialled: the connection counts as lost and the client resumes at home", async (t) => {
  for (const moved of ["MOVED a:1 http://evil.test/ws T", 'MOVED a:1 "" T', "MOVED a:1 ws:///ws T", 'MOVED a:1 ws://evil.test/ws ""', 'MOVED a:1 "ws://evil.test/\\x0a" T']) {
    const { client, ws, advance, events } = await join(t);
    ws.deliver(`${moved}\nBYE moved\n`);
    ws.drop(1008, "moved");
    assert.equal(client.state, "reconnecting", moved);
    assert.equal(events[0]?.type, "reconnecting", `${moved}: ${JSON.stringify(events)}`);
    advance(100);
    assert.equal(FakeSocket.all.length, 2);
    assert.equal(FakeSocket.all[1].url, "ws://test/ws", `${moved}: home, not the MOVED's URL`);
    client.close();
    t.mock.timers.reset();
  }
});

test("a MOVED storm ends the session after MAX_MOVES moves", async (t) => {
  const { client, ws, events } = await join(t);
  ws.deliver("MOVED a:1 ws://x.test/ws T\nBYE moved\n");
  ws.drop(1008, "moved");
  for (let i = 0; i < sdk.MAX_MOVES; i++) {
    const s = FakeSocket.all.at(-1);
    s.open();
    s.deliver(`@${resumeLine(s).rid} MOVED a:1 ws://${i % 2 ? "x" : "y"}.test/ws -\n`);
  }
  assert.equal(client.state, "closed");
  assert.equal(FakeSocket.all.length, 1 + sdk.MAX_MOVES);
  assert.deepEqual(events.map((e) => e.type), ["lost"]);
  assert.match(events[0].reason, /moved more than 8 times/);
});

test("seeds: after two failed attempts at home, the client tries each seed in turn with its own token", async (t) => {
  assert.throws(() => new Client({ url: "ws://test/ws", WebSocket: FakeSocket, seeds: ["http://x/ws"] }), RangeError);
  const { client, ws, advance } = await join(t, { seeds: ["ws://seed.test/ws"] });
  ws.drop();
  const urls = () => FakeSocket.all.slice(1).map((s) => s.url);
  for (let i = 0; i < 3; i++) {
    advance(2000);
    FakeSocket.all.at(-1).drop(1006); // refused
  }
  assert.deepEqual(urls(), ["ws://test/ws", "ws://test/ws", "ws://seed.test/ws"]);
  advance(2000);
  const s = FakeSocket.all.at(-1);
  assert.equal(s.url, "ws://test/ws", "then home again");
  client.close();
});

test("a MOVED to the server just found unreachable is not followed for UNREACHABLE_MS: the client asks again after its back-off", async (t) => {
  const { client, ws, advance, events, clock } = await join(t, { seeds: ["ws://seed.test/ws"] });
  ws.drop();
  for (let i = 0; i < 2; i++) {
    advance(2000);
    FakeSocket.all.at(-1).drop(1006); // home is dead
  }
  advance(2000);
  let s = FakeSocket.all.at(-1);
  assert.equal(s.url, "ws://seed.test/ws");
  s.open();
  // The cluster has not failed the dead node over yet: it names it.
  s.deliver(`@${resumeLine(s).rid} MOVED a:1 ws://test/ws -\n`);
  assert.equal(client.state, "reconnecting");
  assert.equal(FakeSocket.all.length, 4, "the dead server is not dialled at once");
  assert.match(events.at(-1).error, /^MOVED to ws:\/\/test\/ws, unreachable \d+ ms ago$/);
  assert.ok(!events.some((e) => e.type === "moved"));
  // Once UNREACHABLE_MS has passed since the last failure, a MOVED there is followed.
  clock.t += sdk.UNREACHABLE_MS;
  advance(2000);
  s = FakeSocket.all.at(-1);
  s.open();
  s.deliver(`@${resumeLine(s).rid} MOVED a:1 ws://test/ws -\n`);
  assert.equal(FakeSocket.all.at(-1).url, "ws://test/ws", "followed at once");
  resumeOn(FakeSocket.all.at(-1));
  assert.equal(client.state, "joined");
  client.close();
});

