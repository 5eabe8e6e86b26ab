#!/usr/bin/env node
/**
 * Bundles the entrypoint into DIST/bin/waypoint-entrypoint.js (replacing what
 * tsc wrote there), with the parts it loads only when needed (the server
 * transport, exec sessions, version emulation) as chunks in
 * DIST/bin/entrypoint/. `npm run build` runs it after tsc; the benchmarks run
 * it on their own build.
 *
 * Why: the entrypoint sits beside every app, so its memory counts once per
 * app. Loaded as ~30 ES modules, Node's loader converts each module's URL to a
 * path in a JavaScript loop that V8 optimises with TurboFan once the paths are
 * long enough, and paging in the optimising compiler costs ~3.5 MiB of RSS
 * that a bundle of a few files never pays (BENCHMARKS.md, ARCHITECTURE.md).
 *
 * Usage: node scripts/bundle-entrypoint.mjs [DIST]   (default: dist)
 */
import { chmodSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = resolve(process.argv[2] ?? join(root, "dist"));
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const bin = join(dist, "bin");

rmSync(join(bin, "entrypoint"), { recursive: true, force: true });
await build({
  entryPoints: { "waypoint-entrypoint": join(root, "src", "bin", "waypoint-entrypoint.ts") },
  outdir: bin,
  chunkNames: "entrypoint/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // A native addon: resolved from node_modules at run time, loaded only for a terminal exec session.
  external: ["@lydell/node-pty"],
  // The bundle is not beside package.json: the version is written into it.
  define: { __WAYPOINT_PACKAGE_VERSION__: JSON.stringify(version) },
  logLevel: "warning",
});
chmodSync(join(bin, "waypoint-entrypoint.js"), 0o755);
// What tsc wrote for the file this replaces.
rmSync(join(bin, "waypoint-entrypoint.js.map"), { force: true });
