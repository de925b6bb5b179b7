// End-to-end: the demo page in a real browser against the real server.
// Two pages sign up and log in as two players, drive to the same chest,
// open it in both, change it in one and see the change in the other, see
// each other move, chat, and leave a screenshot. Run with `npm run e2e`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { haveChromium, chromiumPath, launch } from "./browser.mjs";
import { repoRoot, startServer } from "../testutil/server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const shots = process.env.TICKWIRE_SCREENSHOTS || join(here, "screenshots");

if (!haveChromium()) {
  test("browser end-to-end tests", (t) => t.skip(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM)`));
} else {
  let srv, browser;
  const problems = []; // console errors and page errors, per page

  before(async () => {
    srv = await startServer();
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  async function openPage(label) {
    const page = await browser.ctx.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`${label} console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`${label} pageerror: ${e.message}`));
    await page.goto(srv.httpURL + "/");
    return page;
  }

  /** js evaluates fn in the page with the page's window.tickwire (client and game). */
  const js = (page, fn, arg) => page.evaluate(fn, arg);

  const ownPos = (page) =>
    js(page, () => {
      const p = window.tickwire.game.predictor;
      return p ? { ...p.state } : null;
    });

  /** seenPos returns where page sees the tank called name (from its replicated model), or null. */
  const seenPos = (page, name) =>
    js(page, (name) => {
      for (const e of window.tickwire.client.model.entities()) if (e.name === name) return { x: e.vals[0], y: e.vals[1] };
      return null;
    }, name);

  async function waitFor(what, fn, ms = 20000) {
    const end = Date.now() + ms;
    let last;
    for (;;) {
      last = await fn();
      if (last) return last;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** clickWorld clicks the canvas of page at position x, y (units). */
  async function clickWorld(page, x, y, opts = {}) {
    const box = await page.locator("#view").boundingBox();
    const scale = await js(page, () => window.tickwire.game.renderer.scale);
    await page.mouse.click(box.x + x * scale, box.y + y * scale, opts);
  }

  /** bfs returns the path length in tiles from a to b on the tile map, or Infinity. */
  function bfs(map, a, b) {
    const { w, h, tiles } = map;
    const start = Math.floor(a.y / 10) * w + Math.floor(a.x / 10);
    const goal = Math.floor(b.y / 10) * w + Math.floor(b.x / 10);
    const dist = new Map([[start, 0]]);
    const q = [start];
    for (let i = 0; i < q.length; i++) {
      const c = q[i];
      if (c === goal) return dist.get(c);
      for (const n of [c + 1, c - 1, c + w, c - w]) {
        if (n < 0 || n >= w * h || dist.has(n) || tiles[n] !== 0) continue;
        if ((n === c + 1 || n === c - 1) && Math.floor(n / w) !== Math.floor(c / w)) continue;
        dist.set(n, dist.get(c) + 1);
        q.push(n);
      }
    }
    return Infinity;
  }

  /** chestsOfZone1 reads the chest tiles of the arena's first map from the repository. */
  function chestsOfZone1() {
    const rows = readFileSync(join(repoRoot, "demo/arena/maps/1.txt"), "utf8").trimEnd().split("\n");
    const out = [];
    rows.forEach((row, y) => [...row].forEach((c, x) => c === "c" && out.push({ x: x * 10 + 5, y: y * 10 + 5 })));
    return out;
  }

  test("two players: sign up, meet at a chest, change it, see each other move, chat", { timeout: 180000 }, async (t) => {
    const accounts = await srv.hasAccounts();
    const suffix = String(Date.now() % 1e6);
    const players = [
      { label: "A", name: `alice${suffix}` },
      { label: "B", name: `bob${suffix}` },
    ];
    for (const p of players) {
      p.page = await openPage(p.label);
      await p.page.bringToFront();
      if (accounts) {
        await p.page.fill("#name", p.name);
        await p.page.fill("#password", "correct horse battery staple");
        await p.page.click("#register-button");
      } else {
        t.diagnostic("the server has no auth API on its HTTP origin: logging in as guests");
        await p.page.click("#guest");
      }
      await p.page.waitForSelector("#game:not([hidden])", { timeout: 15000 }).catch(async (e) => {
        throw new Error(`${p.label} did not get in: ${await p.page.textContent("#login-error")} (${e.message})`);
      });
      p.name = await js(p.page, () => window.tickwire.client.welcome.name);
      if (accounts) assert.equal(p.name, `${p.label === "A" ? "alice" : "bob"}${suffix}`);
      await waitFor(`${p.label}'s tank`, () => ownPos(p.page));
    }
    const [A, B] = players;

    // Pick the chest of zone 1 with the shortest total drive for both.
    const map = await js(A.page, () => {
      const m = window.tickwire.client.model;
      return { w: m.zone.w, h: m.zone.h, tiles: [...m.tiles] };
    });
    const posA = await ownPos(A.page);
    const posB = await ownPos(B.page);
    const chest = chestsOfZone1()
      .map((c) => ({ ...c, cost: bfs(map, posA, c) + bfs(map, posB, c) }))
      .sort((a, b) => a.cost - b.cost)[0];
    assert.ok(Number.isFinite(chest.cost), "no chest reachable by both");
    t.diagnostic(`A at ${posA.x},${posA.y}, B at ${posB.x},${posB.y}; meeting at the chest at ${chest.x},${chest.y} (${chest.cost} tiles)`);

    // Both click the chest: the page finds a path, drives until the chest
    // is within reach and opens it (no E needed); the panel follows the
    // replicated world.
    for (const p of players) {
      await p.page.bringToFront();
      await clickWorld(p.page, chest.x, chest.y);
    }
    for (const p of players) {
      await p.page.waitForSelector("#chest.open", { timeout: 40000 }).catch(async (e) => {
        throw new Error(`${p.label}'s chest did not open: at ${JSON.stringify(await ownPos(p.page))}, log ${await p.page.textContent("#log")} (${e.message})`);
      });
      const at = await ownPos(p.page);
      const d = Math.hypot(at.x - chest.x, at.y - chest.y);
      assert.ok(d <= 25, `${p.label} opened the chest from ${d.toFixed(1)} units, beyond its reach`);
      assert.equal(await p.page.isVisible("#chest-hint"), false, `${p.label}'s panel still shows the hint`);
      p.chest = await p.page.textContent("#chest-title");
      t.diagnostic(`${p.label} opened ${p.chest} from ${d.toFixed(1)} units`);
    }
    assert.equal(A.chest, B.chest, "both opened the same chest");
    t.diagnostic(`both opened ${A.chest}`);
    const slots = (page) => page.$$eval("#chest-slots .slot", (bs) => bs.map((b) => b.textContent));
    const before = await slots(B.page);
    assert.equal(before.length, 6);
    assert.deepEqual(await slots(A.page), before, "both see the same contents");

    // A takes an item; B sees the slot empty. A puts it back; B sees it return.
    const slot = before.findIndex((s) => s !== "empty");
    assert.ok(slot >= 0, `chest ${A.chest} is empty: nothing to take`);
    await A.page.bringToFront();
    await A.page.click(`#chest-slots .slot:nth-child(${slot + 1})`);
    await waitFor("B to see the slot emptied", async () => (await slots(B.page))[slot] === "empty", 5000);
    await waitFor("the item in A's inventory", async () => (await A.page.textContent("#inventory")).includes(before[slot]), 5000);
    t.diagnostic(`A took ${before[slot]} from slot ${slot}; B saw the slot empty`);
    await A.page.click("#inventory .slot:nth-child(1)");
    await waitFor("B to see the item back", async () => (await slots(B.page)).includes(before[slot]), 5000);
    t.diagnostic(`A put ${before[slot]} back; B saw it return`);

    // B sees A; A drives and B sees it move.
    const seen0 = await waitFor("B to see A's tank", () => seenPos(B.page, A.name), 5000);
    const start = await ownPos(A.page);
    await A.page.bringToFront();
    let moved = null;
    for (const key of ["d", "a", "s", "w"]) {
      await A.page.keyboard.down(key);
      await A.page.waitForTimeout(400);
      await A.page.keyboard.up(key);
      const at = await ownPos(A.page);
      if (Math.hypot(at.x - start.x, at.y - start.y) >= 6) {
        moved = at;
        break;
      }
    }
    assert.ok(moved, "A could not drive in any direction");
    await waitFor("B to see A at its new position", async () => {
      const s = await seenPos(B.page, A.name);
      const a = await ownPos(A.page);
      return s && a && s.x === a.x && s.y === a.y && (s.x !== seen0.x || s.y !== seen0.y);
    }, 5000);
    t.diagnostic(`A drove from ${start.x},${start.y} to ${moved.x},${moved.y}; B saw it`);

    // The server's netcat banner is not shown to browser players.
    for (const p of players) assert.doesNotMatch(await p.page.textContent("#log"), /AUTH guest to play/, `${p.label} shows the server banner`);

    // Chat.
    const line = `hello from ${A.name} ☃`;
    await A.page.bringToFront();
    await A.page.fill("#say", line);
    await A.page.press("#say", "Enter");
    await waitFor("B to get the chat line", async () => (await B.page.textContent("#log")).includes(`${A.name}: ${line}`), 5000);

    // Nothing went wrong on the way.
    for (const p of players) {
      const st = await js(p.page, () => ({ ...window.tickwire.client.stats(), decodeErrors: window.tickwire.client.decodeErrors }));
      assert.equal(st.desyncsSent, 0, `${p.label} sent DESYNC`);
      assert.equal(st.decodeErrors, 0, `${p.label} could not decode a frame`);
      assert.ok(Number.isFinite(st.rttSmoothed), `${p.label} has no RTT`);
      assert.ok(Number.isFinite(st.serverTickUs), `${p.label} has no server tick time`);
      assert.match(await p.page.textContent("#nettext"), /RTT \d+ ms/);
    }
    assert.deepEqual(problems, []);

    // Screenshots: B's view (A's tank next to it, the chest open), and A's.
    mkdirSync(shots, { recursive: true });
    for (const p of players) {
      await p.page.bringToFront();
      await p.page.waitForTimeout(300);
      const file = join(shots, `arena-${p.label}.png`);
      await p.page.screenshot({ path: file });
      t.diagnostic(`screenshot: ${file}`);
      console.log(`screenshot: ${file}`);
    }
  });

  test("a wrong password is refused on the page", { timeout: 60000 }, async (t) => {
    if (!(await srv.hasAccounts())) {
      t.skip("the server has no auth API on its HTTP origin");
      return;
    }
    const page = await openPage("C");
    await page.fill("#name", "nobody" + (Date.now() % 1e6));
    await page.fill("#password", "not the password at all");
    await page.click("#login-button");
    await page.waitForFunction(() => document.getElementById("login-error").textContent !== "", null, { timeout: 10000 });
    assert.match(await page.textContent("#login-error"), /wrong name or password/);
    assert.equal(await page.isVisible("#game"), false);
    await page.close();
  });
}
