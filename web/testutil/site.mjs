// Test support: the demo page's own modules (web/site/src), bundled with
// esbuild into one ES module that Node can import, for the page's unit and
// live-server tests. Nothing runs at import: the modules that touch the
// DOM do so only when their classes are used.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const src = resolve(dirname(fileURLToPath(import.meta.url)), "..", "site", "src");

/** The page's modules whose exports loadSite returns (main.ts is the page itself and runs at import). */
export const SITE_MODULES = ["rules", "pace", "path", "chest", "render", "netgraph"];

let loaded = null;

/**
 * loadSite bundles the page's modules (SITE_MODULES) and imports them: it
 * resolves with their exports, all in one object. The bundle is built once
 * per process.
 */
export function loadSite() {
  if (!loaded) {
    loaded = (async () => {
      const res = await build({
        stdin: { contents: SITE_MODULES.map((m) => `export * from "./${m}.ts";`).join("\n"), resolveDir: src, loader: "ts" },
        bundle: true,
        format: "esm",
        platform: "neutral",
        write: false,
        logLevel: "warning",
      });
      const dir = mkdtempSync(join(tmpdir(), "tickwire-site-"));
      const file = join(dir, "site.mjs");
      writeFileSync(file, res.outputFiles[0].contents);
      try {
        return await import(pathToFileURL(file).href);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    })();
  }
  return loaded;
}
