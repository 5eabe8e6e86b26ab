/** "20261122T101500Z": a UTC time to the second for file names; sorts by time, safe on every file system. */
export function compactTimeStamp(now = new Date()): string {
  return now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}
