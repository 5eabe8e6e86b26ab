import { join } from "node:path";
import test from "ava";
import { cli } from "../helpers/cli-inprocess.js";
import { tempDir } from "../helpers/temp.js";

test("server run passes -log-buffer-total to the configuration: less than -log-buffer-bytes exits 2 with a hint", async (t) => {
  const db = join(tempDir(t), "data.db");
  // -listen-grpc is refused after the log buffers are checked: should they pass, the server still does not start.
  const r = await cli(t, [
    "server",
    "run",
    `-db=${db}`,
    "-log-buffer-bytes=2MiB",
    "-log-buffer-total=1MiB",
    "-listen-grpc=0.0.0.0:0",
  ]);
  t.is(r.code, 2);
  t.regex(r.stderr, /-log-buffer-total: "1MiB" is less than -log-buffer-bytes \(2MiB\)/);
  t.regex(r.stderr, /Hint: Give -log-buffer-total at least -log-buffer-bytes/);
});

test("server run -help lists -log-buffer-total with its default", async (t) => {
  const r = await cli(t, ["server", "run", "-help"]);
  t.is(r.code, 0);
  t.regex(r.stdout + r.stderr, /-log-buffer-total=SIZE .* \(default "256MiB"\)/);
});

test("server run without -log-buffer-total takes a larger -log-buffer-bytes as the total instead of refusing it", async (t) => {
  const db = join(tempDir(t), "data.db");
  // A flag checked after the log buffers stops the server before it starts: the error is that flag's.
  const r = await cli(t, [
    "server",
    "run",
    `-db=${db}`,
    "-log-buffer-bytes=512MiB",
    "-listen-grpc=0.0.0.0:0",
  ]);
  t.is(r.code, 2);
  t.regex(r.stderr, /refusing to serve plain text on a non-loopback address/);
  t.notRegex(r.stderr, /-log-buffer-total/);
});
