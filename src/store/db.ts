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
];

/** How user names are compared: the one folding both stores use. */
export const foldName = (name: string): string => name.toLowerCase();

/** Open (creating if needed) the state database; ':memory:' for tests. */
export function openDb(file: string): Db {
  // SQLite gives its -wal and -shm files the database file's mode; existing ones are enforced too.
  if (file !== ':memory:') keepPrivate(path.dirname(file), [file, ...[`${file}-wal`, `${file}-shm`].filter((f) => existsSync(f))]);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
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
