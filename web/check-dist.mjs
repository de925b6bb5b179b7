// Verifies that the committed demo page (site/dist, embedded in the Go
// binary) is exactly what `npm run build` makes from the current sources:
// it builds the page into a temporary directory and compares every file.
// Exit status 1, with the differing files named, when it is stale.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSite } from "./build.mjs";

const root = dirname(fileURLToPath(import.meta.url));
const committed = join(root, "site", "dist");
const fresh = mkdtempSync(join(tmpdir(), "tickwire-site-"));
try {
  await buildSite(fresh);
  const names = new Set([...readdirSync(committed), ...readdirSync(fresh)]);
  const bad = [];
  for (const name of [...names].sort()) {
    let a, b;
    try {
      a = readFileSync(join(committed, name));
    } catch {
      bad.push(`${name}: missing from site/dist`);
      continue;
    }
    try {
      b = readFileSync(join(fresh, name));
    } catch {
      bad.push(`${name}: in site/dist but not made by the build`);
      continue;
    }
    if (!a.equals(b)) bad.push(`${name}: differs (${a.length} B committed, ${b.length} B built)`);
  }
  if (bad.length) {
    console.error("web/site/dist is stale:\n  " + bad.join("\n  ") + "\nRun `npm run build` in web/ and commit web/site/dist.");
    process.exitCode = 1;
  } else {
    console.log(`web/site/dist is current (${names.size} files)`);
  }
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
