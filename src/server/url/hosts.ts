/**
 * The URL service's hostnames (issue: URL service): `<app>.<domain>` reaches the app's latest
 * deployment, `<app>--<deployment>.<domain>` one deployment, where the deployment is named by its
 * id ("web-v3") or by its version label ("v3"). Hostnames are case-insensitive, so apps are matched
 * without case; an app whose name cannot be a DNS label (a "." or "_" in it, or "--") has no URL.
 */

export interface UrlTarget {
  /** The app's name as the hostname spells it (lower case). */
  readonly app: string;
  /** The deployment label, when the hostname names one ("v3" or "web-v3"). */
  readonly deployment?: string;
}

/** A DNS label: letters, digits and single hyphens inside. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The target a Host header names under `domain`, or undefined for a host that is not ours. */
export function parseHost(host: string | undefined, domain: string): UrlTarget | undefined {
  if (!host) return undefined;
  const name = stripPort(host).toLowerCase().replace(/\.$/, "");
  const suffix = `.${domain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return undefined;
  const label = name.slice(0, -suffix.length);
  if (!LABEL.test(label)) return undefined;
  const at = label.indexOf("--");
  if (at < 0) return { app: label };
  const app = label.slice(0, at);
  const deployment = label.slice(at + 2);
  if (app === "" || deployment === "" || deployment.includes("--")) return undefined;
  return { app, deployment };
}

/** Whether `app` can have a URL: its name is one DNS label without "--". */
export function hasUrl(app: string): boolean {
  const a = app.toLowerCase();
  return LABEL.test(a) && !a.includes("--");
}

/** Where the URL service listens: its bound address ("127.0.0.1:9703"), domain, and whether it is HTTPS. */
export interface UrlBase {
  readonly address: string;
  readonly domain: string;
  readonly tls?: boolean;
}

/**
 * The URL of an app (its latest deployment) or of one deployment on the URL service `base`; undefined
 * for an app without a URL. The port is left out when it is the scheme's own (80, 443).
 */
export function urlOf(app: string, deployment: string | undefined, base: UrlBase): string | undefined {
  if (!hasUrl(app)) return undefined;
  const a = app.toLowerCase();
  const label = deployment === undefined ? a : `${a}--${shortDeployment(a, deployment.toLowerCase())}`;
  const port = base.address.slice(base.address.lastIndexOf(":") + 1);
  const scheme = base.tls ? "https" : "http";
  return `${scheme}://${label}.${base.domain}${port === (base.tls ? "443" : "80") ? "" : `:${port}`}`;
}

/** "v3" for "web-v3" of app "web"; other ids as they are. */
function shortDeployment(app: string, id: string): string {
  return id.startsWith(`${app}-`) ? id.slice(app.length + 1) : id;
}

/** The deployment id a hostname's label names for `app` ("v3" and "web-v3" both give "web-v3"). */
export function deploymentId(app: string, label: string): string {
  return label.startsWith(`${app}-`) ? label : `${app}-${label}`;
}

function stripPort(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const colon = host.lastIndexOf(":");
  return colon >= 0 ? host.slice(0, colon) : host;
}
