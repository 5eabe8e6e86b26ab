import type * as grpc from "@grpc/grpc-js";
import { loadWaypointProto } from "../../gen/load.js";
import type { EntrypointConfigResponse } from "../../gen/waypoint/v1/EntrypointConfigResponse.js";
import type { ExecRequest__Output } from "../../gen/waypoint/v1/ExecRequest.js";
import type { GetLogsRequest__Output } from "../../gen/waypoint/v1/GetLogsRequest.js";
import type { Instance } from "../../gen/waypoint/v1/Instance.js";
import type { LogBatch } from "../../gen/waypoint/v1/LogBatch.js";
import type { WaypointHandlers } from "../../gen/waypoint/v1/Waypoint.js";
import { AppError } from "../../protocol/errors.js";
import { OPERATIONS, type OperationName } from "../../protocol/operations.js";
import {
  appNameProblem,
  commandProblem,
  configNameProblem,
  configValueProblem,
  isComponentId,
} from "../../protocol/validate.js";
import { mintToken, type TokenCache } from "../auth.js";
import { EncodedMessage } from "../encoded.js";
import type { Guard } from "../guard.js";
import type { ServerLogger } from "../logger.js";
import type { EntrypointHub } from "../runtime/entrypoint-hub.js";
import type { ExecBroker } from "../runtime/exec-broker.js";
import { firstMessage } from "../runtime/first-message.js";
import type { InstanceRows } from "../runtime/instance-rows.js";
import { type InstanceFilter, type LogHub, type LogLineOut, lineBytes } from "../runtime/log-hub.js";
import type {
  AppRecord,
  ConfigRecord,
  DeploymentRecord,
  InstanceRecord,
  Store,
  TokenRecord,
} from "../store/store.js";
import { type UrlBase, urlOf } from "../url/hosts.js";

/** Most lines and bytes in one LogBatch message. */
const BATCH_LINES = 1000;
const BATCH_BYTES = 512 * 1024;
/** What a following reader may have queued while its stream does not take more; beyond, lines are skipped. */
export const FOLLOW_BACKLOG_BYTES = 1024 * 1024;
/** Most names in one SetConfig. */
const MAX_CONFIG_CHANGES = 1000;

export interface RuntimeServiceDeps {
  readonly guard: Guard;
  readonly store: Store;
  readonly tokens: TokenCache;
  readonly hub: EntrypointHub;
  /** Instance rows (written behind: read them here, not from the store). */
  readonly rows: InstanceRows;
  readonly logs: LogHub;
  readonly exec: ExecBroker;
  readonly activeWindowMs: number;
  /**
   * The URL service's bound address ("127.0.0.1:9703") and the domain of its hostnames, which the
   * URLs of apps and deployments are made of; undefined while it is off (or not yet listening).
   */
  readonly urls: () => UrlBase | undefined;
  /** The entrypoint listener's port (-listen-entrypoint); undefined when it has none. */
  readonly entrypointPort: () => number | undefined;
  readonly logger: ServerLogger;
}

type RuntimeHandlers = Pick<
  WaypointHandlers,
  | "CreateApp"
  | "UpdateApp"
  | "ListApps"
  | "CreateDeployment"
  | "ListDeployments"
  | "SetConfig"
  | "GetConfig"
  | "ListInstances"
  | "GetLogs"
  | "Exec"
>;

function checkedCommand(op: OperationName, command: string): string {
  const problem = commandProblem(op, command);
  if (problem) throw new AppError("INVALID_ARGUMENT", problem);
  return command;
}

/** Apps, deployments, configuration, instances, logs and exec: the api side of the entrypoint features. */
/** The app named `name`: INVALID_ARGUMENT for a malformed name, NOT_FOUND when there is none. */
export function requireApp(store: Pick<Store, "getApp">, name: string): AppRecord {
  const problem = appNameProblem(name);
  if (problem) throw new AppError("INVALID_ARGUMENT", problem);
  const app = store.getApp(name);
  if (!app) throw noSuchApp(name);
  return app;
}

export function runtimeService(d: RuntimeServiceDeps): RuntimeHandlers {
  return {
    CreateApp: d.guard.unary((req, ctx) => {
      const problem = appNameProblem(req.name);
      if (problem) throw new AppError("INVALID_ARGUMENT", problem);
      const operations: { [K in OperationName]?: string } = {};
      for (const op of OPERATIONS) {
        const command = req.operations?.[op] ?? "";
        if (command !== "") operations[op] = checkedCommand(op, command);
      }
      const app = d.store.createApp(req.name, new Date().toISOString(), {
        operations,
        entrypointDisabled: req.entrypointDisabled,
        urlDisabled: req.urlDisabled,
      });
      d.logger.info({ app: app.name, operations: Object.keys(operations), by: ctx.token?.id }, "app created");
      return appOut(app, d.urls());
    }),

    UpdateApp: d.guard.unary((req, ctx) => {
      requireApp(d.store, req.name);
      const operations: { [K in OperationName]?: string | null } = {};
      for (const op of OPERATIONS) {
        const command = req[op];
        if (command !== undefined) operations[op] = command === "" ? null : checkedCommand(op, command);
      }
      const { entrypointDisabled, urlDisabled } = req;
      if (
        Object.keys(operations).length === 0 &&
        entrypointDisabled === undefined &&
        urlDisabled === undefined
      ) {
        throw new AppError("INVALID_ARGUMENT", `nothing to change in app ${req.name}`, {
          hint: "Give -build=CMD, -deploy=CMD or -release=CMD (empty removes it), -entrypoint=true|false or -url=true|false.",
        });
      }
      const app = d.store.updateApp(req.name, {
        operations,
        ...(entrypointDisabled === undefined ? {} : { entrypointDisabled }),
        ...(urlDisabled === undefined ? {} : { urlDisabled }),
      });
      d.logger.info(
        {
          app: app.name,
          changed: [
            ...Object.keys(operations),
            ...(entrypointDisabled === undefined ? [] : ["entrypoint"]),
            ...(urlDisabled === undefined ? [] : ["url"]),
          ],
          by: ctx.token?.id,
        },
        "app changed",
      );
      return appOut(app, d.urls());
    }),

    ListApps: d.guard.unary(() => {
      const urls = d.urls();
      return { apps: d.store.listApps().map((a) => appOut(a, urls)) };
    }),

    CreateDeployment: d.guard.unary((req, ctx) => {
      requireApp(d.store, req.app);
      let secret = "";
      let record: TokenRecord | undefined;
      const deployment = d.store.createDeployment(req.app, new Date().toISOString(), (dep) => {
        const minted = mintToken("entrypoint", {
          app: dep.app,
          deployment: dep.id,
          description: `entrypoint of ${dep.id}`,
        });
        secret = minted.secret;
        record = minted.record;
        return minted.record;
      });
      const tokenId = record?.id ?? "";
      if (record) d.tokens.add(record);
      d.logger.info({ deployment: deployment.id, tokenId, by: ctx.token?.id }, "deployment created");
      const url = deploymentUrl(deployment, d.store.getApp(deployment.app), d.urls());
      return {
        deployment: deploymentOut(deployment, 0, url),
        token: secret,
        tokenId,
        entrypointPort: d.entrypointPort() ?? 0,
      };
    }),

    ListDeployments: d.guard.unary((req) => {
      if (req.app) requireApp(d.store, req.app);
      const counts = d.hub.countByDeployment();
      const urls = d.urls();
      const apps = new Map(urls ? d.store.listApps().map((a) => [a.name, a]) : []);
      return {
        deployments: d.store
          .listDeployments(req.app || undefined)
          .map((dep) =>
            deploymentOut(dep, counts.get(dep.id) ?? 0, deploymentUrl(dep, apps.get(dep.app), urls)),
          ),
      };
    }),

    SetConfig: d.guard.unary((req, ctx) => {
      if (req.app) requireApp(d.store, req.app);
      if (req.set.length + req.unset.length === 0)
        throw new AppError("INVALID_ARGUMENT", "nothing to change: give variables to set or to unset");
      if (req.set.length + req.unset.length > MAX_CONFIG_CHANGES)
        throw new AppError("INVALID_ARGUMENT", `at most ${MAX_CONFIG_CHANGES} variables per change`);
      const seen = new Set<string>();
      for (const name of [...req.set.map((v) => v.name), ...req.unset]) {
        const problem = configNameProblem(name);
        if (problem) throw new AppError("INVALID_ARGUMENT", problem);
        if (seen.has(name))
          throw new AppError("INVALID_ARGUMENT", `${name} is named more than once in one change`);
        seen.add(name);
      }
      for (const v of req.set) {
        const problem = configValueProblem(v.name, v.value);
        if (problem) throw new AppError("INVALID_ARGUMENT", problem);
      }
      const { notFound } = d.store.setConfig(
        req.app,
        req.set.map((v) => ({ name: v.name, value: v.value, secret: v.secret })),
        req.unset,
      );
      const pushed = pushConfig(d, req.app || undefined);
      // Names only: values are often secrets.
      d.logger.info(
        {
          scope: req.app || "(global)",
          set: req.set.map((v) => v.name),
          unset: req.unset,
          pushed,
          by: ctx.token?.id,
        },
        "configuration changed",
      );
      return { notFound, pushed };
    }),

    GetConfig: d.guard.unary((req) => {
      if (req.app) requireApp(d.store, req.app);
      const entries = req.app && req.resolved ? d.store.resolvedConfig(req.app) : d.store.listConfig(req.app);
      // A secret's value leaves the server only when asked for by name (-reveal).
      return { entries: entries.map((e) => (e.secret && !req.reveal ? { ...e, value: "" } : e)) };
    }),

    ListInstances: d.guard.unary((req) => {
      if (req.app) requireApp(d.store, req.app);
      const cutoff = Date.now() - d.activeWindowMs;
      const instances = d.rows
        .list()
        .filter(
          (i) => (!req.app || i.app === req.app) && (!req.deployment || i.deployment === req.deployment),
        )
        .map((i) => instanceOut(i, d.hub.isConnected(i.id)))
        .filter((i) => req.includeInactive || i.connected || Date.parse(i.lastSeen ?? "") >= cutoff);
      return { instances };
    }),

    GetLogs: d.guard.serverStream(
      (call) => {
        const filter = logFilter(d, call.request);
        const initial = d.logs.read(filter, call.request.tail);
        if (!call.request.follow) {
          for (const batch of batches(initial)) call.write(batch);
          call.end();
          return;
        }
        const reader = new FollowingReader(call);
        reader.deliver(initial);
        const stop = d.logs.follow(reader, filter);
        const close = () => {
          stop();
          reader.close();
        };
        call.on("cancelled", close);
        call.on("close", close);
        call.on("finish", close);
      },
      { endAtShutdown: true },
    ),

    Exec: d.guard.bidiStream(async (call) => {
      const first = await firstMessage<ExecRequest__Output>(call, "start");
      if (first.request !== "start" || !first.start)
        throw new AppError("INVALID_ARGUMENT", "the first message of an exec session must be start");
      const start = first.start;
      if (Boolean(start.instance) === Boolean(start.app))
        throw new AppError(
          "INVALID_ARGUMENT",
          "name exactly one of an instance and an app to run the command in",
        );
      if (start.args.length === 0 || start.args[0] === "")
        throw new AppError("INVALID_ARGUMENT", "no command given: args needs at least the command to run");
      const instance = start.instance ? execTargetById(d, start.instance) : execTargetByApp(d, start.app);
      await d.exec.run(call, instance, {
        instance,
        app: "",
        args: start.args,
        tty: start.tty,
        rows: start.rows,
        cols: start.cols,
        term: start.term,
      });
    }),
  };
}

/**
 * Pushes the resolved configuration to every connected instance of `app` (all when undefined):
 * queued on the hub, which writes it over the next turns of the event loop. Each app's message is
 * encoded once, not once per instance. Returns how many instances it goes to.
 */
export function pushConfig(d: Pick<RuntimeServiceDeps, "hub" | "store">, app?: string): number {
  const perApp = new Map<string, EncodedMessage>();
  let pushed = 0;
  for (const conn of d.hub.connected(app)) {
    let message = perApp.get(conn.app);
    if (!message) {
      message = new EncodedMessage(serializeConfig(configMessage(d.store.resolvedConfig(conn.app))));
      perApp.set(conn.app, message);
    }
    if (d.hub.queue(conn, message as unknown as EntrypointConfigResponse)) pushed++;
  }
  return pushed;
}

/** EntrypointConfig's usual serializer; the server's service definition passes EncodedMessage through (passEncoded). */
const serializeConfig = (m: EntrypointConfigResponse): Buffer =>
  loadWaypointProto().grpc.waypoint.v1.Entrypoint.service.EntrypointConfig.responseSerialize(m);

export function configMessage(config: readonly ConfigRecord[]) {
  return { config: config.map((c) => ({ name: c.name, value: c.value })), hasConfig: true };
}

function noSuchApp(name: string): AppError {
  return new AppError("NOT_FOUND", `no app named ${JSON.stringify(name)}`, {
    hint: `Create it with \`waypoint app create ${name}\`, or see \`waypoint app list\`.`,
  });
}

function deploymentOut(dep: DeploymentRecord, connected: number, url: string) {
  return { ...dep, connectedInstances: connected, url };
}

/** An app as the App message carries it: with its URL ("" when it has none). */
function appOut(app: AppRecord, urls: UrlBase | undefined) {
  return {
    ...app,
    url: urls && !app.urlDisabled ? (urlOf(app.name, undefined, urls) ?? "") : "",
  };
}

/** A deployment's own URL: "" when the URL service is off, the app's URL is off, or it has no URL. */
function deploymentUrl(dep: DeploymentRecord, app: AppRecord | undefined, urls: UrlBase | undefined): string {
  if (!urls || !app || app.urlDisabled) return "";
  return urlOf(app.name, dep.id, urls) ?? "";
}

/** A connected instance is seen now: its stream is open (the stored time is its registration's). */
function instanceOut(i: InstanceRecord, connected: boolean): Instance & { lastSeen: string } {
  return { ...i, connected, ...(connected ? { lastSeen: new Date().toISOString() } : {}) };
}

function logFilter(d: RuntimeServiceDeps, req: GetLogsRequest__Output): InstanceFilter {
  const given = [req.app, req.deployment, req.instance].filter((v) => v !== "").length;
  if (given > 1)
    throw new AppError("INVALID_ARGUMENT", "name at most one of an app, a deployment and an instance");
  if (req.instance) {
    if (!d.rows.get(req.instance) && !d.hub.isConnected(req.instance))
      throw new AppError("NOT_FOUND", `no instance ${JSON.stringify(req.instance)}`, {
        hint: "See `waypoint instances -all` for the instances there are.",
      });
    return (o) => o.instance === req.instance;
  }
  if (req.deployment) {
    if (!d.store.getDeployment(req.deployment))
      throw new AppError("NOT_FOUND", `no deployment ${JSON.stringify(req.deployment)}`, {
        hint: "See `waypoint deployment list` for the deployments there are.",
      });
    return (o) => o.deployment === req.deployment;
  }
  if (req.app) {
    if (!d.store.getApp(req.app)) throw noSuchApp(req.app);
    const latest = d.store.latestDeployment(req.app);
    if (!latest)
      throw new AppError("NOT_FOUND", `app ${req.app} has no deployments yet`, {
        hint: `Create one with \`waypoint deployment create -app=${req.app}\`.`,
      });
    return (o) => o.deployment === latest.id;
  }
  return () => true;
}

function* batches(lines: readonly LogLineOut[]): Generator<LogBatch> {
  let batch: LogLineOut[] = [];
  let bytes = 0;
  for (const l of lines) {
    const n = lineBytes(l);
    if (batch.length > 0 && (batch.length >= BATCH_LINES || bytes + n > BATCH_BYTES)) {
      yield { lines: batch };
      batch = [];
      bytes = 0;
    }
    batch.push(l);
    bytes += n;
  }
  if (batch.length > 0) yield { lines: batch };
}

/**
 * A GetLogs reader with follow: lines are queued and written in batches on the next turn of the
 * event loop. While the stream does not take more (write returned false), the queue grows up to
 * FOLLOW_BACKLOG_BYTES; lines beyond are counted and skipped until it drains, and a "waypoint"
 * line then says how many.
 */
export class FollowingReader {
  private queue: LogLineOut[] = [];
  private queuedBytes = 0;
  private skipped = 0;
  private skippedInstance = "";
  private blocked = false;
  private scheduled = false;
  private closed = false;

  constructor(private readonly call: grpc.ServerWritableStream<GetLogsRequest__Output, LogBatch>) {}

  deliver(lines: readonly LogLineOut[]): void {
    if (this.closed) return;
    for (const l of lines) {
      const n = lineBytes(l);
      if (this.skipped > 0 || this.queuedBytes + n > FOLLOW_BACKLOG_BYTES) {
        if (this.skipped === 0) this.skippedInstance = l.instance;
        this.skipped++;
        continue;
      }
      this.queue.push(l);
      this.queuedBytes += n;
    }
    this.schedule();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
  }

  private schedule(): void {
    if (this.scheduled || this.blocked || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed || this.call.cancelled || this.call.writableEnded) return;
    if (this.queue.length === 0 && this.skipped > 0) {
      this.queue.push({
        instance: this.skippedInstance,
        source: "waypoint",
        line: `${this.skipped} log lines were skipped because this reader could not keep up`,
        at: new Date().toISOString(),
      });
      this.skipped = 0;
    }
    const lines = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const batch of batches(lines)) {
      if (!this.call.write(batch)) this.blocked = true;
    }
    if (this.blocked) {
      this.call.once("drain", () => {
        this.blocked = false;
        this.flush();
      });
    } else if (this.skipped > 0) this.schedule();
  }
}

function execTargetById(d: RuntimeServiceDeps, id: string): string {
  if (!isComponentId(id))
    throw new AppError("INVALID_ARGUMENT", `${JSON.stringify(id)} is not an instance id`);
  const row = d.rows.get(id);
  const conn = d.hub.get(id);
  if (!row && !conn)
    throw new AppError("NOT_FOUND", `no instance ${JSON.stringify(id)}`, {
      hint: "See `waypoint instances` for the connected instances.",
    });
  if (conn?.execDisabled ?? row?.execDisabled) throw execDisabled(id);
  if (!conn) throw new AppError("INSTANCE_NOT_CONNECTED", `instance ${id} is not connected to the server`);
  return id;
}

function execTargetByApp(d: RuntimeServiceDeps, app: string): string {
  const problem = appNameProblem(app);
  if (problem) throw new AppError("INVALID_ARGUMENT", problem);
  if (!d.store.getApp(app)) throw noSuchApp(app);
  const latest = d.store.latestDeployment(app);
  if (!latest)
    throw new AppError("NOT_FOUND", `app ${app} has no deployments`, {
      hint: `Create one with \`waypoint deployment create -app=${app}\` and start an instance of it.`,
    });
  const candidates = d.hub
    .connected(app)
    .filter((c) => c.deployment === latest.id)
    .sort((a, b) => (a.instance < b.instance ? -1 : 1));
  if (candidates.length === 0)
    throw new AppError(
      "INSTANCE_NOT_CONNECTED",
      `no instance of ${latest.id}, the latest deployment of ${app}, is connected to the server`,
    );
  const open = candidates.find((c) => !c.execDisabled);
  if (!open) throw execDisabled(candidates.map((c) => c.instance).join(", "));
  return open.instance;
}

function execDisabled(instances: string): AppError {
  return new AppError(
    "EXEC_DISABLED",
    `exec is disabled in ${instances}: the instance was started with WAYPOINT_CEB_DISABLE_EXEC`,
  );
}
