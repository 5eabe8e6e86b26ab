/**
 * The gRPC health service (grpc.health.v1.Health) as a client written in
 * another language sees it: Python's grpcio from Debian (apt package
 * python3-grpcio, for /usr/bin/python3). Debian ships no health stubs
 * (grpcio-health-checking), so the script calls the method with raw protobuf
 * bytes: HealthCheckRequest{service} is field 1 (tag 0x0a), length, UTF-8;
 * the empty service is the empty message; HealthCheckResponse{SERVING} is 08 01.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import test from "ava";
import { startServerProcess } from "../helpers/process.js";

const PYTHON = "/usr/bin/python3";

const CLIENT = `
import json, sys
import grpc

def request(service):
    raw = service.encode()
    assert len(raw) < 128  # one-byte varint length
    return b"" if not raw else b"\\x0a" + bytes([len(raw)]) + raw

raw = lambda b: b
with grpc.insecure_channel(sys.argv[1]) as channel:
    check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=raw, response_deserializer=raw)
    for service in sys.argv[2:]:
        try:
            print(json.dumps({"service": service, "code": "OK", "response": check(request(service), timeout=10).hex()}))
        except grpc.RpcError as e:
            print(json.dumps({"service": service, "code": e.code().name, "details": e.details()}))
`;

test("a Python grpcio client sees the health service report SERVING", async (t) => {
  const probe = await promisify(execFile)(PYTHON, ["-c", "import grpc; print(grpc.__version__)"]).catch(
    (err: Error) => err,
  );
  if (probe instanceof Error) {
    t.fail(`${PYTHON} with grpcio is needed (Debian: apt-get install python3-grpcio): ${probe.message}`);
    return;
  }
  t.log(`python grpcio ${probe.stdout.trim()}`);

  const server = await startServerProcess(t);
  const services = ["", "waypoint.v1.Waypoint", "waypoint.v1.Entrypoint", "no.such.Service"];
  const { stdout } = await promisify(execFile)(PYTHON, ["-c", CLIENT, server.grpcAddress, ...services], {
    timeout: 30_000,
  });
  const answers = stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { service: string; code: string; response?: string });
  t.deepEqual(
    answers.map(({ service, code, response }) => ({ service, code, response })),
    [
      { service: "", code: "OK", response: "0801" },
      { service: "waypoint.v1.Waypoint", code: "OK", response: "0801" },
      { service: "waypoint.v1.Entrypoint", code: "OK", response: "0801" },
      { service: "no.such.Service", code: "NOT_FOUND", response: undefined },
    ],
  );
});
