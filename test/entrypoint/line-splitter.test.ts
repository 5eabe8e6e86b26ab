import test from "ava";
import fc from "fast-check";
import { LineSplitter } from "../../src/entrypoint/line-splitter.js";

function split(reads: string[], max = 1024): string[] {
  const out: string[] = [];
  const s = new LineSplitter(max, (b) => out.push(b.toString()));
  for (const r of reads) s.feed(Buffer.from(r));
  s.flush();
  return out;
}

test("emits whole lines only, keeping a partial line until its end arrives", (t) => {
  t.deepEqual(split(["a\nb", "c\nd\n", "e"]), ["a\n", "bc\n", "d\n", "e"]);
});

test("a read without a newline is kept, then joined", (t) => {
  t.deepEqual(split(["ab", "cd", "ef\n"]), ["abcdef\n"]);
});

test("a partial line longer than the limit is passed on in pieces", (t) => {
  t.deepEqual(split(["aaaa", "bbbb", "c\n"], 6), ["aaaabbbb", "c\n"]);
});

test("whatever the reads, the output is the input, and every piece but the last ends a line", (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: fc.constantFrom("a", "b", "\n") })), (reads) => {
      const out = split(reads);
      t.is(out.join(""), reads.join(""));
      for (const piece of out.slice(0, -1)) if (!piece.endsWith("\n")) return false;
      return true;
    }),
  );
});
