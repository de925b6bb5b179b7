// Test support: build the tickwire binary once and run `tickwire serve` on
// free loopback ports with a fresh data directory, for the SDK's server
// test and the browser end-to-end tests.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The repository root (the Go module). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

let built = null;

/**
 * buildBinary builds ./cmd/tickwire into a temporary directory (once per
 * process) and returns its path. Go's build cache makes repeated runs fast.
 */
export function buildBinary() {
  if (!built) {
    built = (async () => {
      const dir = mkdtempSync(join(tmpdir(), "tickwire-bin-"));
      const bin = join(dir, "tickwire");
      await run("go", ["build", "-o", bin, "./cmd/tickwire"], { cwd: repoRoot, maxBuffer: 16 << 20 });
      process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
      return bin;
    })();
  }
  return built;
}

/** freePort returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** serveFlags returns the flag names `tickwire serve --help` lists. */
async function serveFlags(bin) {
  const { stdout, stderr } = await run(bin, ["serve", "--help"]).catch((e) => e);
  const text = `${stdout ?? ""}${stderr ?? ""}`;
  return new Set([...text.matchAll(/^\s+-{1,2}([a-z][a-z0-9-]*)/gm)].map((m) => m[1]));
}

/**
 * startServer runs `tickwire serve` with the game on a free TCP port, the
 * page and WebSocket on a free HTTP port, the auth service (when the
 * binary has one) on a free HTTPS port and a temporary data directory.
 * It resolves once the server says it is running.
 */
export async function startServer({ args = [], env = {} } = {}) {
  const bin = await buildBinary();
  const flags = await serveFlags(bin);
  const httpPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "tickwire-data-"));
  const argv = ["serve", "--addr", "127.0.0.1:0", "--http", `127.0.0.1:${httpPort}`];
  if (flags.has("data-dir")) argv.push("--data-dir", dataDir);
  if (flags.has("auth")) argv.push("--auth", `127.0.0.1:${await freePort()}`);
  argv.push(...args);
  const proc = spawn(bin, argv, { cwd: dataDir, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let logs = "";
  const onData = (b) => (logs += b.toString());
  proc.stdout.on("data", onData);
  proc.stderr.on("data", onData);
  const exited = new Promise((res) => proc.on("exit", (code, sig) => res(code ?? sig)));
  const httpURL = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 30000;
  for (;;) {
    if (/WebSocket:\s+ws:\/\//.test(logs)) break;
    const code = await Promise.race([exited, new Promise((r) => setTimeout(r, 50, undefined))]);
    if (code !== undefined) throw new Error(`tickwire serve exited (${code}):\n${logs}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`tickwire serve did not start in 30 s:\n${logs}`);
    }
  }
  const tcp = /nc (\S+) (\d+)/.exec(logs);
  return {
    bin,
    argv,
    httpURL,
    wsURL: `ws://127.0.0.1:${httpPort}/ws`,
    tcpAddr: tcp ? `${tcp[1]}:${tcp[2]}` : "",
    dataDir,
    /** logs returns everything the server printed so far. */
    logs: () => logs,
    /** hasAccounts reports whether the page's origin serves the auth API. */
    async hasAccounts() {
      const res = await fetch(`${httpURL}/v1/login`, { method: "POST", body: "{}" }).catch(() => null);
      return !!res && res.status !== 404;
    },
    /** stop ends the server (SIGTERM, then SIGKILL) and removes its data. */
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
