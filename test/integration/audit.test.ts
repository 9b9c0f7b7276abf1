// The audit trail (issue 16 item 4; src/admin/audit.ts): a scripted session's every step appears
// once, with the right fields; `audit verify` finds a changed and a deleted record; nothing
// secret is stored; `winrmd audit` reads the state file of a server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShellProvider } from '../../providers/shell/index.js';
import { AuditLog, redact } from '../../src/admin/audit.js';
import { configSchema } from '../../src/config/schema.js';
import { openDb } from '../../src/store/db.js';
import { ACTIONS, envelope } from '../helpers/envelope.js';
import { ALICE, basic, BOB, NO_LOCKOUT, testServer } from '../helpers/server.js';
import { ShellClient } from '../helpers/shell-client.js';
import { cliWithState } from '../helpers/cli.js';

const WIDGET = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/test/Test_Widget';
type Server = Awaited<ReturnType<typeof testServer>>;
let s: Server;

beforeAll(async () => {
  s = await testServer({ security: { ...NO_LOCKOUT } }, [createShellProvider(configSchema.parse({ shell: { logCommandLines: false } }).shell)]);
  s.server.users.put({ ...s.server.users.get('bob')!, roles: ['viewer'] });
});
afterAll(() => s.server.close());

describe('a scripted session in the audit trail', () => {
  it('records each step once: the failed and the good logins, the change, the method, the shell and its command, the refusal', async () => {
    const post = async (xml: string, auth?: string | null) => {
      const r = await s.post(xml, auth);
      return { status: r.status, text: r.body as string };
    };
    expect((await post(envelope({ action: ACTIONS.get, resourceUri: WIDGET, selectors: { Id: 'w1' } }), basic({ user: 'alice', password: 'wrong-Secret' }))).status).toBe(401);
    await post(envelope({ action: ACTIONS.put, resourceUri: WIDGET, selectors: { Id: 'w2' }, body: `<p:Test_Widget xmlns:p="${WIDGET}"><p:Id>w2</p:Id><p:Color>teal</p:Color><p:Size>2</p:Size></p:Test_Widget>` }));
    await post(envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, selectors: { Id: 'w1' }, body: `<p:Echo_INPUT xmlns:p="${WIDGET}"><p:Text>hello</p:Text><p:Times>2</p:Times></p:Echo_INPUT>` }));
    const shell = new ShellClient(post, ALICE);
    const ran = await shell.run('echo', ['audited']);
    expect(ran.exitCode).toBe(0);
    await post(envelope({ action: ACTIONS.put, resourceUri: WIDGET, selectors: { Id: 'w2' }, body: '<x/>' }), basic(BOB)); // a viewer may not
    s.server.audit.flush();

    const all = s.server.audit.list();
    const kinds = all.map((r) => r.kind);
    const one = (kind: string, pick: (r: (typeof all)[number]) => boolean = () => true) => {
      const found = all.filter((r) => r.kind === kind && pick(r));
      expect(found.length, `${kind}: ${JSON.stringify(found)}`).toBe(1);
      return found[0]!;
    };
    expect(one('authentication_failed').data).toMatchObject({ reason: expect.stringMatching(/password/i) });
    expect(one('authentication_failed').user).toBe('alice');
    expect(kinds.filter((k) => k === 'authenticated').length).toBeGreaterThanOrEqual(1);
    expect(one('operation', (r) => r.data.operation === 'put').data).toMatchObject({ action: ACTIONS.put, resourceUri: WIDGET, selectors: { Id: 'w2' }, status: 200 });
    expect(one('operation', (r) => r.data.operation === 'invoke').data).toMatchObject({ method: 'Echo', params: { Text: 'hello', Times: '2' } });
    const created = one('shell_created');
    expect(created.user).toBe('alice');
    expect(one('command_started').data).toMatchObject({ shellId: created.data.shellId, runAs: 'nobody' });
    expect(one('command_started').data).not.toHaveProperty('commandLine'); // shell.logCommandLines is off
    expect(one('command_exited').data).toMatchObject({ shellId: created.data.shellId, exitCode: 0 });
    expect(one('shell_closed').data).toMatchObject({ shellId: created.data.shellId, reason: 'delete' });
    expect(one('operation', (r) => r.data.operation === 'create' && r.user === 'alice').data.resourceUri).toMatch(/shell\/cmd$/);
    expect(one('access_denied').user).toBe('bob');
    // Order as it happened.
    expect(kinds.indexOf('shell_created')).toBeLessThan(kinds.indexOf('command_started'));
    expect(kinds.indexOf('command_exited')).toBeLessThan(kinds.indexOf('shell_closed'));
    // Nothing secret: neither password appears anywhere.
    const dump = JSON.stringify(all);
    expect(dump).not.toContain(ALICE.password);
    expect(dump).not.toContain('wrong-Secret');
    expect(s.server.audit.verify()).toMatchObject({ ok: true, problems: [] });
    // The same records as a session report: who, from where, how long, what ran.
    const [session] = s.server.audit.sessions({ user: 'alice' });
    expect(session).toMatchObject({ shellId: created.data.shellId, user: 'alice', runAs: 'nobody', endedBy: 'delete', commands: [{ exitCode: 0 }] });
    expect(session!.seconds).toBeGreaterThanOrEqual(0);
    expect(s.server.audit.sessions({ user: 'bob' })).toEqual([]);
  });

  it('redacts method parameters whose names say secret', () => {
    expect(redact({ Name: 'svc', Password: 'p', ApiKey: 'k', StartPassword: 'x', Token: 't' })).toEqual({ Name: 'svc', Password: '(redacted)', ApiKey: '(redacted)', StartPassword: '(redacted)', Token: '(redacted)' });
  });
});

describe('the hash chain', () => {
  const fresh = () => {
    const db = openDb(':memory:');
    const log = new AuditLog(db);
    for (let i = 0; i < 6; i++) log.append({ kind: 'operation', user: 'alice', data: { n: i } });
    log.flush();
    return { db, log };
  };

  it('closed with its database, it takes no more (an event that comes after cannot throw from its commit timer)', async () => {
    const { db, log } = fresh();
    log.close();
    db.close();
    log.append({ kind: 'operation', user: 'alice', data: { late: true } });
    await new Promise((r) => setTimeout(r, 50)); // past the 20 ms group commit
    expect(() => log.flush()).not.toThrow();
  });

  it('a changed record is found, by its number', () => {
    const { db, log } = fresh();
    db.prepare('UPDATE audit SET data = ? WHERE seq = 3').run(JSON.stringify({ n: 99 }));
    expect(log.verify()).toMatchObject({ ok: false, problems: ['record 3: changed since it was written'] });
  });

  it('a deleted record is found: the sequence has a hole', () => {
    const { db, log } = fresh();
    db.prepare('DELETE FROM audit WHERE seq = 4').run();
    expect(log.verify().problems).toEqual(['record 5: records 4 are missing']);
  });

  it('a record rewritten with a fresh hash of its own still breaks the next one\'s link', () => {
    const { db, log } = fresh();
    const r = db.prepare('SELECT * FROM audit WHERE seq = 2').get() as { hash: string };
    db.prepare('UPDATE audit SET hash = ? WHERE seq = 2').run(r.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')));
    expect(log.verify().problems).toEqual(['record 2: changed since it was written', 'record 3: does not follow record 2 (its link is broken)']);
  });

  it('retention prunes the oldest and the chain still verifies from its anchor', () => {
    const { log } = fresh();
    expect(log.prune(1, Date.now() + 2 * 86_400_000)).toBe(6);
    log.append({ kind: 'operation', data: { n: 6 } });
    log.flush();
    expect(log.list().map((r) => r.seq)).toEqual([7]);
    expect(log.verify()).toMatchObject({ ok: true, records: 1 });
  });
});

describe('winrmd audit', () => {
  const cli = cliWithState('winrmd-audit-');
  afterAll(() => cli.cleanup());

  it('list, export and verify read the state file; user changes by the command line are in it', async () => {
    expect((await cli.run(['user', 'add', 'carol', '--role', 'viewer'], 'carol-Secret-1\n')).code).toBe(0);
    const list = await cli.run(['audit', 'list', '--kind', 'user_changed']);
    expect(list.stdout).toMatch(/\tuser_changed\t\S+\t-\t\{"verb":"add","name":"carol","roles":\["viewer"\],"runAs":"carol","by":"winrmd user"\}/);
    const exported = (await cli.run(['audit', 'export'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(exported[0]).toMatchObject({ seq: 1, kind: 'user_changed', prev: '0'.repeat(64), hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await cli.run(['audit', 'verify'])).stdout).toMatch(/intact: 1 records/);
    const db = openDb(cli.stateFile);
    db.prepare("UPDATE audit SET user = 'mallory'").run();
    db.close();
    const broken = await cli.run(['audit', 'verify']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('record 1: changed since it was written');
  });
});
