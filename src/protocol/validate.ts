import semver from "semver";

/** Small checks shared by every parser of outside input in src/protocol. */

export type Obj = Record<string, unknown>;

/** Ids of components (client-id header, inventory ids, entrypoint instances). */
export const COMPONENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function isComponentId(value: unknown): value is string {
  return typeof value === "string" && COMPONENT_ID_PATTERN.test(value);
}

/**
 * True for a semantic version written exactly as semver prints it (build
 * metadata allowed). semver.valid also accepts "v1.2.3" and surrounding
 * blanks; such a version would never match a catalog release by name.
 */
export function isCanonicalSemver(text: string): boolean {
  const parsed = semver.parse(text);
  if (parsed === null) return false;
  const build = parsed.build.length > 0 ? `+${parsed.build.join(".")}` : "";
  return `${parsed.version}${build}` === text;
}

/** A plain JSON object, or `onError()`. */
export function asObject(value: unknown, onError: () => never): Obj {
  if (typeof value !== "object" || value === null || Array.isArray(value)) onError();
  return value as Obj;
}

/** Calls `onUnknown` with the first key of `o` not in `allowed`. */
export function onlyKeys(o: Obj, allowed: readonly string[], onUnknown: (key: string) => never): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) onUnknown(k);
}
