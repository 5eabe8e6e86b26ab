import test from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { serverConfig } from "../../src/server/config.js";
import { isLoopbackHost } from "../../src/server/listen-exposure.js";

const base = { logLevel: "notice" as const, versionInfo: BUILD_VERSION_INFO };

test("loopback hosts are 127.0.0.0/8, ::1 and localhost; the unspecified and every other address are not", (t) => {
  for (const host of [
    "127.0.0.1",
    "127.9.8.7",
    "::1",
    "0:0:0:0:0:0:0:1",
    "::ffff:127.0.0.1",
    "localhost",
    "LocalHost.",
  ])
    t.true(isLoopbackHost(host), host);
  for (const host of [
    "0.0.0.0",
    "::",
    "",
    "10.0.0.5",
    "192.168.1.2",
    "fd00::1",
    "::ffff:10.0.0.1",
    "wp.example.com",
    "localhost.example.com",
    "app.localhost",
    "128.0.0.1",
  ])
    t.false(isLoopbackHost(host), host);
});

test("plain text on a non-loopback listener is refused, naming each such listener and what to do instead", (t) => {
  const err = t.throws(() =>
    serverConfig({ ...base, listenGrpc: ":9701", listenHttp: "127.0.0.1:9702", listenUrl: "[::]:9703" }),
  );
  t.is((err as { code?: string }).code, "CONFIG_INVALID");
  t.regex(err.message, /refusing to serve plain text on a non-loopback address/);
  t.regex(err.message, /-listen-grpc=0\.0\.0\.0:9701, -listen-url=\[::\]:9703\)/);
  t.notRegex(err.message, /-listen-http/);
  const hint = String((err as { hint?: string }).hint);
  t.regex(hint, /-tls-self-signed/);
  t.regex(hint, /-insecure-plaintext/);
  for (const listen of [
    { listenHttp: "10.1.2.3:80" },
    { listenUrl: "wp.example.com:80" },
    { listenEntrypoint: "0.0.0.0:9704" },
  ]) {
    t.throws(() => serverConfig({ ...base, ...listen }), { message: /refusing to serve plain text/ });
  }
});

test("plain text on a non-loopback listener is allowed with -insecure-plaintext or served over TLS; loopback and a switched-off URL service need neither", (t) => {
  const exposed = { listenGrpc: "0.0.0.0:9701", listenHttp: "[::]:9702", listenUrl: "0.0.0.0:80" };
  t.is(serverConfig({ ...base, ...exposed, insecurePlaintext: true }).insecurePlaintext, true);
  t.like(serverConfig({ ...base, ...exposed, tlsSelfSigned: true }).tls, { kind: "self-signed" });
  t.like(serverConfig({ ...base, ...exposed, tlsCertFile: "c.pem", tlsKeyFile: "k.pem" }).tls, {
    kind: "files",
  });
  t.notThrows(() =>
    serverConfig({ ...base, listenGrpc: "[::1]:1", listenHttp: "localhost:2", listenUrl: "127.0.0.2:3" }),
  );
  t.notThrows(() => serverConfig({ ...base, listenUrl: "off" }));
  t.like(serverConfig({ ...base, listenEntrypoint: "0.0.0.0:9704", tlsSelfSigned: true }), {
    listenEntrypoint: { host: "0.0.0.0", port: 9704 },
  });
});

test("-tls-self-signed is refused with -tls-cert-file or -tls-key-file, and -tls-san without -tls-self-signed; -tls-san names are checked", (t) => {
  for (const files of [
    { tlsCertFile: "c.pem", tlsKeyFile: "k.pem" },
    { tlsCertFile: "c.pem" },
    { tlsKeyFile: "k.pem" },
  ]) {
    const err = t.throws(() => serverConfig({ ...base, ...files, tlsSelfSigned: true }));
    t.is((err as { code?: string }).code, "USAGE");
    t.regex(err.message, /-tls-self-signed cannot be combined with -tls-cert-file or -tls-key-file/);
    t.regex(String((err as { hint?: string }).hint), /-tls-self-signed alone/);
  }
  t.throws(() => serverConfig({ ...base, tlsSans: ["wp.example.com"] }), { message: /-tls-san/ });
  t.deepEqual(
    serverConfig({
      ...base,
      tlsSelfSigned: true,
      tlsSans: ["WP.Example.com,10.0.0.5", "*.apps.example.com", "fd00:0::1"],
    }).tls,
    { kind: "self-signed", extraNames: ["wp.example.com", "10.0.0.5", "*.apps.example.com", "fd00::1"] },
  );
  for (const bad of ["under_score.example", "a..b", "http://x", "*.*.example", "-x.example"]) {
    const err = t.throws(
      () => serverConfig({ ...base, tlsSelfSigned: true, tlsSans: [bad] }),
      undefined,
      bad,
    );
    t.is((err as { code?: string }).code, "CONFIG_INVALID", bad);
    t.regex(err.message, /^-tls-san: .* is neither a DNS name nor an IP address/);
  }
});
