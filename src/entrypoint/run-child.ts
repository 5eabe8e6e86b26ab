import { spawn } from "node:child_process";

const FORWARDED = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

/**
 * Runs `argv` as the child process with our stdio, forwards SIGTERM, SIGINT
 * and SIGHUP to it, and resolves with the exit code to exit with: the
 * child's own code, or 128 + signal number when a signal ended it (the shell
 * convention). Failing to start the child (not found, not executable) is
 * exit 127 / 126 with a message, like a shell.
 */
export function runChild(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [file, ...args] = argv;
  if (!file) {
    process.stderr.write("waypoint-entrypoint: usage: waypoint-entrypoint CMD [ARGS…]\n");
    return Promise.resolve(2);
  }
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: "inherit", env });
    const handlers = FORWARDED.map((signal) => {
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
      cleanup();
      process.stderr.write(`waypoint-entrypoint: cannot start ${file}: ${err.message}\n`);
      resolve(err.code === "ENOENT" ? 127 : 126);
    });
    child.on("exit", (code, signal) => {
      cleanup();
      resolve(code ?? 128 + signalNumber(signal));
    });
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return (signal && numbers[signal]) ?? 1;
}
