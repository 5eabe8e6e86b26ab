import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { Connection } from "../client/connection.js";
import {
  type ContextConfig,
  contextsDir,
  deleteContext,
  loadContext,
  saveContext,
} from "../client/contexts.js";
import { READ_WINDOW_BYTES } from "../client/grpc-call.js";
import { clientIdentity, installationId } from "../client/identity.js";
import type { ConnectionSettings } from "../client/settings.js";
import type { Catalog } from "../protocol/catalog.js";
import { AppError } from "../protocol/errors.js";
import type { EmbeddedServer } from "../server/main.js";
import { SERVER_DEFAULTS } from "../server/offline.js";
import type { Command, Io } from "./command.js";
import { connectionSettings, versionInfoFrom } from "./common-flags.js";
import { PLANNING_FLAGS, planningCatalog } from "./plan-input.js";

/** The context the console saves for its embedded server. */
const EMBEDDED_CONTEXT = "embedded";

export const ui: Command = {
  name: "ui",
  summary: "The operations console (needs a terminal)",
  help: `An interactive console on the server: what talks to it and with which versions, and what needs attention.
Screens: Overview, Versions, Plan (pick a target, follow each step, export it), Snapshots (take, verify,
stage or restore live, in -snapshot-dir) and Runtime. Keys: ? help (each screen's keys), q quit, tab or 1-5
screens, j/k move, enter open, / filter, esc back, r refresh. Destructive actions ask for confirmation.
It connects like every command (flags, WAYPOINT_SERVER_ADDR, the current context). With none of those it
starts an embedded server in its own process on $XDG_DATA_HOME/waypoint/data.db (default
~/.local/share/waypoint/), logging to server.log beside it, and saves the context "embedded" (made current)
so other commands reach that server while the console runs; the next \`waypoint ui\` starts it again. For
scripts and pipes use \`waypoint versions\` and \`waypoint upgrade plan\`, which print the same facts.`,
  flags: [
    {
      name: "snapshot-dir",
      type: "string",
      usage:
        "where the Snapshots screen lists and takes snapshots, and plans are exported (default: . ; with the embedded server, snapshots/ beside its data)",
      placeholder: "DIR",
    },
    ...PLANNING_FLAGS,
  ],
  async run(flags, io) {
    if (!io.stdout.isTTY || !io.stdin.isTTY)
      throw new AppError("USAGE", "the console needs a terminal on stdin and stdout", {
        hint: "For scripts and pipes use `waypoint versions [-json]` and `waypoint upgrade plan`.",
      });
    const info = versionInfoFrom(flags, io);
    const catalog = planningCatalog(flags, io);
    const identity = clientIdentity("ui", installationId(contextsDir(io.env)), info);
    let settings = connectionSettings(flags, io);
    let embedded: EmbeddedServer | undefined;
    const contexts = contextsDir(io.env);
    // A context of that name that the console did not save (another address) is the user's: it is used
    // like any context, never replaced or removed.
    const existing = contextNamed(contexts, EMBEDDED_CONTEXT);
    const ours = existing === undefined || existing.address === SERVER_DEFAULTS.listenGrpc;
    if (
      settings.source === "default" ||
      (settings.source === `context ${EMBEDDED_CONTEXT}` && ours && !(await answers(settings, identity)))
    ) {
      // Loaded only here: the server (SQLite, grpc-js's server side) is not needed to reach one.
      const { startEmbeddedServer } = await import("../server/main.js");
      embedded = await startEmbeddedServer({
        dataDir: dataDir(io.env),
        ...(settings.token && settings.source !== "default" ? { token: settings.token } : {}),
        versionInfo: info,
      });
    }
    // From here on the embedded server, if any, runs: every way out goes through close(), which closes it
    // (inventory flushed, WAL checkpointed, database closed) and removes the context saved for it, so other
    // commands do not go on naming a server that is gone.
    let conn: Connection | undefined;
    let saved: ContextConfig | undefined;
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        conn?.close();
        await embedded?.server.close();
        // Only the context as this console wrote it: one replaced meanwhile is someone else's now.
        const now = saved && contextNamed(contexts, EMBEDDED_CONTEXT);
        if (saved && now && now.createdAt === saved.createdAt && now.token === saved.token) {
          try {
            deleteContext(contexts, EMBEDDED_CONTEXT);
          } catch {
            // Removed meanwhile: nothing of ours to clean up.
          }
        }
      })();
      return closing;
    };
    try {
      if (embedded) {
        if (embedded.onDefaultPorts && ours) {
          saved = {
            name: EMBEDDED_CONTEXT,
            address: embedded.address,
            token: embedded.token,
            tls: false,
            tlsSkipVerify: false,
            createdAt: new Date().toISOString(),
          };
          saveContext(contexts, saved, { force: true, setDefault: settings.source === "default" });
        }
        settings = {
          address: embedded.address,
          token: embedded.token,
          tls: false,
          tlsSkipVerify: false,
          source: "embedded",
        };
      }
      // The console reads every stream as it comes: it takes the large window of the CLI's reads.
      conn = new Connection(settings, identity, {
        channel: { "grpc-node.flow_control_window": READ_WINDOW_BYTES },
      });
      const note = embedded
        ? `embedded server, stops when you quit · ${
            saved
              ? `context "${EMBEDDED_CONTEXT}" reaches it`
              : embedded.onDefaultPorts
                ? `your context "${EMBEDDED_CONTEXT}" is left as it is`
                : "default ports taken: no context saved"
          } · data: ${embedded.dbPath}`
        : undefined;
      await runConsole(io, conn, {
        ...(note ? { note } : {}),
        catalog,
        snapshotDir: flags.string("snapshot-dir") || (embedded ? embeddedSnapshots(embedded.dbPath) : "."),
        cleanup: close,
      });
      return 0;
    } finally {
      await close();
    }
  },
};

/** `snapshots/` beside an embedded server's data (mode 0700): its snapshots stay with its data. */
function embeddedSnapshots(dbPath: string): string {
  const dir = join(dirname(dbPath), "snapshots");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** The context `name`, or undefined when there is none (or it cannot be read). */
function contextNamed(dir: string, name: string): ContextConfig | undefined {
  try {
    return loadContext(dir, name);
  } catch {
    return undefined;
  }
}

/** `$XDG_DATA_HOME/waypoint`, or `~/.local/share/waypoint` when it is unset or relative. */
function dataDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_DATA_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), ".local", "share"), "waypoint");
}

/** Whether a server answers at `settings` (its version, asked without a token). */
async function answers(
  settings: ConnectionSettings,
  identity: ConstructorParameters<typeof Connection>[1],
): Promise<boolean> {
  const probe = new Connection(settings, identity);
  try {
    await probe.versionInfo();
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}

export interface ConsoleOptions {
  /** Shown under the address (an embedded server, a simulated fleet). */
  readonly note?: string;
  /** The catalog plans are made from, and where it was read. */
  readonly catalog: { readonly catalog: Catalog; readonly path: string };
  /** Where snapshots are listed and taken, and plans exported; default: the working directory. */
  readonly snapshotDir?: string;
  /** Runs after the console closed and before the signal handlers go (closing an embedded server). */
  readonly cleanup?: () => Promise<void>;
}

/**
 * Runs the console on `conn` until the user quits or a signal arrives. Signals (SIGTERM, SIGHUP when the
 * terminal closes, SIGINT from outside) leave like `q`; a second one exits at once, also while `cleanup`
 * runs.
 */
export async function runConsole(io: Io, conn: Connection, opts: ConsoleOptions): Promise<void> {
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  let signalled = false;
  let unmount: (() => void) | undefined;
  const onSignal = () => {
    if (signalled) process.exit(130);
    signalled = true;
    unmount?.();
  };
  for (const sig of signals) process.on(sig, onSignal);
  try {
    // NO_COLOR (no-color.org): Ink's colours come from chalk, which reads FORCE_COLOR, not NO_COLOR, when
    // it is loaded — just below. The selected row keeps its "›" marker.
    if (io.env.NO_COLOR) process.env.FORCE_COLOR = "0";
    // Loaded here, not with the CLI: Ink, React and the layout engine cost every other command's start.
    const [{ render }, { createElement }, { App }, { consoleDesk }] = await Promise.all([
      import("ink"),
      import("react"),
      import("../tui/app.js"),
      import("./console-desk.js"),
    ]);
    const app = render(
      createElement(App, {
        client: conn,
        desk: consoleDesk(conn, opts.snapshotDir ?? ".", io),
        catalog: opts.catalog.catalog,
        catalogPath: opts.catalog.path,
        ...(opts.note ? { note: opts.note } : {}),
      }),
      {
        stdout: io.stdout as NodeJS.WriteStream,
        stdin: io.stdin as NodeJS.ReadStream,
        exitOnCtrlC: false,
        patchConsole: true,
      },
    );
    unmount = () => app.unmount();
    if (signalled) app.unmount();
    await app.waitUntilExit();
  } finally {
    try {
      await opts.cleanup?.();
    } finally {
      for (const sig of signals) process.off(sig, onSignal);
    }
  }
}
