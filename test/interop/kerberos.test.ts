// Kerberos against a real MIT realm (test/helpers/kdc.ts) and a real initiator (Debian's
// python3-gssapi, test/interop/kerberos_client.py): the Kerberos scheme as Windows event
// forwarders send it (an empty first POST answered 200 with the AP-REP), raw Kerberos under
// Negotiate as pywinrm sends it, and SPNEGO as Windows clients send it; bodies sealed with RFC 4121
// wrap tokens in Windows' layout both ways. Then every refusal the issue lists.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOsProvider } from '../../providers/os/index.js';
import { createShellProvider } from '../../providers/shell/index.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type Winrmd } from '../../src/server.js';
import { envelope } from '../helpers/envelope.js';
import { actionsMatrix } from '../helpers/actions-matrix.js';
import { widgetProvider } from '../fixtures/widget-provider.js';
import { simpleQuery } from '../../src/eventing/subscription.js';
import { SqliteCollectorStore } from '../../src/store/collector.js';
import { openDb } from '../../src/store/db.js';
import { bookmarkList, prepare, readOffers, select, WefSource, windowsEvent, WEF } from '../helpers/wef-source.js';
import { runJsonClient } from '../helpers/json-client.js';
import { REALM, SERVICE_HOST, startRealm, type TestRealm } from '../helpers/kdc.js';
import { NO_LOCKOUT, testUsers, NO_SHEDDING } from '../helpers/server.js';
import { xp } from '../helpers/xpath.js';

const PYTHON = '/usr/bin/python3';
const CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kerberos_client.py');
const OS_URI = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem';
const GET_OS = envelope({ action: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Get', resourceUri: OS_URI });

interface Reply { status: number; content_type: string | null; protocol?: string; signature_length?: number; plaintext: string }
interface Result { legs: { sent: string; status: number; www_authenticate: string[] }[]; complete: boolean; replies: Reply[]; error?: string }

let realm: TestRealm;
let dir: string;
const servers: Winrmd[] = [];
const logs: Record<string, unknown>[] = [];
let aliceEnv: NodeJS.ProcessEnv;

async function serve(kerberos: Record<string, unknown> = {}): Promise<string> {
  const config = configSchema.parse({
    limits: NO_SHEDDING,
    stateDir: path.join(dir, `state${servers.length}`),
    listeners: { http: { host: '127.0.0.1', port: 0 }, https: { enabled: false } },
    service: { allowUnencrypted: false },
    security: NO_LOCKOUT,
    kerberos: { keytab: path.join(realm.dir, 'winrmd.keytab'), ...kerberos },
  });
  const log = pino({ level: 'debug' }, { write: (l: string) => void logs.push(JSON.parse(l)) });
  const server = await startServer({ config, users: await testUsers(), providers: [createOsProvider()], log });
  servers.push(server);
  return `http://127.0.0.1:${server.httpPort}/wsman`;
}

const refusals = () => logs.filter((l) => l.event === 'auth_failed').map((l) => String(l.reason));

function client(endpoint: string, job: Record<string, unknown>, env: NodeJS.ProcessEnv = aliceEnv): Promise<Result> {
  return runJsonClient<Result>(PYTHON, [CLIENT], { endpoint, service: `HTTP@${SERVICE_HOST}`, ...job }, { timeoutMs: 20_000, env: { ...env, PYTHONDONTWRITEBYTECODE: '1' } }).then((r) => r[0]!);
}

let endpoint: string;
beforeAll(async () => {
  realm = await startRealm();
  dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-krb-'));
  realm.kadmin(`addprinc -randkey HTTP/${SERVICE_HOST}`);
  realm.kadmin(`addprinc -randkey HOST/${SERVICE_HOST}`);
  realm.kadmin(`addprinc -randkey HTTP/elsewhere.winrmd.test`);
  realm.addPrincipal('alice', 'alice-Krb-1');
  realm.addPrincipal('mallory', 'mallory-Krb-1');
  realm.keytab(path.join(realm.dir, 'winrmd.keytab'), [`HTTP/${SERVICE_HOST}`, `HOST/${SERVICE_HOST}`]);
  aliceEnv = realm.kinit('alice', 'alice-Krb-1');
  endpoint = await serve();
}, 60_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  realm?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const osType = (r: Reply) => xp(r.plaintext, 'string(//*[local-name()="OSType"])');

describe('Kerberos with a real KDC and a real initiator', () => {
  it('the Kerberos scheme, as event forwarders send it: empty first POST → 200 with the AP-REP; sealed both ways in Windows\' layout', async () => {
    const r = await client(endpoint, { scheme: 'Kerberos', mech: 'krb5', iov: true, messages: [GET_OS, GET_OS] });
    expect(r.error, JSON.stringify(refusals())).toBeUndefined();
    expect(r.legs[0]!.status).toBe(200);
    expect(r.legs[0]!.www_authenticate).toHaveLength(1);
    expect(r.legs[0]!.www_authenticate[0]).toMatch(/^Kerberos [A-Za-z0-9+/]+=*$/);
    expect(r.complete).toBe(true);
    for (const reply of r.replies) {
      expect(reply.status).toBe(200);
      expect(reply.protocol).toBe('application/HTTP-Kerberos-session-encrypted');
      // RFC 4121 header 16 + RRC 28 + confounder 16: what Windows puts in front.
      expect(reply.signature_length).toBe(60);
      expect(osType(reply)).toBe('36');
    }
  });

  it('raw Kerberos under Negotiate (pywinrm\'s transport) and a plain gss_wrap token', async () => {
    const r = await client(endpoint, { scheme: 'Negotiate', mech: 'krb5', iov: false, messages: [GET_OS] });
    expect(r.error).toBeUndefined();
    expect(r.legs[0]!.www_authenticate[0]).toMatch(/^Negotiate /);
    expect(r.replies[0]!.status).toBe(200);
    expect(osType(r.replies[0]!)).toBe('36');
  });

  it('SPNEGO under Negotiate (Windows clients), sealed under the SPNEGO protocol string', async () => {
    const r = await client(endpoint, { scheme: 'Negotiate', mech: 'spnego', iov: true, protocol: 'application/HTTP-SPNEGO-session-encrypted', messages: [GET_OS] });
    expect(r.error).toBeUndefined();
    expect(r.complete).toBe(true);
    expect(r.replies[0]!.protocol).toBe('application/HTTP-SPNEGO-session-encrypted');
    expect(osType(r.replies[0]!)).toBe('36');
  });
});

describe('refused, with 401 and the reason in the log', () => {
  it('a modified wrap token, and a sealed message sent twice', async () => {
    const tampered = await client(endpoint, { scheme: 'Kerberos', mech: 'krb5', messages: [GET_OS], tamper: true });
    expect(tampered.replies[0]!.status).toBe(401);
    expect(refusals().some((r) => /does not decrypt|integrity/.test(r))).toBe(true);
    const replayed = await client(endpoint, { scheme: 'Kerberos', mech: 'krb5', messages: [GET_OS], replay: true });
    expect(replayed.replies.map((r) => r.status)).toEqual([200, 401]);
    expect(refusals().some((r) => /replayed or reordered token/.test(r))).toBe(true);
  });

  it('a replayed authenticator (the same AP-REQ on a new connection)', async () => {
    const first = await client(endpoint, { scheme: 'Kerberos', mech: 'krb5' });
    const again = await fetch(endpoint, { method: 'POST', headers: { Authorization: `Kerberos ${first.legs[0]!.sent}` }, body: '' });
    expect(again.status).toBe(401);
    expect(refusals()).toContain('a replayed authenticator');
  });

  it('a ticket for a service principal winrmd does not answer for, or whose key the keytab lacks', async () => {
    const restricted = await serve({ principals: [`HOST/${SERVICE_HOST}`] });
    const r = await client(restricted, { scheme: 'Kerberos', mech: 'krb5' });
    expect(r.legs[0]!.status).toBe(401);
    expect(refusals().some((x) => x.includes(`a ticket for HTTP/${SERVICE_HOST}@${REALM}, a service principal winrmd does not answer for`))).toBe(true);
    const other = await client(endpoint, { scheme: 'Kerberos', mech: 'krb5', service: 'HTTP@elsewhere.winrmd.test' });
    expect(other.legs[0]!.status).toBe(401);
    expect(refusals().some((x) => x.includes('for which the keytab holds no'))).toBe(true);
  });

  it('a principal of a realm no rule accepts, and a principal that is no winrmd user', async () => {
    const otherRealm = await serve({ realms: ['EXAMPLE.COM'] });
    expect((await client(otherRealm, { scheme: 'Kerberos', mech: 'krb5' })).legs[0]!.status).toBe(401);
    expect(refusals().some((x) => x.includes(`a principal of realm ${REALM}, which no rule accepts`))).toBe(true);
    const malloryEnv = realm.kinit('mallory', 'mallory-Krb-1');
    expect((await client(endpoint, { scheme: 'Kerberos', mech: 'krb5' }, malloryEnv)).legs[0]!.status).toBe(401);
    expect(refusals().some((x) => x.includes(`mallory@${REALM} maps to mallory, who is not a winrmd user`))).toBe(true);
  });

  it('an encryption type the configuration does not accept', async () => {
    const aes128only = await serve({ enctypes: ['aes128-cts-hmac-sha1-96'] });
    expect((await client(aes128only, { scheme: 'Kerberos', mech: 'krb5' })).legs[0]!.status).toBe(401);
    expect(refusals().some((x) => x.includes('aes256-cts-hmac-sha1-96, which the configuration does not accept'))).toBe(true);
  });
});

describe('a domain event forwarder (its machine principal) delivers to the collector over Kerberos', () => {
  it('enumerates on its Server= address and delivers SLDC-compressed UTF-16 batches, every body sealed', async () => {
    realm.addPrincipal('WS01$', 'ws01-Krb-1');
    const wsEnv = realm.kinit('WS01$', 'ws01-Krb-1');
    const stateDir = path.join(dir, 'collector-state');
    const config = configSchema.parse({
    limits: NO_SHEDDING,
      stateDir,
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { enabled: false } },
      service: { allowUnencrypted: false },
      kerberos: { keytab: path.join(realm.dir, 'winrmd.keytab') },
      logging: { level: 'silent' },
    });
    mkdirSync(stateDir, { mode: 0o700 });
    const db = openDb(path.join(stateDir, 'winrmd.db'));
    const out = path.join(dir, 'wef-out');
    const sub = await new SqliteCollectorStore(db).save({
      name: 'domain', description: '', query: simpleQuery(['Security']), contentFormat: 'RenderedText', heartbeatIntervalS: 60, maxTimeS: 30, maxEnvelopeSize: 512_000,
      readExistingEvents: false, ignoreChannelError: true, connectionRetry: { count: 5, intervalS: 60 }, sources: { allow: ['WS*$'], deny: [] }, uris: [],
      outputs: [{ type: 'file', format: 'json', path: path.join(out, '{source}.jsonl') }],
    }, true);
    db.close();
    const server = await startServer({ config, providers: [] });
    servers.push(server);
    const base = `http://127.0.0.1:${server.httpPort}`;
    const forwarder = new WefSource({ server: `${base}/wsman/SubscriptionManager/WEC`, machineId: 'ws01.winrmd.test', transport: { kind: 'ntlm', user: 'unused', password: 'unused' } });
    const bytes = (xml: string, compressed: boolean) => ({ b64: prepare(xml, compressed).bytes.toString('base64'), type: 'application/soap+xml;charset=UTF-16', ...(compressed ? { content_encoding: 'SLDC' } : {}) });

    const enumerate = await client(`${base}/wsman/SubscriptionManager/WEC`, { scheme: 'Kerberos', mech: 'krb5', messages: [bytes(forwarder.enumerateEnvelope(), false)] }, wsEnv);
    expect(enumerate.error).toBeUndefined();
    expect(enumerate.replies[0]!.status).toBe(200);
    const offers = readOffers(enumerate.replies[0]!.plaintext);
    expect(offers.map((o) => o.name)).toEqual(['domain']);
    const offer = offers[0]!;
    expect(offer.deliveryAddress).toBe(`${base}/wsman/subscriptions/${sub.id}`);
    expect(String(select('string(s:Body/e:Subscribe/e:Delivery/e:NotifyTo/c:Policy//auth:Authentication/@Profile)', offer.envelope))).toBe('http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos');

    const deliveries = await client(offer.deliveryAddress, {
      scheme: 'Kerberos', mech: 'krb5',
      messages: [bytes(forwarder.heartbeatEnvelope(offer), true), bytes(forwarder.eventsEnvelope(offer, [windowsEvent({ id: 4624, recordId: 7, computer: 'ws01.winrmd.test' })], bookmarkList('Security', 7)), true)],
    }, wsEnv);
    expect(deliveries.error).toBeUndefined();
    expect(deliveries.replies.map((r) => r.status)).toEqual([200, 200]);
    expect(deliveries.replies.map((r) => xp(r.plaintext, 'string(/s:Envelope/s:Header/a:Action)'))).toEqual([WEF.ack, WEF.ack]);
    const event = JSON.parse(readFileSync(path.join(out, 'WS01$.jsonl'), 'utf8').trim());
    expect(event.System.EventRecordID).toBe(7);
    expect(event.winrmd.source).toBe('WS01$');
  });
});

describe("pywinrm's Kerberos transport (python3-requests-kerberos, the client's ticket cache)", () => {
  const PYWINRM = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pywinrm_client.py');
  interface Step { ok: boolean; std_out_b64?: string; status_code?: number; error?: string; message?: string; properties?: Record<string, unknown> }
  const pywinrm = (job: Record<string, unknown>) => runJsonClient<Step>(PYTHON, [PYWINRM], { transport: 'kerberos', kerberos_hostname_override: SERVICE_HOST, ...job },
    { timeoutMs: 30_000, env: { ...aliceEnv, PYTHONDONTWRITEBYTECODE: '1' }, dropEnv: ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'] });

  it('run_cmd and Get over HTTPS, and over plain HTTP where the configuration allows unencrypted messages (Debian\'s pykerberos cannot seal)', async () => {
    const config = configSchema.parse({
    limits: NO_SHEDDING,
      stateDir: path.join(dir, 'pywinrm-state'),
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } },
      service: { allowUnencrypted: true },
      kerberos: { keytab: path.join(realm.dir, 'winrmd.keytab') },
      logging: { level: 'silent' },
    });
    const server = await startServer({ config, users: await testUsers(), providers: [createOsProvider(), createShellProvider(config.shell)] });
    servers.push(server);
    for (const endpoint of [`https://127.0.0.1:${server.httpsPort}/wsman`, `http://127.0.0.1:${server.httpPort}/wsman`]) {
      const [run, get] = await pywinrm({ endpoint, message_encryption: 'never', steps: [{ kind: 'run_cmd', command: 'echo', args: ['kerberos-ok'] }, { kind: 'get', resource_uri: OS_URI }] });
      expect(run!.ok, `${run!.error}: ${run!.message}`).toBe(true);
      expect(Buffer.from(run!.std_out_b64 ?? '', 'base64').toString()).toContain('kerberos-ok');
      expect(run!.status_code).toBe(0);
      expect(get!.ok, `${get!.error}: ${get!.message}`).toBe(true);
    }
    // requests-kerberos binds the ticket to the TLS channel: with strict hardening it must, and does.
    const strict = await startServer({
      config: configSchema.parse({ ...config, stateDir: path.join(dir, 'pywinrm-strict'), listeners: { http: { enabled: false }, https: { host: '127.0.0.1', port: 0 } }, service: { auth: { cbtHardeningLevel: 'strict' } } }),
      users: await testUsers(), providers: [createOsProvider()], log: pino({ level: 'debug' }, { write: (l: string) => void logs.push(JSON.parse(l)) }),
    });
    servers.push(strict);
    // Debian's python3-kerberos (1.1.14) sends no channel bindings: strict hardening refuses it.
    const [unbound] = await pywinrm({ endpoint: `https://127.0.0.1:${strict.httpsPort}/wsman`, message_encryption: 'never', steps: [{ kind: 'get', resource_uri: OS_URI }] });
    expect(unbound!.ok).toBe(false);
    expect(refusals()).toContain('channel bindings required (strict) but not sent');
    // MIT's initiator binds the ticket to this TLS channel (tls-server-end-point): accepted.
    const bound = await client(`https://127.0.0.1:${strict.httpsPort}/wsman`, { scheme: 'Negotiate', mech: 'spnego', cbt: true });
    expect(bound.error).toBeUndefined();
    expect(bound.legs[0]!.status).toBe(200);
  }, 60_000);
});

describe('the unauthenticated matrix, Kerberos cases: every action, no provider called', () => {
  it('a replayed AP-REQ, a token that is not Kerberos, an AP-REQ with a changed byte, under Kerberos and Negotiate: 401', async () => {
    const widgets = widgetProvider();
    const config = configSchema.parse({
    limits: NO_SHEDDING,
      stateDir: path.join(dir, 'matrix-state'),
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { enabled: false } },
      service: { allowUnencrypted: false },
      security: NO_LOCKOUT,
      kerberos: { keytab: path.join(realm.dir, 'winrmd.keytab') },
      logging: { level: 'silent' },
    });
    const server = await startServer({ config, users: await testUsers(), providers: [widgets, createOsProvider()] });
    servers.push(server);
    const url = `http://127.0.0.1:${server.httpPort}/wsman`;
    const used = (await client(url, { scheme: 'Kerberos', mech: 'krb5' })).legs[0]!.sent;
    const changed = Buffer.from(used, 'base64');
    changed[changed.length - 30] ^= 1;
    const tokens = [used, Buffer.from('not a token').toString('base64'), changed.toString('base64')];
    const { actions, marker } = actionsMatrix();
    const before = widgets.calls;
    for (const scheme of ['Kerberos', 'Negotiate']) {
      for (const token of tokens) {
        for (const [name, xml] of actions) {
          const res = await fetch(url, { method: 'POST', headers: { Authorization: `${scheme} ${token}`, 'Content-Type': 'application/soap+xml;charset=UTF-8' }, body: xml });
          expect(res.status, `${scheme} ${name}`).toBe(401);
        }
      }
    }
    expect(widgets.calls).toBe(before);
    expect(existsSync(marker)).toBe(false);
  }, 60_000);
});
