// The demo page's rules at the server's tick rate (site/src/rules.ts,
// pace.ts, path.ts) and the drawing helpers that keep labels on the map
// and chests visible under tanks (render.ts), and the net graph's legend
// and units (netgraph.ts).
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { loadSite } from "../../testutil/site.mjs";

let S;
before(async () => {
  S = await loadSite();
});

/** open returns a w x h tile map of floor with walls round the edge, plus the walls listed as [x, y] tiles. */
function open(w, h, walls = []) {
  const t = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (x === 0 || y === 0 || x === w - 1 || y === h - 1) t[y * w + x] = 1;
  for (const [x, y] of walls) t[y * w + x] = 1;
  return { w, h, tile: (x, y) => (x < 0 || y < 0 || x >= w || y >= h ? undefined : t[y * w + x]) };
}

const RATES = [10, 20, 30, 60];

test("a Step is SPEED units per second times the tick period, in whole units", () => {
  const want = { 10: [6, 4], 20: [3, 2], 30: [2, 1], 60: [1, 1], 1: [60, 40], 7: [8, 5], 120: [1, 1] };
  for (const [rate, [straight, diagonal]] of Object.entries(want)) {
    assert.equal(S.stepUnits(Number(rate)), straight, `straight at ${rate} Hz`);
    assert.equal(S.diagonalUnits(Number(rate)), diagonal, `diagonal at ${rate} Hz`);
  }
  for (let rate = 1; rate <= 60; rate++) {
    assert.ok(S.stepUnits(rate) * rate <= S.SPEED, `a straight Step at ${rate} Hz is within SPEED`);
    assert.ok(S.stepUnits(rate) * rate > S.SPEED / 2, `a straight Step at ${rate} Hz is not much slower than SPEED`);
  }
  for (let rate = 1; rate <= 30; rate++) assert.ok(Math.hypot(S.diagonalUnits(rate), S.diagonalUnits(rate)) * rate <= S.SPEED, `a diagonal Step at ${rate} Hz is within SPEED`);
  assert.equal(S.tickPeriodMs(20), 50);
  for (const bad of [0, -1, NaN, undefined]) assert.throws(() => S.stepUnits(bad), RangeError);
});

test("step at 20 Hz is the arena's Step: 3 units straight, 2 per axis on a diagonal, sliding along walls", () => {
  const m = open(10, 10, [[5, 4]]);
  const p = { x: 25, y: 25 };
  assert.deepEqual(S.step(m, p, { dx: 1, dy: 0 }, 20), { x: 28, y: 25 });
  assert.deepEqual(S.step(m, p, { dx: 0, dy: -1 }, 20), { x: 25, y: 22 });
  assert.deepEqual(S.step(m, p, { dx: -1, dy: 1 }, 20), { x: 23, y: 27 });
  assert.deepEqual(S.step(m, p, { dx: 0, dy: 0 }, 20), p);
  // Against the wall tile 5,4 (x 50-59, y 40-49): straight into it stays, a diagonal slides.
  const q = { x: 48, y: 45 };
  assert.deepEqual(S.step(m, q, { dx: 1, dy: 0 }, 20), q);
  assert.deepEqual(S.step(m, q, { dx: 1, dy: 1 }, 20), { x: 48, y: 47 });
  assert.deepEqual(S.step(m, { x: 48, y: 38 }, { dx: 1, dy: 1 }, 20), { x: 50, y: 38 });
});

test("step at 10, 30 and 60 Hz moves SPEED / rate units a tick, and a second of Steps covers SPEED straight", () => {
  const m = open(40, 10);
  for (const rate of RATES) {
    let p = { x: 15, y: 45 };
    for (let i = 0; i < rate; i++) p = S.step(m, p, { dx: 1, dy: 0 }, rate);
    assert.deepEqual(p, { x: 15 + S.SPEED, y: 45 }, `one second at ${rate} Hz`);
    const d = S.step(m, { x: 100, y: 45 }, { dx: 1, dy: -1 }, rate);
    assert.deepEqual(d, { x: 100 + S.diagonalUnits(rate), y: 45 - S.diagonalUnits(rate) });
  }
});

test("the pacer runs one input step per server tick and keeps within its movement allowance", () => {
  for (const rate of RATES) {
    const p = new S.Pacer(rate);
    assert.equal(p.periodMs, 1000 / rate);
    let steps = 0;
    for (let t = 0; t <= 1000; t += 1000 / 60) steps += p.due(t); // a second of 60 fps frames
    assert.ok(Math.abs(steps - rate) <= 1, `${steps} steps in a second at ${rate} Hz`);
    // A tab that was hidden for a while catches up a few steps, not all of them.
    assert.equal(p.due(1000 + 5000), 4);
  }
  assert.equal(new S.Pacer(20).maxInFlight, 16, "16 inputs in flight at 20 Hz, as before");
  assert.equal(new S.Pacer(60).maxInFlight, 48);
  assert.equal(new S.Pacer(1).maxInFlight, 4);
  const p = new S.Pacer(20);
  assert.equal(p.bank, S.SPEED * S.MAX_BANK * 0.8);
  assert.equal(p.spend(p.bank + 1), false, "more than it has is refused, taking nothing");
  assert.equal(p.spend(40), true);
  assert.equal(Math.round(p.bank), 8);
  p.due(0);
  p.due(100); // 0.1 s refills SPEED / 10
  assert.equal(Math.round(p.bank), 14);
  p.refill();
  assert.equal(p.bank, p.bankCap);
  assert.throws(() => new S.Pacer(0), RangeError);
});

test("a path is followed to its end at every tick rate, without swinging round a waypoint", () => {
  const m = open(20, 20, [[8, 5], [8, 6], [8, 7], [8, 8]]);
  for (const rate of RATES) {
    // Distances that are no multiple of the Step: 6-unit Steps at 10 Hz
    // must not swing round a waypoint 3 units away.
    for (const goal of [{ x: 150, y: 63 }, { x: 122, y: 153 }, { x: 60, y: 160 }]) {
      const from = { x: 15, y: 15 };
      const pts = S.findPath(m, m.w, m.h, from, goal);
      assert.ok(pts, `a path to ${goal.x},${goal.y}`);
      const f = new S.PathFollower(pts);
      let p = from;
      let n = 0;
      while (!f.done && n < 2000) {
        const c = f.control(p, S.stepUnits(rate));
        if (!c.dx && !c.dy) break;
        p = S.step(m, p, c, rate);
        n++;
      }
      assert.ok(f.done, `at ${rate} Hz the path to ${goal.x},${goal.y} was not finished after ${n} steps (at ${p.x},${p.y})`);
      const near = S.reachedWithin(S.stepUnits(rate));
      assert.ok(Math.abs(p.x - goal.x) <= near && Math.abs(p.y - goal.y) <= near, `at ${rate} Hz ended at ${p.x},${p.y}, not at ${goal.x},${goal.y}`);
      // No more Steps than the path is long, plus one per waypoint.
      const len = pts.reduce((a, q, i) => a + Math.hypot(q.x - (i ? pts[i - 1].x : from.x), q.y - (i ? pts[i - 1].y : from.y)), 0);
      assert.ok(n <= len / S.diagonalUnits(rate) + pts.length, `${n} steps for ${len.toFixed(0)} units at ${rate} Hz`);
    }
  }
  assert.equal(S.reachedWithin(3), 2);
  assert.equal(S.reachedWithin(6), 3);
});

test("labels stay on the map: pushed in at the sides, flipped below at the top and above at the bottom", () => {
  const W = 480;
  const H = 320;
  // In the open: centred, baseline 8 above.
  assert.deepEqual(S.placeLabel(200, 100, 30, 8, 6, W, H), { x: 200, y: 92 });
  // Left and right edges: the whole width inside, 1 unit from the edge.
  assert.deepEqual(S.placeLabel(5, 100, 30, 8, 6, W, H), { x: 16, y: 92 });
  assert.deepEqual(S.placeLabel(478, 100, 30, 8, 6, W, H), { x: 464, y: 92 });
  // Top edge: below the tank instead (text from y + 6 to y + 11).
  assert.deepEqual(S.placeLabel(200, 10, 30, 8, 6, W, H), { x: 200, y: 21 });
  assert.deepEqual(S.placeLabel(200, 14, 30, 8, 6, W, H), { x: 200, y: 6 }, "just fits above");
  // A label below (a chest's) at the bottom edge goes above.
  assert.deepEqual(S.placeLabel(200, 315, 20, -8.5, 5, W, H), { x: 200, y: 310 });
  assert.deepEqual(S.placeLabel(200, 300, 20, -8.5, 5, W, H), { x: 200, y: 308.5 });
  // Wider than the map: centred on it.
  assert.equal(S.placeLabel(3, 100, 40, 8, 6, 30, 30).x, 15);
});

test("a tank standing on a chest marks the chest for an outline on top; a wreck or a tank beside it does not", () => {
  const chests = [
    { id: 1, x: 50, y: 50 },
    { id: 2, x: 100, y: 50 },
    { id: 3, x: 150, y: 50 },
  ];
  const tanks = [
    { x: 53, y: 47, dead: false }, // on chest 1
    { x: 109, y: 50, dead: false }, // beside chest 2, clear of it
    { x: 150, y: 50, dead: true }, // a wreck on chest 3
  ];
  assert.deepEqual([...S.coveredChests(chests, tanks)], [1]);
  assert.deepEqual([...S.coveredChests(chests, [{ x: 100, y: 57, dead: false }])], [2]);
  assert.deepEqual([...S.coveredChests(chests, [])], []);
});

test("labels do not cover each other: a chest's label goes above the chest when a tank stands below it", () => {
  const width = (text) => text.length * 2.5;
  const chests = [
    { id: 1, x: 100, y: 100, label: "chest 1 · 1 open" },
    { id: 2, x: 200, y: 100, label: "chest 2" },
    { id: 3, x: 300, y: 316, label: "chest 3" },
  ];
  const tanks = [
    { id: 7, x: 101, y: 113, dead: false, name: "bob" }, // just below chest 1: its name is where chest 1's label would be
    { id: 8, x: 200, y: 60, dead: false, name: "alice" },
    { id: 9, x: 300, y: 120, dead: true, name: "wreck" },
  ];
  const at = layout(chests, tanks, width);
  assert.deepEqual(at.tanks.get(7), { x: 101, y: 105 });
  assert.equal(at.tanks.has(9), false, "a wreck has no label");
  assert.deepEqual(at.chests.get(1), { x: 100, y: 95 }, "above chest 1");
  assert.deepEqual(at.chests.get(2), { x: 200, y: 108.5 }, "below chest 2, nothing there");
  assert.deepEqual(at.chests.get(3), { x: 300, y: 311 }, "above at the bottom edge");
  // Without the tank, chest 1's label is below it too.
  assert.deepEqual(layout(chests, tanks.slice(1), width).chests.get(1), { x: 100, y: 108.5 });

  function layout(c, t, w) {
    return S.layoutLabels(c, t, w, 480, 320);
  }
});

test("the net graph names each series with its unit, and the figures carry units", () => {
  assert.deepEqual(S.SERIES.map((s) => s.key), ["rtt", "in", "out"]);
  assert.match(S.SERIES[0].label, /\(ms/);
  assert.match(S.SERIES[1].label, /\(B\/s\)/);
  assert.match(S.SERIES[2].label, /\(B\/s\)/);
  assert.equal(new Set(S.SERIES.map((s) => s.color)).size, 3, "three colours");
  assert.equal(S.SPAN_S, 30);
  assert.equal(S.rate(512), "512 B/s");
  assert.equal(S.rate(2048), "2.0 kB/s");
  const st = { rttSmoothed: 23.4, rttJitter: 2.2, bytesInPerSec: 3500, bytesOutPerSec: 200, serverTickUs: 120, serverTickRate: 30, serverConns: 4, desyncsSent: 0 };
  assert.equal(S.describe(st), "RTT 23 ms ±2 · in 3.4 kB/s · out 200 B/s · server tick 0.12 ms @ 30 Hz, 4 conns");
  assert.equal(S.describe({ ...st, rttSmoothed: NaN, serverTickUs: NaN }), "RTT … · in 3.4 kB/s · out 200 B/s · server tick n/a");
});
