import { createReadStream, readdirSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { createLogger, serverConfig, startServer } from "../../src/server/main.js";
import { restoreLive } from "../../src/server/snapshot/restore.js";
import { verifySnapshot } from "../../src/server/snapshot/verify.js";
import { MIGRATIONS } from "../../src/server/store/migrations.js";
import { openDatabase } from "../../src/server/store/open.js";
import { LogSink } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

test("before migrating an older database the server writes a snapshot of it beside the database", async (t) => {
  const dir = tempDir(t);
  const dbPath = join(dir, "data.db");
  const { db } = openDatabase(dbPath, { migrations: MIGRATIONS.slice(0, 1) });
  db.prepare(
    "INSERT INTO tokens (id, kind, hash, bootstrap, created_at) VALUES ('t1', 'management', 'h1', 1, '2026-11-22T10:00:00.000Z')",
  ).run();
  db.close();

  const logs = new LogSink();
  const server = await startServer(
    serverConfig({
      dbPath,
      listenGrpc: "127.0.0.1:0",
      listenHttp: "127.0.0.1:0",
      listenUrl: "127.0.0.1:0",
      logLevel: "info",
      versionInfo: BUILD_VERSION_INFO,
    }),
    createLogger("info", logs),
  );
  t.teardown(() => server.close());
  t.is(server.store.schemaVersion, MIGRATIONS.length);

  const snaps = readdirSync(dir).filter((f) => f.startsWith("data.db.pre-migrate-v1-"));
  t.is(snaps.length, 1, `exactly the snapshot, no raw copy left: ${snaps.join(", ")}`);
  t.true(snaps[0]!.endsWith(".snap"));
  const verified = await verifySnapshot(createReadStream(join(dir, snaps[0]!)), { dir: tempDir(t) });
  t.is(verified.meta.schemaVersion, 1, "the snapshot holds the database as it was before the migration");
  t.is(verified.meta.tables.tokens, 1);
  t.true(logs.raw.some((l) => l.includes("before the migration")));

  // Restoring that older-schema snapshot live migrates it forward again, keeping its data.
  const restored = await restoreLive(server.store, createReadStream(join(dir, snaps[0]!)), { dbPath });
  t.is(restored.meta.schemaVersion, 1);
  t.is(server.store.schemaVersion, MIGRATIONS.length, "the restored database was migrated forward");
  t.deepEqual(
    server.store.listTokens().map((x) => x.id),
    ["t1"],
  );
});
