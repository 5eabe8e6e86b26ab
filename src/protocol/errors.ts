/**
 * The one error type of waypoint-ops and its closed catalogue of codes.
 *
 * Each code maps to a gRPC status (by name, so this module stays free of
 * grpc), a process exit code and a hint that tells the user what to do.
 * Never reuse or renumber a retired code: scripts match on them.
 */
export const ERROR_CODES = {
  USAGE: { grpc: "INVALID_ARGUMENT", exit: 2, hint: "Run the command with -help to see its usage." },
  INVALID_ARGUMENT: { grpc: "INVALID_ARGUMENT", exit: 2, hint: "Check the value and try again." },
  INVALID_HEADER: {
    grpc: "INVALID_ARGUMENT",
    exit: 1,
    hint: "Use a waypoint client, or send every client-* metadata header exactly once.",
  },
  CLIENT_OUTDATED: {
    grpc: "FAILED_PRECONDITION",
    exit: 5,
    hint: "Upgrade this component to a release whose protocol range overlaps the server's.",
  },
  SERVER_OUTDATED: {
    grpc: "FAILED_PRECONDITION",
    exit: 5,
    hint: "Upgrade the server first (see `waypoint upgrade plan`), or use an older client.",
  },
  UNAUTHENTICATED: {
    grpc: "UNAUTHENTICATED",
    exit: 4,
    hint: "Pass a token with -server-token, WAYPOINT_SERVER_TOKEN or a context (`waypoint context create`).",
  },
  PERMISSION_DENIED: {
    grpc: "PERMISSION_DENIED",
    exit: 4,
    hint: "Use a token of a kind allowed to do this (see `waypoint token new -help`).",
  },
  ALREADY_BOOTSTRAPPED: {
    grpc: "FAILED_PRECONDITION",
    exit: 1,
    hint: "Ask an operator with a management token to run `waypoint token new -kind=management`.",
  },
  NOT_FOUND: { grpc: "NOT_FOUND", exit: 1, hint: "Check the name or id." },
  ALREADY_EXISTS: {
    grpc: "ALREADY_EXISTS",
    exit: 1,
    hint: "Pick another name, or pass -force to replace it.",
  },
  UNAVAILABLE: {
    grpc: "UNAVAILABLE",
    exit: 3,
    hint: "Check that the server is running and that -server-addr / WAYPOINT_SERVER_ADDR points at it.",
  },
  CATALOG_INVALID: { grpc: "INVALID_ARGUMENT", exit: 1, hint: "Fix the release catalog file and try again." },
  EMULATION_INVALID: {
    grpc: "INVALID_ARGUMENT",
    exit: 1,
    hint: "Set WAYPOINT_EMULATE_VERSION to a version listed in the catalog named by WAYPOINT_CATALOG.",
  },
  CONFIG_INVALID: {
    grpc: "INVALID_ARGUMENT",
    exit: 2,
    hint: "Fix the flag or environment variable named above.",
  },
  CONTEXT_INVALID: {
    grpc: "INVALID_ARGUMENT",
    exit: 1,
    hint: "Recreate the context with `waypoint context create`.",
  },
  DB_NEWER_SCHEMA: {
    grpc: "FAILED_PRECONDITION",
    exit: 10,
    hint: "Run a server release that knows this schema, or restore a snapshot taken by this release. The file was not modified.",
  },
  DB_LOCKED: {
    grpc: "FAILED_PRECONDITION",
    exit: 10,
    hint: "Another server holds the database. Stop it, or point -db at another file.",
  },
  DB_INVALID: {
    grpc: "FAILED_PRECONDITION",
    exit: 10,
    hint: "The file is not a waypoint database. Check -db, or restore from a snapshot.",
  },
  DATA_DIR_UNWRITABLE: {
    grpc: "FAILED_PRECONDITION",
    exit: 10,
    hint: "Make the directory writable by this user, or point -db elsewhere.",
  },
  PORT_IN_USE: {
    grpc: "FAILED_PRECONDITION",
    exit: 10,
    hint: "Stop whatever listens there, or pick another address with -listen-grpc / -listen-http.",
  },
  STARTUP_FAILED: {
    grpc: "FAILED_PRECONDITION",
    exit: 10,
    hint: "Fix what the message names and start the server again.",
  },
  INVENTORY_INVALID: {
    grpc: "INVALID_ARGUMENT",
    exit: 1,
    hint: "Fix the inventory file, or write a fresh one with `waypoint versions -json > inventory.json`.",
  },
  DOWNGRADE_REFUSED: {
    grpc: "FAILED_PRECONDITION",
    exit: 1,
    hint: "Plans only go forward. To go back, restore a snapshot taken before the upgrade: `waypoint server restore FILE`.",
  },
  SNAPSHOT_INVALID: {
    grpc: "INVALID_ARGUMENT",
    exit: 1,
    hint: "The file is damaged or is not a waypoint snapshot. Nothing was changed; use another copy or take a new snapshot.",
  },
  SNAPSHOT_INCOMPATIBLE: {
    grpc: "FAILED_PRECONDITION",
    exit: 1,
    hint: "It was written by a newer release. Nothing was changed; restore it with a server release that knows its format and schema.",
  },
  SNAPSHOT_DECRYPT_FAILED: {
    grpc: "INVALID_ARGUMENT",
    exit: 1,
    hint: "Check the passphrase (WAYPOINT_SNAPSHOT_PASSPHRASE or the prompt) or the -identity file. Nothing was changed.",
  },
  RESTORE_FAILED: {
    grpc: "FAILED_PRECONDITION",
    exit: 10,
    hint: "data.db was not touched. Remove or replace the staged waypoint-restore.db in the data dir to start with the current data.",
  },
  RESTORE_LOCKOUT: {
    grpc: "FAILED_PRECONDITION",
    exit: 1,
    hint: "Restoring replaces every token. Make sure you hold a management token that is in the snapshot (`waypoint snapshot verify FILE -server-token=…` says), then pass -force.",
  },
  WRITE_FAILED: {
    grpc: "INTERNAL",
    exit: 1,
    hint: "Check the free space and permissions of the target, or that the reader of the pipe stays until the end.",
  },
  INTERRUPTED: {
    grpc: "UNAVAILABLE",
    exit: 130,
    hint: "Nothing was kept from the interrupted run; run the command again.",
  },
  INSTANCE_NOT_CONNECTED: {
    grpc: "FAILED_PRECONDITION",
    exit: 1,
    hint: "The instance's entrypoint is not connected to the server now. See `waypoint instances` for connected instances, or wait for it to reconnect.",
  },
  EXEC_DISABLED: {
    grpc: "FAILED_PRECONDITION",
    exit: 1,
    hint: "The instance was started with WAYPOINT_CEB_DISABLE_EXEC set. Pick another instance, or redeploy without that variable to allow exec.",
  },
  INSTANCE_DISCONNECTED: {
    grpc: "UNAVAILABLE",
    exit: 3,
    hint: "The instance's entrypoint lost its connection to the server (the instance may have stopped or restarted). Check `waypoint instances` and run the command again.",
  },
  EXEC_FAILED: {
    grpc: "FAILED_PRECONDITION",
    exit: 1,
    hint: "The entrypoint could not run the command: check that it exists in the instance's image and is executable.",
  },
  RUNNER_ID_IN_USE: {
    grpc: "ALREADY_EXISTS",
    exit: 1,
    hint: "Give each runner its own -id (by default each installation makes one). If the other runner has just died, this one is accepted once the server notices.",
  },
  RUNNER_NOT_CONNECTED: {
    grpc: "FAILED_PRECONDITION",
    exit: 1,
    hint: "Queue it without a target for any runner, or start that runner first.",
  },
  STORAGE_FULL: {
    grpc: "RESOURCE_EXHAUSTED",
    exit: 1,
    hint: "Free space on the disk that holds the server's data dir. The change was not made and nothing stored was lost; reads go on meanwhile, and writes work again once there is room.",
  },
  MESSAGE_TOO_LARGE: {
    grpc: "RESOURCE_EXHAUSTED",
    exit: 1,
    hint: "Send less in one call (fewer or smaller configuration values at once), or ask the server's operator to raise -max-message-size (at most 16MiB).",
  },
  TOO_MANY_STREAMS: {
    grpc: "RESOURCE_EXHAUSTED",
    exit: 1,
    hint: "Close streams that are no longer needed (`logs -f`, `exec`, consoles), or ask the server's operator to raise the limit the message names.",
  },
  AUTH_THROTTLED: {
    grpc: "RESOURCE_EXHAUSTED",
    exit: 4,
    hint: "Too many calls from this address presented a token the server does not know. Fix the token (-server-token, WAYPOINT_SERVER_TOKEN or the context) and try again once the wait is over.",
  },
  UPLOAD_STALLED: {
    grpc: "UNAVAILABLE",
    exit: 1,
    hint: "Upload the snapshot again, from a file rather than a pipe that may pause (`waypoint server restore FILE`). The server gives up on an upload that sends nothing for a minute, so that a stalled one does not hold back snapshots and other restores.",
  },
  INTERNAL: { grpc: "INTERNAL", exit: 1, hint: "This is a bug; the server log has the details." },
} as const satisfies Record<string, { grpc: GrpcStatusName; exit: number; hint: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** gRPC status names used by the catalogue; src/server maps them to numbers. */
export type GrpcStatusName =
  | "INVALID_ARGUMENT"
  | "FAILED_PRECONDITION"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "UNAVAILABLE"
  | "RESOURCE_EXHAUSTED"
  | "INTERNAL";

export class AppError extends Error {
  override readonly name = "AppError";
  /** What to do about it; defaults to the code's hint. */
  readonly hint: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint ?? ERROR_CODES[code].hint;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  get grpcStatus(): GrpcStatusName {
    return ERROR_CODES[this.code].grpc;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
