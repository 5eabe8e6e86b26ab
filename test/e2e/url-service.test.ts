/**
 * The URL service: a real HTTP app wrapped by a real `waypoint-entrypoint`, reached with a real
 * HTTP client through the server's URL listener; the entrypoint opens no listener.
 */
import { request } from "node:http";
import test from "ava";
import { listeningSockets, spawnEntrypoint } from "../helpers/entrypoint.js";
import { webV1 } from "../helpers/entrypoint-rpc.js";
import { freePort } from "../helpers/process.js";
import { startTestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

/** An app that answers with its method, path and the bytes it read. */
const APP = `require("http").createServer((q, r) => {
  let n = 0;
  q.on("data", (c) => (n += c.length));
  q.on("end", () => { r.writeHead(200, { "x-app": "yes" }); r.end(q.method + " " + q.url + " " + n); });
}).listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));`;

function call(address: string, host: string, method: string, path: string, body?: Buffer) {
  const colon = address.lastIndexOf(":");
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = request(
        {
          host: address.slice(0, colon),
          port: Number(address.slice(colon + 1)),
          method,
          path,
          headers: { host },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        },
      );
      req.on("error", reject);
      req.end(body);
    },
  );
}

test("GET and POST reach the app through the entrypoint's outbound connection; unknown hosts get 404", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  const url = s.server.urlAddress!;
  t.is((await call(url, "nope.localhost", "GET", "/")).status, 404);
  t.is((await call(url, "web.localhost", "GET", "/")).status, 503, "no instance connected yet");

  const port = await freePort();
  const ep = spawnEntrypoint(t, [process.execPath, "-e", APP], {
    env: {
      WAYPOINT_SERVER_ADDR: s.address,
      WAYPOINT_CEB_INVITE_TOKEN: token,
      WAYPOINT_DEPLOYMENT_ID: "web-v1",
      PORT: String(port),
    },
  });
  await ep.waitForStdout("listening");
  await waitFor(async () => (await admin.listInstances()).some((i) => i.connected), "the instance");

  const get = await call(url, "web.localhost", "GET", "/hello?x=1");
  t.is(get.status, 200);
  t.is(get.headers["x-app"], "yes");
  t.is(get.body, "GET /hello?x=1 0");
  const post = await call(url, "web--v1.localhost", "POST", "/upload", Buffer.alloc(1_000_000, 7));
  t.is(post.body, "POST /upload 1000000");
  t.deepEqual(await listeningSockets(ep.pid), [], "the entrypoint opened no listener");
});

test("an app that does not listen gets 502, naming the cause", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  const port = await freePort();
  // The app runs but listens nowhere.
  const ep = spawnEntrypoint(t, [process.execPath, "-e", "console.log('up'); setInterval(() => {}, 1000)"], {
    env: {
      WAYPOINT_SERVER_ADDR: s.address,
      WAYPOINT_CEB_INVITE_TOKEN: token,
      WAYPOINT_DEPLOYMENT_ID: "web-v1",
      PORT: String(port),
    },
  });
  await ep.waitForStdout("up");
  await waitFor(async () => (await admin.listInstances()).some((i) => i.connected), "the instance");
  const r = await call(s.server.urlAddress!, "web.localhost", "GET", "/");
  t.is(r.status, 502);
  t.regex(r.body, /could not be reached: refused/);
});
