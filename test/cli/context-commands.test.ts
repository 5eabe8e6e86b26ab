import test from "ava";
import { cli } from "../helpers/cli-inprocess.js";
import { startTestServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

test("context verify reaches the server and accepts a management token", async (t) => {
  const s = await startTestServer(t);
  const env = { XDG_CONFIG_HOME: tempDir(t) };
  const created = await cli(
    t,
    ["context", "create", `-server-addr=${s.address}`, `-server-token=${s.token}`, "local"],
    env,
  );
  t.is(created.code, 0, created.stderr);
  const r = await cli(t, ["context", "verify"], env);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Context local: reached .*, server /);
  t.regex(r.stdout, /Token accepted \(management or readonly\)/);
});

test("context verify accepts a runner token, which may not list the inventory", async (t) => {
  const s = await startTestServer(t);
  const runner = await s.connect().createToken({ kind: "runner" });
  const env = { XDG_CONFIG_HOME: tempDir(t) };
  await cli(t, ["context", "create", `-server-addr=${s.address}`, `-server-token=${runner.token}`, "r"], env);
  const r = await cli(t, ["context", "verify", "r"], env);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /runner or entrypoint token/);
});

test("context verify fails with exit 4 for a token the server does not know", async (t) => {
  const s = await startTestServer(t);
  const env = { XDG_CONFIG_HOME: tempDir(t) };
  await cli(t, ["context", "create", `-server-addr=${s.address}`, "-server-token=wpm_unknown", "bad"], env);
  const r = await cli(t, ["context", "verify", "bad"], env);
  t.is(r.code, 4, r.stdout);
  t.regex(r.stderr, /not valid on this server/);
});
