import * as grpc from "@grpc/grpc-js";
import test from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { Connection } from "../../src/client/connection.js";
import { fromServiceError, STATUS } from "../../src/client/errors.js";
import { clientIdentity } from "../../src/client/identity.js";
import { AppError } from "../../src/protocol/errors.js";

test("a call the server does not implement is reported as an outdated server (exit 5), not as a bug", async (t) => {
  // A real gRPC server that serves nothing of ours: every call is UNIMPLEMENTED.
  const server = new grpc.Server();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  t.teardown(() => server.forceShutdown());
  const conn = new Connection(
    {
      address: `127.0.0.1:${port}`,
      token: "wpm_x",
      tls: false,
      tlsSkipVerify: false,
      source: "flag -server-addr",
    },
    clientIdentity("cli", "cli_test", BUILD_VERSION_INFO),
  );
  t.teardown(() => conn.close());
  const err = await t.throwsAsync(conn.listApps(), { instanceOf: AppError });
  t.is(err?.code, "SERVER_OUTDATED");
  t.is(err?.exitCode, 5);
  t.regex(err?.message ?? "", /does not know this call .*older release than this client/);
});

test("TLS failures are named with what to do, from the texts grpc-js and Node give", (t) => {
  const grpcJs = (last: string) => `No connection established. Last error: ${last}. Resolution note: `;
  const cases: [string, RegExp, RegExp][] = [
    [
      grpcJs("Error: self-signed certificate"),
      /self-signed .*\(self-signed certificate\)$/,
      /NODE_EXTRA_CA_CERTS/,
    ],
    [grpcJs("Error: unable to verify the first certificate"), /CA not trusted here/, /full chain/],
    [
      grpcJs("Error: self-signed certificate in certificate chain"),
      /CA not trusted here/,
      /NODE_EXTRA_CA_CERTS/,
    ],
    [
      grpcJs(
        "Error: C0B7D5A8:error:0A00010B:SSL routines::wrong version number:ssl/record/ssl3_record.c:354:",
      ),
      /plain text \(wrong version number\)$/,
      /Drop WAYPOINT_SERVER_TLS/,
    ],
    [grpcJs("Error: certificate has expired"), /validity dates/, /Renew/],
    [
      "ERR_TLS_CERT_ALTNAME_INVALID: Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list: 127.0.0.1",
      /does not name the address/,
      /subjectAltName/,
    ],
    [
      grpcJs(
        "Error: 809C88842E7F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n",
      ),
      /plain text \(wrong version number\)$/,
      /Drop WAYPOINT_SERVER_TLS/,
    ],
    [
      grpcJs("Failed to connect (2026-12-04T22:18:10.590Z)"),
      /before speaking HTTP\/2/,
      /WAYPOINT_SERVER_TLS=true/,
    ],
    [
      "the server closed the connection before speaking HTTP/2 (HTTP/2 code 8)",
      /TLS, reached in plain/,
      /-server-tls/,
    ],
  ];
  for (const [details, why, hint] of cases) {
    const err = fromServiceError({ code: STATUS.UNAVAILABLE, details }, "127.0.0.1:9701");
    t.is(err.code, "UNAVAILABLE", details);
    t.is(err.exitCode, 3);
    t.regex(err.message, /^cannot reach the server at 127\.0\.0\.1:9701: /);
    t.regex(err.message, why, details);
    t.regex(err.hint, hint, details);
  }
  // Closed before HTTP/2 over TLS: not a plain-text call to a TLS server, so no TLS advice.
  const overTls = fromServiceError(
    { code: STATUS.UNAVAILABLE, details: grpcJs("Failed to connect (2026-12-04T22:18:10.590Z)") },
    "127.0.0.1:9701",
    undefined,
    true,
  );
  t.regex(overTls.message, /before speaking HTTP\/2 \(not the server's gRPC listener/);
  t.notRegex(overTls.hint, /WAYPOINT_SERVER_TLS=true/);
  t.regex(overTls.hint, /-listen-grpc/);
  // A plain refusal keeps the generic reason and hint.
  const refused = fromServiceError(
    { code: STATUS.UNAVAILABLE, details: grpcJs("Error: connect ECONNREFUSED 127.0.0.1:9701") },
    "127.0.0.1:9701",
  );
  t.regex(refused.message, /connection refused/);
  t.regex(refused.hint, /Check that the server is running/);
});

test("a code this client does not know keeps the server's message and hint, instead of calling it a bug", (t) => {
  const metadata = new grpc.Metadata();
  metadata.set("waypoint-error-code", "SOME_FUTURE_LIMIT");
  metadata.set("waypoint-hint", "Wait a minute, then try again.");
  const err = fromServiceError(
    { code: STATUS.RESOURCE_EXHAUSTED, details: "too many of something", metadata },
    "127.0.0.1:9701",
  );
  t.is(err.message, "too many of something");
  t.is(err.hint, "Wait a minute, then try again.");
});

test("grpc-js's own message-size refusals become MESSAGE_TOO_LARGE, telling the server's refusal from its failure to answer", (t) => {
  const received = fromServiceError(
    { code: STATUS.RESOURCE_EXHAUSTED, details: "Received message larger than max (5242880 vs 4194304)" },
    "h:1",
  );
  t.is(received.code, "MESSAGE_TOO_LARGE");
  t.regex(received.message, /refused a message of 5242880 bytes: its limit is 4194304 bytes/);
  const sent = fromServiceError(
    { code: STATUS.RESOURCE_EXHAUSTED, details: "Sent message larger than max (5242885 vs. 4194304)" },
    "h:1",
  );
  t.is(sent.code, "MESSAGE_TOO_LARGE");
  t.regex(sent.message, /could not send its answer of 5242885 bytes/);
  const other = fromServiceError({ code: STATUS.RESOURCE_EXHAUSTED, details: "quota" }, "h:1");
  t.not(other.code, "MESSAGE_TOO_LARGE");
});
