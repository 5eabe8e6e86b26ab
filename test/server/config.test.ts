import test from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
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
