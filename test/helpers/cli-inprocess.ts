import { PassThrough } from "node:stream";
import type { ExecutionContext } from "ava";
import { run } from "../../src/cli/run.js";
import { tempDir } from "./temp.js";

/**
 * Runs the CLI in this process (fast), with its own config dir unless `env` names one. stdin stays
 * open and empty unless `opts.stdin` gives its whole content (then it ends).
 */
export async function cli(
  t: ExecutionContext,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  opts: { stdin?: string | Buffer } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  stdout.on("data", (c: Buffer) => chunks.out.push(c));
  stderr.on("data", (c: Buffer) => chunks.err.push(c));
  const stdin = new PassThrough();
  if (opts.stdin !== undefined) stdin.end(opts.stdin);
  const code = await run(args, {
    stdout,
    stderr,
    stdin,
    env: { XDG_CONFIG_HOME: tempDir(t, "waypoint-cfg-"), ...env },
  });
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString() };
}
