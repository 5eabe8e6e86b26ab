import { spawn } from "node:child_process";
import { exitCodeOf, startFailureCode } from "./child.js";
import { FORWARDED_SIGNALS } from "./signals.js";

/**
 * The entrypoint without a server (no WAYPOINT_SERVER_ADDR, or
 * WAYPOINT_CEB_DISABLE): runs `argv` with our stdio, forwards the signals in
 * FORWARDED_SIGNALS, and resolves with the exit code to exit with: the
 * child's own code, or 128 + signal number when a signal ended it (the shell
 * convention). Failing to start the child (not found, not executable) is
 * exit 127 / 126 with a message, like a shell. No network, no grpc loaded.
 */
export function runChild(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [file, ...args] = argv;
  if (!file) {
    process.stderr.write("waypoint-entrypoint: usage: waypoint-entrypoint CMD [ARGS…]\n");
    return Promise.resolve(2);
  }
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: "inherit", env });
    const handlers = FORWARDED_SIGNALS.map((signal) => {
      const h = () => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      };
      process.on(signal, h);
      return [signal, h] as const;
    });
    const cleanup = () => {
      for (const [signal, h] of handlers) process.off(signal, h);
    };
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return;
      cleanup();
      process.stderr.write(`waypoint-entrypoint: cannot start ${file}: ${err.message}\n`);
      resolve(startFailureCode(err));
    });
    child.on("exit", (code, signal) => {
      cleanup();
      resolve(exitCodeOf(code, signal));
    });
  });
}
