// Launches Debian's Chromium through playwright-core for the end-to-end
// tests. Nothing is downloaded: the browser must be installed
// (apt-get install chromium); without it the tests skip.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The Chromium binary: $CHROMIUM or Debian's /usr/bin/chromium. */
export const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

/** haveChromium reports whether the browser is installed. */
export function haveChromium() {
  return existsSync(chromiumPath);
}

/**
 * launch starts headless Chromium with a fresh profile and returns its
 * browser context; close() ends it and removes the profile.
 */
export async function launch({ viewport = { width: 1400, height: 900 } } = {}) {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "tickwire-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Two pages play at once: keep the one not in front running at full speed.
      "--disable-background-timer-throttling",
      "--disable-renderer-backgrounding",
      "--disable-backgrounding-occluded-windows",
    ],
  });
  return {
    ctx,
    async close() {
      await ctx.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where screenshots go: $TICKWIRE_SCREENSHOTS or e2e/screenshots. */
export const shotsDir = process.env.TICKWIRE_SCREENSHOTS || join(dirname(fileURLToPath(import.meta.url)), "screenshots");

/** shot saves a screenshot of page as shotsDir/name and reports it on test t. */
export async function shot(page, name, t) {
  mkdirSync(shotsDir, { recursive: true });
  const file = join(shotsDir, name);
  await page.screenshot({ path: file });
  t.diagnostic(`screenshot: ${file}`);
  console.log(`screenshot: ${file}`);
}

/** waitFor polls fn every 100 ms until it returns a truthy value, which it returns; it throws after ms. */
export async function waitFor(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
