import type { ServerOptions } from "node:http";

/**
 * Request limits shared by the HTTP listener and the URL service: the request head must arrive within
 * `headersTimeoutMs` (else 408 and the connection is closed, so a client trickling its headers cannot
 * hold a connection open) and be at most `maxHeaderBytes` (else 431). The body has no time or size
 * limit: snapshot uploads and apps' uploads are large and slow by design, and are streamed.
 *
 * Node checks these timeouts on a timer (`connectionsCheckingInterval`); it runs at a quarter of the
 * head timeout, so a slow head is cut within 1.25 times the limit.
 */
export function httpLimits(headersTimeoutMs: number, maxHeaderBytes: number): ServerOptions {
  return {
    headersTimeout: headersTimeoutMs,
    // Node's default (300 s) would cut a long snapshot upload or download short.
    requestTimeout: 0,
    maxHeaderSize: maxHeaderBytes,
    connectionsCheckingInterval: Math.max(100, Math.floor(headersTimeoutMs / 4)),
  };
}
