import { request } from "node:http";
import type { ServiceError } from "@grpc/grpc-js";
import test from "ava";
import { AppError } from "../../src/protocol/errors.js";
import { AuthThrottle, addressKey, grpcPeerAddress } from "../../src/server/auth-throttle.js";
import { createLogger } from "../../src/server/logger.js";
import { LogSink, startTestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

const WRONG = `wpm_${"A".repeat(43)}`;
/** Distinct wrong tokens: the same one retried counts once per window. */
const wrong = (i: number) => `wpm_${String(i).padStart(43, "B")}`;
const LIMITS = { authFailureLimit: 3, authFailureCooldownMs: 1500, authFailureCountLoopback: true };

function codeOf(err: unknown): string | undefined {
  return err instanceof AppError ? err.code : undefined;
}

test("after -auth-failure-limit distinct bad tokens an address's unknown tokens are refused until the cooldown ends; good tokens still pass; one stale token retried counts once", async (t) => {
  const s = await startTestServer(t, { config: LIMITS });
  const good = s.connect({ id: "admin" });
  const stale = s.connect({ id: "stale", token: WRONG });
  await good.inventory(); // a success before: it buys the address nothing, and is not slowed
  // One client retrying its stale token: counted once, never throttled.
  for (let i = 0; i < 6; i++) t.is(codeOf(await stale.inventory().catch((e) => e)), "UNAUTHENTICATED");
  for (let i = 1; i < 3; i++)
    t.is(
      codeOf(
        await s
          .connect({ id: `guesser-${i}`, token: wrong(i) })
          .inventory()
          .catch((e) => e),
      ),
      "UNAUTHENTICATED",
    );
  const guesser = s.connect({ id: "guesser", token: wrong(9) });
  const refused = await guesser.inventory().catch((e: unknown) => e);
  t.is(codeOf(refused), "AUTH_THROTTLED");
  t.is(((refused as AppError).cause as ServiceError).code, 8, "RESOURCE_EXHAUSTED");
  t.regex(
    (refused as AppError).message,
    /too many failed authentication attempts from 127\.0\.0\.1: .*refused for [12] s more/,
  );
  // The clients with a valid token beside it (a proxy, NAT) are not locked out.
  await t.notThrowsAsync(good.inventory());
  // GetVersionInfo needs no token and is never refused.
  await t.notThrowsAsync(good.versionInfo());

  await waitFor(
    async () => codeOf(await guesser.inventory().catch((e) => e)) === "UNAUTHENTICATED",
    "the cooldown to end: counting starts over",
    5000,
    100,
  );

  const warnings = s.logs.lines.filter((l) => String(l.msg).startsWith("too many failed authentication"));
  t.is(warnings.length, 1, "logged once per episode");
  t.is(warnings[0]!.level, 40);
  t.is(warnings[0]!.address, "127.0.0.1");
  t.false(
    s.logs.raw.some((l) => l.includes(WRONG) || l.includes(wrong(1)) || l.includes(s.token)),
    "no token in the log",
  );
});

/** An HTTP request from `localAddress` to the server's HTTP listener: status, Retry-After and JSON code. */
function httpGet(
  address: string,
  token: string,
  localAddress = "127.0.0.1",
): Promise<{ status: number; retryAfter?: string; code?: string }> {
  const colon = address.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: address.slice(0, colon),
        port: Number(address.slice(colon + 1)),
        path: "/v1/snapshot",
        localAddress,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          let code: string | undefined;
          if (res.headers["content-type"] === "application/json")
            code = (JSON.parse(Buffer.concat(chunks).toString()) as { code?: string }).code;
          resolve({
            status: res.statusCode ?? 0,
            ...(res.headers["retry-after"] ? { retryAfter: res.headers["retry-after"] } : {}),
            ...(code ? { code } : {}),
          });
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test("HTTP shares the budget: bad tokens there throttle the address on both listeners (429 with Retry-After); another address is unaffected", async (t) => {
  const s = await startTestServer(t, { config: LIMITS });
  const http = s.server.httpAddress;
  for (let i = 0; i < 3; i++) t.is((await httpGet(http, wrong(i))).status, 401);

  const refused = await httpGet(http, wrong(7));
  t.is(refused.status, 429);
  t.is(refused.code, "AUTH_THROTTLED");
  t.regex(refused.retryAfter ?? "", /^[12]$/);
  t.is((await httpGet(http, s.token)).status, 200, "a good token still passes");
  t.is(
    codeOf(
      await s
        .connect({ id: "guesser", token: wrong(8) })
        .inventory()
        .catch((e) => e),
    ),
    "AUTH_THROTTLED",
    "gRPC from the same address too",
  );

  // 127.0.0.2 is another address on the loopback interface.
  t.is((await httpGet(http, wrong(7), "127.0.0.2")).status, 401, "another address has its own count");

  await waitFor(async () => (await httpGet(http, wrong(7))).status === 401, "the cooldown to end", 5000, 100);
});

test("-auth-failure-limit=0 switches the throttle off", async (t) => {
  const s = await startTestServer(t, { config: { authFailureLimit: "0" } });
  const guesser = s.connect({ id: "guesser", token: WRONG });
  for (let i = 0; i < 15; i++) t.is(codeOf(await guesser.inventory().catch((e) => e)), "UNAUTHENTICATED");
  await t.notThrowsAsync(s.connect().inventory());
});

function throttle(
  limits: Partial<{
    limit: number;
    windowMs: number;
    cooldownMs: number;
    maxTracked: number;
    countLoopback: boolean;
  }>,
) {
  let now = 1_000_000;
  const logs = new LogSink();
  const th = new AuthThrottle(
    { limit: 3, windowMs: 60_000, cooldownMs: 60_000, maxTracked: 1000, countLoopback: true, ...limits },
    createLogger("debug", logs),
    () => now,
  );
  return { th, logs, advance: (ms: number) => (now += ms) };
}

test("failures count within a window: spread out over longer than it they never add up to the limit", (t) => {
  const { th, advance } = throttle({});
  for (let i = 0; i < 10; i++) {
    th.failed("10.0.0.1");
    th.failed("10.0.0.1");
    advance(61_000);
  }
  t.false(th.blocked("10.0.0.1"));
  th.failed("10.0.0.1");
  th.failed("10.0.0.1");
  th.failed("10.0.0.1");
  t.true(th.blocked("10.0.0.1"));
  t.is(th.retryAfter("10.0.0.1"), 60);
  advance(59_500);
  t.is(th.retryAfter("10.0.0.1"), 1);
  advance(500);
  t.false(th.blocked("10.0.0.1"));
});

test("memory is bounded: a flood from many addresses keeps at most maxTracked entries, and expired ones are swept", (t) => {
  const { th, advance } = throttle({ maxTracked: 100 });
  for (let i = 0; i < 5000; i++) th.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  t.is(th.size, 100);
  advance(61_000);
  th.failed("192.0.2.1");
  t.is(th.size, 1);
});

test("IPv6 addresses count per /64, IPv4-mapped ones as IPv4; grpc-js peers lose their port", (t) => {
  const { th } = throttle({});
  th.failed("2001:db8::1");
  th.failed("2001:db8:0:0:ffff::2");
  th.failed("2001:db8::3");
  t.true(th.blocked("2001:db8::42"), "the same /64");
  t.false(th.blocked("2001:db8:0:1::1"), "another /64");
  t.is(addressKey("::ffff:192.0.2.7"), "192.0.2.7");
  t.is(addressKey("2001:DB8::1"), "2001:db8:0:0::/64");
  t.is(grpcPeerAddress("127.0.0.1:50123"), "127.0.0.1");
  t.is(grpcPeerAddress("::1:50123"), "::1");
  t.is(grpcPeerAddress("2001:db8::1:443"), "2001:db8::1");
  t.is(grpcPeerAddress("unknown"), "unknown");
});

test("after a cooldown the count starts over, even when nothing checked the address in between", (t) => {
  const { th, advance, logs } = throttle({ cooldownMs: 10_000 });
  for (let i = 0; i < 3; i++) th.failed("10.0.0.9");
  advance(10_000);
  th.failed("10.0.0.9");
  t.false(th.blocked("10.0.0.9"), "one failure after the cooldown is one failure");
  th.failed("10.0.0.9");
  th.failed("10.0.0.9");
  t.true(th.blocked("10.0.0.9"));
  t.is(logs.lines.filter((l) => l.level === 40).length, 2, "one warning per episode");
});

test("a flood of new addresses does not free a blocked one; the same credential counts once; loopback is not counted by default", (t) => {
  const { th } = throttle({ maxTracked: 5 });
  for (let i = 0; i < 3; i++) th.failed("1.2.3.4");
  t.true(th.blocked("1.2.3.4"));
  for (let i = 0; i < 20; i++) th.failed(`10.0.0.${i}`);
  t.true(th.blocked("1.2.3.4"), "still blocked: unblocked entries go first");

  for (let i = 0; i < 10; i++) th.failed("10.9.9.9", "the same stale token");
  t.false(th.blocked("10.9.9.9"));

  const quiet = throttle({ countLoopback: false }).th;
  for (let i = 0; i < 10; i++) quiet.failed("127.0.0.1");
  for (let i = 0; i < 10; i++) quiet.failed("::ffff:127.0.0.5");
  t.is(quiet.size, 0);
});
