// Launches Debian's Chromium through playwright-core for the end-to-end
// tests. Nothing is downloaded: the browser must be installed
// (apt-get install chromium); without it the tests skip.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

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
