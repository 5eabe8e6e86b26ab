import { constants } from "node:os";
import { AppChild, type ChildOutput } from "./child.js";
import type { EntrypointLogger } from "./logger.js";

/** The app's configuration: variable name → value. */
export type AppConfig = ReadonlyMap<string, string>;

/** A comparable form of a configuration; no configuration and an empty one are the same. */
export function configKey(config: AppConfig | undefined): string {
  if (!config || config.size === 0) return "[]";
  return JSON.stringify([...config].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The port the app listens on when neither the environment nor the configuration sets PORT. */
export const DEFAULT_APP_PORT = "5000";

/**
 * The child's environment: the entrypoint's own (minus its private variables), then the configuration;
 * PORT is set to DEFAULT_APP_PORT when neither gives it, so the app listens where the URL service
 * reaches it.
 */
export function appEnv(base: NodeJS.ProcessEnv, config: AppConfig | undefined): NodeJS.ProcessEnv {
  const env = { ...base };
  if (config) for (const [name, value] of config) env[name] = value;
  if (!env.PORT) env.PORT = DEFAULT_APP_PORT;
  return env;
}

export interface SupervisorOptions {
  readonly argv: readonly string[];
  /** The environment without the entrypoint's private variables. */
  readonly baseEnv: NodeJS.ProcessEnv;
  readonly graceMs: number;
  readonly quietMs: number;
  readonly output: ChildOutput;
  readonly logger: EntrypointLogger;
  /** Called after each child ends (its pipes drained), before a restart spawns the next one. */
  readonly onChildEnd?: () => void;
}

/**
 * Runs the app and restarts it when its configuration changes.
 *
 * Lifecycle: `start(config)` spawns the first child; `configure(config)`
 * records the latest configuration and, once changes stop for `quietMs`,
 * restarts the child if the configuration differs from the one it runs with
 * (SIGTERM, `graceMs`, then SIGKILL to its process group; leftovers of the
 * group are killed too). A change that arrives during a restart leads to one
 * more restart, with the latest configuration. `done` resolves with the exit
 * code of the entrypoint: that of a child that ended on its own, or that ended
 * after a forwarded signal (a signal during a restart stops everything).
 */
export class Supervisor {
  readonly done: Promise<number>;
  private finish!: (code: number) => void;
  private child: AppChild | undefined;
  private latest: AppConfig | undefined;
  private runningKey = "";
  private quietTimer: NodeJS.Timeout | undefined;
  private restarting = false;
  private stopping = false;
  private finished = false;

  constructor(private readonly o: SupervisorOptions) {
    this.done = new Promise((resolve) => {
      this.finish = (code) => {
        if (this.finished) return;
        this.finished = true;
        if (this.quietTimer) clearTimeout(this.quietTimer);
        resolve(code);
      };
    });
  }

  get started(): boolean {
    return this.child !== undefined;
  }

  /** The configuration an exec session runs with: the latest one known. */
  get config(): AppConfig | undefined {
    return this.latest;
  }

  get childPid(): number | undefined {
    return this.child?.pid;
  }

  start(config: AppConfig | undefined): void {
    if (this.child || this.finished) return;
    if (config) this.latest = config;
    this.spawn();
  }

  configure(config: AppConfig): void {
    this.latest = config;
    if (!this.child || this.stopping) return;
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => {
      this.quietTimer = undefined;
      void this.restartIfChanged();
    }, this.o.quietMs);
  }

  /**
   * A signal for the app. Before the child exists the entrypoint just ends
   * (128 + signal). During a restart it stops everything: no new child starts.
   */
  signal(signal: NodeJS.Signals): void {
    if (!this.child) {
      this.finish(128 + (constants.signals[signal] ?? 0));
      return;
    }
    if (this.restarting) {
      this.stopping = true;
      if (this.quietTimer) clearTimeout(this.quietTimer);
    }
    this.child.signal(signal);
  }

  private spawn(config: AppConfig | undefined = this.latest): void {
    const env = appEnv(this.o.baseEnv, config);
    this.runningKey = configKey(config);
    const child = new AppChild(this.o.argv, env, this.o.output, (err) => {
      this.o.logger.error({ err: err.message, command: this.o.argv[0] }, "cannot start the app");
      process.stderr.write(`waypoint-entrypoint: cannot start ${this.o.argv[0]}: ${err.message}\n`);
    });
    this.child = child;
    this.o.logger.info({ childPid: child.pid, configVars: config?.size ?? 0 }, "app started");
    void child.exited.then((code) => {
      this.o.onChildEnd?.();
      // During a restart the old child's exit is expected; restartIfChanged carries on.
      if (this.restarting && !this.stopping) return;
      this.o.logger.info({ code }, "app exited");
      this.finish(code);
    });
  }

  private async restartIfChanged(): Promise<void> {
    if (this.restarting || this.stopping || this.finished) return;
    if (configKey(this.latest) === this.runningKey) return;
    const old = this.child;
    // A child that ended on its own ends the entrypoint; it is not restarted.
    if (!old?.running) return;
    // The restart applies the configuration it was started for; a change that arrives meanwhile
    // leads to one more restart (after the quiet period) with the latest one.
    const next = this.latest;
    this.restarting = true;
    this.o.logger.info(
      { childPid: old.pid, graceMs: this.o.graceMs },
      "configuration changed: restarting the app",
    );
    old.signal("SIGTERM");
    const kill = setTimeout(() => {
      this.o.logger.warn(
        { childPid: old.pid, graceMs: this.o.graceMs },
        "the app ignored SIGTERM: killing its process group",
      );
      old.killGroup();
    }, this.o.graceMs);
    const code = await old.exited;
    clearTimeout(kill);
    // Whatever the app left in its group goes with it.
    old.killGroup();
    this.restarting = false;
    if (this.stopping || this.finished) {
      this.finish(code);
      return;
    }
    this.spawn(next);
    if (configKey(this.latest) !== this.runningKey) this.configure(this.latest ?? new Map());
  }
}
