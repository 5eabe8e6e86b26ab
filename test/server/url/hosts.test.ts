import test from "ava";
import { deploymentId, hasUrl, parseHost, urlOf } from "../../../src/server/url/hosts.js";

test("hostnames name an app, or an app and one deployment, under the domain", (t) => {
  t.deepEqual(parseHost("web.localhost:9703", "localhost"), { app: "web" });
  t.deepEqual(parseHost("WEB.LocalHost", "localhost"), { app: "web" });
  t.deepEqual(parseHost("web--v3.apps.example.com.", "apps.example.com"), { app: "web", deployment: "v3" });
  t.deepEqual(parseHost("web--web-v3.localhost", "localhost"), { app: "web", deployment: "web-v3" });
  t.deepEqual(parseHost("my-app.localhost", "localhost"), { app: "my-app" });
});

test("hosts that are not ours, or not one label, are not routed", (t) => {
  for (const host of [
    undefined,
    "",
    "localhost",
    "web.example.com",
    "a.b.localhost",
    "--v3.localhost",
    "web--.localhost",
    "web--v3--x.localhost",
    "-web.localhost",
    "web_1.localhost",
  ]) {
    t.is(parseHost(host, "localhost"), undefined, String(host));
  }
});

test("URLs of apps and deployments, and the apps that cannot have one", (t) => {
  t.is(
    urlOf("web", undefined, { domain: "localhost", address: "127.0.0.1:9703" }),
    "http://web.localhost:9703",
  );
  t.is(
    urlOf("Web", "Web-v3", { domain: "localhost", address: "127.0.0.1:9703" }),
    "http://web--v3.localhost:9703",
  );
  t.is(
    urlOf("web", "web-v3", { domain: "apps.example.com", address: "0.0.0.0:80" }),
    "http://web--v3.apps.example.com",
  );
  t.is(
    urlOf("web", "web-v3", { domain: "apps.example.com", address: "0.0.0.0:443", tls: true }),
    "https://web--v3.apps.example.com",
  );
  t.is(
    urlOf("web", undefined, { domain: "apps.example.com", address: "0.0.0.0:80", tls: true }),
    "https://web.apps.example.com:80",
  );
  t.is(urlOf("my.app", undefined, { domain: "localhost", address: "127.0.0.1:9703" }), undefined);
  t.false(hasUrl("a--b"));
  t.false(hasUrl("under_score"));
  t.is(deploymentId("web", "v3"), "web-v3");
  t.is(deploymentId("web", "web-v3"), "web-v3");
  // What urlOf writes, parseHost reads back.
  const url = new URL(urlOf("api", "api-v12", { domain: "localhost", address: "127.0.0.1:9703" })!);
  const target = parseHost(url.host, "localhost")!;
  t.is(deploymentId(target.app, target.deployment!), "api-v12");
});
