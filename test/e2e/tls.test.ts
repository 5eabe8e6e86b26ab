/**
 * TLS end to end with real processes and a certificate made by the real
 * openssl: the server serves TLS, the CLI and the entrypoint verify it
 * (trusted through NODE_EXTRA_CA_CERTS) or skip verification when told to;
 * an entrypoint that cannot trust the server fails open and says why.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import test from "ava";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { freePort, lastLine, runCli, startServerProcess } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const node = process.execPath;
const APP = `console.log('up'); setInterval(() => {}, 1000);`;
const URL_APP = fileURLToPath(new URL("../helpers/url-app.cjs", import.meta.url));

function makeCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const r = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:*.apps.example",
    ],
    { encoding: "utf8" },
  );
  if (r.error) throw new Error(`openssl is needed for this test: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { cert, key };
}

test("a TLS server: the CLI and the entrypoint verify it, skip verification when told, and fail open when they cannot trust it", async (t) => {
  // About ten CLI runs and four entrypoints, one after the other.
  t.timeout(180_000);
  const dir = tempDir(t);
  const { cert, key } = makeCert(dir);
  const server = await startServerProcess(t, {
    args: [`-tls-cert-file=${cert}`, `-tls-key-file=${key}`, "-url-domain=apps.example"],
  });
  const trusted = {
    WAYPOINT_SERVER_ADDR: server.grpcAddress,
    WAYPOINT_SERVER_TLS: "true",
    NODE_EXTRA_CA_CERTS: cert,
  };
  // Without trust the CLI says what is wrong with the certificate and what to do.
  const untrustedCli = await runCli(t, ["server", "bootstrap"], {
    env: { ...trusted, NODE_EXTRA_CA_CERTS: undefined },
  });
  t.is(untrustedCli.code, 3);
  t.regex(untrustedCli.stderr, /self-signed and not trusted here/);
  t.regex(untrustedCli.stderr, /Hint: Trust the server's certificate itself with NODE_EXTRA_CA_CERTS/);
  // TLS to a plain-text listener (one that answers HTTP/1.1 in the clear), and plain text to the TLS one.
  const plainServer = createNetServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
  await new Promise<void>((resolve) => plainServer.listen(0, "127.0.0.1", resolve));
  t.teardown(() => plainServer.close());
  const plainPort = (plainServer.address() as AddressInfo).port;
  const toPlain = await runCli(t, ["server", "bootstrap"], {
    env: { ...trusted, WAYPOINT_SERVER_ADDR: `127.0.0.1:${plainPort}` },
  });
  t.is(toPlain.code, 3);
  t.regex(toPlain.stderr, /TLS was used but the server answers in plain text/);
  const plainToTls = await runCli(t, ["server", "bootstrap"], {
    env: { ...trusted, WAYPOINT_SERVER_TLS: "false" },
  });
  t.is(plainToTls.code, 3);
  t.regex(plainToTls.stderr, /before speaking HTTP\/2/);

  // Trusted through NODE_EXTRA_CA_CERTS, whatever GRPC_DEFAULT_SSL_ROOTS_FILE_PATH says, and without
  // a deprecation warning about the IP address as the TLS server name.
  const boot = await runCli(t, ["server", "bootstrap"], {
    env: { ...trusted, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: join(dir, "key.pem") },
  });
  t.is(boot.code, 0, boot.stderr);
  t.notRegex(boot.stderr, /DEP0123|Warning/);
  const env = { ...trusted, WAYPOINT_SERVER_TOKEN: lastLine(boot.stdout) };
  t.is((await runCli(t, ["app", "create", "web"], { env })).code, 0);
  const created = await runCli(t, ["deployment", "create", "-app=web", "-json"], { env });
  t.is(created.code, 0, created.stderr);
  const deployment = JSON.parse(created.stdout) as { env: Record<string, string> };
  t.is(deployment.env.WAYPOINT_SERVER_TLS, "true", "the entrypoint's env says to use TLS");

  const connected = async () => {
    const r = await runCli(t, ["instances", "-app=web", "-json"], { env });
    return (JSON.parse(r.stdout) as { connected: boolean; id: string }[]).filter((i) => i.connected).length;
  };

  // Verified through the trusted CA.
  const verified = spawnEntrypoint(t, [node, "-e", APP], {
    env: { ...deployment.env, NODE_EXTRA_CA_CERTS: cert },
  });
  await verified.waitForLog("registered with the server");
  await waitFor(async () => (await connected()) === 1, "the verified entrypoint to be connected");

  // Not trusted: the app starts anyway (fail open) and the reason is in the log.
  const untrusted = spawnEntrypoint(t, [node, "-e", APP], {
    env: { ...deployment.env, WAYPOINT_CEB_STARTUP_TIMEOUT_MS: "300" },
  });
  await untrusted.waitForStdout("up\n");
  const lost = await untrusted.waitForLog("lost the server connection; retrying in the background");
  t.regex(String(lost.err), /certificate/i);
  t.regex(String(lost.hint), /NODE_EXTRA_CA_CERTS/);
  t.regex(String(lost.hint), /WAYPOINT_SERVER_TLS_SKIP_VERIFY/);

  // Told to skip verification: it connects.
  const skipping = spawnEntrypoint(t, [node, "-e", APP], {
    env: { ...deployment.env, WAYPOINT_SERVER_TLS_SKIP_VERIFY: "true" },
  });
  await skipping.waitForLog("registered with the server");
  await waitFor(async () => (await connected()) === 2, "the skipping entrypoint to be connected as well");

  // Plain text to a TLS server is refused with a message that points at TLS.
  const plain = spawnEntrypoint(t, [node, "-e", APP], {
    env: { ...deployment.env, WAYPOINT_SERVER_TLS: "false", WAYPOINT_CEB_STARTUP_TIMEOUT_MS: "300" },
  });
  await plain.waitForStdout("up\n");
  const refused = await plain.waitForLog("lost the server connection; retrying in the background");
  t.regex(String(refused.err), /before speaking HTTP\/2/);
  t.regex(String(refused.hint), /WAYPOINT_SERVER_TLS=true/);

  // The HTTP listener serves HTTPS with the same certificate: health answers over TLS, not in the clear.
  const health = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    httpsGet(`https://${server.httpAddress}/healthz`, { ca: readFileSync(cert) }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
  t.is(health.status, 200);
  t.like(JSON.parse(health.body), { status: "ok" });
  const clear = await new Promise<string>((resolve) => {
    httpGet(`http://${server.httpAddress}/healthz`, (res) => resolve(`answered ${res.statusCode}`)).on(
      "error",
      (e) => resolve(e.message),
    );
  });
  t.notRegex(clear, /^answered 200/, "plain HTTP gets no health answer from a TLS server");

  // The URL service serves HTTPS with the same certificate; the app learns the request came over it.
  // A deployment of its own (web-v2, now the latest): the instances above do not listen.
  const second = await runCli(t, ["deployment", "create", "-app=web", "-json"], { env });
  t.is(second.code, 0, second.stderr);
  const port = await freePort();
  const app = spawnEntrypoint(t, [node, URL_APP], {
    env: {
      ...(JSON.parse(second.stdout) as { env: Record<string, string> }).env,
      NODE_EXTRA_CA_CERTS: cert,
      PORT: String(port),
    },
  });
  await app.waitForStdout("listening");
  await waitFor(async () => (await connected()) === 3, "the app's entrypoint to be connected");
  const [urlHost, urlPort] = server.urlAddress!.split(":");
  const viaUrl = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    httpsGet(
      {
        host: urlHost,
        port: Number(urlPort),
        path: "/headers",
        headers: { host: "web.apps.example" },
        ca: readFileSync(cert),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    ).on("error", reject);
  });
  t.is(viaUrl.status, 200, viaUrl.body);
  t.like(JSON.parse(viaUrl.body), { host: "web.apps.example", "x-forwarded-proto": "https" });
  const listed = await runCli(t, ["deployment", "list", "-app=web", "-json"], { env });
  t.is(
    (JSON.parse(listed.stdout) as { id: string; url?: string }[]).find((d) => d.id === "web-v2")?.url,
    `https://web--v2.apps.example:${urlPort}`,
  );
});
