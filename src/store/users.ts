// Local users: a name, a salted password hash (never the password) for Basic, the NT hash for
// NTLM, and the Linux account (runAs) their processes run as. The NT hash is not reversible but is
// password-equivalent for NTLM, which is why the state file is private. One interface, two implementations, one contract suite
// (DESIGN.md principle 8).
import { foldName, type Db } from './db.js';

export interface UserRecord {
  name: string;
  passwordHash: string;
  /** MD4 of the UTF-16LE password, hex; absent for users saved before NTLM existed. */
  ntHash?: string;
  runAs: string;
  /** A Windows event forwarder, not a person: it may use the event collector and nothing else. */
  eventSource?: boolean;
  /** Roles (src/admin/access.ts); absent: helper, what a user could do before roles existed. */
  roles?: string[];
  /** An invitation's one-time account (src/admin/invitations.ts): unusable once expired or revoked. */
  invitation?: Invitation;
}

export interface Invitation {
  expiresAt: string;
  /** Connections it may open; `used` so far. */
  uses: number;
  used: number;
  /** Whether someone on the host must accept its first request (`winrmd session accept`). */
  consent: boolean;
  consentState?: 'pending' | 'accepted' | 'denied';
  revoked?: boolean;
  createdBy?: string;
}

/** An invitation past its expiry or revoked authenticates nobody: its account reads as absent. */
const usable = (u: UserRecord | undefined, now = Date.now()): UserRecord | undefined =>
  u?.invitation && (u.invitation.revoked || Date.parse(u.invitation.expiresAt) <= now) ? undefined : u;

/** The roles a user record holds. */
export const rolesOf = (u: UserRecord): string[] => u.roles ?? [DEFAULT_ROLE];
export const DEFAULT_ROLE = 'helper';

/** A user's stored secrets as one value: when it changes, the password has changed (or been set again). */
export const credentialOf = (u: UserRecord): string => `${u.passwordHash}\0${u.ntHash ?? ''}`;

export interface UserStore {
  /** The user, or undefined (also for an expired or revoked invitation). */
  get(name: string): UserRecord | undefined;
  /** The record as stored, usable or not (for `winrmd invite list`). */
  find(name: string): UserRecord | undefined;
  /** Adds or replaces. */
  put(user: UserRecord): void;
  remove(name: string): boolean;
  list(): UserRecord[];
  /**
   * Changes whenever any user has been added, changed or removed, by this process or by another
   * one writing the same store (`winrmd user add|remove` while the server runs): a cheap poll.
   */
  version(): number;
}

export class SqliteUserStore implements UserStore {
  /** Prepared once: get() runs on every authenticated request. */
  private readonly byName;
  /** Writes through this connection, which SQLite's data_version does not count. */
  private ownWrites = 0;

  constructor(private readonly db: Db) {
    this.byName = db.prepare('SELECT name, password_hash, nt_hash, run_as, event_source, roles, invitation FROM users WHERE name_key = ?');
  }

  version(): number {
    // data_version changes when another connection has committed to the file (sqlite.org/pragma.html#pragma_data_version).
    return (this.db.pragma('data_version', { simple: true }) as number) * 1_000_000 + this.ownWrites;
  }

  get(name: string): UserRecord | undefined {
    return usable(this.find(name));
  }

  find(name: string): UserRecord | undefined {
    const row = this.byName.get(foldName(name)) as Row | undefined;
    return row && fromRow(row);
  }

  put(user: UserRecord): void {
    this.ownWrites++;
    this.db
      .prepare(`INSERT INTO users (name_key, name, password_hash, nt_hash, run_as, event_source, roles, invitation, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(name_key) DO UPDATE SET name = excluded.name, password_hash = excluded.password_hash, nt_hash = excluded.nt_hash, run_as = excluded.run_as, event_source = excluded.event_source, roles = excluded.roles, invitation = excluded.invitation`)
      .run(foldName(user.name), user.name, user.passwordHash, user.ntHash ?? null, user.runAs, user.eventSource ? 1 : 0, JSON.stringify(rolesOf(user)), user.invitation ? JSON.stringify(user.invitation) : null, new Date().toISOString());
  }

  remove(name: string): boolean {
    this.ownWrites++;
    return this.db.prepare('DELETE FROM users WHERE name_key = ?').run(foldName(name)).changes > 0;
  }

  list(): UserRecord[] {
    return (this.db.prepare('SELECT name, password_hash, nt_hash, run_as, event_source, roles, invitation FROM users ORDER BY name_key').all() as Row[]).map(fromRow);
  }
}

interface Row {
  name: string;
  password_hash: string;
  nt_hash: string | null;
  run_as: string;
  event_source: number;
  roles: string;
  invitation: string | null;
}

const fromRow = (r: Row): UserRecord => ({
  name: r.name, passwordHash: r.password_hash, ...(r.nt_hash ? { ntHash: r.nt_hash } : {}), runAs: r.run_as, ...(r.event_source ? { eventSource: true } : {}),
  roles: JSON.parse(r.roles) as string[], ...(r.invitation ? { invitation: JSON.parse(r.invitation) as Invitation } : {}),
});

export class MemoryUserStore implements UserStore {
  private readonly users = new Map<string, UserRecord>();
  private writes = 0;

  version(): number {
    return this.writes;
  }

  get(name: string): UserRecord | undefined {
    return usable(this.find(name));
  }

  find(name: string): UserRecord | undefined {
    const u = this.users.get(foldName(name));
    return u && { ...u, ...(u.invitation ? { invitation: { ...u.invitation } } : {}) };
  }

  put(user: UserRecord): void {
    this.writes++;
    this.users.set(foldName(user.name), { ...user, roles: rolesOf(user), ...(user.invitation ? { invitation: { ...user.invitation } } : {}) });
  }

  remove(name: string): boolean {
    this.writes++;
    return this.users.delete(foldName(name));
  }

  list(): UserRecord[] {
    return [...this.users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, u]) => ({ ...u }));
  }
}
