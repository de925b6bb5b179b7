// End-to-end: a player survives a dropped connection. Two pages play as
// guests; B drives to where it sees A. The test drops A's WebSocket with
// the SDK's debug hook (with the browser offline for a moment, so several
// attempts fail and the banner is seen); A's page shows "reconnecting…",
// resumes its seat (same player id, same tank), hides the banner and
// carries on: the canvas kept drawing, A drives, and B sees A's new
// position. Finally the server shuts down and the page says the
// connection is lost and offers to log in again. Run with `npm run e2e`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { haveChromium, chromiumPath, launch, shot, waitFor } from "./browser.mjs";
import { startServer } from "../testutil/server.mjs";


if (!haveChromium()) {
  test("browser reconnect tests", (t) => t.skip(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM)`));
} else {
  let srv, browser;
  const problems = [];
  // While the test keeps the browser offline, its failed WebSocket
  // handshakes are expected console errors.
  let offline = false;

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
      if (m.type() !== "error") return;
      if (offline && /WebSocket/.test(m.text())) return;
      problems.push(`${label} console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`${label} pageerror: ${e.message}`));
    await page.goto(srv.httpURL + "/");
    return page;
  }

  const js = (page, fn, arg) => page.evaluate(fn, arg);
  const ownPos = (page) => js(page, () => (window.tickwire.game.ready ? { ...window.tickwire.game.predictor.state } : null));
  const seenPos = (page, name) =>
    js(page, (name) => {
      for (const e of window.tickwire.client.model.entities()) if (e.name === name) return { x: e.vals[0], y: e.vals[1] };
      return null;
    }, name);
  const ownTank = (page) =>
    js(page, () => {
      const { client } = window.tickwire;
      for (const e of client.model.entities()) if (e.name === client.welcome.name) return e.id;
      return 0;
    });


  async function clickWorld(page, x, y) {
    const box = await page.locator("#view").boundingBox();
    const scale = await js(page, () => window.tickwire.game.renderer.scale);
    await page.mouse.click(box.x + x * scale, box.y + y * scale);
  }


  test("a dropped connection: banner, resume with the same tank, and the game carries on", { timeout: 180000 }, async (t) => {
    const A = { label: "A", page: await openPage("A") };
    const B = { label: "B", page: await openPage("B") };
    for (const p of [A, B]) {
      await p.page.bringToFront();
      await p.page.click("#guest");
      await p.page.waitForSelector("#game:not([hidden])", { timeout: 15000 });
      p.name = await js(p.page, () => window.tickwire.client.welcome.name);
      p.id = await js(p.page, () => window.tickwire.client.welcome.id);
      await waitFor(`${p.label}'s tank`, () => ownPos(p.page));
    }
    assert.ok((await js(A.page, () => window.tickwire.client.seatHoldMs)) > 0, "the server gave A a seat");

    // B drives towards A until it sees A (the arena shows what is in sight).
    for (let i = 0; i < 4 && !(await seenPos(B.page, A.name)); i++) {
      const a = await ownPos(A.page);
      await B.page.bringToFront();
      await clickWorld(B.page, a.x, a.y);
      await waitFor("B to see A", () => seenPos(B.page, A.name), 15000).catch(() => null);
    }
    assert.ok(await seenPos(B.page, A.name), "B never saw A");
    await js(B.page, () => (window.tickwire.game.path = null));
    const tank = await ownTank(A.page);
    assert.ok(tank > 0);

    // Watch the banner from inside the page, so a short reconnect is not missed.
    await js(A.page, () => {
      const b = document.getElementById("banner");
      window.bannerLog = [];
      new MutationObserver(() => window.bannerLog.push(b.hidden ? "hidden" : b.textContent)).observe(b, { attributes: true, childList: true, characterData: true, subtree: true });
      window.eventsLog = [];
      for (const e of ["reconnecting", "resumed", "lost"]) window.tickwire.client.on(e, (ev) => window.eventsLog.push([e, ev.attempt ?? ev.attempts ?? 0]));
    });
    const framesBefore = await js(A.page, () => window.tickwire.game.lastFrame);

    // Offline for 1.5 s: the drop, then failing attempts under the banner.
    await A.page.bringToFront();
    offline = true;
    await browser.ctx.setOffline(true);
    const dropped = await js(A.page, () => {
      const ok = window.tickwire.client.debugDropConnection();
      const b = document.getElementById("banner");
      return { ok, state: window.tickwire.client.state, hidden: b.hidden, text: b.textContent };
    });
    assert.equal(dropped.ok, true);
    assert.equal(dropped.state, "reconnecting");
    assert.equal(dropped.hidden, false, "the banner shows at once");
    assert.match(dropped.text, /reconnecting…/);
    await A.page.waitForTimeout(1500);
    const during = await js(A.page, () => ({ state: window.tickwire.client.state, banner: !document.getElementById("banner").hidden, frame: window.tickwire.game.lastFrame }));
    if (during.state === "reconnecting") {
      assert.ok(during.banner, "the banner stays while reconnecting");
      await shot(A.page, "reconnect-banner.png", t);
    } else {
      t.diagnostic("the browser's offline mode did not hold the WebSocket back: resumed at once");
    }
    assert.ok(during.frame > framesBefore, "the canvas kept drawing while reconnecting");
    await browser.ctx.setOffline(false);

    // Resumed: same player, same tank, banner gone, nothing out of sync.
    await A.page.waitForFunction(() => window.tickwire.client.state === "joined" && document.getElementById("banner").hidden, null, { timeout: 20000 });
    offline = false;
    const back = await js(A.page, () => ({
      welcome: window.tickwire.client.welcome,
      events: window.eventsLog,
      banner: window.bannerLog,
      stats: window.tickwire.client.stats(),
    }));
    t.diagnostic(`A's events: ${JSON.stringify(back.events)}; banner: ${JSON.stringify(back.banner)}`);
    assert.deepEqual(back.welcome, { id: A.id, name: A.name }, "the same player");
    assert.equal(back.events[0][0], "reconnecting");
    assert.deepEqual(back.events.at(-1)[0], "resumed");
    assert.ok(back.banner.some((s) => /reconnecting…/.test(s)) && back.banner.at(-1) === "hidden", "the banner came and went");
    assert.equal(back.stats.resumes, 1);
    await waitFor("A's tank after the resume", () => ownPos(A.page));
    assert.equal(await ownTank(A.page), tank, "the same tank");
    assert.match(await A.page.textContent("#log"), /reconnected after/);

    // A keeps playing: it drives, and B sees it at its new position.
    const seen0 = await waitFor("B to see A", () => seenPos(B.page, A.name), 5000);
    const start = await ownPos(A.page);
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
    assert.ok(moved, "A could not drive after the resume");
    await waitFor("B to see A at its new position", async () => {
      const s = await seenPos(B.page, A.name);
      const a = await ownPos(A.page);
      return s && a && s.x === a.x && s.y === a.y && (s.x !== seen0.x || s.y !== seen0.y);
    }, 5000);
    t.diagnostic(`after the resume A drove from ${start.x},${start.y} to ${moved.x},${moved.y}; B saw it`);

    // A's chat reaches B.
    await A.page.fill("#say", "still here");
    await A.page.press("#say", "Enter");
    await waitFor("B to get A's chat", async () => (await B.page.textContent("#log")).includes(`${A.name}: still here`), 5000);

    for (const p of [A, B]) {
      const st = await js(p.page, () => ({ ...window.tickwire.client.stats(), decodeErrors: window.tickwire.client.decodeErrors }));
      assert.equal(st.desyncsSent, 0, `${p.label} sent DESYNC`);
      assert.equal(st.decodeErrors, 0);
    }
    assert.doesNotMatch(await A.page.textContent("#log"), /AUTH guest to play/, "the server banner is not in the chat, after the resume either");
    assert.deepEqual(problems, []);
    await shot(A.page, "reconnect-resumed.png", t);
  });

  test("the server going away: the page says the connection is lost and offers to log in again", { timeout: 60000 }, async (t) => {
    const page = await openPage("C");
    await page.click("#guest");
    await page.waitForSelector("#game:not([hidden])", { timeout: 15000 });
    await waitFor("C's tank", () => ownPos(page));
    await srv.stop(); // BYE shutdown releases the seat: nothing to resume
    await page.waitForSelector("#overlay:not([hidden]) #relogin", { timeout: 15000 });
    assert.match(await page.textContent("#overlay"), /Connection lost/);
    assert.match(await page.textContent("#relogin"), /Log in again/);
    assert.equal(await page.isVisible("#banner"), false);
    await shot(page, "reconnect-lost.png", t);
    // The button reloads the page (to the login form; here the server is gone).
    const reload = page.waitForRequest((r) => r.isNavigationRequest() && r.url().startsWith(srv.httpURL), { timeout: 10000 });
    await page.click("#relogin");
    await reload;
  });
}
