// `winrmd session list|end` (issue 16 item 4): the running server's open shells and subscriptions,
// seen and ended from the command line through the control socket in the state folder.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsFor } from '../../src/auth/passwords.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, stateFile, type Winrmd } from '../../src/server.js';
import { openDb } from '../../src/store/db.js';
import { SqliteUserStore } from '../../src/store/users.js';
import { cliWithState } from '../helpers/cli.js';
import { EVT, identifierOf, subscribe } from '../helpers/event-sink.js';
import { freePort } from '../helpers/ports.js';
import { ALICE, basic, NO_SHEDDING } from '../helpers/server.js';
import { eventually, processesWith, ShellClient } from '../helpers/shell-client.js';
import { xp } from '../helpers/xpath.js';

const cli = cliWithState('winrmd-sessions-');
let server: Winrmd;
let post: (xml: string, auth?: string | null) => Promise<{ status: number; text: string }>;

beforeAll(async () => {
  const config = configSchema.parse({
    limits: NO_SHEDDING, stateDir: path.dirname(cli.stateFile), service: { allowUnencrypted: true },
    listeners: { http: { host: '127.0.0.1', port: await freePort() }, https: { enabled: false } }, logging: { level: 'silent' },
  });
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const db = openDb(stateFile(config));
  new SqliteUserStore(db).put({ name: ALICE.user, ...(await credentialsFor(ALICE.password)), runAs: 'nobody' });
  db.close();
  server = await startServer({ config, log: pino({ level: 'silent' }) });
  post = async (xml, auth) => {
    const r = await fetch(`http://127.0.0.1:${server.httpPort}/wsman`, { method: 'POST', headers: { Authorization: auth ?? basic(ALICE), 'Content-Type': 'application/soap+xml;charset=UTF-8' }, body: xml });
    return { status: r.status, text: await r.text() };
  };
}, 60_000);
afterAll(async () => {
  await server?.close();
  cli.cleanup();
});

describe('winrmd session', () => {
  it('lists the open shells and subscriptions, and ends one of each: the shell is gone, its command killed', async () => {
    const alice = new ShellClient(post, ALICE);
    const shellId = await alice.create();
    await alice.command(shellId, 'sleep 318');
    const sub = await post(subscribe({ resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process', mode: EVT.pull, filter: { text: "SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_Process'" } }));
    expect(sub.status, sub.text).toBe(200);
    const subscription = identifierOf(sub.text);

    const list = await cli.run(['session', 'list']);
    expect(list.code, list.stderr).toBe(0);
    const rows = list.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.find((r) => r[1] === shellId)).toEqual(['shell', shellId, 'alice', expect.any(String), expect.any(String), '1 command(s)']);
    expect(rows.find((r) => r[1] === subscription)).toEqual(['subscription', subscription, 'alice', '-', expect.any(String), 'pull']);

    expect((await cli.run(['session', 'end', shellId])).stdout).toContain(`${shellId} ended`);
    expect(await eventually(() => processesWith('sleep 318'), (p) => p.length === 0)).toEqual([]);
    const deleted = await alice.request({ action: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete', selectors: { ShellId: shellId } });
    expect(xp(deleted.text, 'string(//s:Subcode/s:Value)')).toBe('w:InvalidSelectors'); // no such shell any more
    expect((await cli.run(['session', 'end', subscription])).stdout).toContain(`${subscription} ended`);
    expect((await cli.run(['session', 'list'])).stdout).not.toContain(subscription);
    expect((await cli.run(['session', 'end', 'no-such-session'])).code).toBe(1);
  });
});
