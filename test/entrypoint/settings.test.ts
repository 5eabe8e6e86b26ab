import test from "ava";
import { backoffDelay } from "../../src/entrypoint/backoff.js";
import { DEFAULTS, isOffline, readSettings } from "../../src/entrypoint/settings.js";

test("defaults: no server without an address, warn level, the documented figures", (t) => {
  const s = readSettings({});
  t.is(s.server, undefined);
  t.is(s.logLevel, "warn");
  t.is(s.restartGraceMs, 30_000);
  t.is(s.logBufferBytes, 1024 * 1024);
  t.is(s.retryBaseMs, 250);
  t.is(s.retryMaxMs, 15_000);
  t.is(s.startupTimeoutMs, 5_000);
  t.deepEqual(s.problems, []);
  t.true(isOffline({}));
  t.true(isOffline({ WAYPOINT_SERVER_ADDR: "h:1", WAYPOINT_CEB_DISABLE: "1" }));
  t.false(isOffline({ WAYPOINT_SERVER_ADDR: "h:1", WAYPOINT_CEB_DISABLE: "false" }));
});

test("a malformed value is reported and replaced by its default, never fatal", (t) => {
  const s = readSettings({ WAYPOINT_CEB_RESTART_GRACE_MS: "soon", WAYPOINT_LOG_LEVEL: "loud" });
  t.is(s.restartGraceMs, DEFAULTS.restartGraceMs);
  t.is(s.logLevel, "warn");
  t.is(s.problems.length, 2);
});

test("the server target carries TLS, token and deployment", (t) => {
  const s = readSettings({
    WAYPOINT_SERVER_ADDR: "srv:9701",
    WAYPOINT_SERVER_TLS: "true",
    WAYPOINT_CEB_INVITE_TOKEN: "tok",
    WAYPOINT_DEPLOYMENT_ID: "d1",
  });
  t.deepEqual(s.server, {
    address: "srv:9701",
    tls: true,
    tlsSkipVerify: false,
    token: "tok",
    deploymentId: "d1",
  });
});

test("backoff: full jitter under an exponential ceiling capped at the maximum", (t) => {
  t.is(
    backoffDelay(0, 250, 15_000, () => 1),
    250,
  );
  t.is(
    backoffDelay(3, 250, 15_000, () => 1),
    2000,
  );
  t.is(
    backoffDelay(20, 250, 15_000, () => 1),
    15_000,
  );
  t.is(
    backoffDelay(5, 250, 15_000, () => 0),
    0,
  );
});

test("security: a malformed token is reported without quoting it, and still used (the app starts whatever happens)", (t) => {
  const token = "wpe_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
  const s = readSettings({ WAYPOINT_SERVER_ADDR: "127.0.0.1:9701", WAYPOINT_CEB_INVITE_TOKEN: `${token}\n` });
  t.deepEqual(s.problems, [
    "WAYPOINT_CEB_INVITE_TOKEN holds a control character (a stray newline or tab?); the server will refuse it",
  ]);
  t.is(s.server?.token, `${token}\n`);
});
