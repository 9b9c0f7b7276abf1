// winrmd to winrmd (issue 15 item 3): one instance forwards its journal as a Windows event
// forwarder would, over HTTPS with its machine certificate; another collects. What the journal
// held is sent from the earliest (ReadExistingEvents), what is written later follows, only what
// the subscription's query selects, and a forwarder started again resumes from the bookmark the
// collector stored: nothing acknowledged is sent twice, nothing is missed.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsFor } from '../../src/auth/passwords.js';
import { configSchema } from '../../src/config/schema.js';
import { NO_SHEDDING } from '../helpers/server.js';
import { simpleQuery } from '../../src/eventing/subscription.js';
import { startServer, stateFile, type Winrmd } from '../../src/server.js';
import { SqliteCollectorStore } from '../../src/store/collector.js';
import { openDb } from '../../src/store/db.js';
import { SqliteUserStore } from '../../src/store/users.js';
import { writeJournal } from '../helpers/journal.js';
import { eventually } from '../helpers/shell-client.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let dir: string;
let pki: TestPki;
let collector: Winrmd;
let journalDir: string;
const received = (source = 'ws01.example.test'): Record<string, any>[] => {
  try {
    return readFileSync(path.join(dir, 'out', `${source}.jsonl`), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
};

const entry = (message: string, priority: string, identifier = 'app') => ({ MESSAGE: message, PRIORITY: priority, SYSLOG_IDENTIFIER: identifier, _HOSTNAME: 'ws01' });

async function startForwarder(target?: Record<string, unknown>): Promise<Winrmd> {
  const config = configSchema.parse({
    limits: NO_SHEDDING,
    stateDir: path.join(dir, `forwarder-${Date.now()}`),
    listeners: { http: { enabled: false }, https: { enabled: false } },
    collector: { enabled: false },
    forwarder: {
      targets: [target ?? { server: `https://127.0.0.1:${collector.httpsPort}/wsman/`, refreshSeconds: 1, certFile: pki.source.cert, keyFile: pki.source.key, caFile: pki.ca.cert }],
    },
    journal: { directory: journalDir },
    logging: { level: 'silent' },
  });
  return startServer({ config, providers: [], log: pino({ level: 'silent' }) });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-forward-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  journalDir = path.join(dir, 'journal');
  mkdirSync(journalDir);
  writeJournal(journalDir, 'before', [entry('old info', '6'), entry('old error', '3'), entry('old debug', '7')]);
  const config = configSchema.parse({
    limits: NO_SHEDDING,
    stateDir: path.join(dir, 'collector'),
    listeners: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0, certFile: pki.server.cert, keyFile: pki.server.key } },
    service: { allowUnencrypted: false },
    collector: { sourceCaFiles: [pki.ca.cert] },
    logging: { level: 'silent' },
  });
  mkdirSync(config.stateDir, { mode: 0o700 });
  const db = openDb(stateFile(config));
  // A workgroup machine's account on the collector, for the NTLM case.
  new SqliteUserStore(db).put({ name: 'WS02$', ...(await credentialsFor('ws02-Secret-1')), runAs: '', eventSource: true });
  // Everything of level Information or worse, from the journal's start.
  await new SqliteCollectorStore(db).save({
    name: 'linux', description: '', query: simpleQuery(['System', 'Security', 'Application'], [1, 2, 3, 4]), contentFormat: 'RenderedText', heartbeatIntervalS: 60, maxTimeS: 1,
    maxEnvelopeSize: 512_000, readExistingEvents: true, ignoreChannelError: true, connectionRetry: { count: 5, intervalS: 60 }, sources: { allow: [], deny: [] }, uris: [],
    outputs: [{ type: 'file', format: 'json', path: path.join(dir, 'out', '{source}.jsonl') }],
  }, true);
  db.close();
  collector = await startServer({ config, providers: [], log: pino({ level: 'silent' }) });
}, 60_000);

afterAll(async () => {
  await collector?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('winrmd forwarding its journal to a winrmd collector', () => {
  it('sends what the journal held, then what comes later, selected by the query; a restart resumes from the stored bookmark', async () => {
    const forwarder = await startForwarder();
    const first = await eventually(async () => received(), (r) => r.length >= 2, 15_000);
    expect(first.map((e) => e.RenderingInfo.Message)).toEqual(['old info', 'old error']); // not the debug one
    expect(first[0]!.winrmd.source).toBe('ws01.example.test');
    expect(first[1]!.System.Level).toBe(2);

    writeJournal(journalDir, 'later', [entry('new warning', '4', 'sshd'), entry('new debug', '7')]);
    await eventually(async () => received(), (r) => r.length >= 3, 15_000);
    expect(received()[2]!.RenderingInfo.Message).toBe('new warning');
    expect(received()[2]!.System.Provider.Name).toBe('sshd');
    await forwarder.close();

    writeJournal(journalDir, 'while-down', [entry('written while the forwarder was stopped', '6')]);
    const again = await startForwarder();
    await eventually(async () => received(), (r) => r.length >= 4, 15_000);
    await new Promise((r) => setTimeout(r, 1500)); // one more poll: nothing is sent twice
    await again.close();
    expect(received().map((e) => e.RenderingInfo.Message)).toEqual(['old info', 'old error', 'new warning', 'written while the forwarder was stopped']);
  }, 60_000);
});

describe('over plain HTTP with NTLM and message encryption (a workgroup machine\'s account)', () => {
  it('forwards the same events, every body sealed', async () => {
    writeFileSync(path.join(dir, 'ws02.secret'), 'ws02-Secret-1\n');
    const forwarder = await startForwarder({ server: `http://127.0.0.1:${collector.httpPort}/wsman/SubscriptionManager/WEC`, refreshSeconds: 1, user: 'WS02$', passwordFile: path.join(dir, 'ws02.secret') });
    const got = await eventually(async () => received('WS02$'), (r) => r.length >= 4, 15_000);
    await forwarder.close();
    expect(got.map((e) => e.RenderingInfo.Message)).toEqual(['old info', 'old error', 'new warning', 'written while the forwarder was stopped']);
    expect(got[0]!.winrmd.source).toBe('WS02$');
  }, 60_000);
});

describe('a collector that names another address to deliver to', () => {
  it('is not followed: no request (and no credential) goes there, and the refusal is logged', async () => {
    const { createServer } = await import('node:https');
    const elsewhere: string[] = [];
    const trap = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
      elsewhere.push(`${req.method} ${req.url}`);
      res.end();
    }).listen(0, '127.0.0.1');
    await new Promise((r) => trap.once('listening', r));
    const trapPort = (trap.address() as import('node:net').AddressInfo).port;
    // A fake collector: its EnumerateResponse offers one subscription delivering to the trap.
    const offer = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/subscription" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action></s:Header><s:Body><n:EnumerateResponse><n:EnumerationContext/><w:Items><m:Subscription><m:Version>uuid:1</m:Version><s:Envelope><s:Header><w:OptionSet><w:Option Name="SubscriptionName">evil</w:Option></w:OptionSet></s:Header><s:Body><e:Subscribe><e:Delivery Mode="http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"><e:NotifyTo><a:Address>https://127.0.0.1:${trapPort}/steal</a:Address></e:NotifyTo></e:Delivery><w:Filter><QueryList><Query Id="0"><Select Path="System">*</Select></Query></QueryList></w:Filter><w:Bookmark>http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest</w:Bookmark></e:Subscribe></s:Body></s:Envelope></m:Subscription></w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>`;
    const fake = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/soap+xml;charset=UTF-8' }).end(offer));
    }).listen(0, '127.0.0.1');
    await new Promise((r) => fake.once('listening', r));
    const lines: Record<string, unknown>[] = [];
    const config = configSchema.parse({
      stateDir: path.join(dir, 'forwarder-trap'),
      listeners: { http: { enabled: false }, https: { enabled: false } },
      collector: { enabled: false },
      forwarder: { targets: [{ server: `https://127.0.0.1:${(fake.address() as import('node:net').AddressInfo).port}/wsman/`, refreshSeconds: 1, certFile: pki.source.cert, keyFile: pki.source.key, caFile: pki.ca.cert }] },
      journal: { directory: journalDir },
    });
    const forwarder = await startServer({ config, providers: [], log: pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) }) });
    expect(await eventually(async () => lines.some((l) => l.event === 'forwarder_address_refused'), (seen) => seen, 15_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    await forwarder.close();
    trap.close();
    fake.close();
    expect(elsewhere).toEqual([]);
  }, 30_000);
});
