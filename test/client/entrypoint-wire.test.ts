import test from "ava";
import fc from "fast-check";
import {
  decodeConfigResponse,
  decodeExecResponse,
  decodeLogsResponse,
  decodeTunnelResponse,
  encodeConfigRequest,
  encodeExecRequest,
  encodeLogBatch,
  encodeTunnelRequest,
  WireError,
} from "../../src/client/entrypoint-wire.js";
import { ProtoWriter } from "../../src/client/protobuf.js";
import { loadWaypointProto } from "../../src/gen/load.js";

/**
 * The entrypoint's own codec against protobufjs reading the .proto (what the
 * server uses): every message the entrypoint sends is read back by
 * protobufjs as sent, and every message the server sends is read by the
 * entrypoint as protobufjs reads it.
 */

interface MethodDef {
  requestSerialize(v: unknown): Buffer;
  requestDeserialize(b: Buffer): unknown;
  responseSerialize(v: unknown): Buffer;
  responseDeserialize(b: Buffer): unknown;
}
const service = loadWaypointProto().definition["waypoint.v1.Entrypoint"] as unknown as Record<
  string,
  MethodDef
>;
const method = (name: string): MethodDef => service[name]!;

/** Plain data, for comparing: Buffers as byte arrays, undefined members left out. */
function plain(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v, (_k, x) =>
      x && typeof x === "object" && x.type === "Buffer" && Array.isArray(x.data) ? { bytes: x.data } : x,
    ),
  );
}

const text = fc.string({ unit: "binary", maxLength: 40 });
const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const uint32 = fc.integer({ min: 0, max: 0xffffffff });

test("EntrypointConfigRequest: what the entrypoint writes, protobufjs reads", (t) => {
  fc.assert(
    fc.property(
      fc.record({
        instanceId: text,
        deploymentId: text,
        hostname: text,
        pid: int32,
        startedAt: text,
        execDisabled: fc.boolean(),
      }),
      (m) => {
        t.deepEqual(plain(method("EntrypointConfig").requestDeserialize(encodeConfigRequest(m))), plain(m));
      },
    ),
    { numRuns: 500 },
  );
});

test("EntrypointLogBatch: what the entrypoint writes, protobufjs reads", (t) => {
  fc.assert(
    fc.property(
      fc.record({
        instanceId: text,
        chunks: fc.array(
          fc.record({ source: fc.constantFrom("stdout", "stderr", ""), data: bytes, at: text }),
          {
            maxLength: 5,
          },
        ),
        droppedLines: fc.maxSafeNat(),
        stream: uint32,
      }),
      (m) => {
        t.deepEqual(plain(method("EntrypointLogs").requestDeserialize(encodeLogBatch(m))), plain(m));
      },
    ),
    { numRuns: 500 },
  );
});

test("EntrypointExecRequest: every member of the oneof, defaults included, protobufjs reads", (t) => {
  const request = fc.oneof(
    fc
      .record({ open: fc.record({ instanceId: text, session: text }) })
      .map((m) => ({ ...m, request: "open" as const })),
    bytes.map((stdout) => ({ stdout, request: "stdout" as const })),
    bytes.map((stderr) => ({ stderr, request: "stderr" as const })),
    int32.map((exitCode) => ({ exitCode, request: "exitCode" as const })),
    text.map((error) => ({ error, request: "error" as const })),
  );
  fc.assert(
    fc.property(request, fc.boolean(), (m, named) => {
      // The entrypoint's code names no member (`{ exitCode: 0 }`): the codec finds it.
      const given = named ? m : Object.fromEntries(Object.entries(m).filter(([k]) => k !== "request"));
      const read = method("EntrypointExec").requestDeserialize(encodeExecRequest(given)) as Record<
        string,
        unknown
      >;
      t.deepEqual(plain(read), plain(m));
    }),
    { numRuns: 500 },
  );
});

test("EntrypointConfigResponse: what the server writes, the entrypoint reads as protobufjs does", (t) => {
  const def = method("EntrypointConfig");
  fc.assert(
    fc.property(
      fc.record(
        {
          config: fc.array(fc.record({ name: text, value: text }), { maxLength: 6 }),
          exec: fc.record({ session: text }),
          hasConfig: fc.boolean(),
          tunnel: fc.record({ session: text, cancel: fc.boolean() }),
          pacesLogs: fc.boolean(),
          logCredit: fc.record({ stream: uint32, limit: fc.maxSafeNat() }),
        },
        { requiredKeys: [] },
      ),
      (m) => {
        const wire = def.responseSerialize(m);
        t.deepEqual(plain(decodeConfigResponse(wire)), plain(def.responseDeserialize(wire)));
      },
    ),
    { numRuns: 500 },
  );
});

test("EntrypointExecResponse: what the server writes, the entrypoint reads as protobufjs does", (t) => {
  const def = method("EntrypointExec");
  const start = fc.record(
    {
      instance: text,
      app: text,
      args: fc.array(text, { maxLength: 5 }),
      tty: fc.boolean(),
      rows: uint32,
      cols: uint32,
      term: text,
    },
    { requiredKeys: [] },
  );
  const response = fc.oneof(
    start.map((s) => ({ start: s })),
    bytes.map((stdin) => ({ stdin })),
    fc.boolean().map((stdinEof) => ({ stdinEof })),
    fc.record({ rows: uint32, cols: uint32 }, { requiredKeys: [] }).map((window) => ({ window })),
  );
  fc.assert(
    fc.property(response, (m) => {
      const wire = def.responseSerialize(m);
      t.deepEqual(plain(decodeExecResponse(wire)), plain(def.responseDeserialize(wire)));
    }),
    { numRuns: 500 },
  );
});

const header = fc.record({ name: text, value: text });

test("EntrypointTunnelRequest: every member of the oneof, defaults included, protobufjs reads", (t) => {
  const request = fc.oneof(
    fc
      .record({ open: fc.record({ instanceId: text, session: text }) })
      .map((m) => ({ ...m, request: "open" as const })),
    fc
      .record({ head: fc.record({ status: uint32, headers: fc.array(header, { maxLength: 5 }) }) })
      .map((m) => ({ ...m, request: "head" as const })),
    bytes.map((body) => ({ body, request: "body" as const })),
    fc.boolean().map((end) => ({ end, request: "end" as const })),
    text.map((error) => ({ error, request: "error" as const })),
  );
  fc.assert(
    fc.property(request, fc.boolean(), (m, named) => {
      const given = named ? m : Object.fromEntries(Object.entries(m).filter(([k]) => k !== "request"));
      const read = method("EntrypointTunnel").requestDeserialize(encodeTunnelRequest(given)) as Record<
        string,
        unknown
      >;
      t.deepEqual(plain(read), plain(m));
    }),
    { numRuns: 500 },
  );
});

test("EntrypointTunnelResponse: what the server writes, the entrypoint reads as protobufjs does", (t) => {
  const def = method("EntrypointTunnel");
  const head = fc.record(
    { method: text, path: text, headers: fc.array(header, { maxLength: 5 }), upgrade: fc.boolean() },
    { requiredKeys: [] },
  );
  const response = fc.oneof(
    head.map((h) => ({ head: h })),
    bytes.map((body) => ({ body })),
    fc.boolean().map((end) => ({ end })),
  );
  fc.assert(
    fc.property(response, (m) => {
      const wire = def.responseSerialize(m);
      t.deepEqual(plain(decodeTunnelResponse(wire)), plain(def.responseDeserialize(wire)));
    }),
    { numRuns: 500 },
  );
});

test("fields the entrypoint does not know are skipped, of every wire type", (t) => {
  const known = method("EntrypointConfig").responseSerialize({
    config: [{ name: "A", value: "1" }],
    hasConfig: true,
  });
  const unknown = Buffer.from([
    ...[0x78, 0x96, 0x01], // field 15, varint 150
    ...[0x79, 1, 2, 3, 4, 5, 6, 7, 8], // field 15, fixed64
    ...[0x7a, 0x02, 0x61, 0x62], // field 15, length-delimited "ab"
    ...[0x7d, 1, 2, 3, 4], // field 15, fixed32
  ]);
  const read = decodeConfigResponse(Buffer.concat([unknown, known, unknown]));
  t.deepEqual(read.config, [{ name: "A", value: "1", secret: false }]);
  t.true(read.hasConfig);
  t.deepEqual(decodeLogsResponse(unknown), {});
});

test("a damaged message is refused with a WireError, never read as something else", (t) => {
  const good = method("EntrypointExec").responseSerialize({ start: { args: ["sh", "-c", "echo hi"] } });
  for (let cut = 1; cut < good.length; cut++) {
    t.throws(() => decodeExecResponse(good.subarray(0, cut)), { instanceOf: WireError }, `cut at ${cut}`);
  }
  t.throws(() => decodeConfigResponse(Buffer.from([0x08])), { instanceOf: WireError }); // varint missing
  t.throws(() => decodeConfigResponse(Buffer.from([0x0a, 0x05, 0x00])), { instanceOf: WireError }); // short
  t.throws(() => decodeConfigResponse(Buffer.from([0x0b])), { instanceOf: WireError }); // group
  t.throws(() => decodeConfigResponse(Buffer.from([0x00])), { instanceOf: WireError }); // field 0
  t.throws(
    () =>
      decodeConfigResponse(
        Buffer.from([0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
      ),
    {
      instanceOf: WireError,
    },
  ); // varint over 10 bytes
  t.throws(() => decodeConfigResponse(Buffer.from([0x1a, 0x00])), { instanceOf: WireError }); // bool sent as bytes
});

test("the writer refuses values its field types cannot carry", (t) => {
  t.throws(() => new ProtoWriter().int32(1, 2 ** 31), { instanceOf: RangeError });
  t.throws(() => new ProtoWriter().uint(1, -1), { instanceOf: RangeError });
  t.throws(() => new ProtoWriter().uint(1, 2 ** 53), { instanceOf: RangeError });
});
