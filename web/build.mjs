// Builds the SDK into sdk/dist (ES modules + type declarations).
import { build } from "esbuild";
import { readdirSync } from "node:fs";

const entries = readdirSync("sdk/src").filter((f) => f.endsWith(".ts")).map((f) => `sdk/src/${f}`);
await build({ entryPoints: entries, outdir: "sdk/dist", format: "esm", target: "es2022", platform: "neutral", logLevel: "warning" });
