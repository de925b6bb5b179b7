// Builds the web side of tickwire:
//
//   sdk/dist   the SDK as ES modules, one per source file, plus type
//              declarations (.d.ts) from tsc; what the unit tests import.
//   site/dist  the demo page: index.html, app.js (the page and the SDK in
//              one minified bundle) and style.css. It is committed and
//              embedded in the Go binary (web/embed.go), so the build is
//              deterministic: same sources and esbuild version, same bytes.
//              check-dist.mjs rebuilds it into a temporary directory and
//              compares.
//
// Usage: node build.mjs [--sdk-only | --site-only] [--site-out DIR]
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const p = (...parts) => join(root, ...parts);

/** buildSDK writes sdk/dist: ESM per file and .d.ts declarations. */
export async function buildSDK() {
  const src = p("sdk", "src");
  const entries = readdirSync(src).filter((f) => f.endsWith(".ts")).map((f) => join(src, f));
  rmSync(p("sdk", "dist"), { recursive: true, force: true });
  await build({ entryPoints: entries, outdir: p("sdk", "dist"), format: "esm", target: "es2022", platform: "neutral", logLevel: "warning" });
  execFileSync(process.execPath, [
    p("node_modules", "typescript", "bin", "tsc"),
    "--declaration", "--emitDeclarationOnly", "--strict", "--skipLibCheck",
    "--target", "ES2022", "--module", "ES2022", "--moduleResolution", "bundler", "--lib", "ES2022,DOM",
    "--rootDir", src, "--outDir", p("sdk", "dist"),
    ...entries,
  ], { stdio: "inherit" });
}

function hash(bytes) {
  return createHash("sha256").update(bytes).digest("hex").slice(0, 12);
}

/**
 * buildSite writes the demo page into outDir (default site/dist) and
 * returns the names of the files written.
 */
export async function buildSite(outDir = p("site", "dist")) {
  const res = await build({
    entryPoints: [p("site", "src", "main.ts")],
    bundle: true,
    minify: true,
    format: "iife",
    target: ["es2020", "chrome90", "firefox90", "safari15"],
    platform: "browser",
    charset: "utf8",
    legalComments: "none",
    write: false,
    logLevel: "warning",
    absWorkingDir: root,
  });
  const js = res.outputFiles[0].contents;
  const css = readFileSync(p("site", "src", "style.css"));
  const html = readFileSync(p("site", "src", "index.html"), "utf8")
    .replace("{{APP_JS}}", `app.js?v=${hash(js)}`)
    .replace("{{STYLE_CSS}}", `style.css?v=${hash(css)}`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const files = { "index.html": Buffer.from(html), "app.js": Buffer.from(js), "style.css": css };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(outDir, name), bytes);
  return Object.keys(files);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const outIdx = args.indexOf("--site-out");
  const siteOut = outIdx >= 0 ? args[outIdx + 1] : undefined;
  if (!args.includes("--site-only")) await buildSDK();
  if (!args.includes("--sdk-only")) {
    const files = await buildSite(siteOut);
    const dir = siteOut ?? p("site", "dist");
    const sizes = files.map((f) => `${f} ${readFileSync(join(dir, f)).length} B`).join(", ");
    console.log(`built ${dir}: ${sizes}`);
  }
}
