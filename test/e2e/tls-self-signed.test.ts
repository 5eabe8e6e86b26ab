/**
 * -tls-self-signed and the plain-text guard, with real processes: the server
 * makes its certificate on first start and reuses it after; the CLI and the
 * entrypoint refuse it until told to trust it (NODE_EXTRA_CA_CERTS) or to skip
 * verification; plain text on a non-loopback address needs -insecure-plaintext.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { lastLine, runCli, startServerProcess } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";

const APP = `console.log('up'); setInterval(() => {}, 1000);`;

test("-tls-self-signed: made on first start and reused on the next; the CLI and the entrypoint (on -listen-entrypoint) trust it only when told", async (t) => {
  t.timeout(150_000);
  const dir = tempDir(t);
  const db = join(dir, "data.db");
  const cert = join(dir, "tls-cert.pem");
  const key = join(dir, "tls-key.pem");

  const args = ["-tls-self-signed", "-tls-san=wp.example.test,10.9.8.7"];
  const first = await startServerProcess(t, { db, args });
  const made = first.records().find((r) => r.msg === `made a self-signed TLS certificate ${cert}`);
  t.truthy(made, first.logs().join("\n"));
  t.is(statSync(key).mode & 0o777, 0o600);
  const sha256 = new X509Certificate(readFileSync(cert)).fingerprint256;
  t.is(made?.sha256, sha256, "the log gives the certificate's SHA-256");
  t.regex(String(made?.clients), new RegExp(`NODE_EXTRA_CA_CERTS=${cert}`));
  t.deepEqual(
    ((made?.names ?? []) as string[]).slice(0, 5),
    ["localhost", "127.0.0.1", "::1", "wp.example.test", "10.9.8.7"],
    "the loopback names and -tls-san, then the host's name",
  );
  t.like(first.ready, { tls: true });
  t.is(await first.stop(), 0);

  // This time with an entrypoint listener: it serves the same certificate (its own thread's TLS).
  const server = await startServerProcess(t, { db, args: [...args, "-listen-entrypoint=127.0.0.1:0"] });
  const entrypointAddr = String(server.ready?.entrypoints);
  t.like(
    server.records().find((r) => r.msg === `reusing the self-signed TLS certificate ${cert}`),
    { sha256, reused: true },
  );
  t.false(server.records().some((r) => String(r.msg).startsWith("made a self-signed")));

  const base = { WAYPOINT_SERVER_ADDR: server.grpcAddress, WAYPOINT_SERVER_TLS: "true" };
  const untrusted = await runCli(t, ["server", "bootstrap"], { env: base });
  t.is(untrusted.code, 3, untrusted.stderr);
  t.regex(untrusted.stderr, /self-signed and not trusted here/);
  t.regex(untrusted.stderr, /Hint: .*NODE_EXTRA_CA_CERTS=.*tls-self-signed.*WAYPOINT_SERVER_TLS_SKIP_VERIFY/);

  const trusted = { ...base, NODE_EXTRA_CA_CERTS: cert };
  const boot = await runCli(t, ["server", "bootstrap"], { env: trusted });
  t.is(boot.code, 0, boot.stderr);
  const token = lastLine(boot.stdout);
  // By name as well: the certificate covers localhost.
  const port = server.grpcAddress.split(":").at(-1);
  const byName = await runCli(t, ["app", "create", "web"], {
    env: { ...trusted, WAYPOINT_SERVER_ADDR: `localhost:${port}`, WAYPOINT_SERVER_TOKEN: token },
  });
  t.is(byName.code, 0, byName.stderr);
  const skipping = await runCli(
    t,
    ["deployment", "create", "-app=web", "-json", `-entrypoint-addr=${entrypointAddr}`],
    {
      env: { ...base, WAYPOINT_SERVER_TLS_SKIP_VERIFY: "true", WAYPOINT_SERVER_TOKEN: token },
    },
  );
  t.is(skipping.code, 0, skipping.stderr);

  // The entrypoint, with the deployment's env (TLS, no skip: the CLI that made it was told to skip,
  // so the env says so too; take it out) and the certificate trusted.
  const env = (JSON.parse(skipping.stdout) as { env: Record<string, string> }).env;
  t.is(env.WAYPOINT_SERVER_TLS, "true");
  t.is(env.WAYPOINT_SERVER_ADDR, entrypointAddr);
  const verifying = { ...env, WAYPOINT_SERVER_TLS_SKIP_VERIFY: undefined };
  const untrustedEntrypoint = spawnEntrypoint(t, [process.execPath, "-e", APP], {
    env: { ...verifying, WAYPOINT_CEB_STARTUP_TIMEOUT_MS: "300" },
  });
  await untrustedEntrypoint.waitForStdout("up\n");
  const lost = await untrustedEntrypoint.waitForLog("lost the server connection; retrying in the background");
  t.regex(String(lost.err), /self-signed/);
  t.regex(String(lost.hint), /NODE_EXTRA_CA_CERTS/);
  const entrypoint = spawnEntrypoint(t, [process.execPath, "-e", APP], {
    env: { ...verifying, NODE_EXTRA_CA_CERTS: cert },
  });
  await entrypoint.waitForLog("registered with the server");
});

test("-tls-self-signed with -tls-cert-file is a usage error", async (t) => {
  const dir = tempDir(t);
  const r = await runCli(t, [
    "server",
    "run",
    `-db=${join(dir, "data.db")}`,
    "-tls-self-signed",
    `-tls-cert-file=${join(dir, "c.pem")}`,
    `-tls-key-file=${join(dir, "k.pem")}`,
  ]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /-tls-self-signed cannot be combined with -tls-cert-file or -tls-key-file/);
  t.regex(r.stderr, /Hint: .*-tls-self-signed alone/);
});

test("plain text on 0.0.0.0 is refused without -insecure-plaintext, warned about with it, and silent with TLS", async (t) => {
  t.timeout(120_000);
  const exposed = ["-listen-grpc=0.0.0.0:0", "-listen-url=off"];
  const dir = tempDir(t);
  const refused = await runCli(t, [
    "server",
    "run",
    `-db=${join(dir, "data.db")}`,
    "-listen-http=127.0.0.1:0",
    ...exposed,
  ]);
  t.is(refused.code, 2, refused.stderr);
  t.regex(
    refused.stderr,
    /refusing to serve plain text on a non-loopback address \(-listen-grpc=0\.0\.0\.0:0\)/,
  );
  t.regex(refused.stderr, /Hint: .*-tls-self-signed.*-insecure-plaintext/);

  const warned = await startServerProcess(t, { args: [...exposed, "-insecure-plaintext"] });
  const warning = warned.records().find((r) => r.level === 40 && /clear text/.test(String(r.msg)));
  t.truthy(warning, warned.logs().join("\n"));
  t.deepEqual(warning?.listeners, ["-listen-grpc=0.0.0.0:0"]);
  t.like(warned.ready, { tls: false });

  const tls = await startServerProcess(t, { args: [...exposed, "-tls-self-signed"] });
  t.like(tls.ready, { tls: true });
  t.false(
    tls.records().some((r) => /clear text|plain text/.test(String(r.msg))),
    "no warning when TLS is on",
  );
});
