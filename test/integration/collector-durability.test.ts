// At-least-once under failure (MS-WSMV 3.1.4.1.30; DSP0226 §10.7): while simulated forwarders
// deliver over loopback, the collector is killed with SIGKILL at random moments and started
// again; the forwarders resend whatever was not acknowledged, as Windows does. Afterwards every
// acknowledged event is in the output, and no stored bookmark is ahead of the events stored.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { credentialsFor } from '../../src/auth/passwords.js';
import { simpleQuery } from '../../src/eventing/subscription.js';
import { SqliteCollectorStore } from '../../src/store/collector.js';
import { openDb } from '../../src/store/db.js';
import { SqliteUserStore } from '../../src/store/users.js';
import { bookmarkList, WefSource, windowsEvent, type Offer } from '../helpers/wef-source.js';
import { freePort } from '../helpers/ports.js';

const root = new URL('../..', import.meta.url).pathname;
// One process (tsx's loader, not its CLI, which would put a second process between the kill and the server).
const cli = ['--import', 'tsx', path.join(root, 'src/main.ts')];
const SOURCES = 8;
const BATCHES_PER_SOURCE = 12;
const KILLS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the collector killed mid-delivery', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-durability-'));
  let server: ChildProcess | undefined;
  afterAll(() => {
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged event and never stores a bookmark ahead of its events', async () => {
    const port = await freePort();
    const stateDir = path.join(dir, 'state');
    const out = path.join(dir, 'out');
    const config = path.join(dir, 'winrmd.yaml');
    writeFileSync(config, [
      'stateDir: ./state',
      `listeners: { http: { host: 127.0.0.1, port: ${port} }, https: { enabled: false } }`,
      'logging: { level: warn }',
    ].join('\n'));
    mkdirSync(stateDir, { mode: 0o700 });
    const setup = openDb(path.join(stateDir, 'winrmd.db'));
    const users = new SqliteUserStore(setup);
    const names = Array.from({ length: SOURCES }, (_, i) => `WS${String(i + 1).padStart(2, '0')}$`);
    for (const name of names) users.put({ name, ...(await credentialsFor(`${name}-pw`)), runAs: '', eventSource: true });
    const sub = await new SqliteCollectorStore(setup).save({
      name: 'durable', description: '', query: simpleQuery(['Security']), contentFormat: 'Raw', heartbeatIntervalS: 60, maxTimeS: 30, maxEnvelopeSize: 512_000,
      readExistingEvents: false, ignoreChannelError: true, connectionRetry: { count: 5, intervalS: 60 }, sources: { allow: [], deny: [] }, uris: [],
      outputs: [{ type: 'file', format: 'json', path: path.join(out, '{source}.jsonl') }],
    }, true);
    setup.close();

    const start = async () => {
      const child = spawn(process.execPath, [...cli, 'serve', '--config', config], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      child.stdout!.on('data', (d) => (log += d));
      child.stderr!.on('data', (d) => (log += d));
      for (let i = 0; i < 200; i++) {
        const up = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
        if (up) return child;
        if (child.exitCode !== null) throw new Error(`winrmd exited: ${log}`);
        await sleep(50);
      }
      throw new Error(`winrmd did not start: ${log}`);
    };
    server = await start();

    const acked = new Map<string, number[]>(names.map((n) => [n, []]));
    let resent = 0;
    let killing = true;
    const deliverAll = async (name: string) => {
      let record = 0;
      let source: WefSource | undefined;
      let offer: Offer | undefined;
      // Until the kills are over (and at least BATCHES_PER_SOURCE), bounded all the same.
      for (let batch = 0; (batch < BATCHES_PER_SOURCE || killing) && batch < 5000;) {
        const size = 1 + ((batch * 7 + name.length) % 10);
        const ids = Array.from({ length: size }, (_, i) => record + i + 1);
        try {
          source ??= new WefSource({ server: `http://127.0.0.1:${port}/wsman/SubscriptionManager/WEC`, machineId: name, transport: { kind: 'ntlm', user: name, password: `${name}-pw` }, compress: true });
          offer ??= (await source.enumerate()).offers.find((o) => o.name === 'durable');
          if (!offer) throw new Error('not offered yet');
          const reply = await source.events(offer, ids.map((id) => windowsEvent({ id: 4624, recordId: id, computer: name })), bookmarkList('Security', ids[ids.length - 1]!));
          if (reply.status !== 200) throw new Error(`status ${reply.status}`);
          acked.get(name)!.push(...ids);
          record += size;
          batch++;
        } catch {
          // No Ack: the same batch again, on new connections, once the collector answers.
          resent++;
          source?.close();
          source = undefined;
          offer = undefined;
          await sleep(100);
        }
      }
      source?.close();
    };
    const kills = (async () => {
      for (let k = 0; k < KILLS; k++) {
        await sleep(300 + Math.floor(Math.random() * 500));
        server!.kill('SIGKILL');
        await new Promise((r) => server!.once('exit', r));
        server = await start();
      }
      killing = false;
    })();
    await Promise.all([...names.map(deliverAll), kills]);
    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
    server = undefined;

    expect(resent).toBeGreaterThan(0); // the kills did interrupt deliveries
    const check = openDb(path.join(stateDir, 'winrmd.db'));
    const store = new SqliteCollectorStore(check);
    for (const name of names) {
      const stored = readFileSync(path.join(out, `${name}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l).System.EventRecordID as number);
      const have = new Set(stored);
      const missing = acked.get(name)!.filter((id) => !have.has(id));
      expect(missing, `${name}: acknowledged but not stored`).toEqual([]);
      const bookmark = await store.bookmark(sub.id, name);
      const at = Number(/RecordId="(\d+)"/.exec(bookmark ?? '')?.[1] ?? 0);
      expect(at, `${name}: bookmark ahead of the events stored`).toBeLessThanOrEqual(Math.max(...stored));
      // Never behind what the source saw acknowledged. It may be ahead: a kill between the commit
      // and the Ack leaves a batch stored whose Ack never arrived; the source then resumes from
      // the stored bookmark (as Windows does) and does not send that batch again.
      expect(at).toBeGreaterThanOrEqual(acked.get(name)!.at(-1)!);
    }
    check.close();
  }, 120_000);
});
