// The demo page's ChestTracker (site/src/chest.ts): which chest the server
// has open for the player, read from the replicated world the arena sends
// (chest contents go only to the tank that has the chest open; `users` to
// everyone), driven here through the SDK's Model with the arena's messages.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { Model } from "../../sdk/dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
let ChestTracker;
let dir;

before(async () => {
  const res = await build({ entryPoints: [join(here, "..", "src", "chest.ts")], bundle: true, format: "esm", platform: "neutral", write: false, logLevel: "warning" });
  dir = mkdtempSync(join(tmpdir(), "tickwire-chest-"));
  const file = join(dir, "chest.mjs");
  writeFileSync(file, res.outputFiles[0].contents);
  ({ ChestTracker } = await import(pathToFileURL(file).href));
});

after(() => rmSync(dir, { recursive: true, force: true }));

const TANK = "heading,hp,dead,score,inv0,inv1,inv2,inv3";
const CHEST = "users,slot0,slot1,slot2,slot3,slot4,slot5";

/** world returns a model holding our tank 5 (at 20,20) and chests 10 and 11, and a function to apply messages. */
function world({ tankFields = TANK, chest10 = [25, 25, 0, 0, 0, 0, 0, 0, 0], chest11 = [60, 20, 0] } = {}) {
  const m = new Model();
  for (const msg of [
    { type: "KIND", kind: 1, name: "tank", fields: "x,y," + tankFields, events: "" },
    { type: "KIND", kind: 2, name: "chest", fields: "x,y," + CHEST, events: "" },
    { type: "ZONE", zone: 1, snap: 1, w: 10, h: 10, unit: 10 },
    { type: "ENTER", id: 5, kind: 1, vals: [20, 20, 0, 100], name: "me" },
    { type: "ENTER", id: 10, kind: 2, vals: chest10, name: "chest" },
    { type: "ENTER", id: 11, kind: 2, vals: chest11, name: "chest" },
    { type: "SNAPEND", snap: 1, count: 3, sum: 0 },
  ])
    m.apply(msg);
  const tr = new ChestTracker();
  let now = 0;
  const step = (...msgs) => {
    for (const msg of msgs) m.apply(msg);
    now += 50;
    tr.update(m, m.entity(5), now);
    return tr.open;
  };
  return { m, tr, step, at: () => now };
}

// DELTA values are differences; field numbers: chest users 2, slot0 3 ...; tank dead 4.
const delta = (id, fields) => {
  let mask = 0;
  const vals = [];
  for (const [f, v] of Object.entries(fields).sort((a, b) => a[0] - b[0])) {
    mask |= 1 << Number(f);
    vals.push(v);
  }
  return { type: "DELTA", id, mask, vals };
};

test("a chest whose contents are shown is open; taking its last item keeps it open; the server closing it closes it", () => {
  const { step } = world();
  assert.equal(step(), 0);
  // OPEN went through: users +1, and the contents (slot1 gem, slot4 gold) appear.
  assert.equal(step(delta(10, { 2: 1, 4: 2, 7: 1 })), 10);
  // TAKE slot1, then slot4: the chest is empty but still open.
  assert.equal(step(delta(10, { 4: -2 })), 10);
  assert.equal(step(delta(10, { 7: -1 })), 10, "an emptied chest stays open");
  // PUT one back, then another tank opens and closes it: still ours.
  assert.equal(step(delta(10, { 3: 3 })), 10);
  assert.equal(step(delta(10, { 2: 1 }), delta(10, { 2: -1 })), 10);
  assert.equal(step(delta(10, { 2: 1 })), 10);
  assert.equal(step(delta(10, { 2: -1 })), 10, "another tank closing it leaves ours open while its contents show");
  // The server closes ours (CLOSE, out of reach): users -1 and the contents are hidden.
  assert.equal(step(delta(10, { 2: -1, 3: -3 })), 0);
});

test("opening an empty chest: open when its count rises after our OPEN, not on a refusal or someone else's OPEN", () => {
  const { tr, step, at } = world();
  tr.opening(10, at());
  tr.refused(10); // ERR too_far
  assert.equal(step(delta(10, { 2: 1 })), 0, "someone else opened it");
  tr.opening(10, at());
  assert.equal(step(delta(10, { 2: 1 })), 10, "ours: the count rose");
  assert.equal(step(), 10);
  assert.equal(step(delta(10, { 2: -1 })), 0, "an empty chest closes when its count falls");
  // An OPEN that is never answered is forgotten.
  tr.opening(11, at());
  for (let i = 0; i < 70; i++) step();
  assert.equal(step(delta(11, { 2: 1 })), 0);
});

test("opening another chest moves the open one; leaving the view, a new zone or being destroyed closes it", () => {
  {
    const { step } = world({ chest11: [60, 20, 0, 0, 0, 0, 0, 0, 0] });
    assert.equal(step(delta(10, { 2: 1, 3: 1 })), 10);
    assert.equal(step(delta(10, { 2: -1, 3: -1 }), delta(11, { 2: 1, 8: 4 })), 11);
    assert.equal(step({ type: "REMOVE", id: 11 }), 0, "out of view");
  }
  {
    const { step, tr } = world();
    assert.equal(step(delta(10, { 2: 1, 3: 1 })), 10);
    assert.equal(step(delta(5, { 4: 1 })), 0, "destroyed");
    tr.reset();
    assert.equal(tr.open, 0);
  }
});

test("a tank field `open` (the server replicating the open chest to its owner) is read as it is", () => {
  const { step } = world({ tankFields: TANK + ",open" });
  assert.equal(step(), 0);
  assert.equal(step(delta(5, { 10: 10 }), delta(10, { 2: 1 })), 10);
  assert.equal(step(delta(10, { 2: 5 })), 10);
  assert.equal(step(delta(5, { 10: 1 })), 11);
  assert.equal(step(delta(5, { 10: -11 })), 0);
});
