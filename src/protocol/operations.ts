/**
 * The operations an app may define, each a shell command stored on the
 * server, in the order `waypoint up` runs them (DESIGN §10).
 */
export const OPERATIONS = ["build", "deploy", "release"] as const;
export type OperationName = (typeof OPERATIONS)[number];

/** An app's operations: a command each (run with `sh -c`); absent when the app does not define it. */
export type AppOperations = { readonly [K in OperationName]?: string };
