// src/gen/ is checked in; this proves it is exactly what scripts/gen-proto.mjs makes from proto/
// today, so an edited .proto without a regeneration (or a hand edit of src/gen) fails the test run.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import test from "ava";
import { tempDir } from "./helpers/temp.js";

const GENERATOR = fileURLToPath(new URL("../scripts/gen-proto.mjs", import.meta.url));
const CHECKED_IN = fileURLToPath(new URL("../src/gen", import.meta.url));
const HINT = "src/gen is out of date: run `npm run gen` and commit src/gen";

/** Every file under `dir`, as sorted paths relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((path) => statSync(join(dir, path)).isFile())
    .sort();
}

test("regenerating src/gen from proto gives the same files with the same bytes", async (t) => {
  const fresh = join(tempDir(t), "gen");
  await promisify(execFile)(process.execPath, [GENERATOR, fresh]);

  const files = filesUnder(fresh);
  t.true(files.includes("load.ts") && files.includes("waypoint.ts"), "the generator wrote no output");
  const checkedIn = filesUnder(CHECKED_IN);
  t.deepEqual(
    {
      missing: files.filter((file) => !checkedIn.includes(file)),
      extra: checkedIn.filter((file) => !files.includes(file)),
    },
    { missing: [], extra: [] },
    HINT,
  );

  const changed = files.filter(
    (file) => !readFileSync(join(fresh, file)).equals(readFileSync(join(CHECKED_IN, file))),
  );
  t.deepEqual(changed, [], HINT);
});
