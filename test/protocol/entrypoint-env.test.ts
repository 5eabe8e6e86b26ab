import { spawnSync } from "node:child_process";
import test from "ava";
import {
  entrypointEnv,
  envLines,
  isLocalOnlyAddress,
  shellQuote,
  targetHost,
  withPort,
} from "../../src/protocol/entrypoint-env.js";

test("the entrypoint env names the server, token and deployment; TLS only when on", (t) => {
  const base = { address: "wp.internal:9701", token: "tok_abc", deployment: "web-v1" };
  t.deepEqual(envLines(entrypointEnv({ ...base, tls: false, tlsSkipVerify: false })), [
    "WAYPOINT_SERVER_ADDR=wp.internal:9701",
    "WAYPOINT_CEB_INVITE_TOKEN=tok_abc",
    "WAYPOINT_DEPLOYMENT_ID=web-v1",
  ]);
  t.deepEqual(envLines(entrypointEnv({ ...base, tls: true, tlsSkipVerify: true })), [
    "WAYPOINT_SERVER_ADDR=wp.internal:9701",
    "WAYPOINT_SERVER_TLS=true",
    "WAYPOINT_SERVER_TLS_SKIP_VERIFY=true",
    "WAYPOINT_CEB_INVITE_TOKEN=tok_abc",
    "WAYPOINT_DEPLOYMENT_ID=web-v1",
  ]);
  t.deepEqual(Object.keys(entrypointEnv({ ...base, tls: false, tlsSkipVerify: true })), [
    "WAYPOINT_SERVER_ADDR",
    "WAYPOINT_CEB_INVITE_TOKEN",
    "WAYPOINT_DEPLOYMENT_ID",
  ]);
});

test("values are bare when safe and single-quoted otherwise", (t) => {
  t.is(shellQuote("abc-DEF_1.2:3/4+5=6"), "abc-DEF_1.2:3/4+5=6");
  t.is(shellQuote(""), "''");
  t.is(shellQuote("a b"), "'a b'");
  t.is(shellQuote("it's $HOME `x`"), "'it'\\''s $HOME `x`'");
});

test("a shell that sources the lines gets the exact values back", (t) => {
  const values = { A: "plain", B: "with space", C: 'it\'s $HOME `id` \\ "q"', D: "", E: "line1\nline2" };
  const script = `${envLines(values).join("\n")}\nprintf '%s\\0' "$A" "$B" "$C" "$D" "$E"`;
  const r = spawnSync("sh", ["-c", script], { encoding: "utf8" });
  t.is(r.status, 0, r.stderr);
  t.deepEqual(r.stdout.split("\0").slice(0, -1), Object.values(values));
});

test("the host of a gRPC target", (t) => {
  t.is(targetHost("127.0.0.1:9701"), "127.0.0.1");
  t.is(targetHost("Example.COM:443"), "example.com");
  t.is(targetHost("[::1]:9701"), "::1");
  t.is(targetHost("dns:///localhost:9701"), "localhost");
  t.is(targetHost("ipv4:10.0.0.1:9701"), "10.0.0.1");
  t.is(targetHost("unix:/run/wp.sock"), undefined);
});

test("a gRPC target with another port: the same host, the entrypoint listener's port", (t) => {
  t.is(withPort("127.0.0.1:9701", 9704), "127.0.0.1:9704");
  t.is(withPort("wp.example.com:443", 9704), "wp.example.com:9704");
  t.is(withPort("wp.example.com", 9704), "wp.example.com:9704");
  t.is(withPort("[::1]:9701", 9704), "[::1]:9704");
  t.is(withPort("[2001:db8::1]", 9704), "[2001:db8::1]:9704");
  t.is(withPort("2001:db8::1", 9704), "[2001:db8::1]:9704");
  t.is(withPort("dns:///wp.internal:9701", 9704), "dns:///wp.internal:9704");
  t.is(withPort("ipv4:10.0.0.1:9701", 9704), "ipv4:10.0.0.1:9704");
  t.is(withPort(" wp:1 ", 2), "wp:2");
  t.is(withPort("unix:/run/wp.sock", 9704), undefined);
  t.is(withPort("unix-abstract:wp", 9704), undefined);
  t.is(withPort("ipv4:10.0.0.1:9701,10.0.0.2:9701", 9704), undefined);
});

test("loopback and unspecified addresses are local-only; others are not", (t) => {
  for (const a of [
    "127.0.0.1:9701",
    "127.1.2.3:1",
    "localhost:9701",
    "[::1]:9701",
    "0.0.0.0:9701",
    "[::]:1",
  ]) {
    t.true(isLocalOnlyAddress(a), a);
  }
  for (const a of ["10.0.0.5:9701", "wp.example.com:9701", "[fd00::1]:9701", "unix:/run/wp.sock"]) {
    t.false(isLocalOnlyAddress(a), a);
  }
});
