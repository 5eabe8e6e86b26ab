import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { generateIdentity, identityToRecipient } from "age-encryption";
import test from "ava";
import { AppError } from "../../../src/protocol/errors.js";
import {
  ageStanzaKind,
  decrypt,
  encrypt,
  isAgeEncrypted,
  parseIdentities,
} from "../../../src/server/snapshot/crypt.js";
import { tempDir } from "../../helpers/temp.js";
import { flip } from "./helpers.js";

const run = promisify(execFile);

/** More than two of age's 64 KiB chunks, so chunking and the last-chunk flag are exercised. */
const PLAIN = randomBytes(150 * 1024 + 17);

const collect = async (stream: Readable) => Buffer.concat(await stream.toArray());

/** Fails (never skips) when the age CLI is missing, saying what to install. */
async function requireAge(): Promise<void> {
  try {
    await run("age", ["--version"]);
  } catch (err) {
    throw new Error(
      `the age CLI is missing: install the Debian package \`age\` (apt-get install age): ${err}`,
    );
  }
}

/**
 * Runs the real `age` CLI. age reads passphrases from the terminal only, so
 * with `input` it runs under script(1) (util-linux), which gives it a pty fed from stdin.
 */
async function age(args: string[], opts: { cwd: string; input?: string }): Promise<void> {
  if (opts.input === undefined) {
    await run("age", args, { cwd: opts.cwd });
    return;
  }
  const command = ["age", ...args].map((a) => `'${a}'`).join(" ");
  const child = execFile("script", ["-qec", command, "/dev/null"], { cwd: opts.cwd });
  child.stdin?.end(opts.input);
  await new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`)),
    );
  });
}

test("a passphrase round trip gives back the same bytes", async (t) => {
  const sealed = await collect(encrypt(Readable.from([PLAIN]), { passphrase: "correct horse" }));
  t.true(isAgeEncrypted(sealed.subarray(0, 32)));
  t.is(ageStanzaKind(sealed.subarray(0, 64)), "passphrase");
  t.deepEqual(await collect(decrypt(Readable.from([sealed]), { passphrase: "correct horse" })), PLAIN);
  const err = await t.throwsAsync(
    collect(decrypt(Readable.from([sealed]), { passphrase: "battery staple" })),
    {
      instanceOf: AppError,
    },
  );
  t.is(err?.code, "SNAPSHOT_DECRYPT_FAILED");
  t.is(err?.message, "wrong passphrase: it does not decrypt this snapshot");
});

test("a recipient round trip works for each recipient and no other identity", async (t) => {
  const [alice, bob, eve] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
  const recipients = await Promise.all([alice, bob].map(identityToRecipient));
  const sealed = await collect(encrypt(Readable.from([PLAIN]), { recipients }));
  t.is(ageStanzaKind(sealed), "recipients");
  for (const identity of [alice, bob]) {
    t.deepEqual(await collect(decrypt(Readable.from([sealed]), { identities: [identity] })), PLAIN);
  }
  const err = await t.throwsAsync(collect(decrypt(Readable.from([sealed]), { identities: [eve] })), {
    instanceOf: AppError,
  });
  t.is(err?.code, "SNAPSHOT_DECRYPT_FAILED");
  t.is(err?.message, "none of the given identities can decrypt this snapshot");
});

test("damaged or truncated ciphertext is refused, never passed on as complete", async (t) => {
  const identity = await generateIdentity();
  const sealed = await collect(
    encrypt(Readable.from([PLAIN]), { recipients: [await identityToRecipient(identity)] }),
  );
  const flipped = Buffer.from(sealed);
  flip(flipped, flipped.length - 1000);
  const truncated = sealed.subarray(0, sealed.length - 70 * 1024); // cut at no chunk boundary in particular
  for (const damaged of [flipped, truncated]) {
    const err = await t.throwsAsync(collect(decrypt(Readable.from([damaged]), { identities: [identity] })), {
      instanceOf: AppError,
    });
    t.is(err?.code, "SNAPSHOT_INVALID");
    t.regex(err?.message ?? "", /^the encrypted data is damaged or truncated \(.+\)$/);
  }
});

test("bad options are refused when encrypt or decrypt is called", (t) => {
  const input = () => Readable.from([PLAIN]);
  t.is(t.throws(() => encrypt(input(), {}), { instanceOf: AppError })?.code, "INVALID_ARGUMENT");
  t.is(
    t.throws(() => encrypt(input(), { passphrase: "x", recipients: ["age1x"] }), { instanceOf: AppError })
      ?.code,
    "INVALID_ARGUMENT",
  );
  t.regex(
    t.throws(() => encrypt(input(), { recipients: ["ssh-ed25519 AAAA"] }), { instanceOf: AppError })
      ?.message ?? "",
    /^not an age recipient: "ssh-ed25519 AAAA"/,
  );
  t.is(
    t.throws(() => decrypt(input(), { identities: ["not a key"] }), { instanceOf: AppError })?.code,
    "SNAPSHOT_DECRYPT_FAILED",
  );
});

test("the age header is recognised from its first bytes", (t) => {
  t.true(isAgeEncrypted(Buffer.from("age-encryption.org/v1\n-> X25519 abc\n")));
  t.false(isAgeEncrypted(Buffer.from("age-encryption.org/v2\n")));
  t.false(isAgeEncrypted(Buffer.from([0x1f, 0x8b, 0x08, 0x00])));
  t.false(isAgeEncrypted(new Uint8Array(0)));
  t.is(ageStanzaKind(Buffer.from("age-encryption.org/v1\n-> scrypt c2FsdA 18\n")), "passphrase");
  t.is(ageStanzaKind(Buffer.from("age-encryption.org/v1\n")), undefined);
});

test("identity files are read like age reads them", (t) => {
  const file =
    "# created: 2026-11-22\n# public key: age1xyz\nAGE-SECRET-KEY-1AAA\n\r\nAGE-SECRET-KEY-1BBB\r\n";
  t.deepEqual(parseIdentities(file), ["AGE-SECRET-KEY-1AAA", "AGE-SECRET-KEY-1BBB"]);
});

test("the real age CLI decrypts what we encrypt, and we decrypt what it encrypts", async (t) => {
  const dir = tempDir(t);
  await requireAge();
  await run("age-keygen", ["-o", join(dir, "key.txt")]);
  const identities = parseIdentities(readFileSync(join(dir, "key.txt"), "utf8"));
  const recipient = await identityToRecipient(identities[0] as string);

  writeFileSync(
    join(dir, "ours.age"),
    await collect(encrypt(Readable.from([PLAIN]), { recipients: [recipient] })),
  );
  await age(["-d", "-i", "key.txt", "-o", "ours.out", "ours.age"], { cwd: dir });
  t.deepEqual(readFileSync(join(dir, "ours.out")), PLAIN);

  writeFileSync(join(dir, "plain"), PLAIN);
  await age(["-r", recipient, "-o", "theirs.age", "plain"], { cwd: dir });
  const theirs = readFileSync(join(dir, "theirs.age"));
  t.deepEqual(await collect(decrypt(Readable.from([theirs]), { identities })), PLAIN);
});

test("the real age CLI decrypts a passphrase-encrypted file of ours, and we decrypt its", async (t) => {
  const dir = tempDir(t);
  await requireAge();
  const passphrase = "correct horse battery";
  writeFileSync(join(dir, "ours.age"), await collect(encrypt(Readable.from([PLAIN]), { passphrase })));
  await age(["-d", "-o", "ours.out", "ours.age"], { cwd: dir, input: `${passphrase}\n` });
  t.deepEqual(readFileSync(join(dir, "ours.out")), PLAIN);

  writeFileSync(join(dir, "plain"), PLAIN);
  await age(["-p", "-o", "theirs.age", "plain"], { cwd: dir, input: `${passphrase}\n${passphrase}\n` });
  const theirs = readFileSync(join(dir, "theirs.age"));
  t.deepEqual(await collect(decrypt(Readable.from([theirs]), { passphrase })), PLAIN);
});
