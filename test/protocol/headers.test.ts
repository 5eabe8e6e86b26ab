import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { AppError, type ErrorCode } from "../../src/protocol/errors.js";
import {
  CLIENT_KINDS,
  type ClientIdentity,
  decodeBearer,
  decodeClientHeaders,
  encodeClientHeaders,
  HEADERS,
} from "../../src/protocol/headers.js";

type Metadata = Record<string, readonly unknown[]>;

/** A metadata getter over `values`, the way gRPC's Metadata#get returns every value of a name. */
function getter(values: Metadata): (name: string) => readonly unknown[] {
  return (name) => values[name] ?? [];
}

/** Turns encoded headers into metadata with one value per name. */
function metadataOf(headers: Record<string, string>): Metadata {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));
}

function rejects(t: ExecutionContext, fn: () => unknown, code: ErrorCode, ...fragments: string[]): void {
  const err = t.throws(fn, { instanceOf: AppError });
  if (!err) return;
  t.is(err.code, code, err.message);
  for (const fragment of fragments) {
    t.true(
      err.message.includes(fragment),
      `expected ${JSON.stringify(err.message)} to contain ${JSON.stringify(fragment)}`,
    );
  }
}

const identity: ClientIdentity = {
  version: "0.3.1",
  kind: "runner",
  id: "01J9ZB7V6K3N2R5T8W4X0Y1Z2A",
  api: { min: 1, current: 2 },
  entrypoint: { min: 3, current: 5 },
  emulated: false,
};

const validMetadata: Metadata = metadataOf(encodeClientHeaders(identity));

// --- encoding and the round trip ---------------------------------------------------------------

test("encodes exactly the five required headers for a component that does not emulate", (t) => {
  t.deepEqual(encodeClientHeaders(identity), {
    "client-version": "0.3.1",
    "client-kind": "runner",
    "client-id": "01J9ZB7V6K3N2R5T8W4X0Y1Z2A",
    "client-api-protocol": "1,2",
    "client-entrypoint-protocol": "3,5",
  });
});

test("adds client-emulated=true for an emulating component", (t) => {
  const headers = encodeClientHeaders({ ...identity, emulated: true });
  t.is(headers[HEADERS.emulated], "true");
  t.is(Object.keys(headers).length, 6);
});

test("uses lower-case header names, as gRPC metadata requires", (t) => {
  for (const name of Object.values(HEADERS)) t.is<string, string>(name, name.toLowerCase());
  for (const name of Object.keys(encodeClientHeaders({ ...identity, emulated: true }))) {
    t.is<string, string>(name, name.toLowerCase());
  }
});

test("decodes what it encodes", (t) => {
  t.deepEqual(decodeClientHeaders(getter(validMetadata)), identity);
  const emulated = { ...identity, kind: "entrypoint" as const, emulated: true };
  t.deepEqual(decodeClientHeaders(getter(metadataOf(encodeClientHeaders(emulated)))), emulated);
});

const versionArb = fc
  .tuple(
    fc.nat({ max: 99 }),
    fc.nat({ max: 99 }),
    fc.nat({ max: 999 }),
    fc.option(fc.constantFrom("rc.1", "beta", "alpha.0.x", "dev.20240101"), { nil: undefined }),
    fc.option(fc.constantFrom("abc123", "build.7", "sha.0f3e"), { nil: undefined }),
  )
  .map(
    ([major, minor, patch, pre, build]) =>
      `${major}.${minor}.${patch}${pre === undefined ? "" : `-${pre}`}${build === undefined ? "" : `+${build}`}`,
  );

const rangeArb = fc
  .tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 1_000_000 }))
  .map(([a, b]) => ({ min: Math.min(a, b), current: Math.max(a, b) }));

const identityArb: fc.Arbitrary<ClientIdentity> = fc.record({
  version: versionArb,
  kind: fc.constantFrom(...CLIENT_KINDS),
  id: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/),
  api: rangeArb,
  entrypoint: rangeArb,
  emulated: fc.boolean(),
});

test("decodes what it encodes for any valid identity (property)", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(identityArb, (who) => {
        const decoded = decodeClientHeaders(getter(metadataOf(encodeClientHeaders(who))));
        return JSON.stringify(decoded) === JSON.stringify(who);
      }),
      { numRuns: 1000 },
    ),
  );
});

// --- accepted values -----------------------------------------------------------------------------

test("accepts a pre-release version with build metadata", (t) => {
  const decoded = decodeClientHeaders(
    getter({ ...validMetadata, "client-version": ["1.2.3-rc.1+sha.0f3e"] }),
  );
  t.is(decoded.version, "1.2.3-rc.1+sha.0f3e");
});

test("accepts every client kind", (t) => {
  for (const kind of ["cli", "ui", "runner", "entrypoint"]) {
    t.is<string, string>(decodeClientHeaders(getter({ ...validMetadata, "client-kind": [kind] })).kind, kind);
  }
});

test("accepts a client-id of 128 characters", (t) => {
  const id = "a0._:-Z".repeat(20).slice(0, 128);
  t.is(id.length, 128);
  t.is(decodeClientHeaders(getter({ ...validMetadata, "client-id": [id] })).id, id);
});

test("accepts a single-number protocol range", (t) => {
  const decoded = decodeClientHeaders(getter({ ...validMetadata, "client-api-protocol": ["4,4"] }));
  t.deepEqual(decoded.api, { min: 4, current: 4 });
});

// --- rejected values, for each required header ---------------------------------------------------

const REQUIRED = [
  {
    name: "client-version",
    malformed: ["", "not-a-version", "1.2", "1.2.3.4", "01.2.3", "v1.2.3", "=1.2.3", " 1.2.3", "1.2.3 "],
  },
  { name: "client-kind", malformed: ["", "server", "CLI", "client", " cli"] },
  {
    name: "client-id",
    malformed: ["", "has space", "-leading-dash", ".hidden", "slash/y", "ünïcode", "a".repeat(129)],
  },
  {
    name: "client-api-protocol",
    malformed: [
      "",
      "1",
      "2,1",
      "0,1",
      "1,0",
      "-1,2",
      "1,2,3",
      "a,b",
      "1;2",
      "1.5,2",
      "1,1000001",
      "1,10000000",
    ],
  },
  {
    name: "client-entrypoint-protocol",
    malformed: ["", "3", "5,3", "0,0", "1,2,", "x", "1 2", "1,99999999"],
  },
] as const;

test("lists the five required headers in HEADERS", (t) => {
  t.deepEqual(
    [HEADERS.version, HEADERS.kind, HEADERS.id, HEADERS.api, HEADERS.entrypoint],
    REQUIRED.map((h) => h.name),
  );
});

for (const { name, malformed } of REQUIRED) {
  test(`rejects a missing ${name} header`, (t) => {
    const { [name]: _dropped, ...rest } = validMetadata;
    rejects(t, () => decodeClientHeaders(getter(rest)), "INVALID_HEADER", name, "missing");
  });

  test(`rejects a ${name} header sent without any value`, (t) => {
    rejects(t, () => decodeClientHeaders(getter({ ...validMetadata, [name]: [] })), "INVALID_HEADER", name);
  });

  test(`rejects a duplicated ${name} header`, (t) => {
    const value = validMetadata[name]![0];
    rejects(
      t,
      () => decodeClientHeaders(getter({ ...validMetadata, [name]: [value, value] })),
      "INVALID_HEADER",
      name,
      "2 times",
    );
  });

  test(`rejects a binary ${name} header`, (t) => {
    const value = Buffer.from(String(validMetadata[name]![0]));
    rejects(
      t,
      () => decodeClientHeaders(getter({ ...validMetadata, [name]: [value] })),
      "INVALID_HEADER",
      name,
    );
  });

  for (const value of malformed) {
    test(`rejects a malformed ${name} header ${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value)}`, (t) => {
      rejects(
        t,
        () => decodeClientHeaders(getter({ ...validMetadata, [name]: [value] })),
        "INVALID_HEADER",
        name,
      );
    });
  }
}

test("maps INVALID_HEADER to gRPC INVALID_ARGUMENT", (t) => {
  const err = t.throws(() => decodeClientHeaders(getter({})), { instanceOf: AppError });
  t.is(err?.grpcStatus, "INVALID_ARGUMENT");
});

// --- client-emulated -------------------------------------------------------------------------------

test("treats a missing client-emulated header as not emulated", (t) => {
  t.is(validMetadata[HEADERS.emulated], undefined);
  t.false(decodeClientHeaders(getter(validMetadata)).emulated);
});

test("reads client-emulated true and false", (t) => {
  t.true(decodeClientHeaders(getter({ ...validMetadata, "client-emulated": ["true"] })).emulated);
  t.false(decodeClientHeaders(getter({ ...validMetadata, "client-emulated": ["false"] })).emulated);
});

test("rejects a malformed client-emulated header", (t) => {
  for (const value of ["yes", "1", "TRUE", ""]) {
    rejects(
      t,
      () => decodeClientHeaders(getter({ ...validMetadata, "client-emulated": [value] })),
      "INVALID_HEADER",
      "client-emulated",
    );
  }
});

test("rejects a duplicated client-emulated header", (t) => {
  rejects(
    t,
    () => decodeClientHeaders(getter({ ...validMetadata, "client-emulated": ["true", "true"] })),
    "INVALID_HEADER",
    "client-emulated",
  );
});

// --- decodeBearer ----------------------------------------------------------------------------------

const bearer = (...values: unknown[]) => decodeBearer(getter({ authorization: values }));

test("returns no token when the authorization header is absent", (t) => {
  t.is(decodeBearer(getter({})), undefined);
});

test("extracts the token from a Bearer authorization header", (t) => {
  t.is(bearer("Bearer wp_abc.DEF-123~"), "wp_abc.DEF-123~");
});

test("accepts the Bearer scheme in any letter case", (t) => {
  t.is(bearer("bearer tok"), "tok");
  t.is(bearer("BEARER tok"), "tok");
});

test("accepts a token of 512 characters and rejects one of 513", (t) => {
  t.is(bearer(`Bearer ${"x".repeat(512)}`), "x".repeat(512));
  rejects(t, () => bearer(`Bearer ${"x".repeat(513)}`), "UNAUTHENTICATED", "authorization");
});

test("rejects an authorization header that is not a Bearer token", (t) => {
  for (const value of [
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer ",
    "Bearer  tok",
    "Bearer a b",
    "tok",
    "Bearer tök",
  ]) {
    rejects(t, () => bearer(value), "UNAUTHENTICATED", "authorization", "Bearer <token>");
  }
});

test("rejects a binary authorization header", (t) => {
  rejects(t, () => bearer(Buffer.from("Bearer tok")), "UNAUTHENTICATED", "authorization");
});

test("rejects a duplicated authorization header", (t) => {
  rejects(t, () => bearer("Bearer one", "Bearer two"), "UNAUTHENTICATED", "authorization", "2 times");
});

test("does not repeat the offered credentials in its error message", (t) => {
  const err = t.throws(() => bearer("Basic s3cr3t-value"), { instanceOf: AppError });
  t.false(err?.message.includes("s3cr3t-value"));
});
