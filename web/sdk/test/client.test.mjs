// The Client against a scripted fake WebSocket: framing, dispatch, login,
// requests, RTT, counters, LOG shipping and the replica model's DESYNC.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as sdk from "../dist/index.js";

const { Client, encodeText, encodeJSON, encodeMsgPack, decode, ServerError, ClosedError, AuthError, TooLongError, tilesHash, entityHash, DEFAULT_MAX_MESSAGE, DEFAULT_MAX_RECEIVE } = sdk;

/** FakeSocket records what the client sends and lets a test deliver messages. */
class FakeSocket {
  static last = null;
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.protocol = "";
    this.binaryType = "blob";
    this.sent = [];
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeSocket.last = this;
  }
  open(protocol = this.protocols[0]) {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.({});
  }
  send(data) {
    this.sent.push(data);
  }
  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code: 1000, reason: "" });
  }
  deliver(data) {
    this.onmessage?.({ data });
  }
  /** sentMessages decodes everything the client sent in encoding enc. */
  sentMessages(enc) {
    return this.sent.map((d) => {
      if (typeof d === "string") return decode(enc, new TextEncoder().encode(d.replace(/\n$/, ""))).msg;
      let i = 0;
      while (d[i] & 0x80) i++;
      return decode("msgpack", d.subarray(i + 1)).msg;
    });
  }
}

function clock(start = 1000) {
  const c = { t: start, now: () => c.t };
  return c;
}

async function connected(opts = {}) {
  const c = clock();
  const client = new Client({ url: "ws://test/ws", WebSocket: FakeSocket, now: c.now, pingInterval: 0, statsInterval: 0, ...opts });
  const p = client.connect();
  const ws = FakeSocket.last;
  ws.open();
  await p;
  return { client, ws, clock: c };
}

/** deliverMsg delivers message m (with request id rid) to the client over ws in encoding enc. */
function deliverMsg(ws, enc, m, rid = 0) {
  if (enc === "msgpack") {
    const b = encodeMsgPack(m, rid);
    const framed = new Uint8Array(b.length + 1);
    framed.set(b);
    ws.deliver(framed.buffer);
  } else ws.deliver(enc === "json" ? encodeJSON(m, rid) : encodeText(m, rid));
}

/** joined is connected, then logged in as guest-7 (the AUTH sent is cleared from ws.sent). */
async function joined(opts = {}) {
  const r = await connected(opts);
  const p = r.client.loginGuest();
  deliverMsg(r.ws, r.client.encoding, { type: "WELCOME", id: 7, name: "guest-7" });
  await p;
  r.ws.sent.length = 0;
  return r;
}

test("connect offers the encoding's subprotocol and asks for array buffers", async () => {
  const { client, ws } = await connected({ encoding: "json" });
  assert.deepEqual(ws.protocols, ["tickwire.json"]);
  assert.equal(ws.binaryType, "arraybuffer");
  assert.equal(client.state, "open");
  assert.equal(client.connected, true);
});

test("a server that picks no subprotocol means text", async () => {
  const c = new Client({ url: "ws://x/ws", WebSocket: FakeSocket, pingInterval: 0, statsInterval: 0 });
  const p = c.connect();
  FakeSocket.last.open("");
  await p;
  assert.equal(c.encoding, "text");
  c.send({ type: "LOG", level: "info", text: "hi there" });
  assert.equal(FakeSocket.last.sent[0], "LOG info hi there\n");
});

test("several frames in one message are queued and dispatched in order by update", async () => {
  for (const enc of ["text", "json", "msgpack"]) {
    const { client, ws } = await connected({ encoding: enc });
    const got = [];
    client.on("PONG", (m) => got.push(`pong ${m.token}`));
    client.on("INFO", (m, rid) => got.push(`info ${m.text} @${rid}`));
    const msgs = [
      [{ type: "PONG", token: "one" }, 0],
      [{ type: "INFO", text: "hello ☃" }, 7],
      [{ type: "PONG", token: "two" }, 0],
    ];
    if (enc === "msgpack") {
      const parts = msgs.map(([m, rid]) => encodeMsgPack(m, rid));
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
      let o = 0;
      for (const p of parts) {
        all.set(p, o);
        o += p.length + 1; // a zero-length keepalive after each
      }
      ws.deliver(all.buffer);
    } else {
      const f = enc === "json" ? encodeJSON : encodeText;
      ws.deliver(msgs.map(([m, rid]) => f(m, rid)).join("\n"));
    }
    assert.deepEqual(got, [], "nothing runs before update");
    assert.equal(client.update(), 3);
    assert.deepEqual(got, ["pong one", "info hello ☃ @7", "pong two"], enc);
    assert.equal(client.update(), 0);
  }
});

test("send validates, encodes in the connection's encoding and counts bytes", async () => {
  const { client, ws, clock } = await connected({ encoding: "msgpack" });
  assert.equal(client.send({ type: "LOG", level: "info", text: "hi" }), true);
  assert.ok(ws.sent[0] instanceof Uint8Array);
  assert.deepEqual(ws.sentMessages("msgpack"), [{ type: "LOG", level: "info", text: "hi" }]);
  assert.throws(() => client.send({ type: "LOG", level: "info", text: "x".repeat(513) }), { code: "bad_field" });
  assert.throws(() => client.send({ type: "NOPE" }), { code: "unknown_message" });
  const st = client.stats(clock.t);
  assert.equal(st.bytesOut, ws.sent[0].length);
  assert.equal(st.bytesOutPerSec, ws.sent[0].length);
  assert.equal(client.stats(clock.t + 5000).bytesOutPerSec, 0);
});

test("LIMITS: the tick rate and message cap are adopted as it arrives, the limits event fires, and handlers still get it", async () => {
  for (const enc of ["text", "json", "msgpack"]) {
    const { client, ws } = await joined({ encoding: enc });
    assert.equal(client.limits, null);
    assert.ok(Number.isNaN(client.tickRate), "no tick rate before LIMITS");
    assert.equal(client.maxMessage, DEFAULT_MAX_MESSAGE);
    const events = [];
    const handled = [];
    client.on("limits", (l) => events.push({ ...l, rate: client.tickRate }));
    client.on("LIMITS", (m) => handled.push(m));
    deliverMsg(ws, enc, { type: "LIMITS", tick_rate: 30, max_message: 8192 });
    assert.deepEqual(events, [{ tickRate: 30, maxMessage: 8192, rate: 30 }], "the event runs at once, with the client already updated");
    assert.deepEqual(client.limits, { tickRate: 30, maxMessage: 8192 });
    assert.equal(client.tickRate, 30);
    assert.equal(client.maxMessage, 8192);
    assert.deepEqual(handled, [], "handlers run from update");
    client.update();
    assert.deepEqual(handled, [{ type: "LIMITS", tick_rate: 30, max_message: 8192 }]);
    // Values no server may have are ignored; the others are taken.
    deliverMsg(ws, enc, { type: "LIMITS", tick_rate: 0, max_message: 10 });
    assert.deepEqual(client.limits, { tickRate: 30, maxMessage: 8192 });
    deliverMsg(ws, enc, { type: "LIMITS", tick_rate: 60, max_message: (1 << 20) + 1 });
    assert.deepEqual(client.limits, { tickRate: 60, maxMessage: 8192 });
    client.close();
    assert.equal(client.tickRate, 60, "the last server's limits stay after close");
  }
});

test("send refuses a message longer than the server accepts, sending nothing: option maxMessage before LIMITS, the server's cap after", async () => {
  for (const enc of ["text", "json", "msgpack"]) {
    const { client, ws } = await joined({ encoding: enc, maxMessage: 64 });
    const say = (n) => ({ type: "SAY", text: "x".repeat(n) });
    // The payload as the server counts it: the line without its newline,
    // the MessagePack frame without its length prefix.
    const size = (m) => {
      if (enc === "msgpack") return encodeMsgPack(m).length - 1;
      return (enc === "json" ? encodeJSON(m) : encodeText(m)).length - 1;
    };
    let n = 1;
    while (size(say(n + 1)) <= 64) n++;
    assert.equal(size(say(n)), 64);
    assert.equal(client.send(say(n)), true, "exactly the cap is allowed");
    assert.throws(() => client.send(say(n + 1)), (e) => e instanceof TooLongError && e.code === "too_long" && e.size === 65 && e.limit === 64 && /SAY/.test(e.message));
    assert.equal(ws.sent.length, 1, "nothing sent for the long one");
    await assert.rejects(client.request(say(150)), (e) => e instanceof TooLongError);
    assert.equal(ws.sent.length, 1);
    // The server says it takes 256 bytes: now it goes; a server that takes less tightens it.
    deliverMsg(ws, enc, { type: "LIMITS", tick_rate: 20, max_message: 256 });
    assert.equal(client.send(say(150)), true);
    deliverMsg(ws, enc, { type: "LIMITS", tick_rate: 20, max_message: 100 });
    assert.throws(() => client.send(say(150)), TooLongError);
    assert.equal(ws.sent.length, 2);
    // LOG lines over the cap are dropped and counted, never thrown.
    const dropped = client.stats().logsDropped;
    assert.equal(client.log("info", "y".repeat(200)), false);
    assert.equal(client.stats().logsDropped, dropped + 1);
    assert.equal(ws.sent.length, 2);
  }
});

test("the frame reader takes 64 KiB before LIMITS, the server's cap when larger, and never less", async () => {
  assert.equal(DEFAULT_MAX_RECEIVE, 65536);
  const long = (n) => "INFO " + "z".repeat(n - 5) + "\n"; // a line of n bytes (too long for INFO: a decode error, not a bad frame)
  {
    const { client, ws } = await joined({ encoding: "text" });
    ws.deliver(long(DEFAULT_MAX_RECEIVE));
    assert.equal(client.state, "joined", "64 KiB is accepted");
    assert.equal(client.decodeErrors, 1);
    ws.deliver(long(DEFAULT_MAX_RECEIVE + 1));
    assert.equal(client.state, "closed");
    assert.match(client.closeReason, /bad frame from server: message too long/);
  }
  {
    // A server with a small cap still sends messages longer than it.
    const { client, ws } = await joined({ encoding: "text" });
    ws.deliver("LIMITS 20 64\n");
    ws.deliver("INFO " + "a".repeat(1000) + "\n");
    assert.equal(client.state, "joined");
    assert.equal(client.decodeErrors, 0);
    ws.deliver(long(DEFAULT_MAX_RECEIVE + 1));
    assert.equal(client.state, "closed", "still 64 KiB at most");
  }
  {
    // A server that takes 256 KiB may send as much.
    const { client, ws } = await joined({ encoding: "msgpack" });
    deliverMsg(ws, "msgpack", { type: "LIMITS", tick_rate: 20, max_message: 262144 });
    const big = new Uint8Array(3 + 200000);
    big.set([0xc0, 0x9a, 0x0c]); // uvarint 200000
    big[3] = 11 * 2; // INFO, no rid; the rest does not decode
    ws.deliver(big.buffer);
    assert.equal(client.state, "joined");
    assert.equal(client.decodeErrors, 1);
  }
  {
    // Option maxReceive sets the floor.
    const { client, ws } = await joined({ encoding: "text", maxReceive: 1024 });
    ws.deliver(long(1025));
    assert.equal(client.state, "closed");
  }
});

test("message cap options out of range are refused, naming the option", () => {
  for (const [opt, v] of [["maxMessage", 63], ["maxMessage", (1 << 20) + 1], ["maxReceive", 0], ["maxReceive", 1.5]]) {
    assert.throws(() => new Client({ url: "ws://x/ws", WebSocket: FakeSocket, [opt]: v }), (e) => e instanceof RangeError && e.message.includes(opt) && e.message.includes(String(v)));
  }
});

test("request matches answers by rid; ERR rejects with ServerError", async () => {
  const { client, ws } = await connected({ encoding: "text" });
  const p1 = client.request({ type: "PING", token: "abc" });
  const p2 = client.request({ type: "HELP" });
  assert.equal(ws.sent[0], "@1 PING abc\n");
  assert.equal(ws.sent[1], "@2 HELP\n");
  ws.deliver("@2 ERR bad_syntax nope\n@1 PONG abc\n");
  assert.deepEqual(await p1, { msg: { type: "PONG", token: "abc" }, rid: 1 });
  await assert.rejects(p2, (e) => e instanceof ServerError && e.code === "bad_syntax");
});

test("loginGuest resolves on WELCOME; a refused AUTH rejects", async () => {
  const { client, ws } = await connected({ encoding: "text" });
  const states = [];
  client.onState((s) => states.push(s));
  const p = client.loginGuest();
  assert.equal(ws.sent[0], "@1 AUTH guest\n");
  ws.deliver("WELCOME 42 guest-42\n");
  assert.deepEqual(await p, { id: 42, name: "guest-42" });
  assert.deepEqual(client.welcome, { id: 42, name: "guest-42" });
  assert.deepEqual(states, ["joined"]);

  const b = await connected({ encoding: "text" });
  const q = b.client.auth("alice", "sometoken");
  assert.equal(b.ws.sent[0], "@1 AUTH alice sometoken\n");
  b.ws.deliver('@1 ERR auth "invalid or already used login token"\n');
  await assert.rejects(q, (e) => e instanceof ServerError && e.code === "auth" && /already used/.test(e.message));
});

test("a close before WELCOME rejects the login with the BYE reason", async () => {
  const { client, ws } = await connected({ encoding: "text" });
  const p = client.loginGuest();
  ws.deliver("BYE join_refused\n");
  ws.close();
  await assert.rejects(p, (e) => e instanceof ClosedError && e.reason === "join_refused");
  assert.equal(client.state, "closed");
  assert.equal(client.closeReason, "join_refused");
  assert.equal(client.send({ type: "QUIT" }), false);
});

test("a failed connect rejects", async () => {
  const c = new Client({ url: "ws://x/ws", WebSocket: FakeSocket, pingInterval: 0, statsInterval: 0 });
  const p = c.connect();
  FakeSocket.last.close();
  await assert.rejects(p, ClosedError);
});

test("login gets a token from the auth service, then sends AUTH name token", async () => {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push([url, JSON.parse(init.body)]);
    if (url.endsWith("/v1/register")) return new Response(JSON.stringify({ name: "alice", created_at: "2030-01-02T03:04:05Z" }), { status: 201 });
    return new Response(JSON.stringify({ name: "alice", token: "T0k", expires_at: "2030-01-02T03:05:05Z", expires_in: 60 }), { status: 200 });
  };
  const { client, ws } = await connected({ encoding: "text", authBase: "https://auth.example/base/", fetch });
  const p = client.register("Alice", "correct horse battery");
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(calls, [
    ["https://auth.example/base/v1/register", { name: "Alice", password: "correct horse battery" }],
    ["https://auth.example/base/v1/login", { name: "alice", password: "correct horse battery" }],
  ]);
  assert.equal(ws.sent[0], "@1 AUTH alice T0k\n");
  ws.deliver("WELCOME 3 alice\n");
  assert.deepEqual(await p, { id: 3, name: "alice" });
});

test("auth errors carry the service's code and Retry-After", async () => {
  const fetch = async () =>
    new Response(JSON.stringify({ error: { code: "rate_limited", message: "too many attempts; try again later" } }), {
      status: 429,
      headers: { "Retry-After": "12" },
    });
  await assert.rejects(sdk.login("http://h", "alice", "pw", { fetch }), (e) => e instanceof AuthError && e.code === "rate_limited" && e.retryAfter === 12 && e.status === 429);
  const down = async () => {
    throw new TypeError("fetch failed");
  };
  await assert.rejects(sdk.register("http://h", "a", "b", { fetch: down }), (e) => e.code === "network");
  const html = async () => new Response("<h1>404</h1>", { status: 404 });
  await assert.rejects(sdk.login("http://h", "a", "b", { fetch: html }), (e) => e.code === "not_found");
  assert.equal(sdk.authURL("http://h:1/", "/v1/login"), "http://h:1/v1/login");
});

test("PING carries a timestamp token; the PONG gives the RTT at once", async () => {
  const c = clock(5000);
  const client = new Client({ url: "ws://x/ws", WebSocket: FakeSocket, now: c.now, pingInterval: 1000, statsInterval: 0, encoding: "text" });
  const p = client.connect();
  const ws = FakeSocket.last;
  ws.open();
  await p;
  assert.equal(ws.sent.length, 1, "a ping at once");
  const tok = ws.sentMessages("text")[0].token;
  assert.equal(tok, "t5000.0");
  c.t = 5042;
  ws.deliver(`PONG ${tok}\n`);
  assert.equal(client.stats().rtt, 42, "measured on arrival, before update");
  client.update(5500);
  assert.equal(ws.sent.length, 1, "not due yet");
  client.update(6000);
  assert.equal(ws.sent.length, 2);
  c.t = 6010;
  ws.deliver(`PONG ${ws.sentMessages("text")[1].token}\n`);
  const st = client.stats();
  assert.equal(st.rtt, 10);
  assert.equal(st.rttMin, 10);
  assert.ok(st.rttSmoothed < 42 && st.rttSmoothed > 10);
});

test("STATS is polled and SERVERSTATS shows in the stats", async () => {
  const c = clock(0);
  const client = new Client({ url: "ws://x/ws", WebSocket: FakeSocket, now: c.now, pingInterval: 0, statsInterval: 1000, encoding: "text" });
  const p = client.connect();
  const ws = FakeSocket.last;
  ws.open();
  await p;
  assert.deepEqual(ws.sent, ["STATS\n"]);
  assert.ok(Number.isNaN(client.stats().serverTickUs));
  ws.deliver("SERVERSTATS 850 20 3\n");
  const st = client.stats();
  assert.equal(st.serverTickUs, 850);
  assert.equal(st.serverTickRate, 20);
  assert.equal(st.serverConns, 3);
  client.update(999);
  assert.equal(ws.sent.length, 1);
  client.update(1000);
  assert.equal(ws.sent.length, 2);
});

test("bytes and messages in are counted per second", async () => {
  const { client, ws, clock } = await connected({ encoding: "text" });
  ws.deliver("INFO a b\nINFO a c\n");
  clock.t += 500;
  ws.deliver("INFO a d\n");
  const st = client.stats(clock.t);
  assert.equal(st.bytesIn, 27);
  assert.equal(st.bytesInPerSec, 27);
  assert.equal(st.msgsInPerSec, 3);
  assert.equal(st.queued, 3);
  assert.equal(client.stats(clock.t + 600).bytesInPerSec, 9);
});

test("LOG lines are rate limited on the client and truncated to 512 bytes", async () => {
  const { client, ws, clock } = await joined({ encoding: "text", logRate: 1, logBurst: 3 });
  for (let i = 0; i < 5; i++) client.log("error", `boom ${i}`);
  assert.deepEqual(ws.sent, ["LOG error boom 0\n", "LOG error boom 1\n", "LOG error boom 2\n"]);
  assert.equal(client.stats().logsDropped, 2);
  clock.t += 1000;
  assert.equal(client.log("warn", "é".repeat(400)), true);
  const m = ws.sentMessages("text").at(-1);
  assert.equal(new TextEncoder().encode(m.text).length, 512);
});

test("LOG waits for WELCOME: lines logged before it go out after it, within the limit; none after close", async () => {
  const { client, ws } = await connected({ encoding: "text", logRate: 1, logBurst: 2 });
  assert.equal(client.log("error", "early one"), true);
  assert.equal(client.log("warn", "early two"), true);
  assert.equal(client.log("warn", "early three"), false, "past the burst");
  assert.deepEqual(ws.sent, [], "nothing before login (the server answers ERR not_logged_in)");
  const p = client.loginGuest();
  ws.deliver("WELCOME 3 guest-3\n");
  await p;
  assert.deepEqual(ws.sent, ["@1 AUTH guest\n", "LOG error early one\n", "LOG warn early two\n"]);
  assert.equal(client.stats().logsDropped, 1);
  client.close();
  assert.equal(client.log("error", "after"), false);
  assert.equal(ws.sent.length, 3);
});

test("ERR rate_limited is counted, emitted as an event, dispatched to ERR handlers and rejects only its request", async () => {
  const { client, ws } = await joined({ encoding: "text" });
  const events = [];
  const errs = [];
  client.on("rate_limited", (e) => events.push(e.name));
  client.on("ERR", (m) => errs.push(`${m.code} ${m.text}`));
  const req = client.request({ type: "LOOK" });
  ws.deliver("ERR rate_limited SAY\n@2 ERR rate_limited LOOK\n");
  await assert.rejects(req, (e) => e instanceof ServerError && e.code === "rate_limited");
  assert.deepEqual(events, ["SAY", "LOOK"]);
  client.update();
  assert.deepEqual(errs, ["rate_limited SAY", "rate_limited LOOK"]);
  assert.equal(client.stats().rateLimited, 2);
  assert.equal(client.state, "joined", "a rate limit does not end anything");
  assert.equal(client.send({ type: "SAY", text: "still here" }), true);
});

test("captureErrors ships uncaught errors, rejections and console.error", async () => {
  const { client, ws } = await joined({ encoding: "json", logBurst: 10 });
  const target = new EventTarget();
  const printed = [];
  target.console = { error: (...a) => printed.push(a) };
  const undo = client.captureErrors(target);
  const err = new Error("kaput");
  const ev = new Event("error");
  ev.error = err;
  target.dispatchEvent(ev);
  const rej = new Event("unhandledrejection");
  rej.reason = "nope";
  target.dispatchEvent(rej);
  target.console.error("bad thing", { a: 1 });
  const logs = ws.sentMessages("json");
  assert.equal(logs.length, 3);
  assert.ok(logs.every((m) => m.type === "LOG" && m.level === "error"));
  assert.match(logs[0].text, /^uncaught: Error: kaput/);
  assert.equal(logs[1].text, 'unhandled rejection: nope');
  assert.equal(logs[2].text, 'console: bad thing {"a":1}');
  assert.equal(printed.length, 1, "console.error still prints");
  undo();
  target.console.error("after");
  assert.equal(ws.sent.length, 3);
});

test("a throwing handler is reported and does not stop the others", async () => {
  const { client, ws } = await joined({ encoding: "text" });
  const seen = [];
  client.on("INFO", () => {
    throw new Error("handler bug");
  });
  client.on("INFO", (m) => seen.push(m.text));
  const warn = console.warn;
  console.warn = () => {};
  try {
    ws.deliver("INFO a x\nINFO a y\n");
    client.update();
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(seen, ["a x", "a y"]);
  assert.match(ws.sent[0], /^LOG error Error: handler bug/);
});

test("USE switches the sending encoding at once and the receiving one at USING", async () => {
  const { client, ws } = await connected({ encoding: "text" });
  const p = client.use("msgpack");
  assert.equal(ws.sent[0], "@1 USE msgpack\n");
  assert.equal(client.encoding, "msgpack");
  ws.deliver("@1 USING msgpack\n");
  await p;
  ws.deliver(encodeMsgPack({ type: "INFO", text: "bin" }).buffer);
  const got = [];
  client.on("INFO", (m) => got.push(m.text));
  client.update();
  assert.deepEqual(got, ["bin"]);
});

test("the replica model runs before the handlers and DESYNC reports go back", async () => {
  const { client, ws } = await connected({ encoding: "text" });
  const sizes = [];
  client.on("SNAPEND", () => sizes.push(client.model.size));
  const tiles = [0, 1, 0, 1];
  const sum = (tilesHash(2, 2, tiles) + entityHash(4, 1, [5, 6, 0], "me")) >>> 0;
  ws.deliver(
    [
      "KIND 1 tank x,y,hp",
      "ZONE 1 1 2 2 10",
      "TILES 0 0 0,1",
      "TILES 1 0 0,1",
      "ENTER 4 1 5,6 me",
      `SNAPEND 1 1 ${sum}`,
      "DELTA 99 3 1,2",
    ].join("\n") + "\n",
  );
  client.update();
  assert.deepEqual(sizes, [1]);
  assert.deepEqual(ws.sentMessages("text"), [{ type: "DESYNC", id: 99, mask: 3, reason: "unknown" }]);
  assert.equal(client.stats().desyncsSent, 1);
  // The interpolator got a sample of entity 4 at its arrival time.
  assert.deepEqual([...client.interp.sample(4, 1e9)], [5, 6, 0]);
  // At most 16 reports go out per update.
  ws.deliver(Array.from({ length: 20 }, (_, i) => `DELTA ${100 + i} 1 1`).join("\n") + "\n");
  client.update();
  assert.equal(client.stats().desyncsSent, 17);
  assert.equal(client.stats().desyncsDropped, 4);
});

test("the default URLs follow the page's location", () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "location");
  Object.defineProperty(globalThis, "location", { value: { protocol: "https:", host: "game.example:8443", origin: "https://game.example:8443" }, configurable: true });
  try {
    assert.equal(sdk.defaultWebSocketURL(), "wss://game.example:8443/ws");
    assert.equal(sdk.defaultAuthBase(), "https://game.example:8443");
    const c = new Client({ WebSocket: FakeSocket });
    assert.equal(c.url, "wss://game.example:8443/ws");
    assert.equal(c.authBase, "https://game.example:8443");
  } finally {
    if (saved) Object.defineProperty(globalThis, "location", saved);
    else delete globalThis.location;
  }
});

test("predict couples a Predictor: input sends numbered inputs, ACKs reconcile before the handlers", async () => {
  const { client, ws } = await connected({ encoding: "text" });
  const p = new sdk.Predictor({ x: 10, y: 10 }, (s, dx) => ({ x: s.x + dx, y: s.y }));
  const pr = client.predict(p, (seq, dx) => ({ type: "DRIVE", seq, x: p.state.x + dx, y: p.state.y }), (a) => ({ x: a.vals[0], y: a.vals[1] }));
  const acks = [];
  pr.onAck = (r) => acks.push(r);
  let seenInHandler = null;
  client.on("ACK", () => (seenInHandler = p.lastAcked));
  assert.deepEqual(pr.input(3), { x: 13, y: 10 });
  assert.deepEqual(pr.input(3), { x: 16, y: 10 });
  assert.equal(pr.seq, 2);
  assert.deepEqual(ws.sentMessages("text"), [
    { type: "DRIVE", seq: 1, x: 13, y: 10 },
    { type: "DRIVE", seq: 2, x: 16, y: 10 },
  ]);
  ws.deliver("ACK 1 4 13,10,0\nACK 2 4 13,10,0\nACK 2 4 50,50\n");
  client.update();
  assert.equal(seenInHandler, 2, "the predictor saw the ACK before the handlers");
  assert.deepEqual(acks.map((a) => [a.seq, a.snapped, a.stale]), [[1, false, false], [2, true, false], [2, false, true]]);
  assert.deepEqual(p.state, { x: 13, y: 10 });
  ws.close();
  assert.equal(pr.input(3), null, "nothing is predicted when nothing can be sent");
  assert.equal(pr.seq, 2);
});
