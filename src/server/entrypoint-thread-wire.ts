/**
 * What the entrypoint listener's thread (entrypoint-thread.ts) and the main thread
 * (entrypoint-listener.ts) say to each other. Each side sends its operations in batches, one
 * message per turn of its loop. Message bytes travel as latin1 strings (one character per byte):
 * a string is copied into the receiver's heap, where an ArrayBuffer would count towards V8's
 * external memory and start full collections as the fleet's logs pass through.
 */
export const LATIN1 = "latin1";

export type CallKind = "serverStream" | "clientStream" | "bidi";

export interface ThreadSetup {
  readonly address: string;
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly maxMessageBytes: number;
  readonly methods: readonly { readonly name: string; readonly path: string; readonly kind: CallKind }[];
  /** The thread's nice value (Linux), above the main thread's so that operators' calls go first. */
  readonly nice: number;
}

export type Headers = Record<string, string | string[]>;

export type FromThread =
  | { readonly op: "listening"; readonly port: number }
  | { readonly op: "failed"; readonly message: string; readonly code: string }
  | { readonly op: "closed" }
  | {
      readonly op: "open";
      readonly id: number;
      readonly path: string;
      readonly headers: Headers;
      readonly peer: string;
      /** Milliseconds since the epoch; null for none. */
      readonly deadline: number | null;
      readonly host: string;
      /** A server stream's one request. */
      readonly request?: string;
    }
  | { readonly op: "message"; readonly id: number; readonly data: string }
  | { readonly op: "halfClose"; readonly id: number }
  | { readonly op: "cancel"; readonly id: number }
  | { readonly op: "written"; readonly id: number };

export type ToThread =
  | { readonly op: "write"; readonly id: number; readonly data: string }
  | { readonly op: "metadata"; readonly id: number; readonly headers: Headers }
  | {
      readonly op: "status";
      readonly id: number;
      readonly code: number;
      readonly details: string;
      readonly headers: Headers | null;
    }
  | { readonly op: "pause"; readonly id: number }
  | { readonly op: "resume"; readonly id: number }
  | { readonly op: "shutdown"; readonly graceMs: number };
