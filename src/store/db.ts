// The SQLite state file (better-sqlite3): one database, versioned migrations applied in order at
// open. Later issues (subscriptions, the event collector) add migrations here.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { keepPrivate } from './private-files.js';

export type Db = Database.Database;

const MIGRATIONS: string[] = [
  `CREATE TABLE users (
     name TEXT PRIMARY KEY COLLATE NOCASE,
     password_hash TEXT NOT NULL,
     run_as TEXT NOT NULL,
     created_at TEXT NOT NULL
   )`,
  // NTLM verifies against the NT hash (MS-NLMP 3.3.1), which a scrypt hash cannot give.
  `ALTER TABLE users ADD COLUMN nt_hash TEXT`,
  // Account names compare without regard to case beyond ASCII too (COLLATE NOCASE folds ASCII
  // only): the key is the name folded by fold_name(), the name is kept as last written.
  `CREATE TABLE users_by_key (
     name_key TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     password_hash TEXT NOT NULL,
     nt_hash TEXT,
     run_as TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   INSERT INTO users_by_key SELECT fold_name(name), name, password_hash, nt_hash, run_as, created_at FROM users;
   DROP TABLE users;
   ALTER TABLE users_by_key RENAME TO users`,
  // The event collector: subscriptions (the spec as JSON; the version changes on every edit), and
  // per source and subscription its bookmark and liveness. A source is keyed by its authenticated
  // principal, never by the MachineID it claims.
  `CREATE TABLE subscriptions (
     id TEXT PRIMARY KEY,
     name_key TEXT NOT NULL UNIQUE,
     version TEXT NOT NULL,
     enabled INTEGER NOT NULL,
     spec TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE event_sources (
     subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
     source TEXT NOT NULL,
     address TEXT NOT NULL,
     machine_id TEXT,
     version TEXT,
     bookmark TEXT,
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL,
     last_heartbeat TEXT,
     last_events TEXT,
     events_received INTEGER NOT NULL DEFAULT 0,
     recreated_at TEXT,
     PRIMARY KEY (subscription_id, source)
   )`,
  // Users that are Windows event forwarders: principals of their own kind (the collector only).
  `ALTER TABLE users ADD COLUMN event_source INTEGER NOT NULL DEFAULT 0`,
  // Roles (src/admin/access.ts): users from before had full control as their own account, which
  // is what helper grants; they keep it.
  `ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '["helper"]'`,
  // The audit trail (src/admin/audit.ts): a hash chain; the anchor is where it starts after pruning.
  `CREATE TABLE audit (
     seq INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     kind TEXT NOT NULL,
     user TEXT,
     address TEXT,
     data TEXT NOT NULL,
     prev TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE INDEX audit_at ON audit (at);
   CREATE TABLE audit_anchor (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL)`,
  // Invitations (src/admin/invitations.ts) are one-time accounts: their terms and state, as JSON.
  `ALTER TABLE users ADD COLUMN invitation TEXT`,
  // Session reports and the dashboard read a few kinds among many records (refusals are most of them).
  `CREATE INDEX audit_kind ON audit (kind, seq)`,
];

/** How user names are compared: the one folding both stores use. */
export const foldName = (name: string): string => name.toLowerCase();

/** Open (creating if needed) the state database; ':memory:' for tests. */
export function openDb(file: string): Db {
  // SQLite gives its -wal and -shm files the database file's mode; existing ones are enforced too.
  if (file !== ':memory:') keepPrivate(path.dirname(file), [file, ...[`${file}-wal`, `${file}-shm`].filter((f) => existsSync(f))]);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // A commit is on disk when it returns: the collector acknowledges events only after one.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.function('fold_name', { deterministic: true }, (name) => foldName(String(name)));
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
