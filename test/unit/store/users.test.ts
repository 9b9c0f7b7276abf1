// Every UserStore implementation runs the one contract suite (DESIGN.md principle 8).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../../src/auth/passwords.js';
import { openDb } from '../../../src/store/db.js';
import { keepPrivate } from '../../../src/store/private-files.js';
import { MemoryUserStore, SqliteUserStore } from '../../../src/store/users.js';
import { userStoreContract, type UserStoreFixture } from './contracts/user-store.js';

const memory = async (): Promise<UserStoreFixture> => {
  const store = new MemoryUserStore();
  return { store, reopen: async () => store, close: async () => {} };
};

/** A state file on disk, as winrmd keeps it, so reopening reads what the first connection wrote. */
const sqlite = async (): Promise<UserStoreFixture> => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-users-'));
  const dbs = [openDb(path.join(dir, 'winrmd.db'))];
  return {
    store: new SqliteUserStore(dbs[0]!),
    reopen: async () => {
      const db = openDb(path.join(dir, 'winrmd.db'));
      dbs.push(db);
      return new SqliteUserStore(db);
    },
    close: async () => {
      for (const db of dbs) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

userStoreContract('memory', memory, { durable: false });
userStoreContract('sqlite', sqlite, { durable: true });

describe('passwords', () => {
  it('are salted scrypt hashes that verify only the right password', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(a).not.toContain('correct');
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct hors', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
    expect(await verifyPassword('x', 'garbage')).toBe(false);
  });
});

describe('the users table migration to a folded key', () => {
  it('keeps every user a state file of the previous version holds, found by any case of the name', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-migrate-'));
    const file = path.join(dir, 'winrmd.db');
    try {
      // The schema at user_version 2, as winrmd wrote it before this migration.
      const old = new Database(file);
      old.exec(`CREATE TABLE users (name TEXT PRIMARY KEY COLLATE NOCASE, password_hash TEXT NOT NULL, run_as TEXT NOT NULL, created_at TEXT NOT NULL);
                ALTER TABLE users ADD COLUMN nt_hash TEXT;
                INSERT INTO users VALUES ('Alice', 'scrypt$a', 'alice', '2026-01-01T00:00:00Z', 'aa');
                INSERT INTO users VALUES ('Jörg', 'scrypt$j', 'joerg', '2026-01-01T00:00:00Z', NULL);`);
      old.pragma('user_version = 2');
      old.close();
      const db = openDb(file);
      const users = new SqliteUserStore(db);
      // Users from before roles keep what they could do: helper.
      expect(users.get('ALICE')).toEqual({ name: 'Alice', passwordHash: 'scrypt$a', ntHash: 'aa', runAs: 'alice', roles: ['helper'] });
      expect(users.get('JÖRG')?.runAs).toBe('joerg');
      expect(users.list()).toHaveLength(2);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the state folder and database (they hold NT hashes)', () => {
  const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

  it('are made private on every start, whoever created them with which modes', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'winrmd-modes-'));
    try {
      const dir = path.join(root, 'state');
      mkdirSync(dir);
      chmodSync(dir, 0o755);
      const file = path.join(dir, 'winrmd.db');
      openDb(file).close();
      chmodSync(file, 0o644);
      chmodSync(dir, 0o755);
      openDb(file).close();
      expect({ dir: mode(dir), db: mode(file) }).toEqual({ dir: '700', db: '600' });
      writeFileSync(path.join(dir, 'winrmd.db-wal'), '');
      chmodSync(path.join(dir, 'winrmd.db-wal'), 0o644);
      openDb(file).close();
      // SQLite may remove its WAL file at a clean close; if it is there, it is private.
      for (const f of ['winrmd.db', 'winrmd.db-wal', 'winrmd.db-shm']) {
        const p = path.join(dir, f);
        try {
          expect(mode(p)).toBe('600');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuse to start where the modes cannot be enforced', () => {
    // /proc/1 cannot be chmod-ed, even by root.
    expect(() => keepPrivate('/proc/1', [])).toThrow(/\/proc\/1 holds secrets and must be mode 700/);
  });
});
