// node --import=./record-imports.mjs: appends the URL of every module the process
// imports to the file named by WAYPOINT_TEST_IMPORTS_FILE (what a test says a
// process must not load, it checks there).
import { register } from "node:module";

register("./record-imports-hooks.mjs", import.meta.url, {
  data: { file: process.env.WAYPOINT_TEST_IMPORTS_FILE },
});
