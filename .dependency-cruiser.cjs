// Architecture rules (DESIGN §3). `npm test` runs `depcruise` with this file
// and fails on any violation; test/architecture.test.ts proves each rule
// fires on a deliberately broken fixture (fixtures/architecture/).
const { builtinModules } = require("node:module");
const { join } = require("node:path");

// dependency-cruiser resolves "node:fs" to "fs" and "node:fs/promises" to
// "fs/promises", so a `^node:` pattern alone never matches; list every
// built-in by name (the "node:" form is kept for prefix-only ones like node:test).
const NODE_BUILTIN = `^(node:.*|${builtinModules.join("|")})$`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment: "Import cycles make load order fragile and hide layering mistakes.",
      from: {},
      to: { circular: true },
    },
    {
      name: "pure-protocol-planner",
      severity: "error",
      comment:
        "src/protocol and src/planner are pure: no Node built-ins, no grpc, no SQLite, nothing else from src/ " +
        "(top-level files such as src/build-info.ts do I/O).",
      from: { path: "^src/(protocol|planner)/" },
      to: {
        path: [NODE_BUILTIN, "@grpc/", "better-sqlite3", "^src/"],
        pathNot: "^src/(protocol|planner)/",
      },
    },
    {
      name: "sqlite-only-in-store",
      severity: "error",
      comment: "Only src/server/store touches SQLite.",
      from: { path: "^src/", pathNot: "^src/server/store/" },
      to: { path: "better-sqlite3" },
    },
    {
      name: "ui-through-client",
      severity: "error",
      comment:
        "The CLI, the console and the runner reach the server only through src/client " +
        "(src/server/main.ts, the in-process server entry, and src/server/offline.ts, its part without a server, " +
        "are the exceptions for the CLI and console).",
      from: { path: "^src/(cli|tui|runner)/" },
      to: { path: "(^src/(server|entrypoint|gen)/|@grpc/)", pathNot: "^src/server/(main|offline)\\.ts$" },
    },
    {
      name: "entrypoint-through-client",
      severity: "error",
      comment:
        "The entrypoint ships inside app images: it reaches the server only through src/client and src/protocol, " +
        "never through server, CLI or console code (which would also drag their dependencies in).",
      from: { path: "^src/entrypoint/" },
      to: { path: "^src/(server|cli|tui|runner)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    // Absolute, so the rules also run from another directory (the fixture tree).
    tsConfig: { fileName: join(__dirname, "tsconfig.json") },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default"],
    },
  },
};
