/**
 * What the URL service's tests share: requests through the URL listener with a given Host, and the test
 * app (url-app.cjs) under a real waypoint-entrypoint.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { type ClientRequest, type IncomingMessage, request } from "node:http";
import { fileURLToPath } from "node:url";
import type { ExecutionContext } from "ava";
import type { Connection } from "../../src/client/connection.js";
import type { LogLineInfo } from "../../src/client/runtime.js";
import { type EntrypointProcess, spawnEntrypoint } from "./entrypoint.js";
import { freePort } from "./process.js";
import { waitFor } from "./wait.js";

export const URL_APP = fileURLToPath(new URL("./url-app.cjs", import.meta.url));
export const MB = 1024 * 1024;

export interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage["headers"];
  readonly body: Buffer;
}

export function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** Opens a request through the URL service with this Host; resolves with the response, unread. */
export function open(
  address: string,
  host: string,
  method: string,
  path: string,
  body?: Buffer | ((req: ClientRequest) => void),
): Promise<IncomingMessage> {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ ...hostPort(address), method, path, headers: { host }, agent: false }, resolve);
    req.on("error", reject);
    if (typeof body === "function") body(req);
    else req.end(body);
  });
}

export async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function call(
  address: string,
  host: string,
  method: string,
  path: string,
  body?: Buffer,
): Promise<Reply> {
  const res = await open(address, host, method, path, body);
  return { status: res.statusCode ?? 0, headers: res.headers, body: await readAll(res) };
}

/** A process's resident memory, from /proc. */
export function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) * 1024;
}

export function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

/** The bytes /download?n=N sends. */
export function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i % (64 * 1024)) % 251;
  return b;
}

/** Starts the app under a real entrypoint for web-v1 and waits until it listens and is connected. */
export async function startApp(
  t: ExecutionContext,
  s: { address: string },
  admin: Connection,
  token: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ ep: EntrypointProcess; port: number }> {
  const port = await freePort();
  const before = (await admin.listInstances()).filter((i) => i.connected).length;
  const ep = spawnEntrypoint(t, [process.execPath, URL_APP], {
    env: {
      WAYPOINT_SERVER_ADDR: s.address,
      WAYPOINT_CEB_INVITE_TOKEN: token,
      WAYPOINT_DEPLOYMENT_ID: "web-v1",
      PORT: String(port),
      ...env,
    },
  });
  await ep.waitForStdout("listening");
  await waitFor(
    async () => (await admin.listInstances()).filter((i) => i.connected).length > before,
    "the instance",
  );
  return { ep, port };
}

export async function serverLogs(admin: Connection): Promise<LogLineInfo[]> {
  const lines: LogLineInfo[] = [];
  await new Promise<void>((resolve, reject) => {
    admin.logs(
      { app: "web" },
      (batch) => lines.push(...batch),
      (err) => (err ? reject(err) : resolve()),
    );
  });
  return lines;
}

/** Waits until a writer held back by backpressure stops advancing: `written` is the same half a second apart. */
export async function heldBack(written: () => number, what: string): Promise<void> {
  let last = -1;
  await waitFor(
    async () => {
      const settled = written() === last;
      last = written();
      await new Promise((resolve) => setTimeout(resolve, 500));
      return settled;
    },
    what,
    20_000,
  );
}
