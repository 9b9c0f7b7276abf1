// Invitations (issue 16 item 3; src/admin/invitations.ts): a one-time account with a role that
// stops working when it expires, is used up or is revoked; with consent, its first request waits
// until someone on the host accepts, and denied or unanswered is AccessDenied.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvitation, updateInvitation } from '../../src/admin/invitations.js';
import { ACTIONS, envelope, URI } from '../helpers/envelope.js';
import { basic, NO_LOCKOUT, testServer } from '../helpers/server.js';
import { xp } from '../helpers/xpath.js';
import { eventually } from '../helpers/shell-client.js';
import { cliWithState } from '../helpers/cli.js';

type Server = Awaited<ReturnType<typeof testServer>>;
let s: Server;
const OS = `${URI.wmi}/Win32_OperatingSystem`;
const WIDGET = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/test/Test_Widget';
const terms = { role: 'viewer', expiresInMs: 3_600_000, uses: 1, consent: false, runAs: 'nobody', createdBy: 'test' };
const get = (who: { user: string; password: string }, timeout = 'PT20S') => s.post(envelope({ action: ACTIONS.get, resourceUri: OS, operationTimeout: timeout }), basic(who));
const subcode = (body: string) => xp(body, 'string(//s:Subcode/s:Value)');

beforeAll(async () => {
  s = await testServer({ security: { ...NO_LOCKOUT } });
});
afterAll(() => s.server.close());

describe('an invitation', () => {
  it('works with its role, once per use (each new connection is one), and is used up after', async () => {
    const inv = await createInvitation(s.server.users, { ...terms, uses: 2 });
    const who = { user: inv.user, password: inv.password };
    expect((await get(who)).status).toBe(200);
    // Its role is viewer: no change (and a request its role refuses uses nothing).
    const put = await s.post(envelope({ action: ACTIONS.put, resourceUri: WIDGET, selectors: { Id: 'w1' }, body: '<x/>' }), basic(who));
    expect(subcode(put.body)).toBe('w:AccessDenied');
    // Each supertest request is a connection of its own: the second use, then none is left.
    expect((await get(who)).status).toBe(200);
    const third = await get(who);
    expect(subcode(third.body)).toBe('w:AccessDenied');
    expect(xp(third.body, '//s:Reason/s:Text')).toMatch(/used 2 time\(s\) of 2/);
    s.server.audit.flush();
    expect(s.server.audit.list({ kind: 'invitation_used', user: inv.user }).map((r) => r.data.use)).toEqual([1, 2]);
  });

  it('stops working when it expires, and when it is revoked (401: the account is gone)', async () => {
    const expired = await createInvitation(s.server.users, { ...terms, expiresInMs: 50 });
    await new Promise((r) => setTimeout(r, 100));
    expect((await get({ user: expired.user, password: expired.password })).status).toBe(401);
    const revoked = await createInvitation(s.server.users, { ...terms, uses: 5 });
    expect((await get({ user: revoked.user, password: revoked.password })).status).toBe(200);
    updateInvitation(s.server.users, revoked.user, (i) => (i.revoked = true));
    expect((await get({ user: revoked.user, password: revoked.password })).status).toBe(401);
  });

  it('with consent: the first request waits until accepted, then goes on; later requests do not wait', async () => {
    const inv = await createInvitation(s.server.users, { ...terms, uses: 3, consent: true });
    const who = { user: inv.user, password: inv.password };
    const started = Date.now();
    const pending = get(who).then((r) => r); // supertest sends when asked for its result
    expect(await eventually(async () => s.server.users.find(inv.user)!.invitation!.consentState, (st) => st === 'pending', 10_000)).toBe('pending');
    await new Promise((r) => setTimeout(r, 500));
    updateInvitation(s.server.users, inv.user, (i) => (i.consentState = 'accepted'));
    const res = await pending;
    expect(res.status, res.body).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect((await get(who)).status).toBe(200);
  });

  it('with consent: denied, or not answered within the OperationTimeout, is AccessDenied', async () => {
    const denied = await createInvitation(s.server.users, { ...terms, consent: true });
    const pending = get({ user: denied.user, password: denied.password }).then((r) => r);
    await eventually(async () => s.server.users.find(denied.user)!.invitation!.consentState, (st) => st === 'pending', 10_000);
    updateInvitation(s.server.users, denied.user, (i) => (i.consentState = 'denied'));
    const res = await pending;
    expect(subcode(res.body)).toBe('w:AccessDenied');
    expect(xp(res.body, '//s:Reason/s:Text')).toMatch(/denied the invitation/);

    const silent = await createInvitation(s.server.users, { ...terms, consent: true });
    const unanswered = await get({ user: silent.user, password: silent.password }, 'PT1S');
    expect(subcode(unanswered.body)).toBe('w:AccessDenied');
    expect(xp(unanswered.body, '//s:Reason/s:Text')).toMatch(/within the OperationTimeout/);
  });
});

describe('winrmd invite and winrmd session', () => {
  const cli = cliWithState('winrmd-invite-');
  afterAll(() => cli.cleanup());

  it('create prints the credential once; list shows the state; revoke and accept change it; each is audited', async () => {
    const created = (await cli.run(['invite', 'create', '--role', 'helper', '--expires', '2h', '--uses', '1', '--consent'])).stdout;
    const user = /^user: +(\S+)$/m.exec(created)![1]!;
    expect(created).toMatch(/^password: +\S{20,}$/m);
    expect(created).toMatch(/consent: +its first request waits/);
    expect((await cli.run(['invite', 'list'])).stdout).toMatch(new RegExp(`^${user}\\thelper\\t\\S+\\t0/1\\tconsent not yet asked\\t`, 'm'));
    expect((await cli.run(['session', 'accept', user])).stdout).toContain(`${user}: consent accepted`);
    expect((await cli.run(['invite', 'revoke', user])).stdout).toContain(`${user}: revoked`);
    const audit = (await cli.run(['audit', 'list', '--user', user])).stdout;
    expect(audit.split('\n').filter(Boolean).map((l) => l.split('\t')[2])).toEqual(['invitation_created', 'consent_accepted', 'invitation_revoked']);
    expect(audit).not.toContain(/^password: +(\S+)$/m.exec(created)![1]);
    expect((await cli.run(['session', 'deny', 'nobody-here'])).code).toBe(1);
  });
});
