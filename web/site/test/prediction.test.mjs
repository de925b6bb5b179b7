// The page's prediction against the real server at 10, 20, 30 and 60 Hz:
// `tickwire serve --tick N`, the SDK's Client over WebSocket, and the
// page's own rules and input clock (site/src/rules.ts, pace.ts) stepping
// at the rate the server announced in LIMITS. Driving straight and
// diagonally round the map for a few seconds, every DRIVE must be
// acknowledged where the page predicted it (no snap back), none refused,
// and the tank must cover the distance SPEED allows.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Client, Predictor } from "../../sdk/dist/index.js";
import { startServer } from "../../testutil/server.mjs";
import { loadSite } from "../../testutil/site.mjs";

let S;
before(async () => {
  S = await loadSite();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(client, cond, what, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    client.update();
    if (cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const DIRS = [
  { dx: 1, dy: 0 },
  { dx: 1, dy: 1 },
  { dx: 0, dy: 1 },
  { dx: -1, dy: 1 },
  { dx: -1, dy: 0 },
  { dx: -1, dy: -1 },
  { dx: 0, dy: -1 },
  { dx: 1, dy: -1 },
];

/** drive plays one guest on a server at rate Hz the way the page does, for ms, and returns what happened. */
async function drive(srv, rate, ms) {
  const c = new Client({ url: srv.wsURL, encoding: "msgpack", WebSocket, pingInterval: 0, statsInterval: 0 });
  await c.connect();
  const w = await c.loginGuest();
  const model = c.model;
  const ownEntity = () => [...model.entities()].find((e) => e.name === w.name);
  await until(c, () => !model.loading && model.zone.id > 0 && ownEntity(), "the snapshot");
  assert.equal(c.tickRate, rate, "the rate from LIMITS");
  const own = ownEntity();
  const start = { x: own.vals[0], y: own.vals[1] };
  const predictor = new Predictor(start, (s, ctl) => S.step(model, s, ctl, c.tickRate));
  const predicted = c.predict(
    predictor,
    (seq, ctl) => {
      const to = S.step(model, predictor.state, ctl, c.tickRate);
      return { type: "DRIVE", seq, x: to.x, y: to.y };
    },
    (a) => ({ x: a.vals[0], y: a.vals[1] }),
  );
  const out = { rate, snaps: 0, errs: [], inputs: 0, diagonal: 0, travelled: 0, stalls: 0 };
  predicted.onAck = (r) => {
    if (r.snapped) out.snaps++;
  };
  c.on("ERR", (m) => out.errs.push(`${m.code} ${m.text ?? ""}`));
  const zone = model.zone.id;
  const pacer = new S.Pacer(c.tickRate);
  let dir = 0;
  let turnAt = 0;
  const t0 = performance.now();
  for (;;) {
    c.update();
    const now = performance.now();
    if (now - t0 >= ms) break;
    if (now >= turnAt) {
      dir = (dir + 3) % DIRS.length; // straight and diagonal in turn
      turnAt = now + 400;
    }
    for (let n = pacer.due(now); n > 0; n--) {
      if (predictor.pendingCount >= pacer.maxInFlight) {
        out.stalls++;
        break;
      }
      // The first direction from dir on whose Step is free and no portal.
      let ctl = null;
      let next = null;
      for (let k = 0; k < DIRS.length && !ctl; k++) {
        const d = DIRS[(dir + k) % DIRS.length];
        const q = S.step(model, predictor.state, d, c.tickRate);
        const tile = model.tile(Math.trunc(q.x / S.UNIT), Math.trunc(q.y / S.UNIT));
        if ((q.x !== predictor.state.x || q.y !== predictor.state.y) && tile !== S.TILE_PORTAL) {
          ctl = d;
          next = q;
          dir = (dir + k) % DIRS.length;
        }
      }
      if (!ctl) continue;
      const from = predictor.state;
      const dist = Math.hypot(next.x - from.x, next.y - from.y);
      if (pacer.bank < dist) continue;
      assert.ok(predicted.input(ctl), "sent");
      pacer.spend(dist);
      out.inputs++;
      out.travelled += dist;
      if (ctl.dx && ctl.dy) out.diagonal++;
    }
    await sleep(4);
  }
  const elapsed = (performance.now() - t0) / 1000;
  await until(c, () => predictor.pendingCount === 0, "every input acknowledged");
  const final = ownEntity();
  out.agrees = final.vals[0] === predictor.state.x && final.vals[1] === predictor.state.y;
  out.sameZone = model.zone.id === zone;
  out.speed = out.travelled / elapsed;
  out.allowed = S.SPEED * elapsed + pacer.bankCap; // a second's worth a second, plus what was saved up
  out.desyncs = c.stats().desyncsSent;
  await c.quit();
  return out;
}

for (const rate of [10, 20, 30, 60]) {
  test(`at ${rate} Hz the page's prediction matches the server: no snap, no refusal, SPEED kept`, { timeout: 60000 }, async (t) => {
    const srv = await startServer({ args: ["--tick", String(rate)] });
    try {
      const r = await drive(srv, rate, 3000);
      t.diagnostic(JSON.stringify(r));
      assert.deepEqual(r.errs, [], "the server refused moves");
      assert.equal(r.snaps, 0, "a prediction snapped back");
      assert.equal(r.desyncs, 0);
      assert.ok(r.agrees, "the server has the tank where the page does");
      assert.ok(r.sameZone, "stayed in its zone");
      assert.ok(r.diagonal > 0 && r.diagonal < r.inputs, "drove straight and diagonally");
      // One Step a tick: about rate inputs a second, and the distance SPEED allows.
      assert.ok(r.inputs >= rate * 3 * 0.6, `${r.inputs} inputs in 3 s at ${rate} Hz`);
      assert.ok(r.speed > S.SPEED * 0.55, `drove ${r.speed.toFixed(1)} units a second, SPEED is ${S.SPEED}`);
      assert.ok(r.travelled <= r.allowed, `drove ${r.travelled.toFixed(0)} units, more than the ${r.allowed.toFixed(0)} allowed`);
      assert.doesNotMatch(srv.logs(), /suspicious move/);
    } finally {
      await srv.stop();
    }
  });
}
