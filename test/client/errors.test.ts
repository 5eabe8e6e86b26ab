import * as grpc from "@grpc/grpc-js";
import test from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { Connection } from "../../src/client/connection.js";
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
