import type { EntrypointConfigRequest } from "../gen/waypoint/v1/EntrypointConfigRequest.js";
import type { EntrypointConfigResponse__Output } from "../gen/waypoint/v1/EntrypointConfigResponse.js";
import type { EntrypointExecRequest } from "../gen/waypoint/v1/EntrypointExecRequest.js";
import type { EntrypointExecResponse__Output } from "../gen/waypoint/v1/EntrypointExecResponse.js";
import type { EntrypointLogBatch } from "../gen/waypoint/v1/EntrypointLogBatch.js";
import type { EntrypointTunnelRequest } from "../gen/waypoint/v1/EntrypointTunnelRequest.js";
import type { EntrypointTunnelResponse__Output } from "../gen/waypoint/v1/EntrypointTunnelResponse.js";
import type { ExecStart__Output } from "../gen/waypoint/v1/ExecStart.js";
import type { TunnelRequestHead__Output } from "../gen/waypoint/v1/TunnelRequestHead.js";
import type { WindowSize__Output } from "../gen/waypoint/v1/WindowSize.js";
import { ProtoReader, ProtoWriter, WireError } from "./protobuf.js";

/**
 * The Entrypoint service's messages (proto/waypoint/v1/waypoint.proto) in
 * and out of the wire format, in the shapes of the generated types, so the
 * entrypoint's code reads the same as with grpc-js. A conformance test
 * checks every message against protobufjs reading the .proto.
 */

const EMPTY = Buffer.alloc(0);

function toBytes(v: Buffer | Uint8Array | string | undefined): Uint8Array {
  if (v === undefined) return EMPTY;
  return typeof v === "string" ? Buffer.from(v, "base64") : v;
}

function toCount(v: number | string | { toString(): string } | undefined): number {
  if (v === undefined) return 0;
  return typeof v === "number" ? v : Number(v.toString());
}

export function encodeConfigRequest(m: EntrypointConfigRequest): Buffer {
  return new ProtoWriter()
    .string(1, m.instanceId ?? "")
    .string(2, m.deploymentId ?? "")
    .string(3, m.hostname ?? "")
    .int32(4, m.pid ?? 0)
    .string(5, m.startedAt ?? "")
    .bool(6, m.execDisabled ?? false)
    .finish();
}

export function encodeLogBatch(m: EntrypointLogBatch): Buffer {
  const chunks = m.chunks ?? [];
  let size = 32 + (m.instanceId?.length ?? 0) * 3;
  for (const c of chunks) size += toBytes(c.data).length + 64;
  const w = new ProtoWriter(size).string(1, m.instanceId ?? "");
  for (const c of chunks) {
    const data = toBytes(c.data);
    w.message(
      2,
      (cw) =>
        cw
          .string(1, c.source ?? "")
          .bytes(2, data)
          .string(3, c.at ?? ""),
      data.length + 64,
    );
  }
  return w
    .uint(3, toCount(m.droppedLines))
    .uint(4, m.stream ?? 0)
    .finish();
}

/** The oneof member to send: the one `request` names, else the first that is set, as protobufjs picks it. */
function oneofMember<K extends string>(
  request: K | undefined,
  members: readonly (readonly [K, boolean])[],
): K | undefined {
  return request ?? members.find(([, set]) => set)?.[0];
}

/** The `open` message both the exec and the tunnel call start with (field 1: instance id, session). */
function writeOpen(w: ProtoWriter, open: { instanceId?: string; session?: string } | null | undefined): void {
  w.message(1, (o) => o.string(1, open?.instanceId ?? "").string(2, open?.session ?? ""));
}

export function encodeExecRequest(m: EntrypointExecRequest): Buffer {
  const w = new ProtoWriter(64 + toBytes(m.stdout).length + toBytes(m.stderr).length);
  const which = oneofMember(m.request, [
    ["open", Boolean(m.open)],
    ["stdout", m.stdout !== undefined],
    ["stderr", m.stderr !== undefined],
    ["exitCode", m.exitCode !== undefined],
    ["error", m.error !== undefined],
  ]);
  switch (which) {
    case "open":
      writeOpen(w, m.open);
      break;
    case "stdout":
      w.bytes(2, toBytes(m.stdout), true);
      break;
    case "stderr":
      w.bytes(3, toBytes(m.stderr), true);
      break;
    case "exitCode":
      w.int32(4, m.exitCode ?? 0, true);
      break;
    case "error":
      w.string(5, m.error ?? "", true);
      break;
  }
  return w.finish();
}

/** Reads every field of a message, handing known ones to `field` (which returns false for unknown ones). */
function read(buf: Buffer, field: (r: ProtoReader, n: number, wire: number) => boolean): void {
  const r = new ProtoReader(buf);
  while (!r.done) {
    const { field: n, wire } = r.next();
    if (!field(r, n, wire)) r.skip(wire);
  }
}

export function decodeConfigResponse(buf: Buffer): EntrypointConfigResponse__Output {
  const out: EntrypointConfigResponse__Output = {
    config: [],
    exec: null,
    hasConfig: false,
    tunnel: null,
    pacesLogs: false,
    logCredit: null,
  };
  read(buf, (r, n, wire) => {
    if (n === 1) {
      // The server never sets `secret` on the config stream (the app gets every value alike); read as
      // protobufjs would, all the same.
      const v = { name: "", value: "", secret: false };
      read(r.bytes(wire), (vr, vn, vw) => {
        if (vn === 1) v.name = vr.string(vw);
        else if (vn === 2) v.value = vr.string(vw);
        else if (vn === 3) v.secret = vr.bool(vw);
        else return false;
        return true;
      });
      out.config.push(v);
    } else if (n === 2) {
      const exec = { session: "" };
      read(r.bytes(wire), (er, en, ew) => {
        if (en !== 1) return false;
        exec.session = er.string(ew);
        return true;
      });
      out.exec = exec;
    } else if (n === 3) out.hasConfig = r.bool(wire);
    else if (n === 4) {
      const tunnel = { session: "", cancel: false };
      read(r.bytes(wire), (tr, tn, tw) => {
        if (tn === 1) tunnel.session = tr.string(tw);
        else if (tn === 2) tunnel.cancel = tr.bool(tw);
        else return false;
        return true;
      });
      out.tunnel = tunnel;
    } else if (n === 5) out.pacesLogs = r.bool(wire);
    else if (n === 6) {
      const credit = { stream: 0, limit: 0 };
      read(r.bytes(wire), (cr, cn, cw) => {
        if (cn === 1) credit.stream = cr.uint(cw);
        else if (cn === 2) credit.limit = cr.uint(cw);
        else return false;
        return true;
      });
      out.logCredit = credit;
    } else return false;
    return true;
  });
  return out;
}

export function encodeTunnelRequest(m: EntrypointTunnelRequest): Buffer {
  const body = toBytes(m.body);
  const w = new ProtoWriter(64 + body.length);
  const which = oneofMember(m.request, [
    ["open", Boolean(m.open)],
    ["head", Boolean(m.head)],
    ["body", m.body !== undefined],
    ["end", m.end !== undefined],
    ["error", m.error !== undefined],
  ]);
  switch (which) {
    case "open":
      writeOpen(w, m.open);
      break;
    case "head":
      w.message(2, (h) => {
        h.uint(1, m.head?.status ?? 0);
        for (const x of m.head?.headers ?? [])
          h.message(2, (hw) => hw.string(1, x.name ?? "").string(2, x.value ?? ""));
      });
      break;
    case "body":
      w.bytes(3, body, true);
      break;
    case "end":
      w.bool(4, m.end ?? false, true);
      break;
    case "error":
      w.string(5, m.error ?? "", true);
      break;
  }
  return w.finish();
}

function decodeRequestHead(buf: Buffer): TunnelRequestHead__Output {
  const h: TunnelRequestHead__Output = { method: "", path: "", headers: [], upgrade: false };
  read(buf, (r, n, wire) => {
    if (n === 1) h.method = r.string(wire);
    else if (n === 2) h.path = r.string(wire);
    else if (n === 3) {
      const x = { name: "", value: "" };
      read(r.bytes(wire), (xr, xn, xw) => {
        if (xn === 1) x.name = xr.string(xw);
        else if (xn === 2) x.value = xr.string(xw);
        else return false;
        return true;
      });
      h.headers.push(x);
    } else if (n === 4) h.upgrade = r.bool(wire);
    else return false;
    return true;
  });
  return h;
}

/** The last member of the oneof on the wire wins. */
export function decodeTunnelResponse(buf: Buffer): EntrypointTunnelResponse__Output {
  let out: EntrypointTunnelResponse__Output = {};
  read(buf, (r, n, wire) => {
    if (n === 1) out = { head: decodeRequestHead(r.bytes(wire)), response: "head" };
    else if (n === 2) out = { body: Buffer.from(r.bytes(wire)), response: "body" };
    else if (n === 3) out = { end: r.bool(wire), response: "end" };
    else return false;
    return true;
  });
  return out;
}

function decodeExecStart(buf: Buffer): ExecStart__Output {
  const s: ExecStart__Output = { instance: "", app: "", args: [], tty: false, rows: 0, cols: 0, term: "" };
  read(buf, (r, n, wire) => {
    if (n === 1) s.instance = r.string(wire);
    else if (n === 2) s.app = r.string(wire);
    else if (n === 3) s.args.push(r.string(wire));
    else if (n === 4) s.tty = r.bool(wire);
    else if (n === 5) s.rows = r.uint(wire) >>> 0;
    else if (n === 6) s.cols = r.uint(wire) >>> 0;
    else if (n === 7) s.term = r.string(wire);
    else return false;
    return true;
  });
  return s;
}

function decodeWindow(buf: Buffer): WindowSize__Output {
  const s: WindowSize__Output = { rows: 0, cols: 0 };
  read(buf, (r, n, wire) => {
    if (n === 1) s.rows = r.uint(wire) >>> 0;
    else if (n === 2) s.cols = r.uint(wire) >>> 0;
    else return false;
    return true;
  });
  return s;
}

/** The last member of the oneof on the wire wins, as in every protobuf implementation. */
export function decodeExecResponse(buf: Buffer): EntrypointExecResponse__Output {
  let out: EntrypointExecResponse__Output = {};
  read(buf, (r, n, wire) => {
    if (n === 1) out = { start: decodeExecStart(r.bytes(wire)), response: "start" };
    else if (n === 2) out = { stdin: Buffer.from(r.bytes(wire)), response: "stdin" };
    else if (n === 3) out = { stdinEof: r.bool(wire), response: "stdinEof" };
    else if (n === 4) out = { window: decodeWindow(r.bytes(wire)), response: "window" };
    else return false;
    return true;
  });
  return out;
}

/** EntrypointLogsResponse has no fields; it is still read, so a damaged answer is noticed. */
export function decodeLogsResponse(buf: Buffer): Record<string, never> {
  read(buf, () => false);
  return {};
}

export { WireError };
