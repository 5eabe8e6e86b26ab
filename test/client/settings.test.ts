import test from "ava";
import { saveContext, selectContext } from "../../src/client/contexts.js";
import { DEFAULT_SERVER_ADDR, resolveSettings } from "../../src/client/settings.js";
import { tempDir } from "../helpers/temp.js";

function withContexts(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  const at = "2026-11-22T10:00:00.000Z";
  saveContext(dir, {
    name: "prod",
    address: "prod:9701",
    token: "prod-secret",
    tls: true,
    tlsSkipVerify: false,
    createdAt: at,
  });
  saveContext(dir, {
    name: "dev",
    address: "dev:9701",
    token: "dev-secret",
    tls: false,
    tlsSkipVerify: false,
    createdAt: at,
  });
  selectContext(dir, "prod");
  return dir;
}

test("with nothing configured the default address is used without a token", (t) => {
  const s = resolveSettings({}, {}, tempDir(t));
  t.like(s, { address: DEFAULT_SERVER_ADDR, tls: false, source: "default" });
  t.false("token" in s);
});

test("the current context supplies address, token and TLS together", (t) => {
  const s = resolveSettings({}, {}, withContexts(t));
  t.like(s, { address: "prod:9701", token: "prod-secret", tls: true, source: "context prod" });
});

test("a context's token is never sent to an address from the environment", (t) => {
  const s = resolveSettings({}, { WAYPOINT_SERVER_ADDR: "other:9701" }, withContexts(t));
  t.is(s.address, "other:9701");
  t.false("token" in s, "the saved prod token must not go to other:9701");
  t.false(s.tls, "nor the context's TLS settings");
});

test("a context's token is never sent to an address from a flag", (t) => {
  const s = resolveSettings({ serverAddr: "elsewhere:9701" }, {}, withContexts(t));
  t.is(s.address, "elsewhere:9701");
  t.false("token" in s);
});

test("a context named with -context beats the environment", (t) => {
  const s = resolveSettings(
    { context: "dev" },
    { WAYPOINT_SERVER_ADDR: "other:9701", WAYPOINT_SERVER_TOKEN: "env-secret" },
    withContexts(t),
  );
  t.like(s, { address: "dev:9701", token: "dev-secret", source: "context dev" });
});

test("environment address and token go together, and flags beat them", (t) => {
  const env = {
    WAYPOINT_SERVER_ADDR: "env:9701",
    WAYPOINT_SERVER_TOKEN: "env-secret",
    WAYPOINT_SERVER_TLS: "true",
  };
  t.like(resolveSettings({}, env, withContexts(t)), { address: "env:9701", token: "env-secret", tls: true });
  t.like(resolveSettings({ serverAddr: "flag:9701", token: "flag-secret", tls: false }, env, tempDir(t)), {
    address: "flag:9701",
    token: "flag-secret",
    tls: false,
  });
});

test("a token flag applies to the context's address", (t) => {
  t.like(resolveSettings({ token: "explicit" }, {}, withContexts(t)), {
    address: "prod:9701",
    token: "explicit",
  });
});

test("a malformed boolean in the environment is an error naming the variable", (t) => {
  const err = t.throws(() => resolveSettings({}, { WAYPOINT_SERVER_TLS: "maybe" }, tempDir(t)));
  t.regex(err!.message, /WAYPOINT_SERVER_TLS="maybe" is not a boolean/);
});

test("security: a token with characters no token has is refused before it is sent, and never quoted", (t) => {
  const secret = "wpm_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
  const cases: [ConnectionFlagsCase, RegExp][] = [
    [{ flags: { token: `${secret}\n` } }, /^the token from -server-token holds a control character/],
    [
      { env: { WAYPOINT_SERVER_TOKEN: `${secret} x` } },
      /^the token from WAYPOINT_SERVER_TOKEN holds a space/,
    ],
    [{ flags: { token: `“${secret}”` } }, /not printable ASCII/],
    [{ flags: { token: "x".repeat(513) } }, /is 513 characters long/],
  ];
  for (const [c, message] of cases) {
    const err = t.throws(() => resolveSettings(c.flags ?? {}, c.env ?? {}, tempDir(t)));
    t.regex(err!.message, message);
    t.false(err!.message.includes(secret.slice(4)), err!.message);
    t.is((err as { code?: string }).code, "UNAUTHENTICATED");
  }
  t.is(resolveSettings({ token: secret }, {}, tempDir(t)).token, secret);
});

interface ConnectionFlagsCase {
  readonly flags?: Parameters<typeof resolveSettings>[0];
  readonly env?: NodeJS.ProcessEnv;
}
