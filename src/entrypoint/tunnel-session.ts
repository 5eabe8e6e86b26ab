import { type ClientRequest, request } from "node:http";
import type { EntrypointConnection, TunnelStream } from "../client/entrypoint-connection.js";
import type { EntrypointTunnelResponse__Output } from "../gen/waypoint/v1/EntrypointTunnelResponse.js";
import type { EntrypointLogger } from "./logger.js";

/** How long the app has to send its response head (the server's own limit is longer). */
export const APP_RESPONSE_TIMEOUT_MS = 55_000;

export interface TunnelContext {
  readonly conn: EntrypointConnection;
  readonly instanceId: string;
  readonly session: string;
  /** The app's port on 127.0.0.1 ($PORT). */
  readonly port: number;
  readonly logger: EntrypointLogger;
}

/**
 * One request from the URL service: opens EntrypointTunnel, sends `open`, takes the request head
 * and body from the server and makes the request to the app on 127.0.0.1:$PORT over the loopback
 * interface, then sends the response head, body and end back. The entrypoint opens no listener: the
 * tunnel is a call on its own outbound connection. Backpressure both ways.
 */
export function runTunnelSession(c: TunnelContext): void {
  let app: ClientRequest | undefined;
  let finished = false;
  const log = c.logger.child({ session: c.session });

  const finish = (last: { end: true } | { error: string }) => {
    if (finished) return;
    finished = true;
    stream.write(last);
    stream.end();
  };

  const onMessage = (m: EntrypointTunnelResponse__Output) => {
    if (m.response === "head" && m.head && !app) {
      const headers: [string, string][] = m.head.headers.map((h) => [h.name, h.value]);
      app = request({
        host: "127.0.0.1",
        port: c.port,
        method: m.head.method,
        path: m.head.path,
        headers: headers.flat(),
        timeout: APP_RESPONSE_TIMEOUT_MS,
      });
      app.on("response", (res) => {
        const out: { name: string; value: string }[] = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
          out.push({ name: res.rawHeaders[i]!, value: res.rawHeaders[i + 1]! });
        stream.write({ head: { status: res.statusCode ?? 502, headers: out } });
        res.on("data", (chunk: Buffer) => {
          if (!finished && !stream.write({ body: chunk })) {
            res.pause();
            waiting = res;
          }
        });
        res.on("end", () => finish({ end: true }));
        res.on("error", () => finish({ error: "the app's response broke off" }));
      });
      app.on("timeout", () => {
        app?.destroy();
        finish({ error: "timeout" });
      });
      app.on("error", (err: NodeJS.ErrnoException) => {
        finish({ error: err.code === "ECONNREFUSED" ? "refused" : (err.code ?? err.message) });
      });
    } else if (m.response === "body" && m.body && app) {
      // Still to do: pause the call's incoming side while the app's socket is full.
      app.write(m.body);
    } else if (m.response === "end" && app) {
      app.end();
    }
  };
  let waiting: { resume(): void } | undefined;
  const stream: TunnelStream = c.conn.tunnel(
    onMessage,
    () => {
      waiting?.resume();
      waiting = undefined;
    },
    (err) => {
      if (!finished) {
        finished = true;
        if (err) log.warn({ err: err.message }, "tunnel ended by the server");
        app?.destroy();
      }
    },
  );
  stream.write({ open: { instanceId: c.instanceId, session: c.session } });
}
