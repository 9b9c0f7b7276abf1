// Collector-initiated subscriptions, winrmd to winrmd (issue 15 items 1 and 4): a collector
// subscribes to a source with a stored subscription's query and stores what arrives through its
// outputs. Pull over HTTP with NTLM and message encryption; push (Events) with the source
// delivering over HTTPS with its machine certificate while the collector subscribed with Basic
// over HTTPS. Either side restarted mid-stream: nothing stored is lost, and nothing is stored
// twice beyond the one batch that was in flight.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsFor } from '../../src/auth/passwords.js';
import { spawn } from 'node:child_process';
import { createOsProvider } from '../../providers/os/index.js';
import { configSchema } from '../../src/config/schema.js';
import { simpleQuery } from '../../src/eventing/subscription.js';
import { startServer, stateFile, type Winrmd } from '../../src/server.js';
import { SqliteCollectorStore } from '../../src/store/collector.js';
import { openDb } from '../../src/store/db.js';
import { SqliteUserStore } from '../../src/store/users.js';
import { writeJournal } from '../helpers/journal.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { freePort } from '../helpers/ports.js';
import { NO_SHEDDING } from '../helpers/server.js';
import { eventually } from '../helpers/shell-client.js';

let dir: string;
let pki: TestPki;
let journalDir: string;
const port = { sourceHttp: 0, sourceHttps: 0, collectorHttps: 0 };
const MAX_ITEMS = 3;

const entry = (message: string) => ({ MESSAGE: message, PRIORITY: '4', SYSLOG_IDENTIFIER: 'app', _HOSTNAME: 'web01' });
/** What the collector's output holds for a source, one JSON object per event. */
const stored = (source: string): Record<string, any>[] => {
  try {
    return readFileSync(path.join(dir, 'out', `${source}.jsonl`), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
};
const received = (source: string): string[] => stored(source).map((e) => e.RenderingInfo.Message);

function startSource(): Promise<Winrmd> {
  // The OS provider: its classes give instance events.
  const config = configSchema.parse({
    limits: NO_SHEDDING,
    stateDir: path.join(dir, 'source'),
    listeners: { http: { host: '127.0.0.1', port: port.sourceHttp }, https: { host: '127.0.0.1', port: port.sourceHttps, certFile: pki.server.cert, keyFile: pki.server.key } },
    collector: { enabled: false },
    security: { eventLogReaders: ['collector'] },
    journal: { directory: journalDir },
    // Deliveries go to the collector's delivery paths only, with this machine's certificate.
    eventing: { deliveryTargets: [{ url: `https://127.0.0.1:${port.collectorHttps}/wsman/subscriptions/`, certFile: pki.source.cert, keyFile: pki.source.key, caFile: pki.ca.cert }] },
    logging: { level: 'silent' },
  });
  return startServer({ config, providers: [createOsProvider()], log: pino({ level: process.env.TEST_LOG ?? 'silent' }) });
}

function startCollector(sources: Record<string, unknown>[]): Promise<Winrmd> {
  const config = configSchema.parse({
    limits: NO_SHEDDING,
    stateDir: path.join(dir, 'collector'),
    listeners: { http: { enabled: false }, https: { host: '127.0.0.1', port: port.collectorHttps, certFile: pki.server.cert, keyFile: pki.server.key } },
    collector: { sourceCaFiles: [pki.ca.cert], sources },
    logging: { level: 'silent' },
  });
  return startServer({ config, providers: [], log: pino({ level: process.env.TEST_LOG ?? 'silent' }) });
}

/** Every message exactly once in order, except that one batch in flight at a restart may come twice. */
function expectResumed(got: string[], want: string[]) {
  expect([...new Set(got)]).toEqual(want);
  expect(got.length - want.length).toBeLessThanOrEqual(MAX_ITEMS);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-ci-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  journalDir = path.join(dir, 'journal');
  mkdirSync(journalDir);
  for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = await freePort();
  writeJournal(journalDir, '0', Array.from({ length: 5 }, (_, i) => entry(`early ${i}`)));
  writeFileSync(path.join(dir, 'collector.secret'), 'collector-Secret-1\n');

  // The source knows the collector as a user; the collector stores two subscriptions.
  for (const [name, prepare] of [['source', async (db: ReturnType<typeof openDb>) => new SqliteUserStore(db).put({ name: 'collector', ...(await credentialsFor('collector-Secret-1')), runAs: 'nobody' })],
    ['collector', async (db: ReturnType<typeof openDb>) => {
      const store = new SqliteCollectorStore(db);
      for (const sub of ['linux-pull', 'linux-push']) {
        await store.save({
          name: sub, description: '', query: simpleQuery(['System'], [1, 2, 3, 4]), contentFormat: 'RenderedText', heartbeatIntervalS: 2, maxTimeS: 1, maxItems: MAX_ITEMS,
          maxEnvelopeSize: 512_000, readExistingEvents: true, ignoreChannelError: true, connectionRetry: { count: 60, intervalS: 1 }, sources: { allow: [], deny: [] }, uris: [],
          outputs: [{ type: 'file', format: 'json', path: path.join(dir, 'out', '{source}.jsonl') }],
        }, true);
      }
    }]] as const) {
    mkdirSync(path.join(dir, name), { mode: 0o700 });
    const db = openDb(stateFile(configSchema.parse({ stateDir: path.join(dir, name) })));
    await prepare(db);
    db.close();
  }
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('collector-initiated, pull over NTLM with message encryption', () => {
  it('pulls what the journal held and what follows; restarts of the source and of the collector resume from the stored bookmark', async () => {
    const pullSource = { url: `http://127.0.0.1:${port.sourceHttp}/wsman`, subscription: 'linux-pull', mode: 'pull', principal: 'web01-pull', user: 'collector', passwordFile: path.join(dir, 'collector.secret'), expiresSeconds: 3600 };
    let source = await startSource();
    let collector = await startCollector([pullSource]);
    const want = Array.from({ length: 5 }, (_, i) => `early ${i}`);
    try {
      await eventually(async () => received('web01-pull'), (r) => r.length >= 5, 20_000);
      writeJournal(journalDir, '1', [entry('later 0'), entry('later 1')]);
      want.push('later 0', 'later 1');
      await eventually(async () => new Set(received('web01-pull')).size, (n) => n >= want.length, 20_000);

      // The source goes away and comes back: its subscription is gone; the collector subscribes again from its bookmark.
      await source.close();
      writeJournal(journalDir, '2', [entry('while the source was down')]);
      want.push('while the source was down');
      source = await startSource();
      await eventually(async () => new Set(received('web01-pull')).size, (n) => n >= want.length, 30_000);

      // The collector goes away; what is written meanwhile comes when it is back.
      await collector.close();
      writeJournal(journalDir, '3', [entry('while the collector was down 0'), entry('while the collector was down 1')]);
      want.push('while the collector was down 0', 'while the collector was down 1');
      collector = await startCollector([pullSource]);
      await eventually(async () => new Set(received('web01-pull')).size, (n) => n >= want.length, 30_000);
      await new Promise((r) => setTimeout(r, 1500)); // another Pull or two: nothing more arrives
      expectResumed(received('web01-pull'), want);
    } finally {
      await collector.close();
      await source.close();
    }
  }, 120_000);
});

describe('collector-initiated, push (Events) with client certificates', () => {
  it('the source delivers to the collector as an event source; restarts of either side resume from the stored bookmark', async () => {
    const pushSource = {
      url: `https://127.0.0.1:${port.sourceHttps}/wsman`, subscription: 'linux-push', mode: 'push', notifyTo: `https://127.0.0.1:${port.collectorHttps}`,
      principal: 'ws01.example.test', user: 'collector', passwordFile: path.join(dir, 'collector.secret'), basic: true, caFile: pki.ca.cert, expiresSeconds: 3600,
    };
    const want = [...new Set(received('web01-pull'))]; // the same journal, read from the earliest for this subscription
    let source = await startSource();
    let collector = await startCollector([pushSource]);
    try {
      await eventually(async () => new Set(received('ws01.example.test')).size, (n) => n >= want.length, 30_000);
      expect([...new Set(received('ws01.example.test'))]).toEqual(want);

      // The collector restarts: the source's deliveries fail and are retried, and the new
      // collector's Subscribe replaces the old subscription (same sink), from the stored bookmark.
      await collector.close();
      writeJournal(journalDir, '4', [entry('pushed while the collector was down')]);
      want.push('pushed while the collector was down');
      collector = await startCollector([pushSource]);
      await eventually(async () => new Set(received('ws01.example.test')).size, (n) => n >= want.length, 30_000);

      // The source restarts: it forgets the subscription, falls silent, and the collector subscribes again.
      await source.close();
      writeJournal(journalDir, '5', [entry('pushed after the source came back')]);
      want.push('pushed after the source came back');
      source = await startSource();
      await eventually(async () => new Set(received('ws01.example.test')).size, (n) => n >= want.length, 40_000);
      await new Promise((r) => setTimeout(r, 1500));
      expectResumed(received('ws01.example.test'), want);
    } finally {
      await collector.close();
      await source.close();
    }
  }, 150_000);
});

describe('collector-initiated, instance events of the OS provider', () => {
  it('a process started on the source is stored at the collector as an __InstanceCreationEvent', async () => {
    const source = await startSource();
    const collector = await startCollector([{
      url: `http://127.0.0.1:${port.sourceHttp}/wsman`, subscription: 'linux-pull', mode: 'pull', principal: 'web01-processes', user: 'collector', passwordFile: path.join(dir, 'collector.secret'),
      resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process', wql: "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_Process' AND TargetInstance.Name = 'sleep'",
    }]);
    const events = () => stored('web01-processes');
    try {
      await new Promise((r) => setTimeout(r, 2500)); // subscribed, and the baseline taken
      const child = spawn('sleep', ['7'], { stdio: 'ignore' });
      const got = await eventually(async () => events(), (e) => e.some((x) => String(x.__InstanceCreationEvent?.TargetInstance?.Win32_Process?.ProcessId) === String(child.pid)), 15_000);
      child.kill();
      const mine = got.filter((x) => String(x.__InstanceCreationEvent?.TargetInstance?.Win32_Process?.ProcessId) === String(child.pid));
      expect(mine.length).toBe(1);
      expect(mine[0].__InstanceCreationEvent.TargetInstance.Win32_Process.Name).toBe('sleep');
      expect(mine[0].winrmd.source).toBe('web01-processes');
    } finally {
      await collector.close();
      await source.close();
    }
  }, 60_000);
});
