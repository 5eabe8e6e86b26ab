import { closeSync, fsyncSync, openSync } from "node:fs";

/**
 * fsync a file, or a directory so that a rename in it survives a power cut.
 * For directories it is best effort: some file systems cannot fsync one, and
 * the rename itself is atomic regardless. A file that cannot be synced throws.
 */
export function fsyncPath(path: string, opts: { bestEffort?: boolean } = {}): void {
  try {
    const fd = openSync(path, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (!opts.bestEffort) throw err;
  }
}

/** fsync a directory, best effort. */
export function syncDir(dir: string): void {
  fsyncPath(dir, { bestEffort: true });
}
