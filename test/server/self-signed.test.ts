import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { serverConfig } from "../../src/server/config.js";
import { createLogger } from "../../src/server/logger.js";
import { ensureSelfSigned } from "../../src/server/self-signed.js";
import { selfSignedNames } from "../../src/server/tls.js";
import { LogSink } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

const DAY = 24 * 60 * 60 * 1000;
const REQUIRED = ["localhost", "127.0.0.1", "::1"];

function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  const logs = new LogSink();
  const make = (opts: { required?: string[]; hostname?: string; now?: Date } = {}) =>
    ensureSelfSigned({
      dir,
      required: opts.required ?? REQUIRED,
      logger: createLogger("info", logs),
      ...opts,
    });
  return { dir, logs, make, cert: join(dir, "tls-cert.pem"), key: join(dir, "tls-key.pem") };
}

test("the first call makes a key (0600) and a certificate for the names, the next reuses them", async (t) => {
  const s = setup(t);
  const made = await s.make({ hostname: "Build-Host" });
  t.is(statSync(s.key).mode & 0o777, 0o600);
  const x509 = new X509Certificate(readFileSync(s.cert));
  t.is(made.sha256, x509.fingerprint256);
  t.true(x509.checkPrivateKey(createPrivateKey(readFileSync(s.key))));
  t.is(x509.checkHost("localhost"), "localhost");
  t.is(x509.checkIP("127.0.0.1"), "127.0.0.1");
  t.is(x509.checkIP("::1"), "::1");
  t.is(x509.checkHost("build-host"), "build-host");
  t.true(new Date(x509.validTo).getTime() > Date.now() + 360 * DAY);
  t.deepEqual(readdirSync(s.dir).sort(), ["tls-cert.pem", "tls-key.pem"], "no temp file is left behind");
  const madeLine = s.logs.lines.find((l) => l.msg === `made a self-signed TLS certificate ${s.cert}`);
  t.like(madeLine, { sha256: made.sha256, cert: s.cert, reused: false });
  t.regex(String(madeLine?.clients), new RegExp(`NODE_EXTRA_CA_CERTS=${s.cert}`));

  const again = await s.make({ hostname: "another-name" });
  t.is(again.sha256, made.sha256);
  t.like(
    s.logs.lines.find((l) => l.msg === `reusing the self-signed TLS certificate ${s.cert}`),
    { sha256: made.sha256, reused: true },
  );
  t.truthy(
    s.logs.lines.find((l) => /does not name this host \(another-name\)/.test(String(l.msg))),
    "a changed host name is noted but replaces nothing",
  );
});

test("a certificate that no longer covers a required name, or is about to expire, or has lost its key is replaced; the previous is kept as .old", async (t) => {
  const s = setup(t);
  const first = await s.make();

  const wider = await s.make({ required: [...REQUIRED, "wp.example.com", "10.0.0.5"] });
  t.not(wider.sha256, first.sha256);
  t.is(new X509Certificate(readFileSync(`${s.cert}.old`)).fingerprint256, first.sha256);
  t.is(statSync(`${s.key}.old`).mode & 0o777, 0o600);
  t.truthy(
    s.logs.lines.find((l) =>
      /replacing .*it does not cover wp\.example\.com, 10\.0\.0\.5/.test(String(l.msg)),
    ),
  );
  t.is(new X509Certificate(readFileSync(s.cert)).checkHost("wp.example.com"), "wp.example.com");

  const later = await s.make({
    required: [...REQUIRED, "wp.example.com", "10.0.0.5"],
    now: new Date(Date.now() + 340 * DAY),
  });
  t.not(later.sha256, wider.sha256);
  t.is(
    s.logs.lines.find((l) => /replacing .*within 30 days/.test(String(l.msg)))?.level,
    40,
    "a warning: clients must be given the new certificate",
  );

  const expired = await s.make({
    required: [...REQUIRED, "wp.example.com", "10.0.0.5"],
    now: new Date(Date.now() + 720 * DAY),
  });
  t.not(expired.sha256, later.sha256);
  t.truthy(s.logs.lines.find((l) => /replacing .*it expired on/.test(String(l.msg))));

  writeFileSync(s.key, readFileSync(`${s.key}.old`));
  const rekeyed = await s.make({ required: [...REQUIRED, "wp.example.com", "10.0.0.5"] });
  t.not(rekeyed.sha256, expired.sha256);
  t.truthy(
    s.logs.lines.find((l) => /replacing .*tls-key\.pem does not belong to tls-cert\.pem/.test(String(l.msg))),
  );
  t.true(existsSync(s.key));
});

test("the names cover loopback, listen hosts that name one interface, *.<url-domain> of two labels or more, and -tls-san", (t) => {
  const config = serverConfig({
    logLevel: "notice",
    versionInfo: BUILD_VERSION_INFO,
    listenGrpc: "0.0.0.0:9701",
    listenHttp: "10.0.0.5:9702",
    listenUrl: "[::]:80",
    urlDomain: "apps.example.com",
    tlsSelfSigned: true,
    tlsSans: ["wp.example.com"],
  });
  t.deepEqual(selfSignedNames(config), [
    "localhost",
    "127.0.0.1",
    "::1",
    "10.0.0.5",
    "*.apps.example.com",
    "wp.example.com",
  ]);
  const single = serverConfig({ logLevel: "notice", versionInfo: BUILD_VERSION_INFO, tlsSelfSigned: true });
  t.deepEqual(
    selfSignedNames(single),
    ["localhost", "127.0.0.1", "::1"],
    "no *.localhost: clients refuse it",
  );
});
