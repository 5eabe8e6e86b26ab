/**
 * What the CLI needs of the server's code without running a server: token hashing, the defaults its
 * flags show, and reading, verifying and encrypting snapshot files locally. Its imports stay clear of
 * the gRPC server (its health and reflection services load .proto files when imported), so every
 * command can import this at start; `main.ts` is the entry that runs a server, loaded only by the
 * commands that do.
 */
export { hashToken } from "./auth.js";
export { SERVER_DEFAULTS } from "./config.js";
export { EXIT_AFTER_STAGED_RESTORE } from "./services/snapshot-service.js";
export { decrypt, encrypt, isAgeEncrypted, parseIdentities } from "./snapshot/crypt.js";
export { resolveLimits } from "./snapshot/limits.js";
export { RESTORE_FILE } from "./snapshot/restore.js";
export type { SnapshotLimits, SnapshotMeta, VerifiedSnapshot } from "./snapshot/types.js";
export { readSnapshotMeta, verifySnapshot } from "./snapshot/verify.js";
