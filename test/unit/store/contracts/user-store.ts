// The UserStore contract (DESIGN.md principle 8; aedes-persistence's abstract suite is the
// model): every backend runs these same cases by calling userStoreContract with a factory, so a
// new backend (PostgreSQL, say) proves itself by passing them. Each case awaits every call, so a
// backend whose methods return promises runs them unchanged.
import { afterEach, describe, expect, it } from 'vitest';
import type { UserRecord, UserStore } from '../../../../src/store/users.js';

export interface UserStoreFixture {
  store: UserStore;
  /** The same data through a new connection (durable backends only). */
  reopen(): Promise<UserStore>;
  close(): Promise<void>;
}

const alice: UserRecord = { name: 'alice', passwordHash: 'scrypt$a', ntHash: '00'.repeat(16), runAs: 'nobody', roles: ['helper', 'viewer'] };

/** `durable`: the backend keeps its users when reopened (every backend but the in-memory one). */
export function userStoreContract(backend: string, open: () => Promise<UserStoreFixture>, { durable }: { durable: boolean }): void {
  describe(`UserStore contract: ${backend}`, () => {
    const opened: UserStoreFixture[] = [];
    const fixture = async () => {
      const f = await open();
      opened.push(f);
      return f;
    };
    afterEach(async () => {
      for (const f of opened.splice(0)) await f.close();
    });

    it('an unknown name is undefined, not an error', async () => {
      const { store } = await fixture();
      expect(await store.get('nobody-here')).toBeUndefined();
      expect(await store.remove('nobody-here')).toBe(false);
      expect(await store.list()).toEqual([]);
    });

    it('gives back what was put, every field, and no ntHash for a user stored without one; no roles given is helper', async () => {
      const { store } = await fixture();
      await store.put(alice);
      await store.put({ name: 'legacy', passwordHash: 'scrypt$l', runAs: 'legacy' });
      expect(await store.get('alice')).toEqual(alice);
      expect(await store.get('legacy')).toEqual({ name: 'legacy', passwordHash: 'scrypt$l', runAs: 'legacy', roles: ['helper'] });
    });

    it('names compare without regard to case, as Windows account names do, beyond ASCII too', async () => {
      const { store } = await fixture();
      await store.put(alice);
      await store.put({ ...alice, name: 'Jörg' });
      expect((await store.get('ALICE'))?.name).toBe('alice');
      expect((await store.get('JÖRG'))?.name).toBe('Jörg');
      expect((await store.get('jörg'))?.name).toBe('Jörg');
    });

    it('put replaces the user of the same name, whatever its case, spelling included: one record, the latest', async () => {
      const { store } = await fixture();
      await store.put(alice);
      await store.put({ name: 'Alice', passwordHash: 'scrypt$b', runAs: 'alice', roles: ['viewer'] });
      expect(await store.list()).toEqual([{ name: 'Alice', passwordHash: 'scrypt$b', runAs: 'alice', roles: ['viewer'] }]);
    });

    it('lists every user ordered by name, and remove takes exactly one', async () => {
      const { store } = await fixture();
      for (const name of ['carol', 'alice', 'bob']) await store.put({ ...alice, name });
      expect((await store.list()).map((u) => u.name)).toEqual(['alice', 'bob', 'carol']);
      expect(await store.remove('BOB')).toBe(true);
      expect(await store.remove('bob')).toBe(false);
      expect((await store.list()).map((u) => u.name)).toEqual(['alice', 'carol']);
    });

    it('hands out copies: changing a returned record changes nothing stored', async () => {
      const { store } = await fixture();
      await store.put(alice);
      const got = (await store.get('alice'))!;
      got.runAs = 'root';
      (await store.list())[0]!.runAs = 'root';
      expect((await store.get('alice'))!.runAs).toBe('nobody');
    });

    it('version changes with every put and remove, so a running server notices', async () => {
      const f = await fixture();
      const v0 = await f.store.version();
      await f.store.put(alice);
      const v1 = await f.store.version();
      expect(v1).not.toBe(v0);
      await f.store.remove('alice');
      expect(await f.store.version()).not.toBe(v1);
    });

    if (durable) it('version changes when another connection writes (`winrmd user remove` beside a running server)', async () => {
      const f = await fixture();
      await f.store.put(alice);
      const before = await f.store.version();
      const other = await f.reopen();
      await other.remove('alice');
      expect(await f.store.version()).not.toBe(before);
    });

    if (durable) it('keeps every user across a reopen', async () => {
      const f = await fixture();
      await f.store.put(alice);
      await f.store.put({ ...alice, name: 'Jörg', ntHash: undefined });
      await f.store.remove('nobody-here');
      const again = await f.reopen();
      expect(await again.list()).toEqual([{ ...alice, name: 'alice' }, { name: 'Jörg', passwordHash: alice.passwordHash, runAs: alice.runAs, roles: alice.roles }]);
      expect((await again.get('JÖRG'))?.name).toBe('Jörg');
    });
  });
}
