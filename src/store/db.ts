// The SQLite state file (better-sqlite3): one database, versioned migrations applied in order at
// open. Later issues (subscriptions, the event collector) add migrations here.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

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
];

/** Open (creating if needed) the state database; ':memory:' for tests. */
export function openDb(file: string): Db {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
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
