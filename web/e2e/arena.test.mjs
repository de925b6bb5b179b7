// End-to-end: the demo page in a real browser against the real server.
// Two pages sign up and log in as two players, drive to the same chest,
// open it in both, change it in one and see the change in the other, see
// each other move, chat, and leave a screenshot. Then the chest panel
// when the connection drops, is lost and is quit. Run with `npm run e2e`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { haveChromium, chromiumPath, launch, shot, waitFor } from "./browser.mjs";
import { repoRoot, startServer } from "../testutil/server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const shots = process.env.TICKWIRE_SCREENSHOTS || join(here, "screenshots");

if (!haveChromium()) {
  test("browser end-to-end tests", (t) => t.skip(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM)`));
} else {
  let srv, browser;
  const problems = []; // console errors and page errors, per page
  // While a test makes WebSocket connections fail on purpose, the
  // browser's messages about them are expected.
  let wsFailing = false;

  before(async () => {
    srv = await startServer();
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  /**
   * openPage opens the page for player label. With routeWS, its WebSocket
   * connections go through routeWS(route) (Playwright's WebSocketRoute);
   * the route must be set before the page loads, as the SDK keeps the
   * WebSocket constructor it finds.
   */
  async function openPage(label, routeWS = null) {
    const page = await browser.ctx.newPage();
    if (routeWS) await page.routeWebSocket(/\/ws$/, routeWS);
    page.on("console", (m) => {
      if (m.type() === "error" && !(wsFailing && /WebSocket/.test(m.text()))) problems.push(`${label} console: ${m.text()}`);
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

  test("the page speaking the text encoding asks for the sync stream and plays", { timeout: 60000 }, async (t) => {
    const page = await browser.ctx.newPage();
    await page.goto(srv.httpURL + "/?enc=text");
    await page.click("#guest");
    await page.waitForSelector("#game:not([hidden])", { timeout: 15000 });
    assert.equal(await js(page, () => window.tickwire.client.encoding), "text");
    // The arena narrates to text connections unless asked for sync: without
    // MODE sync the page would never get its zone.
    await waitFor("the zone and the tank", () => js(page, () => window.tickwire.game.ready && window.tickwire.client.model.zone.w > 0), 15000);
    const st = await js(page, () => ({ ...window.tickwire.client.stats(), decodeErrors: window.tickwire.client.decodeErrors }));
    assert.equal(st.desyncsSent, 0);
    assert.equal(st.decodeErrors, 0);
    t.diagnostic(`status: ${await page.textContent("#status")}`);
    await page.close();
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

  /** nearestChest returns the chest of zone 1 with the shortest drive from where page's tank is. */
  async function nearestChest(page) {
    const map = await js(page, () => {
      const m = window.tickwire.client.model;
      return { w: m.zone.w, h: m.zone.h, tiles: [...m.tiles] };
    });
    const at = await ownPos(page);
    const best = chestsOfZone1()
      .map((c) => ({ ...c, cost: bfs(map, at, c) }))
      .sort((a, b) => a.cost - b.cost)[0];
    assert.ok(Number.isFinite(best.cost), "no chest within reach");
    return best;
  }

  /** panel reads the chest panel (and the quit link) as the player sees it. */
  const panel = (page) =>
    js(page, () => {
      const $ = (id) => document.getElementById(id);
      return {
        open: $("chest").classList.contains("open"),
        title: $("chest-title").textContent,
        hint: !$("chest-hint").hidden,
        offline: $("chest-offline").hidden ? null : $("chest-offline").textContent,
        slots: document.querySelectorAll("#chest-slots .slot").length,
        clickable: [...document.querySelectorAll("#chest .slot")].filter((b) => !b.disabled).length,
        quit: !$("quit").hidden,
        state: window.tickwire.client.state,
      };
    });


  test("the chest panel when the connection drops, is lost and is quit; quit only while playing; the net graph's legend", { timeout: 180000 }, async (t) => {
    const problemsBefore = problems.length;
    // D's connections go through the test, which can refuse them.
    let route = "pass";
    const D = {
      label: "D",
      page: await openPage("D", (ws) => {
        if (route === "refuse") ws.close({ code: 1011, reason: "" });
        else if (route === "expired") ws.close({ code: 4000, reason: "seat_expired" }); // as a server would that no longer holds the seat
        else ws.connectToServer();
      }),
    };
    const E = { label: "E", page: await openPage("E") };
    for (const p of [D, E]) {
      assert.equal(await p.page.isVisible("#quit"), false, `${p.label}: no quit before login`);
      await p.page.bringToFront();
      await p.page.click("#guest");
      await p.page.waitForSelector("#game:not([hidden])", { timeout: 15000 });
      await waitFor(`${p.label}'s tank`, () => ownPos(p.page));
      assert.equal(await p.page.isVisible("#quit"), true, `${p.label}: quit while playing`);
    }
    const legend = await D.page.locator("#netlegend").innerText();
    assert.match(legend, /round trip \(ms, smoothed\)/);
    assert.match(legend, /received \(B\/s\)/);
    assert.match(legend, /sent \(B\/s\)/);
    assert.equal(await D.page.locator("#netlegend .swatch").count(), 3);
    assert.match(legend, /last 30 s/);
    await waitFor("the net figures with units", async () => /RTT \d+ ms .*B\/s .*B\/s .*ms @ \d+ Hz/.test(await D.page.textContent("#nettext")), 5000);

    // Both drive to their nearest chest by clicking it, and it opens.
    for (const p of [D, E]) {
      p.chest = await nearestChest(p.page);
      await p.page.bringToFront();
      await clickWorld(p.page, p.chest.x, p.chest.y);
    }
    for (const p of [D, E]) {
      await p.page.waitForSelector("#chest.open", { timeout: 40000 }).catch(async (e) => {
        throw new Error(`${p.label}'s chest did not open: at ${JSON.stringify(await ownPos(p.page))} (${e.message})`);
      });
      const st = await panel(p.page);
      assert.equal(st.slots, 6, `${p.label} sees the chest's slots`);
      assert.equal(st.offline, null);
      t.diagnostic(`${p.label} opened ${st.title}`);
    }

    // D's connection drops. New connections fail until the test lets them
    // through, so the page stays in "reconnecting": the server closed the
    // chest at the drop, and the panel says so at once.
    route = "refuse";
    wsFailing = true;
    await D.page.bringToFront();
    assert.equal(await js(D.page, () => window.tickwire.client.debugDropConnection()), true);
    await D.page.waitForFunction(() => window.tickwire.client.state === "reconnecting" && !document.getElementById("chest-offline").hidden, null, { timeout: 5000 });
    await D.page.waitForTimeout(300); // a few failed attempts
    const during = await panel(D.page);
    t.diagnostic(`D while reconnecting: ${JSON.stringify(during)}`);
    assert.equal(during.state, "reconnecting");
    assert.equal(during.open, false, "the chest shows closed while reconnecting");
    assert.equal(during.title, "Chest");
    assert.equal(during.slots, 0, "no chest slots");
    assert.equal(during.clickable, 0, "nothing to click");
    assert.equal(during.hint, false);
    assert.match(during.offline, /Reconnecting/);
    await shot(D.page, "panel-reconnecting.png", t);

    // Let it through: resumed, the panel is back to "drive to a chest", and the chest opens again.
    route = "pass";
    await D.page.waitForFunction(() => window.tickwire.client.state === "joined" && document.getElementById("banner").hidden, null, { timeout: 20000 });
    wsFailing = false;
    await waitFor("D's tank after the resume", () => js(D.page, () => window.tickwire.game.ready && !window.tickwire.client.model.loading));
    const back = await panel(D.page);
    assert.deepEqual([back.open, back.hint, back.offline, back.slots, back.quit], [false, true, null, 0, true], `after the resume: ${JSON.stringify(back)}`);
    await clickWorld(D.page, D.chest.x, D.chest.y);
    await D.page.waitForSelector("#chest.open", { timeout: 20000 }).catch(async (e) => {
      throw new Error(`D's chest did not open again: at ${JSON.stringify(await ownPos(D.page))}, log ${await D.page.textContent("#log")} (${e.message})`);
    });
    assert.equal((await panel(D.page)).slots, 6, "D opened the chest again after the resume");

    // D's connection drops again and the seat is gone: lost. The overlay
    // says so; the panel shows no chest, nothing to click, no quit.
    route = "expired";
    wsFailing = true;
    assert.equal(await js(D.page, () => window.tickwire.client.debugDropConnection()), true);
    await D.page.waitForSelector("#overlay:not([hidden]) #relogin", { timeout: 15000 });
    assert.match(await D.page.textContent("#overlay"), /Connection lost.*seat_expired/s);
    const lost = await panel(D.page);
    t.diagnostic(`D after losing the connection: ${JSON.stringify(lost)}`);
    assert.equal(lost.state, "closed");
    assert.equal(lost.open, false, "the chest shows closed after the connection is lost");
    assert.equal(lost.slots, 0);
    assert.equal(lost.clickable, 0);
    assert.match(lost.offline, /Not connected/);
    assert.equal(lost.quit, false, "no quit once the session is over");
    await shot(D.page, "panel-lost.png", t);
    wsFailing = false;

    // E quits with its chest open.
    await E.page.bringToFront();
    await E.page.click("#quit");
    await E.page.waitForSelector("#overlay:not([hidden]) #relogin", { timeout: 15000 });
    assert.match(await E.page.textContent("#overlay"), /Disconnected: quit/);
    const quit = await panel(E.page);
    t.diagnostic(`E after quit: ${JSON.stringify(quit)}`);
    assert.equal(quit.open, false, "the chest shows closed after quit");
    assert.equal(quit.slots, 0);
    assert.equal(quit.clickable, 0);
    assert.match(quit.offline, /Not connected/);
    assert.equal(quit.quit, false);
    await shot(E.page, "panel-quit.png", t);
    assert.deepEqual(problems.slice(problemsBefore), []);
    await D.page.close();
    await E.page.close();
  });
}
