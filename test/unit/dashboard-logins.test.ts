// Dashboard sign-ins (src/admin/dashboard/logins.ts): bounded per user and in all without letting
// one user sign others out, idle time not renewed by pages reloading themselves.
import { describe, expect, it } from 'vitest';
import { COOKIE, SignIns } from '../../src/admin/dashboard/logins.js';

const caller = (user: string) => ({ user, runAs: 'nobody', clientAddress: '127.0.0.1' });
const cookie = (token: string) => `other=1; ${COOKIE}=${token}`;

describe('SignIns', () => {
  it('a user signing in over and over drops only their own oldest sign-in', () => {
    const s = new SignIns();
    const admin = s.open(caller('admin'), 'c1');
    const viewer = Array.from({ length: 50 }, () => s.open(caller('viewer'), 'c2'));
    expect(s.find(cookie(admin.token), () => 'c1')?.caller.user).toBe('admin');
    expect(viewer.filter((v) => s.find(cookie(v.token), () => 'c2')).length).toBe(5);
    expect(s.find(cookie(viewer[49]!.token), () => 'c2')).toBeDefined();
    expect(s.find(cookie(viewer[0]!.token), () => 'c2')).toBeUndefined();
  });

  it('ends after 15 minutes idle; a page reloading itself does not keep it alive, a person does', () => {
    let now = 0;
    const s = new SignIns(() => now);
    const a = s.open(caller('admin'), 'c');
    const b = s.open(caller('other'), 'c');
    for (now = 60_000; now <= 14 * 60_000; now += 60_000) {
      expect(s.find(cookie(a.token), () => 'c', false)).toBeDefined(); // auto-reload
      expect(s.find(cookie(b.token), () => 'c', true)).toBeDefined(); // clicks
    }
    now = 15 * 60_000 + 1;
    expect(s.find(cookie(a.token), () => 'c')).toBeUndefined();
    expect(s.find(cookie(b.token), () => 'c')).toBeDefined();
  });

  it('ends after 8 hours however active, and when the stored credential changes', () => {
    let now = 0;
    const s = new SignIns(() => now);
    const a = s.open(caller('admin'), 'c');
    for (now = 0; now < 8 * 3_600_000; now += 10 * 60_000) expect(s.find(cookie(a.token), () => 'c')).toBeDefined();
    now = 8 * 3_600_000 + 1;
    expect(s.find(cookie(a.token), () => 'c')).toBeUndefined();
    const b = s.open(caller('admin'), 'c');
    expect(s.find(cookie(b.token), () => 'new password')).toBeUndefined();
    expect(s.find(cookie(b.token), () => 'c')).toBeUndefined(); // gone, not just refused once
  });

  it('a cookie that is not ours, empty or forged finds nothing', () => {
    const s = new SignIns();
    s.open(caller('admin'), 'c');
    for (const header of [undefined, '', `${COOKIE}=`, `${COOKIE}=forged`, `x${COOKIE}=abc`]) expect(s.find(header, () => 'c')).toBeUndefined();
  });
});
