// End-to-end: the admin console in a real browser against `tickwire
// serve --admin`. An operator account is made with `tickwire admin add
// --create`; the operator logs in, watches the player count move while
// four bots (TCP guests from 127.0.0.2-5) connect, kicks one (the bot sees
// BYE "kicked: <reason>"), bans another's address (the bot sees BYE
// banned, and a new connection from that address is refused), and finds
// both actions in the audit log. Screenshots go to e2e/screenshots (or
// $TICKWIRE_SCREENSHOTS). Run with `npm run e2e`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { haveChromium, chromiumPath, launch, waitFor } from "./browser.mjs";
import { freePort, startServer } from "../testutil/server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const shots = process.env.TICKWIRE_SCREENSHOTS || join(here, "screenshots");
const ADMIN = "root";
const PASSWORD = "correct horse battery staple";

/** tickwire runs the binary with args, feeding stdin, and resolves with its output. */
function tickwire(bin, args, stdin = "") {
  return new Promise((res, rej) => {
    const p = execFile(bin, args, (err, stdout, stderr) => (err ? rej(new Error(`${err.message}\n${stderr}`)) : res(stdout)));
    p.stdin.end(stdin);
  });
}

/**
 * Bot is a game client over TCP from a given local address: it logs in
 * as a guest and keeps every line the server sends.
 */
class Bot {
  constructor(host, port, from) {
    this.from = from;
    this.lines = [];
    this.closed = false;
    this.sock = connect({ host, port, localAddress: from });
    let buf = "";
    this.sock.setEncoding("utf8");
    this.sock.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    this.sock.on("error", () => {});
    this.sock.on("close", () => (this.closed = true));
    this.sock.write("AUTH guest\n");
  }
  line(prefix) {
    return this.lines.find((l) => l.startsWith(prefix));
  }
  get name() {
    return this.line("WELCOME ")?.split(" ")[2];
  }
  close() {
    this.sock.destroy();
  }
}


if (!haveChromium()) {
  test("admin console end-to-end", (t) => t.skip(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM)`));
} else {
  let srv, browser, consoleURL;
  const bots = [];
  const problems = [];

  before(async () => {
    const port = await freePort();
    consoleURL = `http://127.0.0.1:${port}`;
    srv = await startServer({ args: ["--admin", `127.0.0.1:${port}`] });
    await tickwire(srv.bin, ["admin", "add", ADMIN, "--create", "--data-dir", srv.dataDir], `${PASSWORD}\n`);
    browser = await launch();
  });

  after(async () => {
    for (const b of bots) b.close();
    await browser?.close();
    await srv?.stop();
  });

  test("operator logs in, watches bots arrive, kicks one, bans another, reads the audit log", { timeout: 120000 }, async (t) => {
    mkdirSync(shots, { recursive: true });
    const shot = async (page, name) => {
      const file = join(shots, `admin-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      t.diagnostic(`screenshot: ${file}`);
      console.log(`screenshot: ${file}`);
    };
    const page = await browser.ctx.newPage();
    page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(consoleURL + "/");

    // A wrong password is refused on the page.
    await page.fill("#login-name", ADMIN);
    await page.fill("#login-password", "not the password");
    await page.click("#login-button");
    await page.waitForFunction(() => document.querySelector("#login-error").textContent.includes("wrong name or password"));
    problems.length = 0; // the 401 of that attempt is an expected console error

    await page.fill("#login-password", PASSWORD);
    await page.click("#login-button");
    await page.waitForSelector("#tabs:not([hidden])");
    assert.equal(await page.textContent("#me"), ADMIN);
    await page.waitForSelector("#live.on");
    await page.waitForFunction(() => document.querySelector("#kpis").dataset.players === "0");

    // Four bots from four addresses: the player count climbs to 4.
    const [host, port] = srv.tcpAddr.split(":");
    for (let i = 2; i <= 5; i++) {
      bots.push(new Bot(host, Number(port), `127.0.0.${i}`));
      await waitFor(`bot ${i} to log in`, () => bots[bots.length - 1].name);
    }
    await page.waitForFunction(() => document.querySelector("#kpis").dataset.players === "4", null, { timeout: 20000 });
    // The plot's legend shows the latest value: the players series moved.
    await page.waitForFunction(() => {
      const chart = document.querySelector('[data-chart="Players online"]');
      return chart && chart.querySelector(".legend").textContent.includes("players 4");
    });
    await shot(page, "overview");

    // Players: the four bots, with their addresses.
    await page.click('#tabs button[data-tab="players"]');
    await page.waitForFunction(() => document.querySelectorAll("#player-table tbody tr").length === 4);
    const rows = await page.$$eval("#player-table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    for (const b of bots) assert.ok(rows.some((r) => r[0].startsWith(b.name) && r[2] === b.from), `row of ${b.name} from ${b.from}`);
    // RTT ms: the kernel's estimate for each TCP socket, over loopback well under a second.
    for (const r of rows) assert.match(r[7], /^\d{1,3}\.\d$/, `RTT column of ${r[0]}: ${JSON.stringify(r)}`);
    await shot(page, "players");

    // Kick the first bot: it sees BYE with the reason.
    const [victim, banned] = bots;
    await page.click(`#player-table tr[data-name="${victim.name}"] button:text("Kick")`);
    await page.fill("#dlg-reason", "e2e kick test");
    await page.click("#dialog-ok");
    await waitFor("the kicked bot's BYE", () => victim.line("BYE"));
    assert.equal(victim.line("BYE"), 'BYE "kicked: e2e kick test"');

    // Ban the second bot's address: it sees BYE banned; the address is refused.
    await page.waitForFunction((n) => !document.querySelector(`#player-table tr[data-name="${n}"]`), victim.name);
    await page.click(`#player-table tr[data-name="${banned.name}"] button:text("Ban")`);
    await page.selectOption("#dlg-duration", "1h");
    await page.fill("#dlg-reason", "e2e ban test");
    await page.click("#dialog-ok");
    await waitFor("the banned bot's BYE", () => banned.line("BYE"));
    assert.equal(banned.line("BYE"), "BYE banned");
    const again = new Bot(host, Number(port), banned.from);
    bots.push(again);
    await waitFor("the banned address to be refused", () => again.closed);
    assert.equal(again.lines.length, 0, `a banned address got ${JSON.stringify(again.lines)}`);
    await page.waitForFunction(() => document.querySelector("#kpis").dataset.players === "2", null, { timeout: 20000 });

    // Security: the ban is listed.
    await page.click('#tabs button[data-tab="security"]');
    await page.waitForSelector(`#ban-table tr[data-ip="${banned.from}"]`);
    const banRow = await page.textContent(`#ban-table tr[data-ip="${banned.from}"]`);
    assert.match(banRow, /e2e ban test/);
    await shot(page, "security");

    // Audit: both actions, by the operator.
    await page.click('#tabs button[data-tab="audit"]');
    await page.waitForSelector('#audit-table tr[data-action="ban"]');
    const audit = await page.$$eval("#audit-table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    const kick = audit.find((r) => r[2] === "kick");
    const ban = audit.find((r) => r[2] === "ban");
    assert.ok(kick && kick[1] === ADMIN && kick[3].startsWith(victim.name) && kick[4] === "e2e kick test", `kick entry ${kick}`);
    assert.ok(ban && ban[1] === ADMIN && ban[3] === banned.from && ban[4].includes("e2e ban test"), `ban entry ${ban}`);
    assert.ok(audit.some((r) => r[2] === "login" && r[1] === ADMIN), "login entry");
    await shot(page, "audit");

    // The log tail has the ban line.
    await page.click('#tabs button[data-tab="logs"]');
    await page.waitForFunction((ip) => document.querySelector("#log-table tbody").textContent.includes(`ip=${ip}`), banned.from);
    await shot(page, "logs");

    assert.deepEqual(problems, []);
  });
}
