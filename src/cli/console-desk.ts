import { resolve } from "node:path";
import type { Connection } from "../client/connection.js";
import type { SnapshotDesk } from "../tui/snapshot-desk.js";
import type { Io } from "./command.js";

/**
 * The console's desk (src/tui/snapshot-desk.ts), its code loaded on first use: it brings the snapshot
 * writer, verifier and their share of the server's code, which the console's first frame does not need.
 */
export function consoleDesk(conn: Connection, dir: string, io: Io): SnapshotDesk {
  let loaded: Promise<SnapshotDesk> | undefined;
  let ready: SnapshotDesk | undefined;
  let aborted = false;
  const desk = () => {
    loaded ??= import("./console-desk-files.js").then((m) => {
      ready = m.filesDesk(conn, dir, io);
      return ready;
    });
    // The console closed while the code loaded: nothing starts after that.
    return loaded.then((d) => {
      if (aborted) throw new Error("the console closed");
      return d;
    });
  };
  return {
    dir: resolve(dir),
    list: async () => (await desk()).list(),
    take: async (onProgress) => (await desk()).take(onProgress),
    verify: async (name, onProgress) => (await desk()).verify(name, onProgress),
    restore: async (name, mode, onProgress) => (await desk()).restore(name, mode, onProgress),
    exportPlan: async (name, text) => (await desk()).exportPlan(name, text),
    abortAll: () => {
      aborted = true;
      ready?.abortAll();
    },
  };
}
