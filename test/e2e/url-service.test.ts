/**
 * The URL service: a real HTTP app (test/helpers/url-app.cjs) wrapped by a real `waypoint-entrypoint`,
 * reached with real HTTP and WebSocket clients through the server's URL listener; the entrypoint
 * opens no listener.
 */
import type { IncomingMessage } from "node:http";
import test from "ava";
import WebSocket from "ws";
import { listeningSockets, spawnEntrypoint } from "../helpers/entrypoint.js";
import { webV1 } from "../helpers/entrypoint-rpc.js";
import { freePort } from "../helpers/process.js";
import { execToEnd, startTestServer } from "../helpers/server.js";
import {
  call,
  heldBack,
  hostPort,
  MB,
  open,
  pattern,
  readAll,
  rssOf,
  serverLogs,
  sha256,
  startApp,
} from "../helpers/url.js";
import { waitFor } from "../helpers/wait.js";

test("GET and POST reach the app through the entrypoint's outbound connection; unknown hosts get 404", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  const url = s.server.urlAddress!;
  const unknown = await call(url, "nope.localhost", "GET", "/");
  t.is(unknown.status, 404);
  t.regex(unknown.body.toString(), /There is no app nope/);
  t.is((await call(url, "other.example", "GET", "/")).status, 404, "a host outside the domain");
  const early = await call(url, "web.localhost", "GET", "/");
  t.is(early.status, 503, "no instance connected yet");
  t.regex(early.body.toString(), /App web, deployment web-v1: no instance is connected/);

  const { ep } = await startApp(t, s, admin, token);
  const get = await call(url, "web.localhost", "GET", "/echo?x=1");
  t.is(get.status, 200);
  t.is(get.headers["x-app"], "yes");
  t.is(get.body.toString(), `GET /echo?x=1 0 ${sha256(Buffer.alloc(0))}`);
  const body = Buffer.alloc(1_000_000, 7);
  const post = await call(url, "web--v1.localhost:80", "POST", "/echo", body);
  t.is(post.body.toString(), `POST /echo 1000000 ${sha256(body)}`);
  t.is((await call(url, "web--v9.localhost", "GET", "/")).status, 404, "a deployment that does not exist");

  // Switched off for the app, then on again.
  await admin.updateApp("web", { urlDisabled: true });
  const off = await call(url, "web.localhost", "GET", "/echo");
  t.is(off.status, 404);
  t.regex(off.body.toString(), /The URL service is off for app web/);
  await admin.updateApp("web", { urlDisabled: false });
  t.is((await call(url, "web.localhost", "GET", "/echo")).status, 200);
  t.deepEqual(await listeningSockets(ep.pid), [], "the entrypoint opened no listener");
});

test("a 50 MB upload and a 50 MB download arrive whole", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  await startApp(t, s, admin, token);
  const url = s.server.urlAddress!;

  const size = 50 * MB;
  const upload = pattern(size);
  // Streamed in 1 MB writes, as a client uploading a file would.
  const up = await open(url, "web.localhost", "POST", "/echo", (req) => {
    let at = 0;
    const next = () => {
      while (at < size) {
        const piece = upload.subarray(at, at + MB);
        at += piece.length;
        if (!req.write(piece)) return void req.once("drain", next);
      }
      req.end();
    };
    next();
  });
  t.is((await readAll(up)).toString(), `POST /echo ${size} ${sha256(upload)}`);

  const down = await open(url, "web.localhost", "GET", `/download?n=${size}`);
  t.is(down.statusCode, 200);
  t.is(down.headers["content-length"], String(size));
  const got = await readAll(down);
  t.is(got.length, size);
  t.is(sha256(got), sha256(pattern(size)));
});

test("a streaming response (server-sent events) reaches the client as the app writes it", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  await startApp(t, s, admin, token);
  const url = s.server.urlAddress!;

  const res = await open(url, "web.localhost", "GET", "/events");
  t.is(res.headers["content-type"], "text/event-stream");
  res.setEncoding("utf8");
  let text = "";
  const ended = new Promise<void>((resolve) => res.on("end", resolve));
  res.on("data", (c: string) => (text += c));
  // The first event arrives while the app holds the response open: nothing waits for its end.
  await waitFor(() => text.includes("data: one"), "the first event");
  t.false(text.includes("data: two"));
  t.is((await call(url, "web.localhost", "GET", "/release")).body.toString(), "released 1");
  await ended;
  t.is(text, "data: one\n\ndata: two\n\n");
});

test("WebSocket: the upgrade goes through and messages echo both ways", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  await startApp(t, s, admin, token);
  const { host, port } = hostPort(s.server.urlAddress!);

  const ws = new WebSocket(`ws://${host}:${port}/socket`, {
    headers: { host: "web.localhost" },
    maxPayload: 64 * MB,
  });
  const received: (string | Buffer)[] = [];
  let notify = () => {};
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    received.push(isBinary ? data : data.toString());
    notify();
  });
  const next = () =>
    new Promise<string | Buffer>((resolve) => {
      const take = () => {
        const m = received.shift();
        if (m !== undefined) resolve(m);
        else notify = take;
      };
      take();
    });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  t.is(await next(), "hello web.localhost", "the app saw the original host");
  ws.send("ping");
  t.is(await next(), "ping");
  const big = pattern(2 * MB);
  ws.send(big);
  t.is(sha256((await next()) as Buffer), sha256(big));
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  ws.close(1000, "done");
  t.is(await closed, 1000);
});

test("a slow app gets 504 after the entrypoint's response timeout; an app that does not listen gets 502", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  const { ep } = await startApp(t, s, admin, token, { WAYPOINT_CEB_URL_RESPONSE_TIMEOUT_MS: "1000" });
  const url = s.server.urlAddress!;
  const slow = await call(url, "web.localhost", "GET", "/slow");
  t.is(slow.status, 504);
  t.regex(slow.body.toString(), /did not answer in time/);
  t.is((await call(url, "web.localhost", "GET", "/echo")).status, 200, "other requests still work");

  // The same deployment's app stops listening: its instance stays connected, requests get 502.
  ep.child.kill("SIGTERM");
  await ep.exited;
  const port = await freePort();
  const idle = spawnEntrypoint(
    t,
    [process.execPath, "-e", "console.log('up'); setInterval(() => {}, 1000)"],
    {
      env: {
        WAYPOINT_SERVER_ADDR: s.address,
        WAYPOINT_CEB_INVITE_TOKEN: token,
        WAYPOINT_DEPLOYMENT_ID: "web-v1",
        PORT: String(port),
      },
    },
  );
  await idle.waitForStdout("up");
  await waitFor(
    async () => (await admin.listInstances()).filter((i) => i.connected).length === 1,
    "one instance",
  );
  const refused = await call(url, "web.localhost", "GET", "/");
  t.is(refused.status, 502);
  t.regex(refused.body.toString(), /Nothing listens on the app&#39;s port .*connection refused/);
});

test("an instance lost mid-request fails only the requests it carried", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  const a = await startApp(t, s, admin, token);
  const b = await startApp(t, s, admin, token);
  const url = s.server.urlAddress!;

  // Requests are spread over both instances: one held on each.
  const held = [
    await open(url, "web.localhost", "GET", "/hold"),
    await open(url, "web.localhost", "GET", "/hold"),
  ];
  const ports = held.map((r) => Number(r.headers["x-port"])).sort();
  t.deepEqual(ports, [a.port, b.port].sort(), "one request on each instance");
  const onA = held.find((r) => Number(r.headers["x-port"]) === a.port)!;
  const onB = held.find((r) => Number(r.headers["x-port"]) === b.port)!;
  const outcome = (r: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let text = "";
      r.setEncoding("utf8");
      r.on("data", (c: string) => (text += c));
      r.on("end", () => resolve(`complete: ${text}`));
      r.on("aborted", () => resolve("aborted"));
      r.on("error", () => resolve("aborted"));
    });
  const [fromA, fromB] = [outcome(onA), outcome(onB)];

  a.ep.child.kill("SIGKILL");
  t.is(await fromA, "aborted", "the request the lost instance carried fails");
  await waitFor(
    async () => (await admin.listInstances()).filter((i) => i.connected).length === 1,
    "one instance",
  );
  // The other instance's request is untouched; new requests go to the instance that is left.
  const released = await call(url, "web.localhost", "GET", "/release");
  t.is(released.headers["x-port"], String(b.port));
  t.is(await fromB, "complete: first\nlast\n");
});

test("the entrypoint limits concurrent requests (503 beyond) and bounds what it holds, while logs keep flowing", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  const { ep } = await startApp(t, s, admin, token, { WAYPOINT_CEB_URL_MAX_REQUESTS: "8" });
  const url = s.server.urlAddress!;

  // Eight 50 MB downloads whose clients read nothing: backpressure holds them at the app.
  const stalled = await Promise.all(
    Array.from({ length: 8 }, () => open(url, "web.localhost", "GET", `/download?n=${50 * MB}`)),
  );
  for (const r of stalled) r.pause();
  const busy = await call(url, "web.localhost", "GET", "/echo");
  t.is(busy.status, 503, "a ninth request is refused at once");
  t.is(busy.headers["retry-after"], "1");
  t.regex(busy.body.toString(), /carrying as many requests as it allows/);

  // The app's log lines still reach the server while the tunnels are full.
  const ticks = async () =>
    Math.max(0, ...(await serverLogs(admin)).map((l) => Number(/^tick (\d+)$/.exec(l.line)?.[1] ?? 0)));
  const before = await ticks();
  await waitFor(async () => (await ticks()) >= before + 10, "ten more log lines", 10_000);
  const rss = rssOf(ep.pid);
  t.true(rss < 200 * MB, `the entrypoint holds ${Math.round(rss / MB)} MB with 400 MB requested`);

  for (const r of stalled) r.destroy();
  await waitFor(
    async () => (await call(url, "web.localhost", "GET", "/echo")).status === 200,
    "a request after the flood",
  );
});

test("an upload to an app that does not read it is held back, not buffered, while exec still reaches the instance", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  const { ep } = await startApp(t, s, admin, token);
  const url = s.server.urlAddress!;

  let written = 0;
  let req: import("node:http").ClientRequest | undefined;
  const answered = open(url, "web.localhost", "POST", "/stall", (r) => {
    req = r;
    const piece = Buffer.alloc(MB, 1);
    const next = () => {
      while (written < 50 * MB) {
        written += piece.length;
        if (!r.write(piece)) return void r.once("drain", next);
      }
      r.end();
    };
    next();
  });
  // The client can write only what the buffers on the way hold, far from the 50 MB it tries.
  await heldBack(() => written, "the upload to stall");
  t.true(written < 25 * MB, `the client wrote ${written / MB} MB before it was held back`);
  // The server still reaches the entrypoint on the same connection: an exec session runs meanwhile.
  t.deepEqual(await execToEnd(admin, { app: "web", args: ["echo", "still here"] }), {
    code: 0,
    stdout: "still here\n",
  });
  t.true(rssOf(ep.pid) < 200 * MB, `the entrypoint holds ${Math.round(rssOf(ep.pid) / MB)} MB`);
  t.is((await call(url, "web.localhost", "GET", "/release")).body.toString(), "released 1");
  const res = await answered;
  t.is((await readAll(res)).toString(), "stalled");
  req?.destroy();
});

test("fifteen hundred requests in a row keep the entrypoint's one connection (no stream resets piling up)", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { token } = await webV1(admin);
  const { ep } = await startApp(t, s, admin, token);
  const url = s.server.urlAddress!;
  const statuses = new Map<number, number>();
  for (let i = 0; i < 1500; i++) {
    const r = await call(url, "web.localhost", "GET", `/echo?${i}`);
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  }
  t.deepEqual([...statuses], [[200, 1500]]);
  t.false(
    ep.records().some((r) => r.msg === "lost the server connection; retrying in the background"),
    "the entrypoint never lost its connection",
  );
});
