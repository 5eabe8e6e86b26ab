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
