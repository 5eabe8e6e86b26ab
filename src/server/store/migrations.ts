import type Database from "better-sqlite3";

/**
 * Forward-only schema migrations. Migration N brings the schema from version
 * N-1 to N and runs in its own transaction together with the update of
 * PRAGMA user_version. Never edit a released migration: add a new one.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: (db: Database.Database) => void;
}

/** PRAGMA application_id marking a waypoint-ops database ("WPOP"). */
export const APPLICATION_ID = 0x57504f50;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema: state index, tokens, inventory",
    up: (db) => {
      db.exec(`
        PRAGMA application_id = ${APPLICATION_ID};
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
        INSERT INTO meta (key, value) VALUES ('state_index', '0');
        CREATE TABLE tokens (
          id TEXT PRIMARY KEY,
          kind TEXT NOT NULL CHECK (kind IN ('management', 'readonly', 'runner', 'entrypoint')),
          hash TEXT NOT NULL UNIQUE,
          app TEXT,
          deployment TEXT,
          description TEXT,
          bootstrap INTEGER NOT NULL DEFAULT 0,
          created_at TEXT NOT NULL
        ) STRICT;
        CREATE TABLE components (
          kind TEXT NOT NULL,
          id TEXT NOT NULL,
          via TEXT,
          version TEXT NOT NULL,
          api_min INTEGER NOT NULL, api_current INTEGER NOT NULL,
          entrypoint_min INTEGER NOT NULL, entrypoint_current INTEGER NOT NULL,
          app TEXT, deployment TEXT, instance TEXT, hostname TEXT,
          first_seen TEXT NOT NULL,
          last_seen TEXT NOT NULL,
          PRIMARY KEY (kind, id)
        ) STRICT;
        CREATE TABLE rejected (
          kind TEXT NOT NULL,
          id TEXT NOT NULL,
          via TEXT,
          version TEXT NOT NULL,
          api_min INTEGER NOT NULL, api_current INTEGER NOT NULL,
          entrypoint_min INTEGER NOT NULL, entrypoint_current INTEGER NOT NULL,
          reason TEXT NOT NULL,
          count INTEGER NOT NULL,
          first_seen TEXT NOT NULL,
          last_seen TEXT NOT NULL,
          PRIMARY KEY (kind, id)
        ) STRICT;
      `);
    },
  },
  {
    version: 2,
    name: "record whether a component emulated a catalog release",
    up: (db) => {
      db.exec(`
        ALTER TABLE components ADD COLUMN emulated INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE rejected ADD COLUMN emulated INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX components_last_seen ON components (last_seen);
      `);
    },
  },
  {
    version: 3,
    name: "apps, deployments, configuration and entrypoint instances",
    up: (db) => {
      db.exec(`
        CREATE TABLE apps (
          name TEXT PRIMARY KEY,
          created_at TEXT NOT NULL
        ) STRICT;
        CREATE TABLE deployments (
          id TEXT PRIMARY KEY,
          app TEXT NOT NULL REFERENCES apps (name),
          sequence INTEGER NOT NULL,
          created_at TEXT NOT NULL,
          UNIQUE (app, sequence)
        ) STRICT;
        CREATE TABLE config (
          scope TEXT NOT NULL,
          name TEXT NOT NULL,
          value TEXT NOT NULL,
          PRIMARY KEY (scope, name)
        ) STRICT;
        CREATE TABLE instances (
          id TEXT PRIMARY KEY,
          app TEXT NOT NULL,
          deployment TEXT NOT NULL,
          version TEXT NOT NULL,
          entrypoint_min INTEGER NOT NULL,
          entrypoint_current INTEGER NOT NULL,
          emulated INTEGER NOT NULL DEFAULT 0,
          hostname TEXT NOT NULL,
          pid INTEGER NOT NULL,
          started_at TEXT NOT NULL,
          exec_disabled INTEGER NOT NULL DEFAULT 0,
          first_seen TEXT NOT NULL,
          last_seen TEXT NOT NULL
        ) STRICT;
        CREATE INDEX instances_deployment ON instances (deployment);
      `);
    },
  },
  {
    version: 4,
    name: "app operations (build, deploy, release commands) and whether deploys get the entrypoint",
    up: (db) => {
      db.exec(`
        ALTER TABLE apps ADD COLUMN build TEXT;
        ALTER TABLE apps ADD COLUMN deploy TEXT;
        ALTER TABLE apps ADD COLUMN release TEXT;
        ALTER TABLE apps ADD COLUMN entrypoint_disabled INTEGER NOT NULL DEFAULT 0;
      `);
    },
  },
  {
    version: 5,
    name: "jobs: runs of app operations and their states",
    up: (db) => {
      db.exec(`
        CREATE TABLE jobs (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          app TEXT NOT NULL REFERENCES apps (name),
          operation TEXT NOT NULL,
          command TEXT NOT NULL,
          state TEXT NOT NULL,
          target TEXT,
          runner TEXT,
          deployment TEXT,
          queued_at TEXT NOT NULL,
          assigned_at TEXT,
          started_at TEXT,
          finished_at TEXT,
          exit_code INTEGER,
          error TEXT,
          attempts INTEGER NOT NULL DEFAULT 0,
          cancel_requested INTEGER NOT NULL DEFAULT 0
        ) STRICT;
        CREATE INDEX jobs_state ON jobs (state, seq);
        CREATE INDEX jobs_app ON jobs (app, seq);
      `);
    },
  },
  {
    version: 6,
    name: "whether the URL service serves an app",
    up: (db) => {
      db.exec("ALTER TABLE apps ADD COLUMN url_disabled INTEGER NOT NULL DEFAULT 0;");
    },
  },
  {
    version: 7,
    name: "configuration variables marked secret",
    up: (db) => {
      db.exec("ALTER TABLE config ADD COLUMN secret INTEGER NOT NULL DEFAULT 0;");
    },
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
