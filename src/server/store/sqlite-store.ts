import { closeSync, linkSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import type Database from "better-sqlite3";
import { AppError } from "../../protocol/errors.js";
import { type AppOperations, OPERATIONS, type OperationName } from "../../protocol/operations.js";
import { type DatabaseFacts, inspectDatabaseFile, parseSnapshotRecord } from "./inspect.js";
import { makeStandalone, type OpenOptions, openDatabase } from "./open.js";
import {
  type AppChange,
  type AppRecord,
  type ComponentRecord,
  type ConfigRecord,
  type DeploymentRecord,
  FINAL_JOB_STATES,
  type InstanceRecord,
  type InstanceWrite,
  type JobRecord,
  type JobState,
  type RejectedRecord,
  type SnapshotRecord,
  type Store,
  type TokenRecord,
} from "./store.js";

type Row = Record<string, string | number | null>;

/** SQLite's "database or disk is full", or the file system's own ENOSPC / EDQUOT. */
function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT";
}

/**
 * The SQLite implementation of Store. One instance owns the file exclusively
 * (see openDatabase) and is used from one thread; better-sqlite3 is
 * synchronous, so each method is atomic with respect to the event loop.
 */
export class SqliteStore implements Store {
  /** The open connection and its statements; replaced as a whole by a live restore. */
  private db: Database.Database;
  private stmts: Statements;
  private version: number;
  private index: number;
  private closed = false;

  private constructor(
    readonly path: string,
    opened: { db: Database.Database; schemaVersion: number },
    private readonly openOptions: OpenOptions,
  ) {
    this.db = opened.db;
    this.version = opened.schemaVersion;
    this.stmts = prepareStatements(this.db);
    this.index = (this.stmts.readIndex.get() as { v: number }).v;
  }

  static open(path: string, opts: OpenOptions = {}): SqliteStore {
    return new SqliteStore(path, openDatabase(path, opts), opts);
  }

  get schemaVersion(): number {
    return this.version;
  }

  stateIndex(): number {
    return this.index;
  }

  /**
   * Runs `fn` and advances the state index in one transaction. A full disk
   * (SQLITE_FULL: SQLite has rolled the transaction back, and the connection
   * stays usable for reads and for writes once there is room) becomes
   * STORAGE_FULL, so the caller is told what happened rather than given an
   * internal error.
   */
  private write<T>(fn: () => T): T {
    this.assertOpen();
    let result: T;
    try {
      result = this.db.transaction(() => {
        const r = fn();
        this.stmts.bumpIndex.run();
        return r;
      })();
    } catch (err) {
      if (isDiskFull(err)) {
        throw new AppError("STORAGE_FULL", "the server's disk is full: the change was not made", {
          cause: err,
        });
      }
      throw err;
    }
    this.index += 1;
    return result;
  }

  bootstrapToken(token: TokenRecord): void {
    this.write(() => {
      if (this.stmts.anyBootstrap.get()) {
        throw new AppError("ALREADY_BOOTSTRAPPED", "the server is already bootstrapped");
      }
      this.stmts.insertToken.run(tokenParams(token, true));
    });
  }

  isBootstrapped(): boolean {
    this.assertOpen();
    return this.stmts.anyBootstrap.get() !== undefined;
  }

  insertToken(token: TokenRecord): void {
    this.write(() => this.stmts.insertToken.run(tokenParams(token, false)));
  }

  listTokens(): TokenRecord[] {
    this.assertOpen();
    return (this.stmts.listTokens.all() as Row[]).map((r) => ({
      id: r.id as string,
      kind: r.kind as TokenRecord["kind"],
      hash: r.hash as string,
      createdAt: r.created_at as string,
      ...opt("app", r.app),
      ...opt("deployment", r.deployment),
      ...opt("description", r.description),
    }));
  }

  upsertComponents(records: readonly ComponentRecord[]): void {
    if (records.length === 0) return;
    this.write(() => {
      for (const c of records) this.stmts.upsertComponent.run(componentParams(c));
    });
  }

  recordRejections(records: readonly RejectedRecord[]): void {
    if (records.length === 0) return;
    this.write(() => {
      for (const r of records) {
        this.stmts.upsertRejected.run({
          ...componentParams({ ...r, app: undefined }),
          reason: r.reason,
          count: r.count,
        });
      }
    });
  }

  listComponents(): ComponentRecord[] {
    this.assertOpen();
    return (this.stmts.listComponents.all() as Row[]).map((r) => ({
      ...commonFromRow(r),
      ...opt("app", r.app),
      ...opt("deployment", r.deployment),
      ...opt("instance", r.instance),
      ...opt("hostname", r.hostname),
    }));
  }

  listRejected(): RejectedRecord[] {
    this.assertOpen();
    return (this.stmts.listRejected.all() as Row[]).map((r) => ({
      ...commonFromRow(r),
      reason: r.reason as string,
      count: r.count as number,
    }));
  }

  createApp(
    name: string,
    createdAt: string,
    opts: {
      readonly operations?: AppOperations;
      readonly entrypointDisabled?: boolean;
      readonly urlDisabled?: boolean;
    } = {},
  ): AppRecord {
    return this.write(() => {
      if (this.stmts.getApp.get(name)) {
        throw new AppError("ALREADY_EXISTS", `an app named ${JSON.stringify(name)} already exists`, {
          hint: "Pick another name; `waypoint app list` shows the apps there are.",
        });
      }
      const operations = opts.operations ?? {};
      this.stmts.insertApp.run({
        name,
        createdAt,
        build: operations.build ?? null,
        deploy: operations.deploy ?? null,
        release: operations.release ?? null,
        entrypointDisabled: opts.entrypointDisabled ? 1 : 0,
        urlDisabled: opts.urlDisabled ? 1 : 0,
      });
      return appFromRow(this.stmts.getApp.get(name) as Row);
    });
  }

  updateApp(name: string, change: AppChange): AppRecord {
    return this.write(() => {
      const row = this.stmts.getApp.get(name) as Row | undefined;
      if (!row) throw noSuchApp(name);
      const current = appFromRow(row);
      const next = (op: OperationName): string | null => {
        const v = change.operations?.[op];
        return v === undefined ? (current.operations[op] ?? null) : v;
      };
      this.stmts.updateApp.run({
        name,
        build: next("build"),
        deploy: next("deploy"),
        release: next("release"),
        entrypointDisabled: (change.entrypointDisabled ?? current.entrypointDisabled) ? 1 : 0,
        urlDisabled: (change.urlDisabled ?? current.urlDisabled) ? 1 : 0,
      });
      return appFromRow(this.stmts.getApp.get(name) as Row);
    });
  }

  queueJob(job: {
    readonly app: string;
    readonly operation: OperationName;
    readonly command: string;
    readonly target?: string;
    readonly queuedAt: string;
  }): JobRecord {
    return this.write(() => {
      if (!this.stmts.getApp.get(job.app)) throw noSuchApp(job.app);
      const { lastInsertRowid } = this.stmts.insertJob.run({
        app: job.app,
        operation: job.operation,
        command: job.command,
        target: job.target ?? null,
        queuedAt: job.queuedAt,
      });
      this.stmts.nameJob.run(lastInsertRowid);
      return jobFromRow(this.stmts.getJobBySeq.get(lastInsertRowid) as Row);
    });
  }

  getJob(id: string): JobRecord | undefined {
    this.assertOpen();
    const r = this.stmts.getJob.get(id) as Row | undefined;
    return r ? jobFromRow(r) : undefined;
  }

  listJobs(filter: { readonly app?: string; readonly states?: readonly JobState[] } = {}): JobRecord[] {
    this.assertOpen();
    const rows = (filter.app ? this.stmts.listAppJobs.all(filter.app) : this.stmts.listJobs.all()) as Row[];
    const states = filter.states ? new Set<string>(filter.states) : undefined;
    return rows.filter((r) => !states || states.has(r.state as string)).map(jobFromRow);
  }

  assignJob(
    runner: string,
    at: string,
    opts: { readonly targetedOnly?: boolean } = {},
  ): JobRecord | undefined {
    this.assertOpen();
    const next = (opts.targetedOnly ? this.stmts.nextTargetedJob : this.stmts.nextQueuedJob).get(runner) as
      | Row
      | undefined;
    if (!next) return undefined;
    return this.write(() => {
      this.stmts.assignJob.run({ seq: next.seq, runner, at });
      return jobFromRow(this.stmts.getJobBySeq.get(next.seq) as Row);
    });
  }

  transitionJob(
    id: string,
    from: readonly JobState[],
    to: JobState,
    fields: {
      readonly at?: string;
      readonly runner?: string | null;
      readonly deployment?: string;
      readonly exitCode?: number;
      readonly error?: string;
    } = {},
  ): JobRecord | undefined {
    this.assertOpen();
    const row = this.stmts.getJob.get(id) as Row | undefined;
    if (!row || !from.includes(row.state as JobState)) return undefined;
    const at = fields.at ?? new Date().toISOString();
    const requeue = to === "queued";
    return this.write(() => {
      this.stmts.updateJob.run({
        id,
        state: to,
        runner: requeue || fields.runner === null ? null : (fields.runner ?? row.runner),
        assignedAt: requeue ? null : to === "assigned" ? at : row.assigned_at,
        startedAt: requeue ? null : to === "running" ? at : row.started_at,
        finishedAt: FINAL_JOB_STATES.has(to) ? at : null,
        deployment: fields.deployment ?? row.deployment,
        exitCode: fields.exitCode ?? row.exit_code,
        error: fields.error ?? row.error,
        cancelRequested: requeue ? 0 : row.cancel_requested,
      });
      return jobFromRow(this.stmts.getJob.get(id) as Row);
    });
  }

  requestJobCancel(id: string): JobRecord | undefined {
    this.assertOpen();
    const row = this.stmts.getJob.get(id) as Row | undefined;
    if (!row) return undefined;
    if (row.cancel_requested === 1) return jobFromRow(row);
    return this.write(() => {
      this.stmts.requestJobCancel.run(id);
      return jobFromRow(this.stmts.getJob.get(id) as Row);
    });
  }

  getApp(name: string): AppRecord | undefined {
    this.assertOpen();
    const r = this.stmts.getApp.get(name) as Row | undefined;
    return r ? appFromRow(r) : undefined;
  }

  listApps(): AppRecord[] {
    this.assertOpen();
    return (this.stmts.listApps.all() as Row[]).map(appFromRow);
  }

  createDeployment(
    app: string,
    createdAt: string,
    tokenFor: (deployment: DeploymentRecord) => TokenRecord,
  ): DeploymentRecord {
    return this.write(() => {
      if (!this.stmts.getApp.get(app)) throw noSuchApp(app);
      const last = this.stmts.latestDeployment.get(app) as Row | undefined;
      const sequence = ((last?.sequence as number | undefined) ?? 0) + 1;
      const deployment: DeploymentRecord = { id: `${app}-v${sequence}`, app, sequence, createdAt };
      this.stmts.insertDeployment.run(deployment);
      this.stmts.insertToken.run(tokenParams(tokenFor(deployment), false));
      return deployment;
    });
  }

  getDeployment(id: string): DeploymentRecord | undefined {
    this.assertOpen();
    const r = this.stmts.getDeployment.get(id) as Row | undefined;
    return r ? deploymentFromRow(r) : undefined;
  }

  listDeployments(app?: string): DeploymentRecord[] {
    this.assertOpen();
    const rows = (app ? this.stmts.listAppDeployments.all(app) : this.stmts.listDeployments.all()) as Row[];
    return rows.map(deploymentFromRow);
  }

  latestDeployment(app: string): DeploymentRecord | undefined {
    this.assertOpen();
    const r = this.stmts.latestDeployment.get(app) as Row | undefined;
    return r ? deploymentFromRow(r) : undefined;
  }

  setConfig(
    scope: string,
    set: readonly { name: string; value: string; secret?: boolean }[],
    unset: readonly string[],
  ): { notFound: string[] } {
    return this.write(() => {
      if (scope !== "" && !this.stmts.getApp.get(scope)) throw noSuchApp(scope);
      const notFound: string[] = [];
      for (const name of unset) {
        if (this.stmts.deleteConfig.run(scope, name).changes === 0) notFound.push(name);
      }
      for (const v of set) this.stmts.upsertConfig.run(scope, v.name, v.value, v.secret ? 1 : 0);
      return { notFound };
    });
  }

  listConfig(scope: string): ConfigRecord[] {
    this.assertOpen();
    return (this.stmts.listConfig.all(scope) as Row[]).map(configFromRow);
  }

  resolvedConfig(app: string): ConfigRecord[] {
    this.assertOpen();
    return (this.stmts.resolvedConfig.all({ app }) as Row[]).map(configFromRow);
  }

  writeInstances(ops: readonly InstanceWrite[]): void {
    if (ops.length === 0) return;
    this.write(() => {
      for (const w of ops) {
        if (w.op === "upsert") this.runUpsertInstance(w.instance);
        else this.stmts.touchInstance.run(w.lastSeen, w.id);
      }
    });
  }

  private runUpsertInstance(i: InstanceRecord): void {
    this.stmts.upsertInstance.run({
      id: i.id,
      app: i.app,
      deployment: i.deployment,
      version: i.version,
      epMin: i.entrypoint.min,
      epCurrent: i.entrypoint.current,
      emulated: i.emulated ? 1 : 0,
      hostname: i.hostname,
      pid: i.pid,
      startedAt: i.startedAt,
      execDisabled: i.execDisabled ? 1 : 0,
      firstSeen: i.firstSeen,
      lastSeen: i.lastSeen,
    });
  }

  getInstance(id: string): InstanceRecord | undefined {
    this.assertOpen();
    const r = this.stmts.getInstance.get(id) as Row | undefined;
    return r ? instanceFromRow(r) : undefined;
  }

  listInstances(): InstanceRecord[] {
    this.assertOpen();
    return (this.stmts.listInstances.all() as Row[]).map(instanceFromRow);
  }

  recordSnapshot(taken: SnapshotRecord): void {
    this.assertOpen();
    this.stmts.writeMeta.run("last_snapshot", JSON.stringify(taken));
  }

  lastSnapshot(): SnapshotRecord | undefined {
    this.assertOpen();
    const row = this.stmts.readMeta.get("last_snapshot") as { value: string } | undefined;
    return row ? parseSnapshotRecord(row.value) : undefined;
  }

  sizeBytes(): number {
    const size = (p: string) => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    return size(this.path) + size(`${this.path}-wal`);
  }

  /**
   * Writes a consistent copy of the database to `dest` (mode 0600, rollback
   * journal mode, so the file stands alone) while the server keeps serving:
   * SQLite's online backup copies a batch of pages per event-loop turn, and
   * writes made meanwhile through this connection are carried into the copy,
   * so it holds the state as of its completion. Returns the copy's facts,
   * read from the copy itself.
   */
  async backupTo(
    dest: string,
    onProgress?: (p: { totalPages: number; remainingPages: number }) => void,
  ): Promise<DatabaseFacts> {
    this.assertOpen();
    try {
      closeSync(openSync(dest, "wx", 0o600));
      await this.db.backup(dest, {
        progress: (p) => {
          onProgress?.(p);
          return 256;
        },
      });
      makeStandalone(dest);
    } catch (err) {
      if (isDiskFull(err)) {
        throw new AppError(
          "STORAGE_FULL",
          "the server's disk is full: no room for the snapshot's copy of the database",
          {
            hint: "Free space on the disk that holds the server's data dir (a snapshot needs about the database's size there), then take the snapshot again. Nothing stored was changed.",
            cause: err,
          },
        );
      }
      throw err;
    }
    // What meta.json needs; the per-table sizes would be one more read of every page, on the event loop.
    const { problems: _unchecked, ...facts } = inspectDatabaseFile(dest, {
      integrity: false,
      tableBytes: false,
    });
    return facts;
  }

  /**
   * Live restore: swaps in the verified database at `verified` while the
   * process keeps running. Synchronous from start to end, so no call sees a
   * mix of old and new state. The previous database is kept as `keepAs`
   * (a hard link, so nothing is copied). The state index continues above
   * both the old and the restored one, so watchers always see it advance.
   * If the new file cannot be opened, the old one is put back.
   */
  replaceWith(
    verified: string,
    keepAs: string,
  ): { previousIndex: number; restoredIndex: number; keptAs: string } {
    this.assertOpen();
    const previousIndex = this.index;
    this.db.pragma("wal_checkpoint(TRUNCATE)");
    // Linked while still open: if the link fails (no hard links here), the store is untouched and serving.
    const keptAs = linkFree(this.path, keepAs);
    this.db.close();
    try {
      renameSync(verified, this.path);
    } catch (err) {
      rmSync(keptAs, { force: true });
      this.adopt(openDatabase(this.path, this.openOptions));
      throw err;
    }
    let opened: { db: Database.Database; schemaVersion: number };
    try {
      opened = openDatabase(this.path, this.openOptions);
    } catch (err) {
      renameSync(keptAs, this.path);
      const back = openDatabase(this.path, this.openOptions);
      this.adopt(back);
      throw err;
    }
    this.adopt(opened);
    const restoredIndex = this.index;
    const next = Math.max(previousIndex, restoredIndex) + 1;
    this.db.prepare("UPDATE meta SET value = ? WHERE key = 'state_index'").run(String(next));
    this.index = next;
    return { previousIndex, restoredIndex, keptAs };
  }

  private adopt(opened: { db: Database.Database; schemaVersion: number }): void {
    this.db = opened.db;
    this.version = opened.schemaVersion;
    this.stmts = prepareStatements(this.db);
    this.index = (this.stmts.readIndex.get() as { v: number }).v;
  }

  checkpoint(): void {
    this.assertOpen();
    this.db.pragma("wal_checkpoint(TRUNCATE)");
  }

  close(): void {
    if (this.closed) return;
    this.checkpoint();
    this.db.close();
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError("INTERNAL", "the store is closed");
  }
}

function opt<K extends string>(
  key: K,
  value: string | number | null | undefined,
): Partial<Record<K, string>> {
  return value === null || value === undefined || value === ""
    ? {}
    : ({ [key]: String(value) } as Record<K, string>);
}

function tokenParams(t: TokenRecord, bootstrap: boolean) {
  return {
    id: t.id,
    kind: t.kind,
    hash: t.hash,
    app: t.app ?? null,
    deployment: t.deployment ?? null,
    description: t.description ?? null,
    bootstrap: bootstrap ? 1 : 0,
    createdAt: t.createdAt,
  };
}

function componentParams(c: Omit<ComponentRecord, "app"> & { app?: string | undefined }) {
  return {
    kind: c.kind,
    id: c.id,
    via: c.via ?? null,
    version: c.version,
    apiMin: c.api.min,
    apiCurrent: c.api.current,
    epMin: c.entrypoint.min,
    epCurrent: c.entrypoint.current,
    emulated: c.emulated ? 1 : 0,
    app: c.app ?? null,
    deployment: c.deployment ?? null,
    instance: c.instance ?? null,
    hostname: c.hostname ?? null,
    firstSeen: c.firstSeen,
    lastSeen: c.lastSeen,
  };
}

function commonFromRow(r: Row) {
  return {
    kind: r.kind as ComponentRecord["kind"],
    ...(r.via === null ? {} : { via: r.via as "cli" | "ui" }),
    id: r.id as string,
    version: r.version as string,
    api: { min: r.api_min as number, current: r.api_current as number },
    entrypoint: { min: r.entrypoint_min as number, current: r.entrypoint_current as number },
    emulated: r.emulated === 1,
    firstSeen: r.first_seen as string,
    lastSeen: r.last_seen as string,
  };
}

function noSuchApp(app: string): AppError {
  return new AppError("NOT_FOUND", `no app named ${JSON.stringify(app)}`, {
    hint: `Create it first with \`waypoint app create ${app}\`, or see \`waypoint app list\`.`,
  });
}

function jobFromRow(r: Row): JobRecord {
  const optional = <T>(key: string, value: T | null | undefined): { [k: string]: T } =>
    value === null || value === undefined ? {} : { [key]: value };
  return {
    id: r.id as string,
    app: r.app as string,
    operation: r.operation as OperationName,
    command: r.command as string,
    state: r.state as JobState,
    ...optional("target", r.target as string | null),
    ...optional("runner", r.runner as string | null),
    ...optional("deployment", r.deployment as string | null),
    queuedAt: r.queued_at as string,
    ...optional("assignedAt", r.assigned_at as string | null),
    ...optional("startedAt", r.started_at as string | null),
    ...optional("finishedAt", r.finished_at as string | null),
    ...optional("exitCode", r.exit_code as number | null),
    ...optional("error", r.error as string | null),
    attempts: r.attempts as number,
    cancelRequested: r.cancel_requested === 1,
  } as JobRecord;
}

function appFromRow(r: Row): AppRecord {
  const operations: { -readonly [K in OperationName]?: string } = {};
  for (const op of OPERATIONS) if (typeof r[op] === "string") operations[op] = r[op] as string;
  return {
    name: r.name as string,
    createdAt: r.created_at as string,
    deployments: (r.deployments as number | null) ?? 0,
    operations,
    entrypointDisabled: r.entrypoint_disabled === 1,
    urlDisabled: r.url_disabled === 1,
  };
}

function deploymentFromRow(r: Row): DeploymentRecord {
  return {
    id: r.id as string,
    app: r.app as string,
    sequence: r.sequence as number,
    createdAt: r.created_at as string,
  };
}

function configFromRow(r: Row): ConfigRecord {
  return {
    scope: r.scope as string,
    name: r.name as string,
    value: r.value as string,
    secret: r.secret === 1,
  };
}

function instanceFromRow(r: Row): InstanceRecord {
  return {
    id: r.id as string,
    app: r.app as string,
    deployment: r.deployment as string,
    version: r.version as string,
    entrypoint: { min: r.entrypoint_min as number, current: r.entrypoint_current as number },
    emulated: r.emulated === 1,
    hostname: r.hostname as string,
    pid: r.pid as number,
    startedAt: r.started_at as string,
    execDisabled: r.exec_disabled === 1,
    firstSeen: r.first_seen as string,
    lastSeen: r.last_seen as string,
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** Hard-links `path` as `wanted`, or as `wanted-2`, `-3`… when that name is taken; returns the name used. */
function linkFree(path: string, wanted: string): string {
  for (let n = 1; ; n++) {
    const name = n === 1 ? wanted : `${wanted}-${n}`;
    try {
      linkSync(path, name);
      return name;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || n >= 100) throw err;
    }
  }
}

function prepareStatements(db: Database.Database) {
  return {
    bumpIndex: db.prepare(
      "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'state_index'",
    ),
    readIndex: db.prepare("SELECT CAST(value AS INTEGER) AS v FROM meta WHERE key = 'state_index'"),
    readMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
    writeMeta: db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
    insertToken: db.prepare(
      `INSERT INTO tokens (id, kind, hash, app, deployment, description, bootstrap, created_at)
         VALUES (@id, @kind, @hash, @app, @deployment, @description, @bootstrap, @createdAt)`,
    ),
    anyBootstrap: db.prepare("SELECT 1 FROM tokens WHERE bootstrap = 1 LIMIT 1"),
    listTokens: db.prepare("SELECT * FROM tokens ORDER BY created_at, id"),
    upsertComponent: db.prepare(
      `INSERT INTO components (kind, id, via, version, api_min, api_current, entrypoint_min, entrypoint_current,
           emulated, app, deployment, instance, hostname, first_seen, last_seen)
         VALUES (@kind, @id, @via, @version, @apiMin, @apiCurrent, @epMin, @epCurrent,
           @emulated, @app, @deployment, @instance, @hostname, @firstSeen, @lastSeen)
         ON CONFLICT (kind, id) DO UPDATE SET via = excluded.via, version = excluded.version,
           api_min = excluded.api_min, api_current = excluded.api_current,
           entrypoint_min = excluded.entrypoint_min, entrypoint_current = excluded.entrypoint_current,
           emulated = excluded.emulated, app = excluded.app, deployment = excluded.deployment,
           instance = excluded.instance, hostname = excluded.hostname,
           last_seen = max(components.last_seen, excluded.last_seen)`,
    ),
    upsertRejected: db.prepare(
      `INSERT INTO rejected (kind, id, via, version, api_min, api_current, entrypoint_min, entrypoint_current,
           emulated, reason, count, first_seen, last_seen)
         VALUES (@kind, @id, @via, @version, @apiMin, @apiCurrent, @epMin, @epCurrent,
           @emulated, @reason, @count, @firstSeen, @lastSeen)
         ON CONFLICT (kind, id) DO UPDATE SET via = excluded.via, version = excluded.version,
           api_min = excluded.api_min, api_current = excluded.api_current,
           entrypoint_min = excluded.entrypoint_min, entrypoint_current = excluded.entrypoint_current,
           emulated = excluded.emulated, reason = excluded.reason, count = rejected.count + excluded.count,
           last_seen = max(rejected.last_seen, excluded.last_seen)`,
    ),
    listComponents: db.prepare("SELECT * FROM components ORDER BY kind, version, id"),
    listRejected: db.prepare("SELECT * FROM rejected ORDER BY kind, version, id"),
    insertApp: db.prepare(
      `INSERT INTO apps (name, created_at, build, deploy, release, entrypoint_disabled, url_disabled)
       VALUES (@name, @createdAt, @build, @deploy, @release, @entrypointDisabled, @urlDisabled)`,
    ),
    insertJob: db.prepare(
      `INSERT INTO jobs (id, app, operation, command, state, target, queued_at)
       VALUES ('pending-' || hex(randomblob(8)), @app, @operation, @command, 'queued', @target, @queuedAt)`,
    ),
    nameJob: db.prepare("UPDATE jobs SET id = 'job-' || seq WHERE seq = ?"),
    getJob: db.prepare("SELECT * FROM jobs WHERE id = ?"),
    getJobBySeq: db.prepare("SELECT * FROM jobs WHERE seq = ?"),
    listJobs: db.prepare("SELECT * FROM jobs ORDER BY seq"),
    listAppJobs: db.prepare("SELECT * FROM jobs WHERE app = ? ORDER BY seq"),
    nextQueuedJob: db.prepare(
      "SELECT seq FROM jobs WHERE state = 'queued' AND (target IS NULL OR target = ?) ORDER BY seq LIMIT 1",
    ),
    nextTargetedJob: db.prepare(
      "SELECT seq FROM jobs WHERE state = 'queued' AND target = ? ORDER BY seq LIMIT 1",
    ),
    assignJob: db.prepare(
      `UPDATE jobs SET state = 'assigned', runner = @runner, assigned_at = @at, attempts = attempts + 1
        WHERE seq = @seq`,
    ),
    updateJob: db.prepare(
      `UPDATE jobs SET state = @state, runner = @runner, assigned_at = @assignedAt, started_at = @startedAt,
              finished_at = @finishedAt, deployment = @deployment, exit_code = @exitCode, error = @error,
              cancel_requested = @cancelRequested
        WHERE id = @id`,
    ),
    requestJobCancel: db.prepare("UPDATE jobs SET cancel_requested = 1 WHERE id = ?"),
    updateApp: db.prepare(
      `UPDATE apps SET build = @build, deploy = @deploy, release = @release, entrypoint_disabled = @entrypointDisabled,
              url_disabled = @urlDisabled
        WHERE name = @name`,
    ),
    getApp: db.prepare(
      "SELECT a.*, (SELECT count(*) FROM deployments d WHERE d.app = a.name) AS deployments FROM apps a WHERE a.name = ?",
    ),
    listApps: db.prepare(
      `SELECT a.*, (SELECT count(*) FROM deployments d WHERE d.app = a.name) AS deployments
         FROM apps a ORDER BY a.name`,
    ),
    insertDeployment: db.prepare(
      "INSERT INTO deployments (id, app, sequence, created_at) VALUES (@id, @app, @sequence, @createdAt)",
    ),
    getDeployment: db.prepare("SELECT * FROM deployments WHERE id = ?"),
    listDeployments: db.prepare("SELECT * FROM deployments ORDER BY app, sequence"),
    listAppDeployments: db.prepare("SELECT * FROM deployments WHERE app = ? ORDER BY sequence"),
    latestDeployment: db.prepare("SELECT * FROM deployments WHERE app = ? ORDER BY sequence DESC LIMIT 1"),
    upsertConfig: db.prepare(
      `INSERT INTO config (scope, name, value, secret) VALUES (?, ?, ?, ?)
         ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value, secret = max(secret, excluded.secret)`,
    ),
    deleteConfig: db.prepare("DELETE FROM config WHERE scope = ? AND name = ?"),
    listConfig: db.prepare("SELECT * FROM config WHERE scope = ? ORDER BY name"),
    resolvedConfig: db.prepare(
      `SELECT * FROM config WHERE scope = @app
       UNION ALL
       SELECT * FROM config g WHERE g.scope = ''
         AND NOT EXISTS (SELECT 1 FROM config o WHERE o.scope = @app AND o.name = g.name)
       ORDER BY name`,
    ),
    upsertInstance: db.prepare(
      `INSERT INTO instances (id, app, deployment, version, entrypoint_min, entrypoint_current, emulated,
           hostname, pid, started_at, exec_disabled, first_seen, last_seen)
         VALUES (@id, @app, @deployment, @version, @epMin, @epCurrent, @emulated,
           @hostname, @pid, @startedAt, @execDisabled, @firstSeen, @lastSeen)
         ON CONFLICT (id) DO UPDATE SET app = excluded.app, deployment = excluded.deployment,
           version = excluded.version, entrypoint_min = excluded.entrypoint_min,
           entrypoint_current = excluded.entrypoint_current, emulated = excluded.emulated,
           hostname = excluded.hostname, pid = excluded.pid, started_at = excluded.started_at,
           exec_disabled = excluded.exec_disabled,
           last_seen = max(instances.last_seen, excluded.last_seen)`,
    ),
    touchInstance: db.prepare("UPDATE instances SET last_seen = max(last_seen, ?) WHERE id = ?"),
    getInstance: db.prepare("SELECT * FROM instances WHERE id = ?"),
    listInstances: db.prepare("SELECT * FROM instances ORDER BY app, deployment, id"),
  };
}
