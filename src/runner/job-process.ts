import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { Readable } from "node:stream";

/**
 * The shell script a job's command runs under, as `sh -c WRAPPER waypoint-job COMMAND GRACE`, in a
 * process group of its own (the wrapper is its leader):
 * - a watcher, in the same group, reads the wrapper's stdin (a pipe from the runner) until it
 *   closes, then sends SIGTERM to the whole group, waits GRACE seconds and sends SIGKILL. The runner
 *   closes that pipe when the job has ended or is cancelled; the kernel closes it when the runner
 *   dies, even by SIGKILL. So the job's process group never outlives the job or its runner;
 * - the command runs in the foreground with no stdin and the wrapper's stdout and stderr, and its
 *   exit status is the wrapper's.
 * An asynchronous list's stdin is /dev/null unless redirected, hence the copy on fd 3.
 */
const WRAPPER = [
  "exec 3<&0",
  `( trap '' TERM INT HUP; while read -r _; do :; done; kill -TERM 0 2>/dev/null; sleep "$2"; kill -KILL 0 2>/dev/null ) <&3 >/dev/null 2>&1 &`,
  // "--": a command that starts with "-" is a command, not options of sh.
  'sh -c -- "$1" </dev/null 3<&-',
].join("\n");

export interface JobProcessOptions {
  readonly command: string;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Seconds between SIGTERM and SIGKILL of the group when the job is cancelled or ends. */
  readonly graceSeconds: number;
  /** Each chunk of output as the command writes it. */
  readonly onOutput: (stream: "stdout" | "stderr", data: Buffer) => void;
}

/** How a job's command ended: its exit code (128+N for signal N), or why it could not run. */
export interface JobProcessResult {
  readonly exitCode?: number;
  readonly error?: string;
  readonly cancelled: boolean;
}

/** A running job command. */
export interface JobProcess {
  readonly pid: number | undefined;
  /** Resolves once the command ended and its process group is gone or killed, and its output read. */
  readonly result: Promise<JobProcessResult>;
  /** SIGTERM to the group, SIGKILL after the grace period; `result` then says cancelled. */
  cancel(): void;
  /** Stops reading output until `resume` (when the reader cannot keep up). */
  pause(): void;
  resume(): void;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

/** Starts `sh -c COMMAND` in its own process group under the watcher described above. */
export function startJobProcess(opts: JobProcessOptions): JobProcess {
  let cancelled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const child: ChildProcess = spawn(
    "/bin/sh",
    ["-c", WRAPPER, "waypoint-job", opts.command, String(opts.graceSeconds)],
    {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is gone already.
    }
  };
  // A pipe the watcher holds: closing it (or this process dying) ends the group.
  child.stdin!.on("error", () => {});
  const outputs: Readable[] = [child.stdout!, child.stderr!];
  child.stdout!.on("data", (d: Buffer) => opts.onOutput("stdout", d));
  child.stderr!.on("data", (d: Buffer) => opts.onOutput("stderr", d));

  const groupAlive = () => child.pid !== undefined && groupHasLiveMembers(child.pid);
  /** Kills what is left of the group (the watcher, anything the command left) and waits until it is gone. */
  const endGroup = async () => {
    signalGroup("SIGKILL");
    for (let i = 0; i < 100 && groupAlive(); i++) await new Promise((r) => setTimeout(r, 20));
  };

  const result = new Promise<JobProcessResult>((resolve) => {
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let spawnError: Error | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(killTimer);
      if (spawnError) {
        resolve({ error: `could not start /bin/sh: ${spawnError.message}`, cancelled });
        return;
      }
      const code = exited?.code ?? (exited?.signal ? 128 + (SIGNALS[exited.signal] ?? 0) : undefined);
      void endGroup().then(() => resolve({ ...(code === undefined ? {} : { exitCode: code }), cancelled }));
    };
    child.on("error", (err) => {
      spawnError = err;
      finish();
    });
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      // The command is done: the watcher sends SIGTERM to whatever it left in the group.
      child.stdin!.end();
      // Output pipes close when the last process holding them is gone. Whatever still holds them
      // after the grace period (or is left once they close) is killed by endGroup.
      const bound = setTimeout(() => {
        for (const s of outputs) s.destroy();
        finish();
      }, opts.graceSeconds * 1000);
      child.on("close", () => {
        clearTimeout(bound);
        finish();
      });
    });
  });

  return {
    pid: child.pid,
    result,
    cancel: () => {
      if (cancelled) return;
      cancelled = true;
      signalGroup("SIGTERM");
      child.stdin!.end();
      killTimer = setTimeout(() => signalGroup("SIGKILL"), opts.graceSeconds * 1000);
      killTimer.unref();
    },
    pause: () => {
      for (const s of outputs) s.pause();
    },
    resume: () => {
      for (const s of outputs) s.resume();
    },
  };
}

/**
 * Whether process group `pgid` has a member that is not a zombie. Zombies count as gone: their parent
 * may be an init that reaps late, and they run nothing. Reads /proc (Linux); without it, falls back
 * to signal 0, which also sees zombies.
 */
export function groupHasLiveMembers(pgid: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    } catch {
      continue; // It exited while we looked.
    }
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z") return true;
  }
  return false;
}
