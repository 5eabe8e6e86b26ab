import test from "ava";
import { positionalLimits } from "../../src/cli/run.js";
import { cli } from "../helpers/cli-inprocess.js";

test("an unknown command echoes only the command word, never the rest of the line", async (t) => {
  const r = await cli(t, ["versoins", "-server-token", "SECRET-VALUE"]);
  t.is(r.code, 2);
  t.regex(r.stderr, /unknown command "versoins"/);
  t.regex(r.stderr, /waypoint versions/, "suggests the command a typo away");
  t.false(r.stderr.includes("SECRET-VALUE"));
});

test("a command family without its subcommand lists the subcommands", async (t) => {
  const r = await cli(t, ["server"]);
  t.is(r.code, 2);
  t.regex(r.stderr, /"waypoint server" needs a subcommand/);
  t.regex(r.stderr, /waypoint server run/);
});

test("extra positional arguments are a usage error, with a hint about flag syntax", async (t) => {
  const r = await cli(t, ["server", "run", "/var/lib/waypoint/data.db"]);
  t.is(r.code, 2);
  t.regex(
    r.stderr,
    /takes no arguments, got "\/var\/lib\/waypoint\/data\.db" \(a value for a flag needs -flag=VALUE\)/,
  );
});

test("a missing required argument is a usage error naming it", async (t) => {
  const r = await cli(t, ["context", "use"]);
  t.is(r.code, 2);
  t.regex(r.stderr, /needs NAME/);
});

test("usage strings give the number of positional arguments", (t) => {
  t.deepEqual(positionalLimits(undefined), { min: 0, max: 0 });
  t.deepEqual(positionalLimits("NAME"), { min: 1, max: 1 });
  t.deepEqual(positionalLimits("[NAME]"), { min: 0, max: 1 });
  t.deepEqual(positionalLimits("[FILE|-]"), { min: 0, max: 1 });
  t.is(positionalLimits("-- CMD ARGS…").max, Number.POSITIVE_INFINITY);
});

test("an unreachable server is exit 3 with the reason in words, not gRPC internals", async (t) => {
  const r = await cli(t, ["versions", "-server-addr=127.0.0.1:1"]);
  t.is(r.code, 3);
  t.regex(
    r.stderr,
    /cannot reach the server at 127\.0\.0\.1:1: connection refused \(is the server running\?\)/,
  );
  t.false(r.stderr.includes("Resolution note"));
});

test("an unknown WAYPOINT_LOG_LEVEL stops the server before it starts, naming the valid levels", async (t) => {
  const r = await cli(t, ["server", "run", "-db=/nonexistent/never-created/data.db"], {
    WAYPOINT_LOG_LEVEL: "loud",
  });
  t.is(r.code, 2);
  t.regex(
    r.stderr,
    /WAYPOINT_LOG_LEVEL="loud" is not a log level \(use one of trace, debug, info, notice, warn, error\)/,
  );
});
