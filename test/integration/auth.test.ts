// Authentication beyond Basic, over real sockets (NTLM is bound to the TCP connection): the grown
// unauthenticated matrix (security-and-limits.md: every action × every way a credential can be
// missing, wrong, replayed, cut short or belong to someone else → 401, provider never called),
// NTLM message encryption's rules, client certificates, the brute-force back-off, TLS versions.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MUTUAL_PROFILE } from '../../src/auth/certificate.js';
import { configSchema } from '../../src/config/schema.js';
import { ENCRYPTED_CONTENT_TYPE } from '../../src/http/encryption.js';
import { startServer, type Winrmd } from '../../src/server.js';
import { widgetProvider } from '../fixtures/widget-provider.js';
import { actionsMatrix, WIDGET } from '../helpers/actions-matrix.js';
import { ACTIONS, envelope, identify } from '../helpers/envelope.js';
import { NtlmTestClient, OneConnection } from '../helpers/ntlm-client.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { ALICE, basic, BOB, NO_LOCKOUT, testUsers } from '../helpers/server.js';
import { xp } from '../helpers/xpath.js';

const { actions, marker } = actionsMatrix();
const GET_WIDGET = envelope({ action: ACTIONS.get, resourceUri: WIDGET, selectors: { Id: 'w1' } });

interface Running {
  server: Winrmd;
  http: string;
  https: string;
  widgets: ReturnType<typeof widgetProvider>;
  logs: Record<string, unknown>[];
}

async function run(pki: TestPki, overrides: Record<string, unknown> = {}): Promise<Running> {
  const widgets = widgetProvider();
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const config = configSchema.parse({
    stateDir: mkdtempSync(path.join(os.tmpdir(), 'winrmd-auth-')),
    listeners: {
      http: { host: '127.0.0.1', port: 0 },
      https: { host: '127.0.0.1', port: 0, certFile: pki.server.cert, keyFile: pki.server.key, clientCaFiles: [pki.ca.cert] },
    },
    service: {
      auth: { certificate: true },
      certMapping: [{ user: 'alice', upn: 'alice@winrmd.test', issuer: pki.caThumbprint }],
    },
    security: NO_LOCKOUT,
    ...overrides,
  });
  const server = await startServer({ config, users: await testUsers(), log, providers: [widgets] });
  return { server, widgets, logs, http: `http://127.0.0.1:${server.httpPort}/wsman`, https: `https://127.0.0.1:${server.httpsPort}/wsman` };
}

let pki: TestPki;
let s: Running;
beforeAll(async () => {
  pki = makeTestPki(mkdtempSync(path.join(os.tmpdir(), 'winrmd-pki-')));
  s = await run(pki); // allowUnencrypted false: NTLM over HTTP must encrypt
});
afterAll(() => s.server.close());

const RIGHT = { user: ALICE.user, password: ALICE.password };
const tlsOf = (pair: { certPem: string; keyPem: string }) => ({ cert: pair.certPem, key: pair.keyPem });

/** Each way in: a fresh connection per case, ending with the action's request; returns its status. */
const CASES: [string, (xml: string) => Promise<number>][] = [
  ['a truncated NTLM AUTHENTICATE', async (xml) => {
    const c = new NtlmTestClient(s.http);
    const { negotiate, challenge } = await c.negotiate();
    const { authenticateMessage } = await import('../helpers/ntlm-client.js');
    const { message } = authenticateMessage(negotiate, challenge, RIGHT);
    const reply = await c.connection.post(xml, { Authorization: `Negotiate ${message.subarray(0, 60).toString('base64')}` });
    c.close();
    return reply.status;
  }],
  ['NTLM with a wrong password', async (xml) => {
    const c = new NtlmTestClient(s.http);
    const reply = await c.handshake({ ...RIGHT, password: 'wrong', body: xml });
    c.close();
    return reply.status;
  }],
  ['NTLM with no NT hash match (an unknown user)', async (xml) => {
    const c = new NtlmTestClient(s.https);
    const reply = await c.handshake({ user: 'mallory', password: ALICE.password, body: xml });
    c.close();
    return reply.status;
  }],
  ['a replayed AUTHENTICATE on a new connection', async (xml) => {
    const first = new NtlmTestClient(s.https);
    expect((await first.handshake(RIGHT)).status).toBe(200);
    first.close();
    const second = new NtlmTestClient(s.https);
    await second.negotiate();
    const reply = await second.connection.post(xml, { Authorization: `Negotiate ${first.lastAuthenticate!.toString('base64')}` });
    second.close();
    return reply.status;
  }],
  ['a replayed AUTHENTICATE on the same connection', async (xml) => {
    const c = new NtlmTestClient(s.https);
    expect((await c.handshake(RIGHT)).status).toBe(200);
    const reply = await c.connection.post(xml, { Authorization: `Negotiate ${c.lastAuthenticate!.toString('base64')}` });
    c.close();
    return reply.status;
  }],
  ["a body sealed with another session's keys", async (xml) => {
    const a = new NtlmTestClient(s.http);
    const b = new NtlmTestClient(s.http);
    expect((await a.handshake(RIGHT)).status).toBe(200);
    expect((await b.handshake(RIGHT)).status).toBe(200);
    const reply = await b.post(xml, { security: a.security });
    a.close();
    b.close();
    return reply.status;
  }],
  ['a header dropped halfway through the handshake', async (xml) => {
    const c = new NtlmTestClient(s.http);
    await c.negotiate();
    const reply = await c.connection.post(xml);
    c.close();
    return reply.status;
  }],
  ['an unencrypted body on an NTLM connection over HTTP', async (xml) => {
    const c = new NtlmTestClient(s.http);
    expect((await c.handshake(RIGHT)).status).toBe(200);
    const reply = await c.post(xml, { seal: false });
    c.close();
    return reply.status;
  }],
  ['NTLM over HTTP without sealing (the Go client) when allowUnencrypted is false', async (xml) => {
    const c = new NtlmTestClient(s.http);
    const reply = await c.handshake({ ...RIGHT, flags: 0xa0880001, mic: false, body: xml });
    c.close();
    return reply.status;
  }],
  ...(['unmapped', 'expired', 'untrusted'] as const).map((which): [string, (xml: string) => Promise<number>] => [
    `an ${which} client certificate`,
    async (xml) => {
      const c = new OneConnection(s.https, tlsOf(pki[which]));
      const reply = await c.post(xml, { Authorization: MUTUAL_PROFILE });
      c.close();
      return reply.status;
    },
  ]),
  ['the mutual profile with no client certificate', async (xml) => {
    const c = new OneConnection(s.https);
    const reply = await c.post(xml, { Authorization: MUTUAL_PROFILE });
    c.close();
    return reply.status;
  }],
  ['a mapped client certificate over plain HTTP', async (xml) => {
    const c = new OneConnection(s.http);
    const reply = await c.post(xml, { Authorization: MUTUAL_PROFILE });
    c.close();
    return reply.status;
  }],
];

describe('no request reaches a provider without an authenticated caller: NTLM and certificates', () => {
  for (const [action, xml] of actions) {
    for (const [why, attempt] of CASES) {
      it(`${action} with ${why} → 401`, async () => {
        const before = s.widgets.calls;
        expect(await attempt(xml)).toBe(401);
        expect(s.widgets.calls).toBe(before);
      });
    }
  }

  it('no command ran', () => expect(existsSync(marker)).toBe(false));

  it('the refusals are logged with their reasons', () => {
    const reasons = s.logs.filter((l) => l.event === 'auth_failed').map((l) => String(l.reason));
    for (const r of ['malformed NTLM message', 'wrong password', 'unknown user', 'replayed AUTHENTICATE', 'AUTHENTICATE without a CHALLENGE', 'signature does not verify', 'left its NTLM handshake unfinished', 'unencrypted message', 'without sealing', 'maps to no user', 'CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'no client certificate', 'needs HTTPS']) {
      expect(reasons.some((x) => x.includes(r)), r).toBe(true);
    }
  });

  it('controls: the same paths with the right credential do reach the provider', async () => {
    const before = s.widgets.calls;
    const sealed = new NtlmTestClient(s.http);
    expect((await sealed.handshake(RIGHT)).status).toBe(200);
    expect((await sealed.post(GET_WIDGET)).status).toBe(200);
    sealed.close();
    const overTls = new NtlmTestClient(s.https);
    expect((await overTls.handshake({ ...RIGHT, body: GET_WIDGET })).status).toBe(200);
    overTls.close();
    const cert = new OneConnection(s.https, tlsOf(pki.client));
    expect((await cert.post(GET_WIDGET, { Authorization: MUTUAL_PROFILE })).status).toBe(200);
    cert.close();
    expect(s.widgets.calls).toBe(before + 3);
  });
});

describe('NTLM with HTTP message encryption', () => {
  it('offers Negotiate and NTLM; a challenge 401 carries exactly one WWW-Authenticate, in the scheme the client used', async () => {
    const c = new NtlmTestClient(s.http);
    const refused = await c.connection.post(identify());
    expect(refused.headers['www-authenticate']).toBe('Negotiate, NTLM');
    for (const scheme of ['Negotiate', 'NTLM']) {
      const { reply } = await c.negotiate(scheme);
      expect(reply.status).toBe(401);
      expect(reply.headers['www-authenticate']).toMatch(new RegExp(`^${scheme} [A-Za-z0-9+/=]+$`));
      expect(reply.headers.connection).not.toBe('close');
    }
    c.close();
  });

  it('seals every reply on an encrypting connection, faults included, and keeps one RC4 stream across many requests', async () => {
    const c = new NtlmTestClient(s.http, );
    expect((await c.handshake({ ...RIGHT, scheme: 'NTLM' })).status).toBe(200);
    for (let i = 0; i < 20; i++) {
      const ok = await c.post(GET_WIDGET);
      expect(ok.status).toBe(200);
      expect(ok.headers['content-type']).toBe(ENCRYPTED_CONTENT_TYPE);
      expect(xp(ok.text, 'local-name(//s:Body/*)')).toBe('Test_Widget');
    }
    const fault = await c.post(envelope({ action: ACTIONS.get, resourceUri: 'http://example.com/no/such/resource' }));
    expect(fault.status).toBe(500);
    expect(fault.headers['content-type']).toBe(ENCRYPTED_CONTENT_TYPE);
    expect(xp(fault.text, '//s:Subcode/s:Value')).toBe('a:DestinationUnreachable');
    expect(fault.body.includes('DestinationUnreachable')).toBe(false); // not in clear on the wire
    c.close();
  });

  it('a bad signature ends the session (401, logged); the right keys then need a new handshake, which works', async () => {
    const c = new NtlmTestClient(s.http);
    expect((await c.handshake(RIGHT)).status).toBe(200);
    const good = c.security!;
    const tampered = { ...good, wrap: (p: Buffer) => { const w = good.wrap(p); w.sealed[0] ^= 0xff; return w; } };
    expect((await c.post(identify(), { security: tampered })).status).toBe(401);
    expect((await c.post(identify())).status).toBe(401); // the session is gone, even with the right keys
    expect((await c.handshake(RIGHT)).status).toBe(200);
    expect((await c.post(identify())).status).toBe(200);
    c.close();
  });

  it("a removed user's established connection stops working; the stored runAs is read on every request", async () => {
    const t = await run(pki);
    const c = new NtlmTestClient(t.http);
    expect((await c.handshake({ user: 'bob', password: BOB.password })).status).toBe(200);
    expect((await c.post(identify())).status).toBe(200);
    t.server.users.remove('bob');
    expect((await c.post(identify())).status).toBe(401);
    expect(t.logs.some((l) => l.event === 'auth_failed' && String(l.reason).includes('no longer exists'))).toBe(true);
    c.close();
    await t.server.close();
  });

  it('a reconnect starts a new handshake: a new connection has no caller', async () => {
    const c = new NtlmTestClient(s.http);
    expect((await c.handshake(RIGHT)).status).toBe(200);
    const d = new OneConnection(s.http);
    expect((await d.post(identify())).status).toBe(401);
    d.close();
    c.close();
  });

  it('the blank POST that completes a handshake gets 200 with no body', async () => {
    const c = new NtlmTestClient(s.http);
    const reply = await c.handshake(RIGHT);
    expect(reply.status).toBe(200);
    expect(reply.body.length).toBe(0);
    c.close();
  });

  it('over HTTP with allowUnencrypted, a client that does not seal (the Go client) is served in clear', async () => {
    const open = await run(pki, { service: { allowUnencrypted: true } });
    const c = new NtlmTestClient(open.http);
    const reply = await c.handshake({ ...RIGHT, flags: 0xa0880001, mic: false, body: GET_WIDGET });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^application\/soap\+xml/);
    expect((await c.post(GET_WIDGET)).status).toBe(200); // later requests ride on the connection
    c.close();
    await open.server.close();
  });
});

describe('client certificates', () => {
  it('a mapped certificate is its user; the UPN, subject and issuer rules decide', async () => {
    const alt = await run(pki, { service: { auth: { certificate: true }, certMapping: [{ user: 'bob', subject: 'Bob *' }, { user: 'alice', issuer: 'winrmd test CA', upn: 'alice@*' }] } });
    const as = async (pair: TestPki['client']) => {
      const c = new OneConnection(alt.https, tlsOf(pair));
      const reply = await c.post(identify(), { Authorization: MUTUAL_PROFILE });
      c.close();
      return reply.status;
    };
    expect(await as(pki.client)).toBe(200);
    expect(await as(pki.clientUpnOnly)).toBe(200);
    expect(await as(pki.unmapped)).toBe(401);
    const users = alt.logs.filter((l) => l.event === 'request' && l.status === 200).map((l) => l.user);
    expect(users).toEqual(['alice', 'bob']);
    await alt.server.close();
  });

  it('Identify lists the mutual profile and both SPNEGO profiles', async () => {
    const c = new OneConnection(s.https);
    const reply = await c.post(identify(), { Authorization: basic(ALICE) });
    c.close();
    const text = reply.body.toString();
    for (const p of ['https/mutual', 'https/spnego-kerberos', 'http/spnego-kerberos', 'https/basic']) expect(text).toContain(`secprofile/${p}`);
    expect(text).not.toContain('secprofile/http/basic<'); // allowUnencrypted is false
  });
});

describe('TLS', () => {
  const handshake = (opts: tls.ConnectionOptions) =>
    new Promise<string>((resolve) => {
      const sock = tls.connect({ host: '127.0.0.1', port: s.server.httpsPort!, rejectUnauthorized: false, ...opts }, () => {
        resolve(sock.getProtocol() ?? '');
        sock.end();
      });
      sock.on('error', (err) => resolve(`error: ${err.message}`));
    });
  it('TLS 1.2 and 1.3 only', async () => {
    expect(await handshake({ minVersion: 'TLSv1.3' })).toBe('TLSv1.3');
    expect(await handshake({ maxVersion: 'TLSv1.2' })).toBe('TLSv1.2');
    expect(await handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })).toMatch(/^error/);
  });
  it('the server presents the configured certificate', async () => {
    const der = await new Promise<Buffer>((resolve) => {
      const sock = tls.connect({ host: '127.0.0.1', port: s.server.httpsPort!, rejectUnauthorized: false }, () => {
        resolve(sock.getPeerCertificate().raw);
        sock.end();
      });
    });
    expect(der.toString('base64')).toBe(readFileSync(pki.server.cert, 'utf8').replace(/-----[^-]+-----|\s/g, ''));
  });
});

describe('brute force: failures per user and per address back off, and a locked caller learns nothing', () => {
  it('locks a user after its threshold (even with the right password), not other users; then the address', async () => {
    const t = await run(pki, { service: { allowUnencrypted: true }, security: { lockout: { userThreshold: 3, addressThreshold: 6, baseLockoutMs: 60_000 } } });
    const c = new OneConnection(t.http);
    const post = async (auth: string) => (await c.post(identify(), { Authorization: auth })).status;
    for (let i = 0; i < 3; i++) expect(await post(basic({ ...ALICE, password: `wrong-${i}` }))).toBe(401);
    const locked = await c.post(identify(), { Authorization: basic(ALICE) });
    expect(locked.status).toBe(401); // right password, locked user
    expect(locked.headers['www-authenticate']).toBe('Negotiate, NTLM, Basic realm="WSMAN"'); // no hint
    expect(await post(basic(BOB))).toBe(200);
    // NTLM failures count toward the same keys.
    const n = new NtlmTestClient(t.http);
    for (let i = 0; i < 3; i++) expect((await n.handshake({ user: 'bob', password: 'wrong' })).status).toBe(401);
    expect(await post(basic(BOB))).toBe(401); // bob locked too; the address has 6 failures now
    expect(await post(basic({ user: 'rooty', password: 'rooty-Secret-3' }))).toBe(401); // address locked
    const lines = t.logs.filter((l) => l.event === 'auth_failed').map((l) => String(l.reason));
    expect(lines.some((r) => /user:alice locked for 60000 ms after 3 failures/.test(r))).toBe(true);
    expect(lines.some((r) => /address:.* locked/.test(r))).toBe(true);
    expect(lines.some((r) => r === 'user locked out after failed attempts')).toBe(true);
    n.close();
    c.close();
    await t.server.close();
  });

  it("the real user's activity does not reset an attacker's count: only a fresh password check does", async () => {
    const t = await run(pki, { service: { allowUnencrypted: true }, security: { lockout: { userThreshold: 3, addressThreshold: 100, baseLockoutMs: 60_000 } } });
    const alice = new OneConnection(t.http);
    const attacker = new OneConnection(t.http);
    expect((await alice.post(identify(), { Authorization: basic(ALICE) })).status).toBe(200); // verified, then cached
    for (let i = 0; i < 3; i++) {
      expect((await attacker.post(identify(), { Authorization: basic({ ...ALICE, password: `guess-${i}` }) })).status).toBe(401);
      if (i < 2) expect((await alice.post(identify(), { Authorization: basic(ALICE) })).status).toBe(200); // cached: no reset
    }
    expect((await alice.post(identify(), { Authorization: basic(ALICE) })).status).toBe(401); // locked, right password or not
    alice.close();
    attacker.close();
    await t.server.close();
  });

  it('a header that is not a scheme is never logged', async () => {
    const c = new OneConnection(s.http);
    expect((await c.post(identify(), { Authorization: 'Sup3rSecretToken=' })).status).toBe(401);
    c.close();
    expect(JSON.stringify(s.logs)).not.toMatch(/sup3rsecrettoken/i);
  });
});
