// `winrmd session list|end` (issue 16 item 4): the running server's open shells, enumerations,
// subscriptions and the event sources its collector hears from, seen and ended from the command
// line through the control socket in the state folder.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { credentialsFor } from '../../src/auth/passwords.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, stateFile, type Winrmd } from '../../src/server.js';
import { openDb } from '../../src/store/db.js';
import { SqliteUserStore } from '../../src/store/users.js';
import { SqliteCollectorStore } from '../../src/store/collector.js';
import { simpleQuery, type SubscriptionSpec } from '../../src/eventing/subscription.js';
import { cliWithState } from '../helpers/cli.js';
import { ACTIONS, enumerateBody, envelope, pullBody } from '../helpers/envelope.js';
import { EVT, identifierOf, subscribe } from '../helpers/event-sink.js';
import { freePort } from '../helpers/ports.js';
import { ALICE, basic, NO_SHEDDING } from '../helpers/server.js';
import { eventually, processesWith, ShellClient } from '../helpers/shell-client.js';
import { bookmarkList, WefSource, windowsEvent } from '../helpers/wef-source.js';
import { xp } from '../helpers/xpath.js';

const cli = cliWithState('winrmd-sessions-');
let server: Winrmd;
let post: (xml: string, auth?: string | null) => Promise<{ status: number; text: string }>;
/** An --event-source user: a workgroup forwarder over HTTP with NTLM. */
const SOURCE = { user: 'WS05$', password: 'ws05-Secret-1' };
const OS = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem';

/** `winrmd session list` as rows of its tab-separated columns: kind, id, user, from, since, detail. */
async function sessionRows(): Promise<string[][]> {
  const list = await cli.run(['session', 'list']);
  expect(list.code, list.stderr).toBe(0);
  return list.stdout.trim().split('\n').map((l) => l.split('\t'));
}

beforeAll(async () => {
  const config = configSchema.parse({
    limits: NO_SHEDDING, stateDir: path.dirname(cli.stateFile), service: { allowUnencrypted: true },
    listeners: { http: { host: '127.0.0.1', port: await freePort() }, https: { enabled: false } }, logging: { level: 'silent' },
  });
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const db = openDb(stateFile(config));
  new SqliteUserStore(db).put({ name: ALICE.user, ...(await credentialsFor(ALICE.password)), runAs: 'nobody' });
  new SqliteUserStore(db).put({ name: SOURCE.user, ...(await credentialsFor(SOURCE.password)), runAs: '', eventSource: true });
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

    const rows = await sessionRows();
    expect(rows.find((r) => r[1] === shellId)).toEqual(['shell', shellId, 'alice', expect.any(String), expect.any(String), '1 command(s)']);
    expect(rows.find((r) => r[1] === subscription)).toEqual(['subscription', subscription, 'alice', '-', expect.any(String), 'pull']);
    // The enumeration context its events are pulled through is that subscription, not a second session.
    const pullContext = xp(sub.text, 'string(//n:EnumerationContext)');
    expect(pullContext).toMatch(/^uuid:/);
    expect(rows.map((r) => r[1])).not.toContain(pullContext);
    expect((await cli.run(['session', 'end', pullContext])).code).toBe(1);

    expect((await cli.run(['session', 'end', shellId])).stdout).toContain(`${shellId} ended`);
    expect(await eventually(() => processesWith('sleep 318'), (p) => p.length === 0)).toEqual([]);
    const deleted = await alice.request({ action: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete', selectors: { ShellId: shellId } });
    expect(xp(deleted.text, 'string(//s:Subcode/s:Value)')).toBe('w:InvalidSelectors'); // no such shell any more
    expect((await cli.run(['session', 'end', subscription])).stdout).toContain(`${subscription} ended`);
    expect((await cli.run(['session', 'list'])).stdout).not.toContain(subscription);
    expect((await cli.run(['session', 'end', 'no-such-session'])).code).toBe(1);
  });

  it('lists an enumeration left open with its owner, client and resource; ending it makes the next Pull InvalidEnumerationContext', async () => {
    const opened = await post(envelope({ action: ACTIONS.enumerate, resourceUri: OS, body: enumerateBody() }));
    expect(opened.status, opened.text).toBe(200);
    const context = xp(opened.text, 'string(//n:EnumerationContext)');
    expect(context).toMatch(/^uuid:/);

    const row = (await sessionRows()).find((r) => r[1] === context);
    expect(row).toEqual(['enumeration', context, 'alice', '127.0.0.1', expect.any(String), expect.stringContaining(OS)]);
    expect(Date.parse(row![4]!)).toBeLessThanOrEqual(Date.now());
    expect(row![5]).toMatch(/expires \d{4}-\d\d-\d\dT/);

    const ended = await cli.run(['session', 'end', context]);
    expect(ended.code, ended.stderr).toBe(0);
    expect(ended.stdout).toContain(`${context} ended`);
    expect((await sessionRows()).map((r) => r[1])).not.toContain(context);
    const pulled = await post(envelope({ action: ACTIONS.pull, resourceUri: OS, body: pullBody(context) }));
    expect(pulled.status).toBe(500);
    expect(xp(pulled.text, 'string(//s:Subcode/s:Value)')).toBe('n:InvalidEnumerationContext');
  });

  it('lists an event source once it delivers, while it is heard from; it cannot be ended from here, and its SubscriptionEnd ends it', async () => {
    // The administrator's side: `winrmd subscription add` writes the same state file.
    const db = openDb(cli.stateFile);
    onTestFinished(() => {
      db.close();
    });
    const store = new SqliteCollectorStore(db);
    const spec: SubscriptionSpec = {
      name: 'sessions', description: '', query: simpleQuery(['System'], [], []), contentFormat: 'Raw', heartbeatIntervalS: 60, maxTimeS: 30,
      maxEnvelopeSize: 512_000, readExistingEvents: false, ignoreChannelError: true, connectionRetry: { count: 5, intervalS: 60 },
      sources: { allow: [], deny: [] }, uris: [], outputs: [{ type: 'file', format: 'json', path: path.join(path.dirname(cli.stateFile), 'out', '{source}.jsonl') }],
    };
    const sub = await store.save(spec, true);
    const source = new WefSource({ server: `http://127.0.0.1:${server.httpPort}/wsman/SubscriptionManager/WEC`, machineId: 'ws05.example.test', transport: { kind: 'ntlm', ...SOURCE }, compress: true });
    try {
      const { offers } = await source.enumerate();
      expect(offers.map((o) => o.name)).toEqual(['sessions']);
      const id = `${sub.id}/ws05$`;
      expect((await sessionRows()).map((r) => r[1])).not.toContain(id); // enumerating its subscriptions is not delivering

      const events = [7036, 7040].map((n, i) => windowsEvent({ id: n, recordId: i + 1, channel: 'System', computer: 'ws05.example.test' }));
      expect((await source.events(offers[0]!, events, bookmarkList('System', 2))).status).toBe(200);
      const row = (await sessionRows()).find((r) => r[1] === id);
      expect(row).toEqual(['event-source', id, 'ws05$', '127.0.0.1', expect.any(String), expect.stringMatching(/^sessions: 2 event\(s\), last heard \d{4}-/)]);

      const refused = await cli.run(['session', 'end', id]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain(`${id} cannot be ended`);
      expect(refused.stdout).toContain('winrmd subscription disable');
      expect((await source.heartbeat(offers[0]!)).status).toBe(200); // still delivering

      expect((await source.subscriptionEnd(offers[0]!)).status).toBe(200);
      expect((await sessionRows()).map((r) => r[1])).not.toContain(id);
    } finally {
      source.close();
    }

    // A source last heard from longer ago than two heartbeat intervals (60 s here) is not live.
    await store.record({ subscriptionId: sub.id, source: 'WS06$', address: '192.0.2.6', kind: 'heartbeat', at: new Date(Date.now() - 121_000), events: 0 });
    await store.record({ subscriptionId: sub.id, source: 'WS07$', address: '192.0.2.7', kind: 'heartbeat', at: new Date(Date.now() - 60_000), events: 0 });
    const ids = (await sessionRows()).map((r) => r[1]);
    expect(ids).not.toContain(`${sub.id}/ws06$`);
    expect(ids).toContain(`${sub.id}/ws07$`);
    // Nor are the sources of a disabled subscription: their deliveries are refused.
    await store.setEnabled(sub.id, false);
    expect((await sessionRows()).map((r) => r[1])).not.toContain(`${sub.id}/ws07$`);
  });
});
