// One contract suite for every UserStore implementation (DESIGN.md principle 8).
import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../../src/auth/passwords.js';
import { openDb } from '../../../src/store/db.js';
import { MemoryUserStore, SqliteUserStore, type UserStore } from '../../../src/store/users.js';

const implementations: [string, () => UserStore][] = [
  ['memory', () => new MemoryUserStore()],
  ['sqlite', () => new SqliteUserStore(openDb(':memory:'))],
];

for (const [name, make] of implementations) {
  describe(`UserStore contract: ${name}`, () => {
    it('puts, gets case-insensitively, replaces, lists and removes', () => {
      const s = make();
      expect(s.get('alice')).toBeUndefined();
      s.put({ name: 'alice', passwordHash: 'h1', runAs: 'nobody' });
      expect(s.get('ALICE')).toEqual({ name: 'alice', passwordHash: 'h1', runAs: 'nobody' });
      s.put({ name: 'alice', passwordHash: 'h2', runAs: 'alice' });
      s.put({ name: 'bob', passwordHash: 'h3', runAs: 'bob' });
      expect(s.list().map((u) => [u.name, u.passwordHash])).toEqual([['alice', 'h2'], ['bob', 'h3']]);
      expect(s.remove('Bob')).toBe(true);
      expect(s.remove('bob')).toBe(false);
      expect(s.list()).toHaveLength(1);
    });
    it('hands out copies: changing a returned record changes nothing stored', () => {
      const s = make();
      s.put({ name: 'c', passwordHash: 'h', runAs: 'c' });
      const u = s.get('c')!;
      u.runAs = 'root';
      expect(s.get('c')!.runAs).toBe('c');
    });
  });
}

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
