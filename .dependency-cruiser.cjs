// Architecture rules (DESIGN §3). `npm test` runs `depcruise` with this file
// and fails on any violation; test/architecture.test.ts proves each rule
// fires on a deliberately broken fixture.
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
      comment: "src/protocol and src/planner are pure: no Node I/O, no grpc, no SQLite.",
      from: { path: "^src/(protocol|planner)/" },
      to: {
        path: "(^node:|^(fs|net|http|https|http2|child_process|os|dgram|tls|worker_threads|cluster|readline|process)$|@grpc/|better-sqlite3|^src/(server|client|cli|tui|entrypoint|runner|bin|gen)/)",
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
      comment: "The CLI and the console reach the server only through src/client.",
      from: { path: "^src/(cli|tui)/" },
      to: { path: "(^src/(server|runner|entrypoint)/|@grpc/)", pathNot: "^src/server/main\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: require("node:path").join(__dirname, "tsconfig.json") },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
  },
};
