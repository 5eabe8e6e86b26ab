import { PassThrough } from "node:stream";
import type { ExecutionContext } from "ava";
import { run } from "../../src/cli/run.js";
import { tempDir } from "./temp.js";

/** Runs the CLI in this process (fast), with its own config dir unless `env` names one. */
export async function cli(
  t: ExecutionContext,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  stdout.on("data", (c: Buffer) => chunks.out.push(c));
  stderr.on("data", (c: Buffer) => chunks.err.push(c));
  const code = await run(args, {
    stdout,
    stderr,
    stdin: new PassThrough(),
    env: { XDG_CONFIG_HOME: tempDir(t, "waypoint-cfg-"), ...env },
  });
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString() };
}
