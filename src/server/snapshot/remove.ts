import { open, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

/** Bytes freed per step, and the pause between steps. */
const SLICE_BYTES = 16 * 1024 * 1024;
const PAUSE_MS = 5;

/**
 * Removes a temp file that may hold a whole database (the online copy of a snapshot, a data.db
 * extracted to be verified) without stalling the server. Freeing a gigabyte in one unlink can hold
 * the file system for a second where freed blocks are discarded at once (ext4 mounted with
 * `discard`, common on cloud disks): every fsync meanwhile waits, and the store's writes fsync on
 * the event loop. So the file is cut down a slice at a time, off the event loop with a pause
 * between slices, then unlinked; a write waits for one slice at most.
 *
 * Only a file with no other name is cut down (a hard link elsewhere keeps its data); anything else
 * is simply unlinked. A missing file is not an error; failing to unlink is.
 */
export async function removeGradually(path: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r+");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    await rm(path, { force: true });
    return;
  }
  try {
    const st = await handle.stat();
    if (st.isFile() && st.nlink === 1) {
      for (let size = st.size; size > SLICE_BYTES; ) {
        size -= SLICE_BYTES;
        await handle.truncate(size);
        await sleep(PAUSE_MS);
      }
    }
  } catch {
    // Cutting down is only a courtesy to the file system; the unlink below is what counts.
  } finally {
    await handle.close().catch(() => {});
  }
  await rm(path, { force: true });
}
