// Two collectors sharing one PostgreSQL store (`store.url`), as behind a layer-4 balancer: a
// source enumerates on one and delivers to either; the bookmark one stored is the one the other
// offers; a subscription changed through one is what the other serves.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { simpleQuery } from '../../src/eventing/subscription.js';
import { startServer, type Winrmd } from '../../src/server.js';
import { PgCollectorStore } from '../../src/store/collector-pg.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { testUsers, NO_SHEDDING } from '../helpers/server.js';
import { bookmarkList, WefSource, windowsEvent } from '../helpers/wef-source.js';

let pg: TestPostgres;
let pki: TestPki;
let dir: string;
const collectors: Winrmd[] = [];
let admin: PgCollectorStore;

beforeAll(async () => {
  pg = await startPostgres();
  dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-scale-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  for (const name of ['a', 'b']) {
    const config = configSchema.parse({
    limits: NO_SHEDDING,
      stateDir: path.join(dir, name),
      listeners: { http: { enabled: false }, https: { host: '127.0.0.1', port: 0, certFile: pki.server.cert, keyFile: pki.server.key } },
      store: { url: pg.url },
      collector: { sourceCaFiles: [pki.ca.cert] },
      logging: { level: 'silent' },
    });
    collectors.push(await startServer({ config, users: await testUsers(), providers: [], log: pino({ level: 'silent' }) }));
  }
  admin = await PgCollectorStore.connect(pg.url);
}, 60_000);

afterAll(async () => {
  await admin?.close();
  for (const c of collectors) await c.close();
  pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('collectors sharing PostgreSQL', () => {
  it('a source moves between collectors and keeps its place', async () => {
    const out = path.join(dir, 'out', '{source}.jsonl');
    const sub = await admin.save({
      name: 'shared', description: '', query: simpleQuery(['Security']), contentFormat: 'Raw', heartbeatIntervalS: 60, maxTimeS: 30, maxEnvelopeSize: 512_000,
      readExistingEvents: false, ignoreChannelError: true, connectionRetry: { count: 5, intervalS: 60 }, sources: { allow: [], deny: [] }, uris: [],
      outputs: [{ type: 'file', format: 'json', path: out }],
    }, true);
    const [a, b] = collectors.map((c) => `https://127.0.0.1:${c.httpsPort}/wsman`);
    const source = (server: string) => new WefSource({ server: `${server}/SubscriptionManager/WEC`, machineId: 'ws01.example.test', transport: { kind: 'certificate', cert: pki.source.certPem, key: pki.source.keyPem }, compress: true });

    const onA = source(a!);
    const offer = (await onA.enumerate()).offers[0]!;
    onA.close();
    expect(offer.name).toBe('shared');
    // The balancer sends the delivery to the other collector: same path, same subscription.
    const toB = { ...offer, deliveryAddress: offer.deliveryAddress.replace(`:${collectors[0]!.httpsPort}/`, `:${collectors[1]!.httpsPort}/`) };
    const viaB = source(b!);
    expect((await viaB.events(toB, [windowsEvent({ id: 4624, recordId: 1 }), windowsEvent({ id: 4624, recordId: 2 })], bookmarkList('Security', 2))).status).toBe(200);
    viaB.close();
    // A offers the bookmark B stored.
    const again = source(a!);
    const resumed = (await again.enumerate()).offers[0]!;
    expect(resumed.bookmark).toContain('RecordId="2"');
    expect((await again.events(resumed, [windowsEvent({ id: 4625, recordId: 3 })], bookmarkList('Security', 3))).status).toBe(200);
    again.close();
    expect((await admin.sources(sub.id))[0]).toMatchObject({ source: 'ws01.example.test', eventsReceived: 3 });
    // Each collector wrote what it received (a file output is each collector's own disk).
    const ids = readFileSync(path.join(dir, 'out', 'ws01.example.test.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).System.EventRecordID);
    expect(ids).toEqual([1, 2, 3]);

    // Changed through the store B shares: A offers the new version at once.
    const changed = (await admin.save({ ...(await admin.find('shared'))!, heartbeatIntervalS: 900 }))!;
    const onB = source(b!);
    const fresh = (await onB.enumerate()).offers[0]!;
    onB.close();
    expect(fresh.version).toBe(`uuid:${changed.version.toUpperCase()}`);
    expect(fresh.heartbeats).toBe('PT900.000S');
  });
});
