import { readdirSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import { gunzipSync, gzipSync } from "node:zlib";
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { AppError } from "../../../src/protocol/errors.js";
import { verifySnapshot } from "../../../src/server/snapshot/verify.js";
import { tempDir } from "../../helpers/temp.js";
import { rowsOf, snapshotBytes, storeWithRows } from "./helpers.js";

/**
 * Mutated snapshots: every run either verifies to exactly the original data
 * or fails with an AppError of a snapshot code — never another error, never
 * a hang or crash, and never a file left behind in `dir`.
 */

type Mutation =
  | { readonly op: "flip"; readonly at: number; readonly mask: number }
  | { readonly op: "truncate"; readonly at: number }
  | { readonly op: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: "duplicate"; readonly from: number; readonly length: number; readonly at: number };

/** Anywhere (taken modulo the length), or within the first member's header, meta.json and data.db's header. */
const position = fc.oneof(fc.nat({ max: 1_000_000 }), fc.nat({ max: 2048 }));
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant("flip"), at: position, mask: fc.integer({ min: 1, max: 255 }) }),
  },
  fc.record({ op: fc.constant("truncate"), at: position }),
  fc.record({
    op: fc.constant("insert"),
    at: position,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }),
  }),
  fc.record({
    op: fc.constant("duplicate"),
    from: position,
    length: fc.integer({ min: 1, max: 2048 }),
    at: position,
  }),
);

function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let buf = input;
  for (const m of mutations) {
    const at = (n: number) => (buf.length === 0 ? 0 : n % (buf.length + 1));
    switch (m.op) {
      case "flip": {
        if (buf.length === 0) break;
        buf = Buffer.from(buf);
        const i = m.at % buf.length;
        buf[i] = (buf[i] ?? 0) ^ m.mask;
        break;
      }
      case "truncate":
        buf = buf.subarray(0, at(m.at));
        break;
      case "insert": {
        const i = at(m.at);
        buf = Buffer.concat([buf.subarray(0, i), m.bytes, buf.subarray(i)]);
        break;
      }
      case "duplicate": {
        const from = at(m.from);
        const range = buf.subarray(from, from + m.length);
        const i = at(m.at);
        buf = Buffer.concat([buf.subarray(0, i), range, buf.subarray(i)]);
        break;
      }
    }
  }
  return buf;
}

const SNAPSHOT_CODES = ["SNAPSHOT_INVALID", "SNAPSHOT_INCOMPATIBLE", "SNAPSHOT_DECRYPT_FAILED"];

async function fuzz(t: ExecutionContext, layer: "gzip" | "tar"): Promise<void> {
  const { bytes, meta } = await snapshotBytes(t, storeWithRows(t));
  const dir = tempDir(t);
  const original = await verifySnapshot(Readable.from([bytes]), { dir });
  const expected = rowsOf(original.dbPath);
  rmSync(original.dbPath);
  const tarball = gunzipSync(bytes);

  let verified = 0;
  const failures = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (mutations) => {
      const input = layer === "gzip" ? mutate(bytes, mutations) : gzipSync(mutate(tarball, mutations));
      try {
        const result = await verifySnapshot(Readable.from([input]), { dir });
        verified++;
        try {
          t.deepEqual(result.meta, meta);
          t.deepEqual(rowsOf(result.dbPath), expected);
        } finally {
          rmSync(result.dbPath);
        }
      } catch (err) {
        if (!(err instanceof AppError) || !SNAPSHOT_CODES.includes(err.code)) {
          t.fail(
            `not a snapshot AppError: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
          );
          throw err;
        }
        const kind = err.message.replace(/["(].*$/, "").trim();
        failures.set(kind, (failures.get(kind) ?? 0) + 1);
      }
      const left = readdirSync(dir);
      if (left.length > 0) throw new Error(`left behind in dir: ${left.join(", ")}`);
    }),
    { numRuns: 400 },
  );
  t.log(`${verified} verified; failures:`, Object.fromEntries(failures));
  t.true(failures.size >= 3, "the mutations reach several different checks");
}

test("mutated gzip bytes verify to the original data or fail with a snapshot AppError", (t) =>
  fuzz(t, "gzip"));

test("mutated tar bytes verify to the original data or fail with a snapshot AppError", (t) => fuzz(t, "tar"));
