/**
 * The URLs of apps and deployments and the per-app URL switch, through the whole CLI against a real
 * server (in-process, port 0, its URL service on port 0 too) and its SQLite database.
 */
import { request } from "node:http";
import test, { type ExecutionContext } from "ava";
import { cli } from "../helpers/cli-inprocess.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** Runs the CLI against `s` with its management token. */
const as =
  (t: ExecutionContext, s: TestServer) =>
  (...args: string[]) =>
    cli(t, args, { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: s.token });

interface AppJson {
  name: string;
  urlDisabled: boolean;
  url?: string;
}
interface DeploymentJson {
  id: string;
  url?: string;
}

/** The table's rows under its header, each cut into its columns. */
const rows = (stdout: string) =>
  stdout
    .trimEnd()
    .split("\n")
    .slice(1)
    .map((l) => l.split(/ {2,}/));

/** The status the URL service answers for a GET of `url` (the Host is the URL's; the socket goes to `listen`). */
function statusOf(listen: string, url: string): Promise<number> {
  const { host, pathname } = new URL(url);
  const colon = listen.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: listen.slice(0, colon),
        port: Number(listen.slice(colon + 1)),
        path: pathname,
        headers: { host },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test("apps and deployments list their URLs; -no-url and -url=false take them away, -url=true gives them back", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);
  const listen = s.server.urlAddress!;
  const port = listen.slice(listen.lastIndexOf(":") + 1);
  const web = `http://web.localhost:${port}`;

  const created = await wp("app", "create", "web", "-json");
  t.is(created.code, 0, created.stderr);
  t.like(JSON.parse(created.stdout), { name: "web", urlDisabled: false, url: web });
  const off = await wp("app", "create", "api", "-no-url", "-json");
  t.is(off.code, 0, off.stderr);
  const api = JSON.parse(off.stdout) as AppJson;
  t.true(api.urlDisabled);
  t.false("url" in api, "an app without a URL has no url field");
  for (const app of ["web", "web", "api"]) t.is((await wp("deployment", "create", `-app=${app}`)).code, 0);

  // app list: the app's URL (its latest deployment), "-" for the app whose URL is off.
  const apps = await wp("app", "list");
  t.is(apps.code, 0, apps.stderr);
  t.is(apps.stdout.split("\n")[0], "NAME  DEPLOYMENTS  OPERATIONS  CREATED  URL");
  t.deepEqual(
    rows(apps.stdout).map((r) => [r[0], r[4]]),
    [
      ["api", "-"],
      ["web", web],
    ],
  );
  t.deepEqual(
    (JSON.parse((await wp("app", "list", "-json")).stdout) as AppJson[]).map((a) => [
      a.name,
      a.urlDisabled,
      a.url,
    ]),
    [
      ["api", true, undefined],
      ["web", false, web],
    ],
  );

  // deployment list: each deployment's own URL.
  const deployments = await wp("deployment", "list");
  t.is(deployments.code, 0, deployments.stderr);
  t.is(deployments.stdout.split("\n")[0], "ID      APP  CREATED  CONNECTED INSTANCES  URL");
  t.deepEqual(
    rows(deployments.stdout).map((r) => [r[0], r[4]]),
    [
      ["api-v1", "-"],
      ["web-v1", `http://web--v1.localhost:${port}`],
      ["web-v2", `http://web--v2.localhost:${port}`],
    ],
  );
  const json = JSON.parse((await wp("deployment", "list", "-json")).stdout) as DeploymentJson[];
  t.deepEqual(
    json.map((d) => [d.id, d.url]),
    [
      ["api-v1", undefined],
      ["web-v1", `http://web--v1.localhost:${port}`],
      ["web-v2", `http://web--v2.localhost:${port}`],
    ],
  );
  t.false("url" in json[0]!, "a deployment without a URL has no url field");
  // The URLs name what the URL service routes: the deployment is found, and only its instance is missing
  // (an unknown host would be 404).
  t.is(await statusOf(listen, `http://web--v1.localhost:${port}/`), 503);
  t.is(await statusOf(listen, `${web}/`), 503);
  t.is(await statusOf(listen, `http://web--v9.localhost:${port}/`), 404);

  // -url=false: the app and its deployments lose their URLs; the rest of the app stays.
  const updated = await wp("app", "update", "web", "-url=false");
  t.is(updated.code, 0, updated.stderr);
  t.is(
    updated.stdout,
    "build:      (not defined)\ndeploy:     (not defined)\nrelease:    (not defined)\nentrypoint: on\n" +
      "url:        off (the URL service does not serve it)\n",
  );
  const dark = JSON.parse((await wp("deployment", "list", "-app=web", "-json")).stdout) as DeploymentJson[];
  t.deepEqual(
    dark.map((d) => [d.id, d.url]),
    [
      ["web-v1", undefined],
      ["web-v2", undefined],
    ],
  );
  t.deepEqual(
    rows((await wp("deployment", "list", "-app=web")).stdout).map((r) => r[4]),
    ["-", "-"],
  );

  // -url=true (and a bare -url) give them back.
  const back = await wp("app", "update", "api", "-url=true", "-json");
  t.is(back.code, 0, back.stderr);
  t.like(JSON.parse(back.stdout), { name: "api", urlDisabled: false, url: `http://api.localhost:${port}` });
  t.is((await wp("app", "update", "web", "-url")).code, 0);
  t.deepEqual(
    (JSON.parse((await wp("deployment", "list", "-json")).stdout) as DeploymentJson[]).map((d) => d.url),
    [
      `http://api--v1.localhost:${port}`,
      `http://web--v1.localhost:${port}`,
      `http://web--v2.localhost:${port}`,
    ],
  );

  // The switch alone is a change; a value that is not a boolean is a usage error that changes nothing.
  const bad = await wp("app", "update", "web", "-url=maybe");
  t.is(bad.code, 2, bad.stderr);
  const nothing = await wp("app", "update", "web");
  t.is(nothing.code, 2);
  t.regex(nothing.stderr, /Hint: .*-url=true\|false/);
  t.like(JSON.parse((await wp("app", "list", "-json")).stdout)[1], {
    name: "web",
    urlDisabled: false,
    url: web,
  });
});

test("with the server's URL service off, apps and deployments have no URL and the app says why", async (t) => {
  const s = await startTestServer(t, { listenUrl: "off" });
  const wp = as(t, s);
  t.is(s.server.urlAddress, undefined);
  t.is((await wp("app", "create", "web")).code, 0);
  t.is((await wp("deployment", "create", "-app=web")).code, 0);

  t.deepEqual(
    rows((await wp("app", "list")).stdout).map((r) => [r[0], r[4]]),
    [["web", "-"]],
  );
  const app = (JSON.parse((await wp("app", "list", "-json")).stdout) as AppJson[])[0]!;
  t.false(app.urlDisabled, "the app's own switch is still on");
  t.false("url" in app);
  t.deepEqual(
    rows((await wp("deployment", "list")).stdout).map((r) => [r[0], r[4]]),
    [["web-v1", "-"]],
  );
  const deployment = (JSON.parse((await wp("deployment", "list", "-json")).stdout) as DeploymentJson[])[0]!;
  t.is(deployment.id, "web-v1");
  t.false("url" in deployment);
  const described = await wp("app", "update", "web", "-url=true");
  t.is(described.code, 0, described.stderr);
  t.regex(described.stdout, /\nurl: {8}on \(no URL now: the server's URL service is off\)\n$/);
});

test("URLs are under the server's -url-domain", async (t) => {
  const s = await startTestServer(t, { urlDomain: "Apps.Example.Test" });
  const wp = as(t, s);
  const port = s.server.urlAddress!.split(":").pop();
  t.is((await wp("app", "create", "web")).code, 0);
  t.is((await wp("deployment", "create", "-app=web")).code, 0);
  t.is(
    (JSON.parse((await wp("deployment", "list", "-json")).stdout) as DeploymentJson[])[0]?.url,
    `http://web--v1.apps.example.test:${port}`,
  );
  t.is(
    (JSON.parse((await wp("app", "list", "-json")).stdout) as AppJson[])[0]?.url,
    `http://web.apps.example.test:${port}`,
  );
});

test("a readonly token sees the URLs too", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);
  t.is((await wp("app", "create", "web")).code, 0);
  t.is((await wp("deployment", "create", "-app=web")).code, 0);
  const token = (await wp("token", "new", "-kind=readonly")).stdout.trim();
  const r = await cli(t, ["deployment", "list", "-json"], {
    WAYPOINT_SERVER_ADDR: s.address,
    WAYPOINT_SERVER_TOKEN: token,
  });
  t.is(r.code, 0, r.stderr);
  t.regex((JSON.parse(r.stdout) as DeploymentJson[])[0]?.url ?? "", /^http:\/\/web--v1\.localhost:\d+$/);
});

test("a new deployment comes back from the server with its URL", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const port = s.server.urlAddress!.split(":").pop();
  await admin.createApp("web");
  await admin.createApp("api", { urlDisabled: true });
  t.is((await admin.createDeployment("web")).deployment.url, `http://web--v1.localhost:${port}`);
  t.is((await admin.createDeployment("api")).deployment.url, undefined);
});
