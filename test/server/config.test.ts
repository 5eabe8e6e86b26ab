import test from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import type { AppError } from "../../src/protocol/errors.js";
import { parseByteSize, SERVER_DEFAULTS, serverConfig } from "../../src/server/config.js";

test("-log-buffer-bytes defaults to 512 KiB and takes bytes, KiB, MiB and GiB", (t) => {
  t.is(SERVER_DEFAULTS.logBufferBytes, "512KiB");
  t.is(serverConfig({ logLevel: "notice", versionInfo: BUILD_VERSION_INFO }).logBufferBytes, 524_288);
  t.is(parseByteSize("4096", "-log-buffer-bytes"), 4096);
  t.is(parseByteSize("64KiB", "-log-buffer-bytes"), 65_536);
  t.is(parseByteSize("2M", "-log-buffer-bytes"), 2_097_152);
  t.is(parseByteSize("1GiB", "-log-buffer-bytes"), 1_073_741_824);
  t.is(parseByteSize(1024, "-log-buffer-bytes"), 1024);
});

test("-log-buffer-bytes refuses what is not a size between 1 KiB and 1 GiB, naming the flag", (t) => {
  for (const bad of ["", "lots", "-5", "1023", "2GiB", "1.5MiB", "12 parsecs"]) {
    const err = t.throws(() =>
      serverConfig({ logLevel: "notice", versionInfo: BUILD_VERSION_INFO, logBufferBytes: bad }),
    );
    t.is((err as { code?: string }).code, "CONFIG_INVALID", bad);
    t.true(err.message.startsWith(`-log-buffer-bytes: ${JSON.stringify(bad)} is not a size`), err.message);
  }
});

test("-listen-url defaults to 127.0.0.1:9703, `off` switches the URL service off; -url-domain must be a domain name", (t) => {
  const base = { logLevel: "notice" as const, versionInfo: BUILD_VERSION_INFO };
  t.deepEqual(serverConfig(base).listenUrl, { host: "127.0.0.1", port: 9703 });
  t.is(serverConfig({ ...base, listenUrl: "off" }).listenUrl, undefined);
  t.is(serverConfig(base).urlDomain, "localhost");
  t.is(serverConfig({ ...base, urlDomain: "Apps.Example.COM." }).urlDomain, "apps.example.com");
  for (const bad of ["", "a b", "-x.example", "x..example", "*.example.com", "x_y.example"]) {
    const err = t.throws(() => serverConfig({ ...base, urlDomain: bad }), undefined, bad);
    t.regex(err!.message, /^-url-domain: .* is not a domain name/);
  }
});

test("-listen-entrypoint is off unless given; it takes a listen address, checked as the others are", (t) => {
  const base = { logLevel: "notice" as const, versionInfo: BUILD_VERSION_INFO };
  t.is(serverConfig(base).listenEntrypoint, undefined);
  t.is(serverConfig({ ...base, listenEntrypoint: "off" }).listenEntrypoint, undefined);
  t.deepEqual(serverConfig({ ...base, listenEntrypoint: "127.0.0.1:9704" }).listenEntrypoint, {
    host: "127.0.0.1",
    port: 9704,
  });
  for (const bad of ["", "nope", "127.0.0.1:99999"]) {
    const err = t.throws(() => serverConfig({ ...base, listenEntrypoint: bad }), undefined, bad);
    t.regex(err!.message, /-listen-entrypoint/, bad);
  }
});

test("the limits default to 4MiB messages, 100000 streams per token, 1000 per connection and 10 failed authentications a minute", (t) => {
  const c = serverConfig({ logLevel: "notice", versionInfo: BUILD_VERSION_INFO });
  t.is(c.maxMessageBytes, 4 * 1024 * 1024);
  t.is(c.maxStreamsPerToken, 100_000);
  t.is(c.maxStreamsPerConnection, 1000);
  t.deepEqual(c.authFailures, {
    limit: 10,
    windowMs: 60_000,
    cooldownMs: 60_000,
    maxTracked: 10_000,
    countLoopback: false,
  });
  t.is(c.httpHeadersTimeoutMs, 30_000);
  t.is(c.httpMaxHeaderBytes, 16 * 1024);
});

test("-max-message-size takes 2MiB to 16MiB; the stream and failure limits take whole numbers, naming the flag", (t) => {
  const base = { logLevel: "notice" as const, versionInfo: BUILD_VERSION_INFO };
  t.is(serverConfig({ ...base, maxMessageSize: "16MiB" }).maxMessageBytes, 16 * 1024 * 1024);
  t.is(serverConfig({ ...base, maxMessageSize: "2m" }).maxMessageBytes, 2 * 1024 * 1024);
  t.is(serverConfig({ ...base, authFailureLimit: "0" }).authFailures.limit, 0);
  t.is(serverConfig({ ...base, maxStreamsPerToken: "50000" }).maxStreamsPerToken, 50_000);
  const refused: [Partial<Parameters<typeof serverConfig>[0]>, RegExp][] = [
    [{ maxMessageSize: "1MiB" }, /^-max-message-size: "1MiB" is not a size between 2MiB and 16MiB/],
    [{ maxMessageSize: "17MiB" }, /^-max-message-size: "17MiB" is not a size between 2MiB and 16MiB/],
    [{ maxStreamsPerToken: "0" }, /^-max-streams-per-token: "0" is not a whole number between 1 and 1000000/],
    [{ maxStreamsPerConnection: "lots" }, /^-max-streams-per-connection: "lots" is not a whole number/],
    [{ authFailureLimit: "-1" }, /^-auth-failure-limit: "-1" is not a whole number between 0 and 1000000/],
  ];
  for (const [input, message] of refused) {
    const err = t.throws(() => serverConfig({ ...base, ...input }));
    t.is((err as { code?: string }).code, "CONFIG_INVALID");
    t.regex(err!.message, message);
  }
});

test("-log-buffer-total defaults to 256 MiB, or -log-buffer-bytes when that is larger, and takes sizes as -log-buffer-bytes does", (t) => {
  // A heap that takes 64 GiB of log output, whatever this machine's.
  const base = {
    logLevel: "notice" as const,
    versionInfo: BUILD_VERSION_INFO,
    heapLimitBytes: 256 * 1024 ** 3,
  };
  t.is(SERVER_DEFAULTS.logBufferTotal, "256MiB");
  t.is(serverConfig(base).logBufferTotalBytes, 256 * 1024 * 1024);
  t.is(serverConfig({ ...base, logBufferBytes: "512MiB" }).logBufferTotalBytes, 512 * 1024 * 1024);
  t.is(serverConfig({ ...base, logBufferTotal: "1GiB" }).logBufferTotalBytes, 1024 ** 3);
  t.is(serverConfig({ ...base, logBufferTotal: "64G" }).logBufferTotalBytes, 64 * 1024 ** 3);
  t.is(
    serverConfig({ ...base, logBufferBytes: "2MiB", logBufferTotal: "2MiB" }).logBufferTotalBytes,
    2 * 1024 ** 2,
  );
  t.is(serverConfig({ ...base, logBufferBytes: 1024, logBufferTotal: 4096 }).logBufferTotalBytes, 4096);
});

test("log output is kept in Node's heap: -log-buffer-total over half its limit is refused with the NODE_OPTIONS that takes it, a default over it is lowered", (t) => {
  const GiB = 1024 ** 3;
  const base = { logLevel: "notice" as const, versionInfo: BUILD_VERSION_INFO, heapLimitBytes: 4 * GiB };
  t.is(serverConfig({ ...base, logBufferTotal: "2GiB" }).logBufferTotalBytes, 2 * GiB);
  const err = t.throws(() => serverConfig({ ...base, logBufferTotal: "3GiB" }));
  t.is((err as AppError).code, "CONFIG_INVALID");
  t.is((err as AppError).exitCode, 2);
  t.is(
    err!.message,
    `-log-buffer-total: "3GiB" is more than half of Node's heap limit (4GiB), where log output is kept`,
  );
  t.is(
    (err as AppError).hint,
    "Give -log-buffer-total at most 2GiB, or raise Node's heap limit to twice it: NODE_OPTIONS=--max-old-space-size=6400 (MiB) in the server's environment.",
  );
  // This process's own limit when none is given: 64 GiB is more than half of it on any machine that runs the tests.
  const own = t.throws(() =>
    serverConfig({ logLevel: "notice", versionInfo: BUILD_VERSION_INFO, logBufferTotal: "64GiB" }),
  );
  t.regex(own!.message, /is more than half of Node's heap limit \(\d+(MiB|GiB)\)/);
  // A small heap: the default 256 MiB becomes half of it, still at least -log-buffer-bytes.
  const small = { ...base, heapLimitBytes: 300 * 1024 ** 2 };
  t.is(serverConfig(small).logBufferTotalBytes, 150 * 1024 ** 2);
  t.is(serverConfig({ ...small, logBufferBytes: "100MiB" }).logBufferTotalBytes, 150 * 1024 ** 2);
  // -log-buffer-bytes over half is named first, a -log-buffer-total given or not.
  const withTotal = t.throws(() =>
    serverConfig({ ...small, logBufferBytes: "200MiB", logBufferTotal: "100MiB" }),
  );
  t.regex(withTotal!.message, /^-log-buffer-bytes: 200MiB is more than half/);
  const bytes = t.throws(() => serverConfig({ ...small, logBufferBytes: "200MiB" }));
  t.is(
    bytes!.message,
    `-log-buffer-bytes: 200MiB is more than half of Node's heap limit (300MiB), where log output is kept`,
  );
  t.regex(
    (bytes as AppError).hint,
    /^Give -log-buffer-bytes at most 150MiB, or raise .*--max-old-space-size=656 /,
  );
});

test("-log-buffer-total refuses what is not a size up to 64 GiB, and less than -log-buffer-bytes with a hint naming both", (t) => {
  const base = {
    logLevel: "notice" as const,
    versionInfo: BUILD_VERSION_INFO,
    heapLimitBytes: 256 * 1024 ** 3,
  };
  for (const bad of ["", "lots", "-1", "65GiB", "0.5GiB", "1000000G"]) {
    const err = t.throws(() => serverConfig({ ...base, logBufferTotal: bad }));
    t.is((err as AppError).code, "CONFIG_INVALID", bad);
    t.is((err as AppError).exitCode, 2);
    t.true(err!.message.startsWith(`-log-buffer-total: ${JSON.stringify(bad)} is not a size`), err!.message);
  }
  const err = t.throws(() => serverConfig({ ...base, logBufferBytes: "2MiB", logBufferTotal: "1MiB" }));
  t.is((err as AppError).code, "CONFIG_INVALID");
  t.is((err as AppError).exitCode, 2);
  t.regex(err!.message, /^-log-buffer-total: "1MiB" is less than -log-buffer-bytes \(2MiB\)/);
  t.regex((err as AppError).hint, /-log-buffer-total at least -log-buffer-bytes/);
});
