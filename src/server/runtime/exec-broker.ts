import { randomBytes } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import type { EntrypointExecRequest__Output } from "../../gen/waypoint/v1/EntrypointExecRequest.js";
import type { EntrypointExecResponse } from "../../gen/waypoint/v1/EntrypointExecResponse.js";
import type { ExecRequest__Output } from "../../gen/waypoint/v1/ExecRequest.js";
import type { ExecResponse } from "../../gen/waypoint/v1/ExecResponse.js";
import type { ExecStart } from "../../gen/waypoint/v1/ExecStart.js";
import { AppError } from "../../protocol/errors.js";
import type { ServerLogger } from "../logger.js";
import type { EntrypointHub } from "./entrypoint-hub.js";

export type CliExecCall = grpc.ServerDuplexStream<ExecRequest__Output, ExecResponse>;
export type EntrypointExecCall = grpc.ServerDuplexStream<
  EntrypointExecRequest__Output,
  EntrypointExecResponse
>;

/** How long the entrypoint has to open EntrypointExec after the notice. */
export const EXEC_OPEN_TIMEOUT_MS = 10_000;

interface Pending {
  readonly instance: string;
  readonly deployment: string;
  readonly opened: (call: EntrypointExecCall) => void;
}

/**
 * Pairs a CLI's Exec stream with the EntrypointExec stream the instance opens
 * after an ExecNotice, then relays between them with backpressure on both
 * directions. Neither the arguments nor any output are logged.
 */
export class ExecBroker {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly deps: {
      readonly hub: EntrypointHub;
      readonly logger: ServerLogger;
      readonly openTimeoutMs?: number;
    },
  ) {}

  /**
   * Runs one session for a CLI whose `start` was validated and whose instance resolved. Resolves
   * when the session is over; rejects (before anything was sent to the CLI) when it cannot start.
   */
  async run(cli: CliExecCall, instance: string, start: ExecStart): Promise<void> {
    const conn = this.deps.hub.get(instance);
    if (!conn) throw notConnected(instance);
    const session = randomBytes(16).toString("hex");
    const log = this.deps.logger;
    let cliGone = false;
    const onCliGone = () => {
      cliGone = true;
    };
    cli.once("cancelled", onCliGone);

    const entrypoint = await new Promise<EntrypointExecCall>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.pending.delete(session);
        unwatch();
        cli.off("cancelled", onCancel);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new AppError(
            "INSTANCE_DISCONNECTED",
            `the entrypoint of instance ${instance} did not open the exec session within ${Math.round(this.timeoutMs / 1000)} s`,
            {
              hint: "The instance may be stopping, or its connection to the server failing; check its output, `waypoint instances`, and try again.",
            },
          ),
        );
      }, this.timeoutMs);
      const unwatch = this.deps.hub.onChange((id, connected) => {
        if (id !== instance || connected) return;
        cleanup();
        reject(disconnected());
      });
      const onCancel = () => {
        cleanup();
        reject(new AppError("INTERRUPTED", "the exec client went away before the session opened"));
      };
      cli.once("cancelled", onCancel);
      this.pending.set(session, {
        instance,
        deployment: conn.deployment,
        opened: (call) => {
          cleanup();
          resolve(call);
        },
      });
      if (!this.deps.hub.send(conn, { config: [], exec: { session }, hasConfig: false })) {
        cleanup();
        reject(notConnected(instance));
      }
    });
    cli.off("cancelled", onCliGone);
    if (cliGone || cli.cancelled) {
      if (!entrypoint.writableEnded) entrypoint.end();
      return;
    }
    log.notice(
      { instance, session, args: start.args?.length ?? 0, tty: start.tty === true },
      "exec session started",
    );
    await relay(cli, entrypoint, { instance, session, start }, log);
  }

  /** The entrypoint's side: the first message was `open`; pairs it or refuses. */
  open(call: EntrypointExecCall, open: { instanceId: string; session: string }, deployment: string): void {
    const p = this.pending.get(open.session);
    if (!p) {
      throw new AppError("NOT_FOUND", "no exec session is waiting under this session id", {
        hint: "The session may have timed out or the user cancelled it; nothing to do.",
      });
    }
    if (p.deployment !== deployment || p.instance !== open.instanceId) {
      throw new AppError(
        "PERMISSION_DENIED",
        `this exec session is for another instance than ${JSON.stringify(open.instanceId)} of deployment ${JSON.stringify(deployment)}`,
      );
    }
    p.opened(call);
  }

  private get timeoutMs(): number {
    return this.deps.openTimeoutMs ?? EXEC_OPEN_TIMEOUT_MS;
  }
}

function notConnected(instance: string): AppError {
  return new AppError("INSTANCE_NOT_CONNECTED", `instance ${instance} is not connected to the server`);
}

function disconnected(): AppError {
  return new AppError("INSTANCE_DISCONNECTED", "the instance disconnected during the exec session");
}

/** Relays until the exit code, an error or either side going away. */
function relay(
  cli: CliExecCall,
  ep: EntrypointExecCall,
  s: { instance: string; session: string; start: ExecStart },
  log: ServerLogger,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let finished = false;
    let stdinEofSent = false;
    const finish = (outcome: { exitCode: number } | { error: AppError } | { cliGone: true }) => {
      if (finished) return;
      finished = true;
      cli.off("data", fromCli);
      ep.off("data", fromEp);
      if ("exitCode" in outcome) {
        log.notice(
          { instance: s.instance, session: s.session, exitCode: outcome.exitCode },
          "exec session ended",
        );
        if (!ep.writableEnded) ep.end();
        cli.write({ exitCode: outcome.exitCode });
        cli.end();
        resolve();
      } else if ("error" in outcome) {
        log.notice(
          {
            instance: s.instance,
            session: s.session,
            code: outcome.error.code,
            reason: outcome.error.message,
          },
          "exec session failed",
        );
        if (!ep.writableEnded && !ep.cancelled) ep.end();
        reject(outcome.error);
      } else {
        log.notice({ instance: s.instance, session: s.session }, "exec session ended: the client went away");
        // Ending the entrypoint's stream tells it to stop the command.
        if (!ep.writableEnded && !ep.cancelled) ep.end();
        resolve();
      }
    };

    const toEp = (m: EntrypointExecResponse) => {
      if (finished || ep.writableEnded || ep.cancelled) return;
      if (!ep.write(m)) {
        cli.pause();
        ep.once("drain", () => cli.resume());
      }
    };
    const toCli = (m: ExecResponse) => {
      if (finished || cli.writableEnded || cli.cancelled) return;
      if (!cli.write(m)) {
        ep.pause();
        cli.once("drain", () => ep.resume());
      }
    };
    const fromCli = (m: ExecRequest__Output) => {
      if (m.request === "stdin" && m.stdin) toEp({ stdin: m.stdin });
      else if (m.request === "stdinEof") {
        stdinEofSent = true;
        toEp({ stdinEof: true });
      } else if (m.request === "window" && m.window) toEp({ window: m.window });
      else if (m.request === "start")
        finish({ error: new AppError("INVALID_ARGUMENT", "start may be sent only once") });
    };
    const fromEp = (m: EntrypointExecRequest__Output) => {
      if (m.request === "stdout" && m.stdout) toCli({ stdout: m.stdout });
      else if (m.request === "stderr" && m.stderr) toCli({ stderr: m.stderr });
      else if (m.request === "exitCode") finish({ exitCode: m.exitCode ?? 0 });
      else if (m.request === "error")
        finish({
          error: new AppError(
            "EXEC_FAILED",
            `the command could not run in instance ${s.instance}: ${m.error ?? ""}`,
          ),
        });
    };

    cli.on("data", fromCli);
    // A CLI that half-closes has no more stdin.
    cli.on("end", () => {
      if (!stdinEofSent && !finished) {
        stdinEofSent = true;
        toEp({ stdinEof: true });
      }
    });
    cli.on("cancelled", () => finish({ cliGone: true }));
    cli.on("error", () => finish({ cliGone: true }));
    ep.on("data", fromEp);
    const epGone = () => finish({ error: disconnected() });
    ep.on("cancelled", epGone);
    ep.on("error", epGone);
    ep.on("end", epGone);
    ep.on("close", epGone);

    ep.write({ start: s.start });
    cli.write({ started: { instance: s.instance, session: s.session } });
    // Both were paused after their first message (see firstMessage); what came since was buffered.
    cli.resume();
    ep.resume();
  });
}
