// The security lessons of earlier WS-Management servers (security-and-limits.md), as tests:
// OMIGOD (no credential → no provider), openwsman's file serving and request loops, XML bombs.
import { mkdtempSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type Winrmd } from '../../src/server.js';
import { MemoryUserStore } from '../../src/store/users.js';
import { credentialsFor, hashPassword } from '../../src/auth/passwords.js';
import { ACTIONS, envelope, identify } from '../helpers/envelope.js';
import { ALICE, basic, NO_LOCKOUT, testServer, testUsers } from '../helpers/server.js';
import { WebClient } from '../helpers/web.js';
import { createInvitation } from '../../src/admin/invitations.js';
import { pino } from 'pino';
import { PROVIDER_API_VERSION, type CimClass, type Provider } from '../../src/provider-api.js';
import { widgetProvider } from '../fixtures/widget-provider.js';
import { xp } from '../helpers/xpath.js';
import { actionsMatrix, WIDGET } from '../helpers/actions-matrix.js';

type Server = Awaited<ReturnType<typeof testServer>>;

const { actions: ACTIONS_MATRIX, marker } = actionsMatrix();

const b64 = (s: string) => Buffer.from(s).toString('base64');
const CREDENTIALS: [string, string | null][] = [
  ['no Authorization header', null],
  ['an unknown scheme', `Bearer ${b64('alice:alice-Secret-1')}`],
  ['an empty Basic header', 'Basic'],
  ['empty credentials', `Basic ${b64(':')}`],
  ['an empty password', `Basic ${b64('alice:')}`],
  ['a wrong password', basic({ user: 'alice', password: 'wrong' })],
  ['a truncated password (a prefix of the right one)', basic({ user: 'alice', password: 'alice-Secret' })],
  ['an unknown user', basic({ user: 'mallory', password: 'alice-Secret-1' })],
  ['no colon', `Basic ${b64('alicealice-Secret-1')}`],
  ['garbage base64', 'Basic !!!not-base64!!!'],
  // RFC 7617 §2: one token68 and nothing else (a lenient decoder skips what follows).
  ['valid credentials followed by a word', `${basic(ALICE)} extra`],
  ['valid credentials followed by 0xFF', `${basic(ALICE)}\xff`],
  ['valid credentials with a padding character too many', `${basic(ALICE)}=`],
];

describe('no request reaches a provider without an authenticated caller (OMIGOD)', () => {
  let s: Server;
  beforeAll(async () => {
    s = await testServer();
  });
  afterAll(() => s.server.close());

  for (const [action, xml] of ACTIONS_MATRIX) {
    for (const [why, auth] of CREDENTIALS) {
      it(`${action} with ${why} → 401`, async () => {
        const before = s.widgets.calls;
        const res = await s.post(xml, auth);
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Negotiate, NTLM, Basic realm="WSMAN"');
        expect(res.headers['content-type'] ?? '').not.toContain('soap');
        expect(s.widgets.calls).toBe(before);
      });
    }
  }

  it('no command ran', () => {
    expect(existsSync(marker)).toBe(false);
  });

  it('the same credentials that work are not a default identity: a correct password does reach the provider', async () => {
    const before = s.widgets.calls;
    const res = await s.post(ACTIONS_MATRIX[1][1], basic(ALICE));
    expect(res.status).toBe(200);
    expect(s.widgets.calls).toBe(before + 1);
  });
});

describe('Basic over plain HTTP is refused unless allowUnencrypted', () => {
  it('a correct password over HTTP → 401 and the provider is never called', async () => {
    const s = await testServer({ service: { allowUnencrypted: false } });
    for (const [, xml] of ACTIONS_MATRIX) {
      const before = s.widgets.calls;
      const res = await s.post(xml, basic(ALICE));
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBeDefined();
      expect(s.widgets.calls).toBe(before);
    }
    const line = s.logLines.map((l) => JSON.parse(l)).find((l) => l.event === 'auth_failed');
    expect(line.reason).toMatch(/allowUnencrypted/);
    await s.server.close();
  });
});

describe('XML attacks are refused before parsing', () => {
  let s: Server;
  beforeAll(async () => {
    s = await testServer();
  });
  afterAll(() => s.server.close());

  const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>` +
    envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Text>&lol3;</t:Text></t:Echo_INPUT>` }).replace(/^<\?xml[^>]*>/, '');
  const external = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
    envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Text>&xxe;</t:Text></t:Echo_INPUT>` }).replace(/^<\?xml[^>]*>/, '');

  for (const [name, xml] of [['billion laughs', bomb], ['external entity', external], ['lower-case doctype', bomb.replace('DOCTYPE', 'doctype')]]) {
    it(`${name}: refused, never expanded, provider not called`, async () => {
      const before = s.widgets.calls;
      const res = await s.post(xml);
      expect(res.status).toBe(500);
      expect(xp(res.body, '//s:Subcode/s:Value')).toBe('w:SchemaValidationError');
      expect(res.body).not.toContain('lollol');
      expect(res.body).not.toContain('root:');
      expect(s.widgets.calls).toBe(before);
    });
  }

  it('nesting deeper than the bound → EncodingLimit', async () => {
    const deep = '<q>'.repeat(100) + '</q>'.repeat(100);
    const res = await s.post(envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Text>${deep}</t:Text></t:Echo_INPUT>` }));
    expect(res.status).toBe(500);
    expect(xp(res.body, '//s:Subcode/s:Value')).toBe('w:EncodingLimit');
  });

  it('100,000 levels of nesting do not crash the parser', async () => {
    const res = await s.post('<a>'.repeat(100_000) + '</a>'.repeat(100_000));
    expect([413, 500]).toContain(res.status);
    const ok = await s.post(identify());
    expect(ok.status).toBe(200);
  });

  it('too many attributes on one element → EncodingLimit', async () => {
    const attrs = Array.from({ length: 100 }, (_, i) => `a${i}="1"`).join(' ');
    const res = await s.post(envelope({ action: ACTIONS.get, resourceUri: WIDGET, selectors: { Id: 'w1' }, headers: `<z:X xmlns:z="urn:z" ${attrs}/>` }));
    expect(xp(res.body, '//s:Subcode/s:Value')).toBe('w:EncodingLimit');
  });

  it('a body over the envelope limit → 413 before it is parsed', async () => {
    const big = envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Text>${'x'.repeat(600 * 1024)}</t:Text></t:Echo_INPUT>` });
    const before = s.widgets.calls;
    const res = await s.post(big);
    expect(res.status).toBe(413);
    expect(s.widgets.calls).toBe(before);
  });

  it('a body of 256 KB (the Go client sends stdin chunks this big) is accepted', async () => {
    const res = await s.post(envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, maxEnvelopeSize: 512000, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Text>${'x'.repeat(256 * 1024)}</t:Text></t:Echo_INPUT>` }));
    expect(res.status).toBe(200);
  });

  it('invalid UTF-8 → 400', async () => {
    const res = await s.post(Buffer.from([0x3c, 0x61, 0xff, 0xfe, 0xfd, 0x3e]));
    expect([400, 500]).toContain(res.status);
  });
});

describe('only POST /wsman, POST /wsman-anon and GET /healthz answer (openwsman CVE-2019-3816)', () => {
  let s: Server;
  beforeAll(async () => {
    s = await testServer();
  });
  afterAll(() => s.server.close());

  const cases: [string, string][] = [
    ['get', '/wsman'], ['put', '/wsman'], ['delete', '/wsman'], ['get', '/'], ['get', '/wsman-anon'],
    ['post', '/'], ['post', '/wsman/'], ['post', '/wsman/../wsman'], ['get', '/../../etc/passwd'], ['get', '/%2e%2e/%2e%2e/etc/passwd'],
    ['post', '/wsman-anon/identify'], ['get', '/package.json'], ['get', '/healthz/../package.json'], ['post', '/healthz'], ['options', '/wsman'],
    // Off unless configured (metrics.enabled, dashboard.enabled).
    ['get', '/metrics'], ['get', '/dashboard'], ['get', '/dashboard/style.css'], ['post', '/dashboard/login'],
  ];
  for (const [method, url] of cases) {
    it(`${method.toUpperCase()} ${url} → 404`, async () => {
      const res = await (request(s.http) as unknown as Record<string, (u: string) => request.Test>)[method](url).set('Authorization', basic(ALICE));
      expect(res.status).toBe(404);
      expect(res.text ?? '').not.toContain('root:');
    });
  }

  it('GET /healthz → 200 without credentials, revealing nothing', async () => {
    const res = await request(s.http).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });
});

describe('over real sockets: truncated, pipelined and slow requests (openwsman CVE-2019-3833)', () => {
  let server: Winrmd;
  let port: number;
  const widgets = widgetProvider();
  beforeAll(async () => {
    const users = new MemoryUserStore();
    users.put({ name: ALICE.user, passwordHash: await hashPassword(ALICE.password), runAs: 'nobody' });
    const config = configSchema.parse({
      stateDir: mkdtempSync(path.join(os.tmpdir(), 'winrmd-sock-')),
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { enabled: false } },
      service: { allowUnencrypted: true },
      logging: { level: 'silent' },
      limits: { headersTimeoutMs: 1000, requestTimeoutMs: 2000 },
    });
    server = await startServer({ config, users, providers: [widgets] });
    port = server.httpPort!;
  });
  afterAll(() => server.close());

  const raw = (payload: string, wait = 3000) =>
    new Promise<string>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.on('close', () => resolve(data));
      sock.on('error', () => resolve(data));
      sock.write(payload);
      setTimeout(() => { sock.destroy(); resolve(data); }, wait);
    });
  const identifyRequest = (connection = 'keep-alive') => {
    const body = identify();
    return `POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(ALICE)}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nConnection: ${connection}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };

  it('two pipelined requests get two answers', async () => {
    const out = await raw(identifyRequest() + identifyRequest('close'));
    expect(out.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
  });

  it('a body shorter than its Content-Length followed by a disconnect leaves the server responsive', async () => {
    const truncated = `POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(ALICE)}\r\nContent-Length: 5000\r\n\r\n<s:Envelope`;
    await raw(truncated, 200);
    const out = await raw(identifyRequest('close'));
    expect(out).toMatch(/^HTTP\/1\.1 200/);
  });

  it('a slow client (headers never finished) is cut off by the headers timeout', async () => {
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => undefined); // the server hanging up mid-write is the point
    let received = '';
    sock.on('data', (d) => (received += d.toString()));
    // A header line every 200 ms, for as long as the connection lasts: only the server can end it.
    // If it never did, vitest's testTimeout would fail the test; this cleans up after that too.
    const trickle = setInterval(() => !sock.destroyed && sock.write('X-Slow: 1\r\n'), 200);
    onTestFinished(() => { clearInterval(trickle); sock.destroy(); });
    sock.write('POST /wsman HTTP/1.1\r\nHost: x\r\n');
    await new Promise((resolve) => sock.on('close', resolve));
    // Cut off by the server's timeout (Node answers it 408 and closes), not by anything else: no
    // request reached the application, so there is no 401 or other answer to a complete request.
    expect(received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(received.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });

  it('a client that hangs up mid-operation aborts the provider\'s work and frees its slot', async () => {
    const xml = envelope({ action: `${WIDGET}/Slow`, resourceUri: WIDGET, operationTimeout: 'PT60S', body: `<t:Slow_INPUT xmlns:t="${WIDGET}"><t:Ms>30000</t:Ms></t:Slow_INPUT>` });
    const before = widgets.abandoned;
    await raw(`POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(ALICE)}\r\nContent-Length: ${Buffer.byteLength(xml)}\r\n\r\n${xml}`, 300);
    const deadline = Date.now() + 5000;
    while (widgets.abandoned === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(widgets.abandoned).toBe(before + 1);
  });

  it('an oversized Content-Length is refused with 413 without reading the body', async () => {
    const out = await raw(`POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(ALICE)}\r\nContent-Length: 999999999\r\n\r\n<x/>`, 1000);
    expect(out).toMatch(/^HTTP\/1\.1 413/);
  });
});

describe('the dashboard and the metrics (issue 16): no credentials, a viewer on an administrator\'s action, requests from another site', () => {
  let server: Winrmd;
  let base: string;
  let invitation: string;
  const ADMIN = { user: 'root-admin', password: 'admin-Secret-9' };
  const VIEWER = { user: 'viewer', password: 'viewer-Secret-8' };
  const invitationNow = () => server.users.find(invitation)!.invitation!;
  const NUMERIC = { user: 'numeric', password: 'numeric-Secret-6' };
  // Two sensor classes of root/hardware; the role `numeric-only` may enumerate one of them.
  const sensorClass = (name: string): CimClass => ({ name, namespace: 'root/hardware', keys: ['DeviceID'], properties: { DeviceID: { type: 'string' }, ElementName: { type: 'string' }, CurrentState: { type: 'string' }, HealthState: { type: 'uint16' } } });
  const enumerated: string[] = [];
  const sensors: Provider = {
    apiVersion: PROVIDER_API_VERSION, name: 'sensors', classes: [sensorClass('NumericSensor'), sensorClass('Sensor')],
    async *enumerate(req) {
      enumerated.push(req.className!);
      yield { className: req.className!, properties: { DeviceID: '1', ElementName: `${req.className} One`, CurrentState: 'Normal', HealthState: 5 } };
    },
  };

  beforeAll(async () => {
    const users = await testUsers();
    users.put({ name: ADMIN.user, ...(await credentialsFor(ADMIN.password)), runAs: 'nobody', roles: ['administrator'] });
    users.put({ name: VIEWER.user, ...(await credentialsFor(VIEWER.password)), runAs: 'nobody', roles: ['viewer'] });
    users.put({ name: NUMERIC.user, ...(await credentialsFor(NUMERIC.password)), runAs: 'nobody', roles: ['numeric-only'] });
    invitation = (await createInvitation(users, { role: 'helper', expiresInMs: 3_600_000, uses: 1, consent: true, runAs: 'nobody', createdBy: 'test' })).user;
    const config = configSchema.parse({
      stateDir: mkdtempSync(path.join(os.tmpdir(), 'winrmd-dash-')),
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } },
      dashboard: { enabled: true }, metrics: { enabled: true },
      security: { ...NO_LOCKOUT, roles: { 'numeric-only': { rules: [{ resources: ['root/hardware/NumericSensor'], operations: ['enumerate'], effect: 'allow' }] } } },
    });
    server = await startServer({ config, users, log: pino({ level: 'silent' }), providers: [widgetProvider(), sensors] });
    base = `https://127.0.0.1:${server.httpsPort}`;
  });
  afterAll(() => server.close());

  it('without credentials: pages lead to the sign-in, actions are refused, /metrics is 401, and nothing changes', async () => {
    const web = new WebClient(base);
    const page = await web.get('/dashboard/audit');
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe('/dashboard/login');
    const act = await web.post('/dashboard/invitations/accept', { name: invitation, csrf: 'x' });
    expect(act.status).toBe(403);
    expect(invitationNow().consentState).toBeUndefined();
    expect((await web.get('/metrics')).status).toBe(401);
    const forged = await web.get('/dashboard', { Cookie: '__Host-winrmd-dashboard=forged-token' });
    expect(forged.status).toBe(303);
  });

  it('over plain HTTP the dashboard is refused, a password never travels in clear', async () => {
    const res = await request(`http://127.0.0.1:${server.httpPort}`).post('/dashboard/login').type('form').send({ user: ADMIN.user, password: ADMIN.password });
    expect(res.status).toBe(403);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('a viewer: no administrator page, no administrator action (with a valid CSRF token), no metrics', async () => {
    const web = new WebClient(base);
    expect((await web.signIn(VIEWER.user, VIEWER.password)).status).toBe(303);
    const csrf = await web.csrf();
    expect(csrf).not.toBe('');
    for (const page of ['/dashboard/sessions', '/dashboard/audit', '/dashboard/invitations', '/dashboard/events']) expect((await web.get(page)).status, page).toBe(403);
    for (const [path, form] of [['/dashboard/invitations/accept', { name: invitation }], ['/dashboard/invitations/revoke', { name: invitation }], ['/dashboard/sessions/end', { id: 'anything' }]] as const) {
      expect((await web.post(path, { ...form, csrf })).status, path).toBe(403);
    }
    expect(invitationNow().consentState).toBeUndefined();
    expect(invitationNow().revoked).toBeUndefined();
    expect((await new WebClient(base).get('/metrics', { Authorization: basic(VIEWER) })).status).toBe(403);
    expect((await new WebClient(base).get('/metrics', { Authorization: basic(ADMIN) })).status).toBe(200);
  });

  it('an administrator\'s action started by another site is refused: by its Origin, by Sec-Fetch-Site, and without the CSRF token', async () => {
    const web = new WebClient(base);
    expect((await web.signIn(ADMIN.user, ADMIN.password)).status).toBe(303);
    const csrf = await web.csrf();
    const form = { name: invitation, csrf };
    expect((await web.post('/dashboard/invitations/accept', form, { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await web.post('/dashboard/invitations/accept', form, { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    expect((await web.post('/dashboard/invitations/accept', { name: invitation })).status).toBe(403);
    expect((await web.post('/dashboard/invitations/accept', { name: invitation, csrf: `${csrf.slice(0, -1)}x` })).status).toBe(403);
    expect(invitationNow().consentState).toBeUndefined();
    // The same action from the page itself goes through.
    const own = await web.post('/dashboard/invitations/deny', form, { Origin: base, 'Sec-Fetch-Site': 'same-origin' });
    expect(own.status).toBe(303);
    expect(invitationNow().consentState).toBe('denied');
  });

  it('a sign-in from another site is refused; a wrong password is 401 and sets no cookie', async () => {
    const web = new WebClient(base);
    expect((await web.post('/dashboard/login', ADMIN, { Origin: 'https://evil.example' })).status).toBe(403);
    const wrong = await web.signIn(ADMIN.user, 'not-the-password');
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
  });

  it('every page carries a Content-Security-Policy that allows no script and no other origin', async () => {
    const web = new WebClient(base);
    const login = await web.get('/dashboard/login');
    expect(login.headers['content-security-policy']).toBe("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    expect(login.headers['x-frame-options']).toBe('DENY');
    expect(login.text).not.toMatch(/<script|https?:\/\/(?!127\.0\.0\.1)/i);
    const signedIn = await web.signIn(ADMIN.user, ADMIN.password);
    expect(signedIn.headers['set-cookie']?.[0]).toMatch(/^__Host-winrmd-dashboard=[\w-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict$/);
  });

  it('a refused sign-in is in the audit trail, as any refused credential is', async () => {
    await new WebClient(base).signIn(ADMIN.user, 'guessed-Wrong-1');
    server.audit.flush();
    const refused = server.audit.list({ kind: 'authentication_failed', user: ADMIN.user }).at(-1)!;
    expect(refused.data).toEqual({ reason: 'wrong password', via: 'dashboard' });
    expect(JSON.stringify(server.audit.list())).not.toContain('guessed-Wrong-1');
  });

  it('the hardware page shows only the sensor classes the caller\'s rules let them enumerate; the other is never read', async () => {
    const web = new WebClient(base);
    expect((await web.signIn(NUMERIC.user, NUMERIC.password)).headers.location).toBe('/dashboard/hardware');
    enumerated.length = 0;
    const page = await web.get('/dashboard/hardware');
    expect(page.status).toBe(200);
    expect(page.text).toContain('NumericSensor One');
    expect(page.text).not.toMatch(/>Sensor One</);
    expect(enumerated).toEqual(['NumericSensor']);
    expect((await web.get('/dashboard')).status).toBe(403); // no read of winrm/config: no overview
  });

  it('dashboard.enabled without Basic is refused: its sign-in is a password', () => {
    const parsed = configSchema.safeParse({ dashboard: { enabled: true }, service: { auth: { basic: false } } });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['dashboard.enabled', 'the dashboard signs in with a password, as Basic does: it needs service.auth.basic']]);
  });

  it('a removed user\'s sign-in ends at once', async () => {
    const temp = { user: 'temp-admin', password: 'temp-Secret-7' };
    server.users.put({ name: temp.user, ...(await credentialsFor(temp.password)), runAs: 'nobody', roles: ['administrator'] });
    const web = new WebClient(base);
    await web.signIn(temp.user, temp.password);
    expect((await web.get('/dashboard/audit')).status).toBe(200);
    server.users.remove(temp.user);
    expect((await web.get('/dashboard/audit')).status).toBe(303);
  });
});
