#!/usr/bin/env node
/**
 * Bundles the CLI into DIST/bin/waypoint.js (replacing what tsc wrote there),
 * with what it loads only when needed (the console with Ink and React, the
 * server, the runner, the snapshot commands' crypto) as chunks in DIST/chunks/.
 * `npm run build` runs it after tsc; the console bench runs it on its own build.
 *
 * Why: loaded from tsc's output, `waypoint ui` imports ~740 ES modules (415 of
 * them es-toolkit's, through Ink) and grpc-js's ~70 CommonJS files before its
 * first frame, and Node's loader spent more time finding, reading and linking
 * them than the console spent running (BENCHMARKS.md, "Console").
 *
 * Paths relative to import.meta.url: the chunks are in DIST/chunks/, two levels
 * below the package root like DIST/bin/waypoint.js and every module of src/*,
 * so `new URL("../../fixtures/...", import.meta.url)` (the shipped catalog)
 * resolves the same from source, from tsc's output and from any bundle file.
 * The package version is written in (src/build-info.ts). Packages that find
 * their own files with __dirname (grpc-health-check's and @grpc/reflection's
 * .proto files) get it from where the package is installed.
 *
 * Usage: node scripts/bundle-cli.mjs [DIST]   (default: dist)
 */
import { chmodSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = resolve(process.argv[2] ?? join(root, "dist"));
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

/**
 * CommonJS files that read __dirname (to load a .proto beside them): __dirname
 * becomes their directory in node_modules, resolved at run time from the
 * bundle, as it would be if the package were not bundled. Where the package
 * cannot be found, only what reads those files fails (grpc-js's channelz and
 * ORCA, which this project does not use, also read it).
 */
const dirnameFromNodeModules = {
  name: "dirname-from-node-modules",
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/].*\.c?js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!/\b__(dirname|filename)\b/.test(source)) return undefined;
      // From the first node_modules on: a package nested under another resolves through it.
      const inModules = args.path
        .split(sep)
        .join("/")
        .replace(/^.*?\/node_modules\//, "");
      const file = `(() => { try { return require.resolve(${JSON.stringify(inModules)}); } catch { return ${JSON.stringify(`/nonexistent/node_modules/${inModules}`)}; } })()`;
      return {
        contents: `var __filename = ${file}, __dirname = require("node:path").dirname(__filename);\n${source}`,
        loader: "js",
        resolveDir: join(args.path, ".."),
      };
    });
  },
};

/**
 * `await import("react")` from an ES module gets React's named exports from Node (it reads them from the
 * CommonJS file); a bundle's chunk for a CommonJS package exports only `default`. The dynamic import gets
 * an ES module that exports the package's names (read here, from the installed package) as well.
 */
const DYNAMIC_COMMONJS = ["react"];
const namedExportsOfDynamicCommonJs = {
  name: "named-exports-of-dynamic-commonjs",
  setup(b) {
    const filter = new RegExp(`^(${DYNAMIC_COMMONJS.join("|")})$`);
    b.onResolve({ filter }, (args) =>
      args.kind === "dynamic-import" ? { path: args.path, namespace: "esm-of-commonjs" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "esm-of-commonjs" }, (args) => {
      const names = Object.keys(createRequire(join(root, "package.json"))(args.path)).filter(
        (name) => /^[A-Za-z_$][\w$]*$/.test(name) && name !== "default",
      );
      return {
        contents: [
          `import m from ${JSON.stringify(args.path)};`,
          "export default m;",
          ...names.map((name) => `export const ${name} = m.${name};`),
        ].join("\n"),
        resolveDir: root,
        loader: "js",
      };
    });
  },
};

/**
 * Yoga (Ink's layout engine) carries its WebAssembly as a base64 data: URL and reads it with fetch()
 * when fetch exists: in Node that loads undici, ~40 ms of the console's start. Without fetch it decodes
 * the same bytes itself. The build fails if the code changed, so an upgrade is looked at.
 */
const YOGA_FETCH = '"function"!=typeof fetch?';
const yogaWithoutFetch = {
  name: "yoga-without-fetch",
  setup(b) {
    b.onLoad({ filter: /[\\/]yoga-layout[\\/]dist[\\/]binaries[\\/]yoga-wasm-base64-esm\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!source.includes(YOGA_FETCH))
        throw new Error(`${args.path}: no ${YOGA_FETCH} any more (see scripts/bundle-cli.mjs)`);
      return { contents: source.replaceAll(YOGA_FETCH, "true?"), loader: "js" };
    });
  },
};

/**
 * Ink's development mode (DEV=true, for React's devtools, which are not installed) reads Ink's own
 * package.json beside its files, which a bundle does not have: the bundle ignores DEV=true (unbundled,
 * Ink only warns that the devtools are missing). The build fails if the code changed.
 */
const INK_IS_DEV = "const isDev = () => process.env['DEV'] === 'true';";
const inkWithoutDevMode = {
  name: "ink-without-dev-mode",
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]ink[\\/]build[\\/]utils\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!source.includes(INK_IS_DEV))
        throw new Error(`${args.path}: no ${INK_IS_DEV} any more (see scripts/bundle-cli.mjs)`);
      return { contents: source.replace(INK_IS_DEV, "const isDev = () => false;"), loader: "js" };
    });
  },
};

rmSync(join(dist, "chunks"), { recursive: true, force: true });
await build({
  entryPoints: {
    "bin/waypoint": join(root, "src", "bin", "waypoint.ts"),
    // The entrypoint listener's thread (-listen-entrypoint), loaded by path: its own entry, at the
    // place src/server/entrypoint-listener.ts looks for it (two levels below the root, like every file here).
    "server/entrypoint-thread": join(root, "src", "server", "entrypoint-thread.ts"),
  },
  outdir: dist,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: [
    // Native addons: resolved from node_modules at run time.
    "better-sqlite3",
    "@lydell/node-pty",
    // Ink's devtools, imported only with DEV=true; not installed.
    "react-devtools-core",
  ],
  plugins: [dirnameFromNodeModules, namedExportsOfDynamicCommonJs, yogaWithoutFetch, inkWithoutDevMode],
  // CommonJS packages (grpc-js, protobufjs, pino…) require Node's modules, and a few resolve files.
  banner: {
    js: 'import { createRequire as __waypointCreateRequire } from "node:module";\nconst require = __waypointCreateRequire(import.meta.url);',
  },
  define: {
    // The bundle is not beside package.json: the version is written into it.
    __WAYPOINT_PACKAGE_VERSION__: JSON.stringify(version),
    // React's production build: the development one checks much more at every render, and is ~750 KiB
    // more to compile at each start.
    "process.env.NODE_ENV": JSON.stringify("production"),
  },
  logLevel: "warning",
});
chmodSync(join(dist, "bin", "waypoint.js"), 0o755);
// What tsc wrote for the files this replaces.
rmSync(join(dist, "bin", "waypoint.js.map"), { force: true });
rmSync(join(dist, "server", "entrypoint-thread.js.map"), { force: true });
