// The event collector against a Windows-shaped forwarder (test/helpers/wef-source.ts), over real
// sockets: HTTPS with the source's machine certificate, and HTTP with NTLM message encryption.
// MS-WSMV 3.1.4.1.30 (source-initiated subscriptions), 2.2.4.41 (m:Subscription), 2.2.9.2 (SLDC).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOsProvider } from '../../providers/os/index.js';
import { credentialsFor } from '../../src/auth/passwords.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, stateFile, type Winrmd } from '../../src/server.js';
import { SqliteCollectorStore } from '../../src/store/collector.js';
import { openDb, type Db } from '../../src/store/db.js';
import { SqliteUserStore } from '../../src/store/users.js';
import { simpleQuery, type SubscriptionSpec } from '../../src/eventing/subscription.js';
import { subscriptionCommand } from '../../src/eventing/subscription-cli.js';
import { ACTIONS, envelope } from '../helpers/envelope.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { ALICE, basic, NO_LOCKOUT, NO_SHEDDING, testServer } from '../helpers/server.js';
import { bookmarkList, select, subscriptionCreatedEvent, WefSource, windowsEvent, WEF, type Offer } from '../helpers/wef-source.js';
import { xp } from '../helpers/xpath.js';

const SOURCE_NTLM = { user: 'WS03$', password: 'ws03-Secret-1' };

let pki: TestPki;
let dir: string;
let server: Winrmd;
let db: Db;
let store: SqliteCollectorStore;
let logs: Record<string, unknown>[];
let outDir: string;
let https: string;
let http: string;

const spec = (name: string, extra: Partial<SubscriptionSpec> = {}): SubscriptionSpec => ({
  name, description: '', query: simpleQuery(['Security', 'System'], [], [4624, 4625]), contentFormat: 'Raw', heartbeatIntervalS: 60, maxTimeS: 30,
  maxEnvelopeSize: 512_000, readExistingEvents: false, ignoreChannelError: true, connectionRetry: { count: 5, intervalS: 60 },
  sources: { allow: [], deny: [] }, uris: [], outputs: [{ type: 'file', format: 'json', path: path.join(outDir, '{subscription}', '{source}.jsonl') }], ...extra,
});

const certificateSource = (pair = pki.source, server = `${https}/SubscriptionManager/WEC`, compress = true) =>
  new WefSource({ server, machineId: 'ws01.example.test', transport: { kind: 'certificate', cert: pair.certPem, key: pair.keyPem }, compress });

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-collector-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  outDir = path.join(dir, 'out');
  const config = configSchema.parse({
    limits: NO_SHEDDING,
    stateDir: path.join(dir, 'state'),
    listeners: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0, certFile: pki.server.cert, keyFile: pki.server.key } },
    service: { allowUnencrypted: false },
    collector: { sourceCaFiles: [pki.ca.cert] },
    security: NO_LOCKOUT,
  });
  // Users, as `winrmd user add` writes them, before the server starts.
  mkdirSync(config.stateDir, { mode: 0o700 });
  const setup = openDb(stateFile(config));
  const users = new SqliteUserStore(setup);
  users.put({ name: ALICE.user, ...(await credentialsFor(ALICE.password)), runAs: os.userInfo().username });
  users.put({ name: SOURCE_NTLM.user, ...(await credentialsFor(SOURCE_NTLM.password)), runAs: '', eventSource: true });
  setup.close();
  logs = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  server = await startServer({ config, log, providers: [createOsProvider()] });
  https = `https://127.0.0.1:${server.httpsPort}/wsman`;
  http = `http://127.0.0.1:${server.httpPort}/wsman`;
  // The administrator's side: the CLI writes the same state file (another connection).
  db = openDb(stateFile(config));
  store = new SqliteCollectorStore(db);
});

afterAll(async () => {
  db?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a source enumerates its subscriptions (MS-WSMV 3.1.4.1.30, 2.2.4.41)', () => {
  it('over HTTPS with its machine certificate: UTF-16 in, UTF-16 out, one m:Subscription Windows can act on, then End is 204', async () => {
    const sub = await store.save(spec('security-logons', { readExistingEvents: true, locale: 'en-US', maxItems: 50 }), true);
    const source = certificateSource();
    const { reply, offers, end, messageId } = await source.enumerate();
    source.close();
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/soap+xml;charset=UTF-16');
    expect([...reply.bytes.subarray(0, 2)]).toEqual([0xff, 0xfe]);
    expect(reply.text.startsWith('<?xml version="1.0" encoding="UTF-16"?>')).toBe(true);
    expect(xp(reply.text, 'string(/s:Envelope/s:Header/a:RelatesTo)')).toBe(messageId);
    expect(xp(reply.text, 'count(//n:EnumerationContext)')).toBe('1');
    expect(xp(reply.text, 'string(//n:EnumerationContext)')).toBe(''); // a context would make Windows Pull
    expect(xp(reply.text, 'count(//w:EndOfSequence)')).toBe('1');
    expect(offers).toHaveLength(1);
    const offer = offers[0]!;
    expect(offer.version).toBe(`uuid:${sub.version.toUpperCase()}`);
    expect(offer.name).toBe('security-logons');
    // Deliveries go where the source already reached this server, to the subscription's own path.
    expect(offer.deliveryAddress).toBe(`https://127.0.0.1:${server.httpsPort}/wsman/subscriptions/${sub.id}`);
    expect(offer.endTo).toBe(offer.deliveryAddress);
    expect(offer.identifier).toBe(sub.version);
    const env = offer.envelope;
    const str = (e: string) => String(select(`string(${e})`, env));
    const count = (e: string) => Number(select(`count(${e})`, env));
    expect(str('s:Header/a:Action')).toBe('http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe');
    expect(str('s:Header/w:ResourceURI')).toBe('http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog');
    expect(str(`s:Header/w:OptionSet/w:Option[@Name='Compression']`)).toBe('SLDC');
    expect(count(`s:Header/w:OptionSet/w:Option[@Name='CDATA'][@xsi:nil='true']`)).toBe(1);
    expect(count(`s:Header/w:OptionSet/w:Option[@Name='ReadExistingEvents'][@xsi:nil='true']`)).toBe(1);
    expect(count(`s:Header/w:OptionSet/w:Option[@Name='IgnoreChannelError'][@xsi:nil='true']`)).toBe(1);
    expect(str(`s:Header/w:OptionSet/w:Option[@Name='ContentFormat']`)).toBe('Raw');
    expect(str('s:Header/w:Locale/@xml:lang')).toBe('en-US');
    const delivery = 's:Body/e:Subscribe/e:Delivery';
    expect(str(`${delivery}/@Mode`)).toBe('http://schemas.dmtf.org/wbem/wsman/1/wsman/Events');
    expect(str(`${delivery}/w:Heartbeats`)).toBe('PT60.000S');
    expect(str(`${delivery}/w:MaxTime`)).toBe('PT30.000S');
    expect(str(`${delivery}/w:MaxElements`)).toBe('50');
    expect(str(`${delivery}/w:MaxEnvelopeSize/@Policy`)).toBe('Notify');
    expect(str(`${delivery}/w:ConnectionRetry/@Total`)).toBe('5');
    expect(str(`${delivery}/w:ContentEncoding`)).toBe('UTF-16');
    // The certificate policy names the CA that issues sources' certificates (the GPO's IssuerCA), in auth:.
    expect(str(`${delivery}/e:NotifyTo/c:Policy/c:ExactlyOne/c:All/auth:Authentication/@Profile`)).toBe('http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual');
    expect(str(`${delivery}/e:NotifyTo/c:Policy//auth:Thumbprint[@Role='issuer']`)).toBe(pki.caThumbprint.toUpperCase());
    expect(str(`s:Body/e:Subscribe/w:Filter/@Dialect`)).toBe('http://schemas.microsoft.com/win/2004/08/events/eventquery');
    expect(count(`s:Body/e:Subscribe/w:Filter/QueryList/Query/Select[@Path='Security']`)).toBe(1);
    // No bookmark stored yet, ReadExistingEvents: replay from the earliest (DSP0226 §10.2.6).
    expect(offer.bookmark).toBe('http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest');
    expect(count('s:Body/e:Subscribe/w:SendBookmarks')).toBe(1);
    expect(end.status).toBe(204);
    expect(end.bytes.length).toBe(0);
    await store.remove(sub.id);
  });

  it('offers only what applies: enabled, with an output, on this path, for this source', async () => {
    const mine = await store.save(spec('for-ws01', { sources: { allow: ['ws01.*'], deny: [] } }), true);
    await store.save(spec('for-others', { sources: { allow: ['ws9*'], deny: [] } }), true);
    await store.save(spec('denied', { sources: { allow: [], deny: ['WS01.EXAMPLE.TEST'] } }), true);
    await store.save(spec('disabled'), false);
    await store.save(spec('no-output', { outputs: [] }), true);
    await store.save(spec('other-path', { uris: ['/wsman/elsewhere'] }), true);
    const here = certificateSource();
    const names = (await here.enumerate()).offers.map((o) => o.name);
    here.close();
    expect(names).toEqual(['for-ws01']);
    // The trailing-slash Server= form of certificate sources (`HTTPS://collector:5986/wsman/`).
    const slash = certificateSource(pki.source, `${https}/`);
    const withSlash = (await slash.enumerate()).offers.map((o) => o.name);
    slash.close();
    expect(withSlash).toEqual(['for-ws01']);
    const elsewhere = certificateSource(pki.source, `${https}/elsewhere`);
    expect((await elsewhere.enumerate()).offers.map((o) => o.name).sort()).toEqual(['for-ws01', 'other-path']);
    elsewhere.close();
    for (const s of await store.list()) if (s.id !== mine.id) await store.remove(s.id);
    await store.remove(mine.id);
  });

  it('a certificate from another CA is refused (401), whatever its name', async () => {
    const rogue = certificateSource(pki.rogueSource);
    const { reply } = await rogue.enumerate();
    rogue.close();
    expect(reply.status).toBe(401);
  });
});

describe('deliveries: heartbeats and batches, acknowledged once stored (DSP0226 §10.7)', () => {
  let offer: Offer;
  let subId: string;
  const source = () => certificateSource();

  beforeAll(async () => {
    subId = (await store.save(spec('deliveries'), true)).id;
    const s = source();
    offer = (await s.enumerate()).offers[0]!;
    s.close();
  });

  it('an SLDC-compressed heartbeat is acknowledged, relating to it, and recorded', async () => {
    const s = source();
    const reply = await s.heartbeat(offer);
    s.close();
    expect(reply.status).toBe(200);
    expect(xp(reply.text, 'string(/s:Envelope/s:Header/a:Action)')).toBe(WEF.ack);
    expect(xp(reply.text, 'string(/s:Envelope/s:Header/a:RelatesTo)')).toMatch(/^uuid:[0-9A-F-]{36}$/);
    const status = await store.sources(subId);
    expect(status).toHaveLength(1);
    expect(status[0]).toMatchObject({ source: 'ws01.example.test', machineId: 'ws01.example.test', eventsReceived: 0 });
    expect(status[0]!.lastHeartbeat).toBeDefined();
  });

  it('a batch reaches the output as JSON, control characters in CDATA included; the bookmark is served back at the next enumeration', async () => {
    const s = source();
    const events = [
      windowsEvent({ id: 4624, recordId: 101, data: { TargetUserName: 'alice', LogonType: '3' } }),
      windowsEvent({ id: 4625, recordId: 102, data: { TargetUserName: 'bob\u0005', Status: '0xc000006d' } }),
      windowsEvent({ id: 4624, recordId: 103, message: 'An account was successfully logged on.' }),
    ];
    const reply = await s.events(offer, events, bookmarkList('Security', 103));
    s.close();
    expect(reply.status).toBe(200);
    expect(xp(reply.text, 'string(/s:Envelope/s:Header/a:Action)')).toBe(WEF.ack);
    const out = lines(path.join(outDir, 'deliveries', 'ws01.example.test.jsonl'));
    expect(out).toHaveLength(3);
    expect(out[0]!.System).toMatchObject({ EventID: 4624, EventRecordID: 101, Channel: 'Security', Computer: 'ws01.example.test', TimeCreated: '2026-12-07T10:00:00.000000000Z' });
    expect(out[0]!.System.Provider.Name).toBe('Microsoft-Windows-Security-Auditing');
    expect(out[0]!.EventData).toEqual({ TargetUserName: 'alice', LogonType: '3' });
    expect(out[1]!.EventData.TargetUserName).toBe('bob\uFFFD');
    expect(out[2]!.RenderingInfo.Message).toBe('An account was successfully logged on.');
    expect(out[0]!.winrmd).toMatchObject({ source: 'ws01.example.test', machineId: 'ws01.example.test', address: '127.0.0.1', subscription: { name: 'deliveries', id: subId, version: offer.identifier } });
    expect((await store.sources(subId))[0]!.eventsReceived).toBe(3);
    const again = source();
    const next = (await again.enumerate()).offers[0]!;
    again.close();
    expect(next.bookmark).toContain('RecordId="103"');
    expect(next.bookmark).toContain('Channel="Security"');
  });

  it('a batch the outputs cannot store is not acknowledged (503) and moves no bookmark; sent again, it is', async () => {
    const blocked = path.join(dir, 'blocked');
    writeFileSync(blocked, 'a file where a folder is needed');
    await store.save({ ...spec('deliveries'), outputs: [{ type: 'file', format: 'raw', path: path.join(blocked, '{source}.xml') }] });
    const s = source();
    const batch = [windowsEvent({ id: 4624, recordId: 104 })];
    const refused = await s.events(offer, batch, bookmarkList('Security', 104));
    expect(refused.status).toBe(503);
    expect(await store.bookmark(subId, 'ws01.example.test')).toContain('RecordId="103"');
    rmSync(blocked);
    mkdirSync(blocked);
    const accepted = await s.events(offer, batch, bookmarkList('Security', 104));
    s.close();
    expect(accepted.status).toBe(200);
    expect(readFileSync(path.join(blocked, 'ws01.example.test.xml'), 'utf8')).toBe(`${batch[0]}\n`);
    expect(await store.bookmark(subId, 'ws01.example.test')).toContain('RecordId="104"');
  });

  it('a source enumerating while its last batch is being stored is offered the bookmark after that batch, not the one before (else it sends the batch again)', async () => {
    // Hold the outputs' write of the next batch until the Enumerate has arrived: the window in
    // which a forwarder restarted right after sending would be offered the bookmark before it.
    const outputs = server.outputs!;
    const write = outputs.write.bind(outputs);
    let writing!: () => void;
    const started = new Promise<void>((r) => (writing = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    outputs.write = async (batch) => {
      writing();
      await held;
      return write(batch);
    };
    try {
      const s = source();
      const delivered = s.events(offer, [windowsEvent({ id: 4624, recordId: 105 })], bookmarkList('Security', 105));
      await started;
      const again = source();
      const enumerated = again.enumerate();
      // The Enumerate is answered only after the batch is stored, whenever that is.
      await new Promise((r) => setTimeout(r, 300));
      release();
      expect((await delivered).status).toBe(200);
      const next = (await enumerated).offers[0]!;
      s.close();
      again.close();
      expect(next.bookmark).toContain('RecordId="105"');
    } finally {
      outputs.write = write;
      release();
    }
  });

  it('a source that re-creates its subscription despite a stored bookmark (its event 111) is reported (OpenWEC #291)', async () => {
    const s = source();
    const reply = await s.events(offer, [subscriptionCreatedEvent()], '<BookmarkList Direction="backward"><Bookmark Channel="Security" RecordId="90" IsCurrent="true"/></BookmarkList>');
    s.close();
    expect(reply.status).toBe(200);
    expect(logs.some((l) => l.event === 'subscription_recreated_by_source' && l.source === 'ws01.example.test')).toBe(true);
    expect((await store.sources(subId))[0]!.recreatedAt).toBeDefined();
  });

  it('refuses what is not this source\'s: an unknown subscription is 404, one that excludes it 403 (and it is not offered)', async () => {
    const other = certificateSource(pki.source2);
    const stranger = { ...offer, deliveryAddress: offer.deliveryAddress.replace(subId, '00000000-0000-4000-8000-000000000000') };
    expect((await other.heartbeat(stranger)).status).toBe(404);
    await store.save({ ...spec('deliveries'), sources: { allow: [], deny: ['ws02*'] } });
    expect((await other.heartbeat(offer)).status).toBe(403);
    expect((await other.events(offer, [windowsEvent({ id: 1, recordId: 1 })], bookmarkList('Security', 1))).status).toBe(403);
    other.close();
    expect(await store.bookmark(subId, 'ws02.example.test')).toBeUndefined();
  });

  it('a SubscriptionEnd from the source is answered and logged', async () => {
    const s = source();
    const reply = await s.subscriptionEnd(offer);
    s.close();
    expect(reply.status).toBe(200);
    expect(logs.some((l) => l.event === 'subscription_ended_by_source' && l.source === 'ws01.example.test')).toBe(true);
  });

  it('winrmd subscription status shows each source: heartbeat, events, count, bookmark', async () => {
    const lines: string[] = [];
    expect(await subscriptionCommand(store, ['status', 'deliveries'], {}, (l) => lines.push(l))).toBe(0);
    expect(lines[0]).toBe('deliveries (enabled): 1 source(s)');
    const ws01 = lines.find((l) => l.includes('ws01.example.test'))!;
    expect(ws01).toMatch(/last heartbeat \d+ s ago/);
    expect(ws01).toContain('6 events');
    expect(ws01).toContain('RE-CREATED its subscription');
    expect(ws01).not.toContain('SILENT');
  });

  it('removing a subscription removes what its sources left (bookmarks, liveness)', async () => {
    expect((await store.sources(subId)).length).toBeGreaterThan(0);
    expect(await store.remove('DELIVERIES')).toBe(true);
    expect(await store.sources(subId)).toEqual([]);
  });
});

describe('sources are principals of their own kind', () => {
  it('a source certificate reaches nothing but the collector: no class, no shell (AccessDenied)', async () => {
    const s = certificateSource();
    const get = await s.send(`${https}`, envelope({ action: ACTIONS.enumerate, resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service', body: '<n:Enumerate xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"/>' }));
    s.close();
    expect(get.status).toBe(500);
    expect(xp(get.text, 'string(//s:Subcode/s:Value)')).toBe('w:AccessDenied');
  });

  it('a user is not a source: enumerating subscriptions or delivering is AccessDenied', async () => {
    const enumerate = envelope({ action: WEF.enumerate, resourceUri: WEF.subscriptionManager, body: '<n:Enumerate xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"/>' });
    const res = await fetch(`${http}/SubscriptionManager/WEC`, { method: 'POST', headers: { Authorization: basic(ALICE), 'Content-Type': 'application/soap+xml;charset=UTF-8' }, body: enumerate }).catch((e: Error) => e);
    // Basic over plain HTTP is refused outright here (allowUnencrypted false); over HTTPS the policy says no.
    expect(res instanceof Error ? 0 : res.status).toBe(401);
    const { OneConnection } = await import('../helpers/ntlm-client.js');
    const c = new OneConnection(`${https}/SubscriptionManager/WEC`);
    const reply = await c.post(enumerate, { Authorization: basic(ALICE) });
    c.close();
    expect(reply.status).toBe(500);
    expect(xp(reply.body.toString(), 'string(//s:Subcode/s:Value)')).toBe('w:AccessDenied');
  });

  it('with the collector off, an --event-source user reaches nothing at all (AccessDenied), not even a subscription of its own', async () => {
    const t = await testServer({ collector: { enabled: false } });
    t.server.users.put({ name: 'WS09$', ...(await credentialsFor('ws09-Secret-1')), runAs: 'nobody', eventSource: true });
    const auth = basic({ user: 'WS09$', password: 'ws09-Secret-1' });
    for (const xml of [envelope({ action: ACTIONS.get, resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem' }),
      envelope({ action: 'http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe', resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog', body: '<e:Subscribe xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing"><e:Delivery Mode="http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull"/></e:Subscribe>' })]) {
      const res = await t.post(xml, auth);
      expect(xp(res.body, 'string(//s:Subcode/s:Value)')).toBe('w:AccessDenied');
    }
    await t.server.close();
  });

  it('only the collector answers on paths under /wsman/', async () => {
    const { OneConnection } = await import('../helpers/ntlm-client.js');
    const c = new OneConnection(`${https}/SubscriptionManager/WEC`);
    const reply = await c.post(envelope({ action: ACTIONS.get, resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem' }), { Authorization: basic(ALICE) });
    c.close();
    expect(xp(reply.body.toString(), 'string(//s:Subcode/s:Value)')).toBe('a:DestinationUnreachable');
  });
});

describe('a workgroup source over HTTP with NTLM message encryption (an --event-source user)', () => {
  it('enumerates, heartbeats and delivers with every body sealed', async () => {
    const sub = await store.save(spec('ntlm', { sources: { allow: ['WS03$'], deny: [] } }), true);
    const source = new WefSource({ server: `${http}/SubscriptionManager/WEC`, machineId: 'ws03.example.test', transport: { kind: 'ntlm', ...SOURCE_NTLM }, compress: true });
    const { reply, offers, end } = await source.enumerate();
    expect(reply.status).toBe(200);
    expect(offers.map((o) => o.name)).toEqual(['ntlm']);
    expect(end.status).toBe(204);
    const offer = offers[0]!;
    expect(offer.deliveryAddress).toBe(`http://127.0.0.1:${server.httpPort}/wsman/subscriptions/${sub.id}`);
    expect(String(select('string(s:Body/e:Subscribe/e:Delivery/e:NotifyTo/c:Policy//auth:Authentication/@Profile)', offer.envelope))).toBe('http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos');
    expect((await source.heartbeat(offer)).status).toBe(200);
    const delivered = await source.events(offer, [windowsEvent({ id: 7036, recordId: 5, channel: 'System', computer: 'ws03.example.test' })], bookmarkList('System', 5));
    source.close();
    expect(delivered.status).toBe(200);
    expect(lines(path.join(outDir, 'ntlm', 'WS03$.jsonl'))[0]!.System.EventID).toBe(7036);
    expect(await store.bookmark(sub.id, 'WS03$')).toContain('RecordId="5"');
  });
});

describe('bad deliveries get a clear answer and lose nothing', () => {
  it('a compression bomb, an invalid SLDC stream, a body that is not w:Events', async () => {
    const sub = await store.save(spec('bad-input'), true);
    const s = certificateSource();
    const offer = (await s.enumerate()).offers.find((o) => o.name === 'bad-input')!;
    const { OneConnection } = await import('../helpers/ntlm-client.js');
    const c = new OneConnection(offer.deliveryAddress, { cert: pki.source.certPem, key: pki.source.keyPem });
    const { sldcEncode } = await import('../helpers/sldc-encoder.js');
    // A small stream that says it holds 5 MB: refused by its declared length before anything is decoded.
    const bombBytes = sldcEncode(Buffer.alloc(20_000, 0x41));
    bombBytes.writeUInt32LE(5_000_000, bombBytes.length - 4);
    const bomb = await c.post(bombBytes, { 'Content-Encoding': 'SLDC' });
    expect(bomb.status).toBe(400);
    expect(bomb.body.toString()).toMatch(/declares 5000000 bytes/);
    const junk = await c.post(Buffer.from([0xff, 0xab, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 1]), { 'Content-Encoding': 'SLDC' });
    expect(junk.status).toBe(400);
    // A batch larger than the collector takes (maxEnvelopeSizeKb) is refused before it is read.
    const oversize = await c.post(Buffer.alloc(600 * 1024, 0x20));
    expect(oversize.status).toBe(413);
    c.close();
    const notEvents = await s.send(offer.deliveryAddress, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>${WEF.events}</a:Action><a:MessageID>uuid:1</a:MessageID></s:Header><s:Body><w:Nothing/></s:Body></s:Envelope>`, true);
    s.close();
    expect(notEvents.status).toBe(500); // a SOAP fault, as WinRM sends every fault
    expect(xp(notEvents.text, 'string(//s:Subcode/s:Value)')).toBe('w:SchemaValidationError');
    expect((await store.sources(sub.id)).every((x) => x.eventsReceived === 0)).toBe(true);
  });
});
