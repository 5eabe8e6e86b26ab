import { AppError } from "../protocol/errors.js";
import { negotiate } from "../protocol/negotiate.js";
import { formatRange, PROTOCOL_FAMILIES } from "../protocol/range.js";
import { formatVersion, type VersionInfo } from "../protocol/version-info.js";
import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";

/** JSON of `waypoint version -json` (stable). */
interface VersionJson {
  client: VersionInfo;
  server: VersionInfo | null;
  /** Per family: the agreed protocol number, or null when there is no server or no agreement. */
  negotiated: { api: number | null; entrypoint: number | null };
  /** Why a family did not agree, or why the server could not be asked. */
  problems: string[];
}

export const version: Command = {
  name: "version",
  summary: "Show this build's version, the server's, and the negotiated protocols",
  flags: [{ name: "json", type: "boolean", usage: "print JSON" }, ...CONNECTION_FLAGS, ...EMULATION_FLAGS],
  async run(flags, io) {
    const conn = connect(flags, io);
    const c = conn.identity;
    const out: VersionJson = {
      client: { version: c.version, api: c.api, entrypoint: c.entrypoint, emulated: c.emulated },
      server: null,
      negotiated: { api: null, entrypoint: null },
      problems: [],
    };
    let exit = 0;
    const hints: string[] = [];
    try {
      out.server = await conn.versionInfo();
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      out.problems.push(err.message);
      hints.push(err.hint);
      exit = err.exitCode;
    } finally {
      conn.close();
    }
    if (out.server) {
      for (const family of PROTOCOL_FAMILIES) {
        const n = negotiate(
          family,
          { range: out.client[family], version: out.client.version, label: "client" },
          { range: out.server[family], version: out.server.version, label: "server" },
        );
        if (n.ok) out.negotiated[family] = n.agreed;
        else if (family === "api") {
          // The CLI speaks only the api family; an entrypoint mismatch concerns entrypoints, not this client.
          out.problems.push(n.error.message);
          hints.push(n.error.hint);
          exit = n.error.exitCode;
        }
      }
    }
    if (flags.bool("json")) {
      writeLine(io.stdout, JSON.stringify(out, null, 2));
      return exit;
    }
    const line = (label: string, v: VersionInfo) =>
      `${label} ${formatVersion(v)}  (api ${formatRange(v.api)}, entrypoint ${formatRange(v.entrypoint)})`;
    writeLine(io.stdout, line("Client:", out.client));
    if (out.server) {
      writeLine(io.stdout, line("Server:", out.server));
      const neg = (n: number | null) => (n === null ? "none" : String(n));
      writeLine(
        io.stdout,
        `Negotiated: api ${neg(out.negotiated.api)}, entrypoint ${neg(out.negotiated.entrypoint)}`,
      );
    } else {
      writeLine(io.stdout, "Server: unknown");
    }
    out.problems.forEach((p, i) => {
      writeLine(io.stderr, `Error: ${p}`);
      if (hints[i]) writeLine(io.stderr, `Hint: ${hints[i]}`);
    });
    return exit;
  },
};
