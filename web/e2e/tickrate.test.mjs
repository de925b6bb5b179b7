// End-to-end: the demo page follows the server's tick rate. Against
// `tickwire serve --tick 10` and `--tick 60` the page reads the rate from
// LIMITS, steps its prediction once per tick period with Steps of SPEED /
// rate units, drives with the keyboard and by clicking a spot across the
// map (the path is followed to its end at either rate), and the server
// agrees with every predicted position: no snap back, no refusal, no
// DESYNC. Run with `npm run e2e`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { haveChromium, chromiumPath, launch, waitFor } from "./browser.mjs";
import { startServer } from "../testutil/server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const shots = process.env.TICKWIRE_SCREENSHOTS || join(here, "screenshots");

if (!haveChromium()) {
  test("browser tick rate tests", (t) => t.skip(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM)`));
} else {
  let browser;

  before(async () => {
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
  });

  const js = (page, fn, arg) => page.evaluate(fn, arg);
  const ownPos = (page) => js(page, () => (window.tickwire.game.ready ? { ...window.tickwire.game.predictor.state } : null));


  /** freeSpot returns the centre of a floor tile about n tiles from p, reachable over floor, or null. */
  function freeSpot(map, p, n) {
    const { w, h, tiles } = map;
    const start = Math.floor(p.y / 10) * w + Math.floor(p.x / 10);
    const dist = new Map([[start, 0]]);
    const q = [start];
    for (let i = 0; i < q.length; i++) {
      const c = q[i];
      if (dist.get(c) >= n) return { x: (c % w) * 10 + 5, y: Math.floor(c / w) * 10 + 5 };
      for (const nb of [c + 1, c - 1, c + w, c - w]) {
        if (nb < 0 || nb >= w * h || dist.has(nb) || tiles[nb] !== 0) continue;
        if ((nb === c + 1 || nb === c - 1) && Math.floor(nb / w) !== Math.floor(c / w)) continue;
        dist.set(nb, dist.get(c) + 1);
        q.push(nb);
      }
    }
    return null;
  }

  for (const rate of [10, 60]) {
    test(`at ${rate} Hz the page steps at the server's rate and the server agrees with every prediction`, { timeout: 120000 }, async (t) => {
      const srv = await startServer({ args: ["--tick", String(rate)] });
      const problems = [];
      const page = await browser.ctx.newPage();
      try {
        page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
        page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
        await page.goto(srv.httpURL + "/");
        await page.click("#guest");
        await page.waitForSelector("#game:not([hidden])", { timeout: 15000 });
        await waitFor("the tank", () => ownPos(page));
        const got = await js(page, () => ({ client: window.tickwire.client.tickRate, game: window.tickwire.game.rate, period: window.tickwire.game.pacer.periodMs }));
        assert.deepEqual(got, { client: rate, game: rate, period: 1000 / rate });

        // The keyboard: a direction that moves, held for a second.
        let drove = null;
        for (const key of ["d", "s", "a", "w"]) {
          const from = await ownPos(page);
          const sent = await js(page, () => window.tickwire.game.predicted.seq);
          await page.keyboard.down(key);
          await page.waitForTimeout(1000);
          await page.keyboard.up(key);
          const to = await ownPos(page);
          const inputs = (await js(page, () => window.tickwire.game.predicted.seq)) - sent;
          const d = Math.hypot(to.x - from.x, to.y - from.y);
          if (d >= 20) {
            drove = { key, d, inputs };
            break;
          }
        }
        assert.ok(drove, "the tank did not drive in any direction");
        t.diagnostic(`held ${drove.key} for 1 s at ${rate} Hz: ${drove.d.toFixed(0)} units in ${drove.inputs} inputs`);
        // One Step a tick: about rate inputs in the second, each SPEED / rate long.
        assert.ok(drove.inputs >= rate * 0.6 && drove.inputs <= rate * 1.3, `${drove.inputs} inputs in a second at ${rate} Hz`);
        assert.ok(drove.d >= 30 && drove.d <= 60 * 1.3 + 48, `${drove.d} units in a second`);

        // A click across the map: the page drives the path to its end.
        const map = await js(page, () => {
          const m = window.tickwire.client.model;
          return { w: m.zone.w, h: m.zone.h, tiles: [...m.tiles] };
        });
        const spot = freeSpot(map, await ownPos(page), 8);
        assert.ok(spot, "no floor 8 tiles away");
        const box = await page.locator("#view").boundingBox();
        const scale = await js(page, () => window.tickwire.game.renderer.scale);
        await page.mouse.click(box.x + spot.x * scale, box.y + spot.y * scale);
        await waitFor(`the tank at the clicked spot ${spot.x},${spot.y}`, async () => {
          const s = await js(page, () => ({ path: window.tickwire.game.path !== null, at: { ...window.tickwire.game.predictor.state } }));
          return !s.path && Math.abs(s.at.x - spot.x) <= 3 && Math.abs(s.at.y - spot.y) <= 3;
        }, 20000);

        // Everything the page predicted, the server confirmed.
        await waitFor("every input acknowledged", () => js(page, () => window.tickwire.game.predictor.pendingCount === 0), 5000);
        const end = await js(page, () => {
          const { client, game } = window.tickwire;
          const e = client.model.entity(game.ownId);
          return {
            snaps: game.predictor.snaps,
            agrees: !!e && e.vals[0] === game.predictor.state.x && e.vals[1] === game.predictor.state.y,
            desyncs: client.stats().desyncsSent,
            errors: [...document.querySelectorAll("#log li.err")].map((li) => li.textContent),
          };
        });
        t.diagnostic(JSON.stringify(end));
        assert.equal(end.snaps, 0, "a prediction snapped back");
        assert.ok(end.agrees, "the server has the tank where the page does");
        assert.equal(end.desyncs, 0);
        assert.deepEqual(end.errors, []);
        await waitFor("the net graph's server rate", async () => new RegExp(`@ ${rate} Hz`).test(await page.textContent("#nettext")), 5000);
        assert.doesNotMatch(srv.logs(), /suspicious move/);
        assert.deepEqual(problems, []);
        mkdirSync(shots, { recursive: true });
        const file = join(shots, `tickrate-${rate}.png`);
        await page.screenshot({ path: file });
        const net = join(shots, `netgraph-${rate}.png`);
        await page.locator("#net").screenshot({ path: net });
        t.diagnostic(`screenshots: ${file}, ${net}`);
        console.log(`screenshot: ${file}`);
      } finally {
        await page.close();
        await srv.stop();
      }
    });
  }
}
