// End-to-end: the demo page in a cluster (docs/CLUSTER.md). Two nodes of
// one cluster share a NATS server: n1 runs zone 1, n2 zone 2. The page is
// loaded from n2 and plays as a guest; n2 does not run the zone new players
// enter, so it hands the player to n1 (WELCOME, then MOVED, PROTOCOL.md
// §5.3). The SDK follows the MOVED and resumes on n1 without showing
// anything: the test checks that the page ends up on n1's WebSocket, with
// its tank in zone 1, that the game runs there (the tank drives and the
// server's updates reach the page's model), and that no "reconnecting"
// banner was shown. The nodes allow each other's page origins
// (--allow-origin): without it n1 refuses the WebSocket of n2's page (403)
// and the page never gets past "reconnecting". Needs a NATS server with JetStream:
// TICKWIRE_TEST_NATS=nats://127.0.0.1:4222 (.ci/run sets it); without it
// the test skips. Run with `npm run e2e`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { haveChromium, chromiumPath, launch, shot, waitFor } from "./browser.mjs";
import { freePort, startServer } from "../testutil/server.mjs";

const nats = process.env.TICKWIRE_TEST_NATS || "";

if (!haveChromium()) {
  test("browser cluster tests", (t) => t.skip(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM)`));
} else if (!nats) {
  test("browser cluster tests", (t) => t.skip("TICKWIRE_TEST_NATS is not set: no NATS server with JetStream (e.g. nats://127.0.0.1:4222)"));
} else {
  // A fresh cluster name per run: its buckets and subjects are its own.
  const clusterName = `e2e-${Date.now()}-${process.pid}`;
  const nodes = {};
  let browser;
  const problems = [];

  /**
   * startNode runs one node of the cluster on its own game port (MOVED
   * names it), HTTP port and data directory. The page comes from one node
   * and its WebSocket moves to another, another origin (another port): a
   * node's /ws accepts only its own page's origin unless told otherwise,
   * so each node allows the other nodes' pages (loopback, any port).
   */
  async function startNode(name, zone) {
    const gamePort = await freePort();
    const srv = await startServer({
      args: [
        ...["--nats", nats, "--cluster", clusterName, "--node", name, "--zone", String(zone)],
        ...["--addr", `127.0.0.1:${gamePort}`, "--auth", "", "--admin", "", "--allow-origin", "127.0.0.1:*"],
      ],
    });
    srv.name = name;
    return srv;
  }

  /**
   * guestLine logs in as a guest over TCP (the text protocol) at addr and
   * resolves with the first line after WELCOME that is MOVED or an error,
   * or "" if only the game's own lines came within ms.
   */
  function guestLine(addr, ms = 2000) {
    const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
    return new Promise((res) => {
      const sock = connect(port, host);
      let buf = "";
      let welcomed = false;
      const done = (v) => {
        clearTimeout(timer);
        sock.destroy();
        res(v);
      };
      const timer = setTimeout(() => done(""), ms);
      sock.on("connect", () => sock.write("AUTH guest\n"));
      sock.on("error", (e) => done(`error: ${e.message}`));
      sock.on("close", () => done(""));
      sock.on("data", (b) => {
        buf += b.toString();
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (/^WELCOME\b/.test(line)) welcomed = true;
          else if (/^ERR\b/.test(line)) return done(line);
          else if (welcomed && /^MOVED\b/.test(line)) return done(line);
        }
      });
    });
  }


  before(async () => {
    nodes.n1 = await startNode("n1", 1);
    nodes.n2 = await startNode("n2", 2);
    // Both nodes are up once n2 knows that n1 runs zone 1: a guest logging
    // in on n2 is then sent to n1.
    let last = "";
    await waitFor("n2 to send a new guest to n1 (zone 1 claimed)", async () => {
      last = await guestLine(nodes.n2.tcpAddr);
      return /^MOVED\s/.test(last);
    }, 30000).catch((e) => {
      throw new Error(`${e.message}; last answer ${JSON.stringify(last)}\n--- n1:\n${nodes.n1.logs()}\n--- n2:\n${nodes.n2.logs()}`);
    });
    const [, addr, ws] = last.split(/\s+/);
    assert.equal(addr, nodes.n1.tcpAddr, "MOVED names n1's game port");
    assert.equal(ws, nodes.n1.wsURL, "MOVED names n1's WebSocket");
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await nodes.n2?.stop();
    await nodes.n1?.stop();
  });

  const js = (page, fn, arg) => page.evaluate(fn, arg);
  const ownPos = (page) => js(page, () => (window.tickwire?.game.ready ? { ...window.tickwire.game.predictor.state } : null));
  /** ownSeen returns the player's own tank as the page's model has it from the server. */
  const ownSeen = (page) =>
    js(page, () => {
      const { client } = window.tickwire;
      for (const e of client.model.entities()) if (e.name === client.welcome.name) return { id: e.id, x: e.vals[0], y: e.vals[1] };
      return null;
    });


  test("a guest on the page of the node without zone 1 is moved to the node that runs it, seamlessly", { timeout: 120000 }, async (t) => {
    const { n1, n2 } = nodes;
    const page = await browser.ctx.newPage();
    page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(n2.httpURL + "/");

    // Watch the banner from the start (the move happens during the login,
    // before the page exposes its client), so a short one is not missed.
    await js(page, () => {
      const b = document.getElementById("banner");
      window.bannerLog = [];
      new MutationObserver(() => window.bannerLog.push(b.hidden ? "hidden" : b.textContent)).observe(b, { attributes: true, childList: true, characterData: true, subtree: true });
    });

    const clicked = Date.now();
    await page.click("#guest");
    await page.waitForSelector("#game:not([hidden])", { timeout: 15000 }).catch(async (e) => {
      throw new Error(`did not get in: ${await page.textContent("#login-error")} (${e.message})`);
    });

    // On n1: the SDK followed one MOVED and resumed there.
    const conn = await waitFor("the page to be on n1", () =>
      js(page, () => {
        const c = window.tickwire?.client;
        if (!c || c.stats().moves < 1 || c.state !== "joined") return null;
        return { url: c.url, state: c.state, moves: c.stats().moves, resumes: c.stats().resumes, welcome: c.welcome, zone: c.model.zone.id };
      }),
    ).catch(async (e) => {
      const now = await js(page, () => {
        const c = window.tickwire?.client;
        return { url: c?.url, state: c?.state, closeReason: c?.closeReason, stats: c?.stats(), banner: window.bannerLog, log: document.getElementById("log").textContent };
      });
      throw new Error(`${e.message}: ${JSON.stringify(now)}; problems ${JSON.stringify(problems)}\n--- n1:\n${n1.logs()}\n--- n2:\n${n2.logs()}`);
    });
    t.diagnostic(`page from ${n2.httpURL}, connected to ${conn.url} as ${JSON.stringify(conn.welcome)}, zone ${conn.zone}, ${Date.now() - clicked} ms after the click`);
    assert.equal(conn.url, n1.wsURL, "the page's connection is n1's WebSocket");
    assert.equal(conn.moves, 1, "one move");

    // In zone 1, with its own tank, and the game runs: the tank drives and
    // the server's updates of it reach the page's model.
    await waitFor("the tank in zone 1", async () => (await js(page, () => window.tickwire.client.model.zone.id)) === 1);
    await waitFor("the page's tank", () => ownPos(page));
    const seen0 = await waitFor("the tank in the page's model", () => ownSeen(page));
    const start = await ownPos(page);
    let moved = null;
    for (const key of ["d", "a", "s", "w"]) {
      await page.keyboard.down(key);
      await page.waitForTimeout(400);
      await page.keyboard.up(key);
      const at = await ownPos(page);
      if (Math.hypot(at.x - start.x, at.y - start.y) >= 6) {
        moved = at;
        break;
      }
    }
    assert.ok(moved, "the tank could not drive on n1");
    const seen1 = await waitFor("the server's update of the tank", async () => {
      const s = await ownSeen(page);
      return s && (s.x !== seen0.x || s.y !== seen0.y) ? s : null;
    }, 5000);
    t.diagnostic(`on n1 the tank drove from ${seen0.x},${seen0.y} to ${seen1.x},${seen1.y} (server's view)`);

    // Seamless: still one move, no banner, no "reconnected", nothing out of sync.
    const end = await js(page, () => ({
      stats: { ...window.tickwire.client.stats(), decodeErrors: window.tickwire.client.decodeErrors },
      url: window.tickwire.client.url,
      zone: window.tickwire.client.model.zone.id,
      banner: window.bannerLog,
      bannerHidden: document.getElementById("banner").hidden,
    }));
    assert.equal(end.url, n1.wsURL);
    assert.equal(end.zone, 1);
    assert.equal(end.stats.moves, 1);
    assert.equal(end.stats.desyncsSent, 0, "sent DESYNC");
    assert.equal(end.stats.decodeErrors, 0);
    assert.ok(end.bannerHidden, "the banner is hidden");
    assert.ok(!end.banner.some((s) => /reconnecting/.test(s)), `a banner was shown: ${JSON.stringify(end.banner)}`);
    assert.doesNotMatch(await page.textContent("#log"), /reconnected after/, "the move is not a reconnect");
    assert.deepEqual(problems, []);
    await shot(page, "cluster-moved.png", t);
  });
}
