// The replica Model, Predictor and Interpolator. The Model and Predictor
// must behave exactly like the Go replica.Model and replica.Predictor; the
// checksum values below were computed with replica.EntityHash and
// replica.TilesHash, and server.test.mjs checks the whole Model against a
// running Go server's snapshot and resync checksums.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Model, entityHash, tilesHash, Predictor, Interpolator, DesyncReason } from "../dist/index.js";

test("checksums equal the Go replica package's", () => {
  assert.equal(entityHash(1, 0, [], ""), 3412691020);
  assert.equal(entityHash(7, 2, [640, -321, 0, 2147483647, -2147483648], "tänk-1"), 894798201);
  assert.equal(entityHash(4294967295, 255, [-1], "x"), 498617690);
  assert.equal(tilesHash(3, 2, [0, 1, 2, 1, 0, 255]), 679092323);
  assert.equal(tilesHash(1024, 1, new Uint8Array(1024)), 1351658880);
});

const KIND_TANK = { type: "KIND", kind: 1, name: "tank", fields: "x,y,hp,angle", events: "hit,fire" };
const KIND_CHEST = { type: "KIND", kind: 2, name: "chest", fields: "x,y,gold" };

/** snapshot returns the messages of a consistent snapshot holding ents. */
function snapshot(snap, w, h, tiles, ents) {
  const msgs = [{ type: "ZONE", zone: 1, snap, w, h, unit: 10 }];
  for (let y = 0; y < h; y++) msgs.push({ type: "TILES", y, x: 0, tiles: tiles.slice(y * w, y * w + w) });
  const nf = { 1: 4, 2: 3 };
  let sum = tilesHash(w, h, tiles);
  for (const e of ents) {
    msgs.push({ type: "ENTER", id: e.id, kind: e.kind, vals: e.vals, name: e.name });
    const vals = new Array(nf[e.kind]).fill(0);
    e.vals.forEach((v, i) => (vals[i] = v));
    sum = (sum + entityHash(e.id, e.kind, vals, e.name)) >>> 0;
  }
  msgs.push({ type: "SNAPEND", snap, count: ents.length, sum });
  return msgs;
}

function applyAll(model, msgs) {
  const reports = [];
  for (const m of msgs) {
    const r = model.apply(m);
    if (r) reports.push(...r);
  }
  return reports;
}

const TILES = [1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1];
const ENTS = [
  { id: 5, kind: 1, vals: [12, 15, 100, 90], name: "alice" },
  { id: 9, kind: 2, vals: [25, 15], name: "" },
];

function loaded() {
  const m = new Model();
  assert.deepEqual(applyAll(m, [KIND_TANK, KIND_CHEST, ...snapshot(1, 4, 3, TILES, ENTS)]), []);
  return m;
}

test("a snapshot loads tiles and entities and its checksum verifies", () => {
  const m = new Model();
  assert.equal(m.zone.id, -1);
  applyAll(m, [KIND_TANK, KIND_CHEST]);
  const msgs = snapshot(1, 4, 3, TILES, ENTS);
  for (const x of msgs.slice(0, -1)) assert.equal(m.apply(x), null);
  assert.equal(m.loading, true);
  assert.equal(m.apply(msgs.at(-1)), null);
  assert.equal(m.loading, false);
  assert.deepEqual(m.zone, { id: 1, w: 4, h: 3, unit: 10 });
  assert.equal(m.tile(0, 1), 0);
  assert.equal(m.tile(3, 1), 1);
  assert.equal(m.tile(4, 1), undefined);
  assert.equal(m.size, 2);
  const a = m.entity(5);
  assert.equal(a.name, "alice");
  assert.equal(m.get(a, "hp"), 100);
  assert.equal(m.get(a, "angle"), 90);
  assert.equal(m.get(a, "nope"), 0);
  assert.equal(m.kindByName("chest").num, 2);
  assert.deepEqual(m.kind(1).events, ["hit", "fire"]);
  assert.deepEqual(m.kind(2).events, []);
});

test("a snapshot with a wrong checksum or count is reported", () => {
  const m = new Model();
  const msgs = snapshot(1, 4, 3, TILES, ENTS);
  msgs.at(-1).sum ^= 1;
  assert.deepEqual(applyAll(m, [KIND_TANK, KIND_CHEST, ...msgs]), [{ id: 0, mask: 0, reason: DesyncReason.snapshot }]);
  const m2 = new Model();
  const msgs2 = snapshot(1, 4, 3, TILES, ENTS);
  msgs2.at(-1).count = 3;
  assert.deepEqual(applyAll(m2, [KIND_TANK, KIND_CHEST, ...msgs2]), [{ id: 0, mask: 0, reason: "snapshot" }]);
});

test("a new ZONE drops everything held", () => {
  const m = loaded();
  m.apply({ type: "ZONE", zone: 2, snap: 2, w: 2, h: 2, unit: 10 });
  assert.equal(m.size, 0);
  assert.deepEqual([...m.tiles], [0, 0, 0, 0]);
  assert.equal(m.snap, 2);
  assert.equal(m.loading, true);
});

test("TILES outside the zone are ignored", () => {
  const m = loaded();
  m.apply({ type: "TILES", y: 3, x: 0, tiles: [5] });
  m.apply({ type: "TILES", y: 0, x: 3, tiles: [5, 5] });
  assert.deepEqual([...m.tiles], TILES);
});

test("DELTA adds its values to the masked fields lowest bit first; unknown entities are reported", () => {
  const m = loaded();
  assert.equal(m.apply({ type: "DELTA", id: 5, mask: 0b1001, vals: [1, 90] }), null);
  assert.deepEqual([...m.entity(5).vals.subarray(0, 4)], [13, 15, 100, 180]);
  // Negative differences.
  m.apply({ type: "DELTA", id: 5, mask: 0b0111, vals: [-3, -3, -125] });
  assert.deepEqual([...m.entity(5).vals.subarray(0, 4)], [10, 12, -25, 180]);
  // Fewer values than bits: only as many fields as values change.
  m.apply({ type: "DELTA", id: 5, mask: 0b0110, vals: [4] });
  assert.deepEqual([...m.entity(5).vals.subarray(0, 4)], [10, 16, -25, 180]);
  assert.deepEqual(m.apply({ type: "DELTA", id: 77, mask: 3, vals: [1, 2] }), [{ id: 77, mask: 3, reason: DesyncReason.unknown }]);
});

test("DELTA differences wrap round in int32, as in Go", () => {
  const m = loaded();
  const vals = () => [...m.entity(5).vals.subarray(0, 4)];
  const MAX = 2147483647;
  const MIN = -2147483648;
  m.apply({ type: "ENTER", id: 5, kind: 1, vals: [0, 0, MAX, MIN], name: "alice" });
  m.apply({ type: "DELTA", id: 5, mask: 0b1100, vals: [1, -1] }); // max + 1 = min, min - 1 = max
  assert.deepEqual(vals(), [0, 0, MIN, MAX]);
  m.apply({ type: "DELTA", id: 5, mask: 0b1100, vals: [-1, -MAX] });
  assert.deepEqual(vals(), [0, 0, MAX, 0]);
  m.apply({ type: "DELTA", id: 5, mask: 0b0100, vals: [2147483644] }); // max to -5
  assert.deepEqual(vals(), [0, 0, -5, 0]);
  // The values TestDeltaValuesWrap in replica checks on the Go side.
  m.apply({ type: "ENTER", id: 5, kind: 1, vals: [0, 0, 3, -103], name: "alice" });
  m.apply({ type: "DELTA", id: 5, mask: 0b1100, vals: [-2147483003, 2147483103] });
  assert.deepEqual(vals(), [0, 0, -2147483000, 2147483000]);
  m.apply({ type: "DELTA", id: 5, mask: 0b1100, vals: [-1296, 1296] });
  assert.deepEqual(vals(), [0, 0, 2147483000, -2147483000]);
});

test("a field that becomes visible arrives as a difference from 0, and one that becomes hidden goes back to 0", () => {
  // As the server sends them for a chest whose gold only openers see
  // (TestFieldMaskDeltasRelativeToHeld in replica).
  const m = loaded();
  const chest = () => [...m.entity(9).vals.subarray(0, 3)];
  assert.deepEqual(chest(), [25, 15, 0]); // hidden: reads 0
  m.apply({ type: "DELTA", id: 9, mask: 0b101, vals: [1, 7] }); // opened while it moved: gold 7 from 0
  assert.deepEqual(chest(), [26, 15, 7]);
  m.apply({ type: "DELTA", id: 9, mask: 0b100, vals: [-2] }); // gold 7 to 5
  assert.deepEqual(chest(), [26, 15, 5]);
  m.apply({ type: "DELTA", id: 9, mask: 0b100, vals: [-5] }); // closed: back to 0
  assert.deepEqual(chest(), [26, 15, 0]);
});

test("a lost DELTA leaves the model off until a resync repairs and reports it", () => {
  const m = loaded();
  m.apply({ type: "DELTA", id: 5, mask: 0b0001, vals: [3] });
  // The DELTA of +3 for y was lost; the next arrives relative to what the server thinks is held.
  m.apply({ type: "DELTA", id: 5, mask: 0b0011, vals: [3, 3] });
  assert.deepEqual([...m.entity(5).vals.subarray(0, 2)], [18, 18]);
  const truth = { id: 5, kind: 1, vals: [18, 21, 100, 90], name: "alice" };
  assert.deepEqual(m.apply(stateOf(truth)), [{ id: 5, mask: 0b10, reason: DesyncReason.fields }]);
  assert.deepEqual([...m.entity(5).vals.subarray(0, 4)], [18, 21, 100, 90]);
});

test("ENTER replaces an entity whole; REMOVE drops it", () => {
  const m = loaded();
  m.apply({ type: "ENTER", id: 5, kind: 1, vals: [1, 2], name: "bob" });
  assert.deepEqual([...m.entity(5).vals.subarray(0, 4)], [1, 2, 0, 0]);
  assert.equal(m.entity(5).name, "bob");
  m.apply({ type: "REMOVE", id: 5 });
  assert.equal(m.entity(5), undefined);
  m.apply({ type: "REMOVE", id: 12345 }); // unknown: ignored
});

test("ACK names the own entity and overwrites its fields", () => {
  const m = loaded();
  m.apply({ type: "ACK", seq: 7, id: 5, vals: [30, 31] });
  assert.equal(m.ownId, 5);
  assert.equal(m.lastAck, 7);
  assert.deepEqual([...m.entity(5).vals.subarray(0, 4)], [30, 31, 100, 90]); // copies only what is sent
  m.apply({ type: "ACK", seq: 8, id: 99, vals: [1] }); // not held: only the ids change
  assert.equal(m.ownId, 99);
});

function stateOf(e) {
  return { type: "STATE", id: e.id, kind: e.kind, vals: e.vals, name: e.name };
}

function sliceSum(ents, nf, mod, rem) {
  let sum = 0;
  for (const e of ents) {
    if (e.id % mod !== rem) continue;
    const vals = new Array(nf[e.kind]).fill(0);
    e.vals.forEach((v, i) => (vals[i] = v));
    sum = (sum + entityHash(e.id, e.kind, vals, e.name)) >>> 0;
  }
  return sum;
}

test("a resync slice that matches reports nothing", () => {
  const m = loaded();
  const ents = ENTS.filter((e) => e.id % 2 === 1);
  const msgs = [...ents.map(stateOf), { type: "RSLICE", mod: 2, rem: 1, count: ents.length, sum: sliceSum(ents, { 1: 4, 2: 3 }, 2, 1) }];
  assert.deepEqual(applyAll(m, msgs), []);
});

test("a resync slice repairs fields, missing and extra entities, and checks its sum", () => {
  const m = loaded();
  m.apply({ type: "ENTER", id: 11, kind: 2, vals: [1, 1, 7] }); // the server never had it
  const truth = [
    { id: 5, kind: 1, vals: [12, 15, 75, 90], name: "alice" }, // hp differs
    { id: 9, kind: 2, vals: [25, 15], name: "" },
    { id: 13, kind: 2, vals: [3, 4, 1], name: "" }, // missing
  ];
  const sum = sliceSum(truth, { 1: 4, 2: 3 }, 1, 0);
  const reports = applyAll(m, [...truth.map(stateOf), { type: "RSLICE", mod: 1, rem: 0, count: 3, sum }]);
  assert.deepEqual(reports, [
    { id: 5, mask: 1 << 2, reason: DesyncReason.fields },
    { id: 13, mask: 0b111, reason: DesyncReason.missing },
    { id: 11, mask: 0, reason: DesyncReason.extra },
  ]);
  assert.equal(m.get(m.entity(5), "hp"), 75);
  assert.equal(m.entity(11), undefined);
  assert.ok(m.entity(13));
  // A name change alone is a "fields" report with an empty mask; a kind
  // change reports every field of the new kind.
  assert.deepEqual(m.apply({ type: "STATE", id: 9, kind: 2, vals: [25, 15], name: "lid" }), [{ id: 9, mask: 0, reason: "fields" }]);
  assert.deepEqual(m.apply({ type: "STATE", id: 9, kind: 1, vals: [25, 15], name: "lid" }), [{ id: 9, mask: 0b1111, reason: "fields" }]);
  // A wrong sum is reported after the repairs.
  assert.deepEqual(m.apply({ type: "RSLICE", mod: 1, rem: 0, count: 0, sum: 1 }).at(-1), { id: 0, mask: 0, reason: DesyncReason.checksum });
});

test("a STATE for an entity of an unknown kind reports all 16 fields missing", () => {
  const m = new Model();
  assert.deepEqual(m.apply({ type: "STATE", id: 3, kind: 9, vals: [1] }), [{ id: 3, mask: 0xffff, reason: "missing" }]);
});

test("Predictor matches the Go replica.Predictor", () => {
  const p = new Predictor(0, (x, dx) => x + dx);
  for (let seq = 1; seq <= 5; seq++) p.input(seq, 1);
  assert.deepEqual(p.ack(2, 2), { state: 5, snapped: false });
  // The server refused input 3: the entity stayed at 2.
  assert.deepEqual(p.ack(3, 2), { state: 4, snapped: true });
  assert.equal(p.pendingCount, 2);
  assert.deepEqual(p.ack(5, 4), { state: 4, snapped: false });
  assert.equal(p.pendingCount, 0);
  assert.equal(p.ack(4, 100).state, 4, "stale ack applied");
  assert.equal(p.snaps, 1);
});

test("Predictor compares object states by value and snaps when an unknown ack disagrees", () => {
  const step = (s, c) => ({ x: s.x + c.dx, y: s.y + c.dy });
  const p = new Predictor({ x: 0, y: 0 }, step);
  p.input(1, { dx: 3, dy: 0 });
  p.input(2, { dx: 3, dy: 0 });
  assert.deepEqual(p.ack(1, { x: 3, y: 0 }), { state: { x: 6, y: 0 }, snapped: false });
  // An ack for an input it never saw (seq 10): snap to the server's state.
  const r = p.ack(10, { x: 50, y: 50 });
  assert.deepEqual(r, { state: { x: 50, y: 50 }, snapped: true });
  p.reset({ x: 1, y: 1 });
  assert.deepEqual(p.state, { x: 1, y: 1 });
  assert.equal(p.pendingCount, 0);
});

test("Interpolator draws entities delay ms in the past, blending positions", () => {
  const it = new Interpolator({ delay: 100 });
  it.push(1, 1000, [0, 0, 7]);
  it.push(1, 1050, [10, 20, 8]);
  it.push(1, 1100, [20, 40, 9]);
  assert.deepEqual([...it.sample(1, 1000)], [0, 0, 7]); // before the first: hold it
  assert.deepEqual([...it.sample(1, 1125)], [5, 10, 7]); // render time 1025
  assert.deepEqual([...it.sample(1, 1175)], [15, 30, 8]);
  assert.deepEqual([...it.sample(1, 1300)], [20, 40, 9]); // past the newest: hold
  assert.equal(it.sample(2, 1300), null);
  it.remove(1, 1150);
  assert.ok(it.sample(1, 1200), "drawn until the render time reaches the removal");
  assert.equal(it.sample(1, 1250), null);
  assert.equal(it.has(1), false);
});

test("Interpolator wraps angles the short way and snaps long jumps", () => {
  const it = new Interpolator({ delay: 0, snapDistance: 50 });
  it.configure(1, 0b111, new Map([[2, 360]]));
  it.push(1, 0, [0, 0, 350]);
  it.push(1, 100, [10, 0, 10]);
  assert.deepEqual([...it.sample(1, 50)], [5, 0, 0]);
  assert.deepEqual([...it.sample(1, 75)], [7.5, 0, 5]);
  it.push(1, 200, [500, 0, 10]); // a teleport
  assert.deepEqual([...it.sample(1, 150)], [10, 0, 10]);
  it.prune(150);
  assert.deepEqual([...it.sample(1, 150)], [10, 0, 10]);
});
