import type * as grpc from "@grpc/grpc-js";

/**
 * Answers encoded ahead of the call. grpc-js serializes each response and each stream message with
 * protobufjs as it is written; an answer that is large (the inventory) or the same for many streams
 * (a configuration pushed to every instance) is cheaper encoded once, or in parts kept between calls.
 */

/** Bytes already in a method's response encoding; see `passEncoded`. */
export class EncodedMessage {
  constructor(readonly bytes: Buffer) {}
}

/**
 * `service` with the methods in `names` taking an EncodedMessage as their answer as it is; any
 * other answer is serialized as before. The handlers return the EncodedMessage in place of the
 * message (the cast is theirs to make).
 */
export function passEncoded(
  service: grpc.ServiceDefinition,
  names: readonly string[],
): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = { ...service };
  for (const name of names) {
    const method = service[name];
    if (!method) throw new Error(`passEncoded: the service has no method ${name}`);
    const serialize = method.responseSerialize;
    out[name] = {
      ...method,
      responseSerialize: (value: unknown) =>
        value instanceof EncodedMessage ? value.bytes : serialize(value),
    };
  }
  return out as grpc.ServiceDefinition;
}
