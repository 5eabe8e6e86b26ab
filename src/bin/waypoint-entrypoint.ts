#!/usr/bin/env node
import { runChild } from "../entrypoint/run-child.js";
import { isOffline, PRIVATE_ENV } from "../entrypoint/settings.js";

const argv = process.argv.slice(2);
let code: number;
if (argv.length === 0 || isOffline(process.env)) {
  // No server: nothing of grpc is even loaded. The token still stays the entrypoint's.
  const env = { ...process.env };
  for (const name of PRIVATE_ENV) delete env[name];
  code = await runChild(argv, env);
} else {
  const { runEntrypoint } = await import("../entrypoint/run-entrypoint.js");
  code = await runEntrypoint(argv, process.env);
}
// Open channels or timers must not keep a finished entrypoint alive.
process.exit(code);
