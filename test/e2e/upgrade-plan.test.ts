/**
 * `waypoint upgrade plan` and `waypoint versions -target` against a live
 * server process: the inventory comes from the server, not from a file.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import {
  clientIdPath,
  cliHome,
  lastLine,
  REPO_ROOT,
  runCli,
  startServerProcess,
} from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";

const CATALOG = "fixtures/catalogs/protocol-steps.json";

test("plans from the live inventory and marks each group in `versions -target`", async (t) => {
  // The server emulates 0.2.0 (api 1-2); 0.3.0 drops api 1 and 0.4.0 accepts upgrades only from 0.3.0.
  const server = await startServerProcess(t, {
    args: ["-emulate-version=0.2.0", `-catalog=${join(REPO_ROOT, CATALOG)}`],
  });
  const env = { WAYPOINT_SERVER_ADDR: server.grpcAddress };
  const boot = await runCli(t, ["server", "bootstrap"], { env });
  t.is(boot.code, 0, boot.stderr);
  const withToken = { ...env, WAYPOINT_SERVER_TOKEN: lastLine(boot.stdout) };

  // A second installation, emulating 0.2.0, so two client groups are in use.
  const otherHome = tempDir(t, "waypoint-other-cli-");
  const other = await runCli(t, ["versions", "-emulate-version=0.2.0", `-catalog=${CATALOG}`], {
    env: { ...withToken, XDG_CONFIG_HOME: otherHome },
  });
  t.is(other.code, 0, other.stderr);
  const otherId = readFileSync(clientIdPath(otherHome), "utf8").trim();

  const [json, text, versions] = await Promise.all([
    runCli(t, ["upgrade", "plan", `-catalog=${CATALOG}`, "-to=0.4.0", "-format=json", "-check"], {
      env: withToken,
    }),
    runCli(t, ["upgrade", "plan", `-catalog=${CATALOG}`, "-to=0.4.0"], { env: withToken }),
    runCli(t, ["versions", "-target=0.4.0", `-catalog=${CATALOG}`], { env: withToken }),
  ]);
  const myId = readFileSync(clientIdPath(cliHome(t).configHome), "utf8").trim();

  t.is(json.code, 0, json.stderr);
  t.regex(json.stderr, /^checked: \d+ states, every online component compatible after every step$/m);
  const plan = JSON.parse(json.stdout) as {
    kind: string;
    steps: { action: string; to: string; components: string[]; optional: boolean }[];
  };
  t.is(plan.kind, "incompatible");
  const servers = plan.steps.filter((s) => s.action === "upgrade-server").map((s) => s.to);
  t.deepEqual(servers, ["0.3.0", "0.4.0"], "0.3.0 is a required stop");
  const firstServer = plan.steps.findIndex((s) => s.action === "upgrade-server");
  const mine = plan.steps.findIndex((s) => !s.optional && s.components.includes(myId));
  t.true(mine >= 0 && mine < firstServer, "this 0.1.0 CLI (api 1 only) moves before the server leaves 0.2.0");
  t.true(plan.steps.some((s) => !s.optional && s.components.includes(otherId)));

  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /^server\s+1\s+0\.2\.0\s+0\.4\.0\s+0\.4\.0\s+must move$/m);
  t.regex(text.stdout, /^\d+\. upgrade-server → 0\.3\.0$/m);

  t.is(versions.code, 0, versions.stderr);
  const lines = versions.stdout.split("\n");
  t.regex(lines[1] ?? "", /^Upgrade to 0\.4\.0: incompatible/);
  t.regex(
    lines[2] ?? "",
    /^Server: must move \(step \d+\); for the steps run: waypoint upgrade plan -to=0\.4\.0 -catalog=/,
  );
  t.regex(versions.stdout, /^KIND\s+VERSION\s+PROTOCOL\s+COUNT\s+CONNECTED\s+LAST SEEN\s+STATUS$/m);
  t.regex(versions.stdout, /^client\/cli\s+0\.1\.0\s+api 1\s+.*must move before the server \(step \d+\)$/m);
  t.regex(
    versions.stdout,
    /^client\/cli\s+0\.2\.0 \(emulated\)\s+api 1-2\s+.*must move (before the server|between server hops) \(step \d+\)$/m,
  );
});
