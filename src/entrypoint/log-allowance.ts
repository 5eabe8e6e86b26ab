/**
 * What the server allows on one paced log stream (proto: paces_logs, LogCredit): bytes of log data
 * (LogChunk.data) counted from the stream's start. The entrypoint sends only while it has room;
 * a batch always carries at least one line, so `sent` may pass `limit` by the part of a line that
 * did not fit, and then it waits for the next credit.
 */
export class LogAllowance {
  private limit = 0;
  private sentBytes = 0;

  /** `stream`: this log stream's number, sent in its first batch (1 and up, new for each stream). */
  constructor(readonly stream: number) {}

  /** A LogCredit for this stream: the newest one holds, lower or higher. */
  grant(limit: number): void {
    this.limit = limit;
  }

  /** Bytes that may be sent now (0 or less: wait for credit). */
  get room(): number {
    return this.limit - this.sentBytes;
  }

  /** Counts a batch's data bytes as sent. */
  spend(bytes: number): void {
    this.sentBytes += bytes;
  }
}
