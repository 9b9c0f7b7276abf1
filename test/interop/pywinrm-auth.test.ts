// Interop of the authentication schemes with a real client: Debian's pywinrm 0.3.0 (with
// requests_ntlm 1.1.0 and ntlm-auth 1.4.0, /usr/bin/python3) against one real winrmd on
// 127.0.0.1, configured as a hardened Windows host would be: allowUnencrypted false, NTLM offered
// as Negotiate and NTLM, CbtHardeningLevel strict, client certificates mapped by UPN and issuer.
//
// pywinrm_client.py runs pywinrm unmodified; with "record_wire" it also reports every HTTP
// exchange it made (recorded at requests' HTTPAdapter.send, so handshake legs included): content
// types, Authorization scheme and NTLM token, WWW-Authenticate headers, whether a body held SOAP in
// clear, the client's TCP port and TLS version. The assertions below are on that record and on
// what pywinrm returned; the server's log (captured) tells which user it saw and why it refused.
import { createHash, X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ntHash } from '../../src/auth/ntlm/crypto.js';
import { AV, messageType, parseAuthenticate, parseNtlmV2Response } from '../../src/auth/ntlm/messages.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type Winrmd } from '../../src/server.js';
import { ACTIONS, envelope, URI } from '../helpers/envelope.js';
import { runJsonClient } from '../helpers/json-client.js';
import { makeTestPki, type CertPair, type TestPki } from '../helpers/pki.js';
import { ALICE, NO_LOCKOUT, testUsers, NO_SHEDDING } from '../helpers/server.js';

const PYTHON = '/usr/bin/python3';
const CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pywinrm_client.py');
const OS_URI = `${URI.wmi}/Win32_OperatingSystem`;
const MUTUAL = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual';
// The literal pywinrm sends (winrm/encryption.py) and, for decryption to happen at all, must find
// in a reply: written out here rather than imported from the server.
const ENCRYPTED = 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"';
const SOAP = 'application/soap+xml;charset=UTF-8';
const SEALED_SOAP = /^type=application\/soap\+xml;charset=UTF-8;Length=\d+$/;

/** One HTTP exchange as pywinrm_client.py's WireRecorder describes it. */
interface Exchange {
  method: string;
  request_content_type: string | null;
  auth_scheme: string | null;
  ntlm_token: string | null;
  request_length: number;
  request_plain_soap: boolean;
  request_original_content: string | null;
  status: number;
  response_content_type: string | null;
  www_authenticate: string[];
  connection: string | null;
  response_length: number;
  response_plain_soap: boolean;
  response_original_content: string | null;
  local_port?: number;
  tls?: string | null;
  socket_error?: string;
  error?: string;
}
interface StepResult {
  ok: boolean;
  error?: string;
  message?: string;
  traceback?: string;
  wire: Exchange[];
  [k: string]: unknown;
}
type Step = string | ({ kind: string } & Record<string, unknown>);
interface Job {
  endpoint: string;
  transport: 'plaintext' | 'ssl' | 'ntlm' | 'certificate';
  username?: string;
  password?: string;
  message_encryption?: 'auto' | 'always' | 'never';
  send_cbt?: boolean;
  cert_pem?: string;
  cert_key_pem?: string;
}

/** Runs pywinrm_client.py on one job with the wire recorded. */
function run(job: Job, steps: Step[]): Promise<StepResult[]> {
  // REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE would silently override server_cert_validation='ignore'
  // in pywinrm 0.3.0 (transport.build_session), as in pywinrm.test.ts.
  return runJsonClient<StepResult>(PYTHON, [CLIENT], { ...job, record_wire: true, steps }, {
    timeoutMs: 20_000, env: { PYTHONDONTWRITEBYTECODE: '1' }, dropEnv: ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'],
  });
}

function ok(r: StepResult | undefined): StepResult {
  expect(r, 'no result').toBeDefined();
  expect(r!.ok, `pywinrm step failed: ${r!.error}: ${r!.message}\n${r!.traceback ?? ''}`).toBe(true);
  return r!;
}

function refused(r: StepResult | undefined, error = 'InvalidCredentialsError'): StepResult {
  expect(r, 'no result').toBeDefined();
  expect(r!.ok, 'pywinrm step succeeded where it should have been refused').toBe(false);
  expect(`${r!.error}: ${r!.message}`).toBe(`${error}: the specified credentials were rejected by the server`);
  return r!;
}

const text = (b64: unknown) => Buffer.from(String(b64 ?? ''), 'base64').toString('utf8');
const token = (x: Exchange) => Buffer.from(x.ntlm_token ?? '', 'base64');

/**
 * The password as ntlm-auth's pass-the-hash form `LMHASH:NTHASH` (compute_hash.py: the NT half is
 * used, the LM half only has to be 32 hex digits). Chosen over running Python with the OpenSSL
 * legacy provider (hashlib's md4 is gone from the client's OpenSSL 3): the handshake on the wire is
 * the same NTLMv2 one (NTOWFv2 starts from the NT hash either way); nothing depends on legacy.so
 * being installed on the CI machine; and the client's TLS stack runs with its normal providers,
 * which matters to the HTTPS and channel-binding tests. The hash comes from the server's own MD4,
 * which the first test pins to MS-NLMP's vector, so a wrong MD4 cannot make both sides agree.
 */
const ntlmPassword = (password: string) => `${'0'.repeat(32)}:${ntHash(password).toString('hex')}`;

/** The NTLM handshake legs at the start of a wire record; what follows them is returned. */
function handshake(wire: Exchange[], opts: { bodyless: boolean }): { legs: Exchange[]; rest: Exchange[] } {
  const legs = wire.slice(0, 3);
  expect(legs.map((x) => [x.auth_scheme, x.status])).toEqual([[null, 401], ['NTLM', 401], ['NTLM', opts.bodyless ? 200 : expect.any(Number)]]);
  // Leg 1: no Authorization; the 401 offers NTLM under both names, each as its own header.
  expect(legs[0]!.www_authenticate).toEqual(expect.arrayContaining(['Negotiate', 'NTLM']));
  // requests_ntlm picks 'NTLM' whenever it is offered; NEGOTIATE, CHALLENGE (one header), AUTHENTICATE.
  expect(messageType(token(legs[1]!))).toBe(1);
  expect(legs[1]!.www_authenticate).toHaveLength(1);
  expect(legs[1]!.www_authenticate[0]).toMatch(/^NTLM [A-Za-z0-9+/]+=*$/);
  expect(messageType(Buffer.from(legs[1]!.www_authenticate[0]!.slice(5), 'base64'))).toBe(2);
  expect(legs[1]!.connection?.toLowerCase()).not.toBe('close');
  expect(messageType(token(legs[2]!))).toBe(3);
  if (opts.bodyless) {
    // pywinrm's setup_encryption: an empty POST carries the handshake; its 200 has no body.
    for (const leg of legs) expect(leg.request_length).toBe(0);
    expect(legs[2]!.response_length).toBe(0);
  }
  return { legs, rest: wire.slice(3) };
}

/** Every message after the handshake: no Authorization, sealed both ways, on the handshake's connection. */
function expectSealed(wire: Exchange[], port: number): void {
  expect(wire.length).toBeGreaterThan(0);
  for (const x of wire) {
    expect(x.auth_scheme).toBeNull();
    expect(x.local_port).toBe(port);
    expect(x.tls).toBeNull();
    expect(x.request_content_type).toBe(ENCRYPTED);
    expect(x.request_original_content).toMatch(SEALED_SOAP);
    expect(x.request_plain_soap).toBe(false);
    expect(x.status).not.toBe(401);
    expect(x.response_content_type).toBe(ENCRYPTED);
    expect(x.response_original_content).toMatch(SEALED_SOAP);
    expect(x.response_plain_soap).toBe(false);
  }
}

/** An NTLM conversation over plain HTTP with encryption: the handshake, then only sealed messages. */
function expectEncryptedSession(wire: Exchange[]): Exchange[] {
  const { legs, rest } = handshake(wire, { bodyless: true });
  const port = legs[0]!.local_port!;
  expect(typeof port).toBe('number');
  for (const leg of legs) expect(leg.local_port).toBe(port); // one TCP connection throughout
  expectSealed(rest, port);
  return rest;
}

/** RFC 5929 tls-server-end-point for an ECDSA-with-SHA256 certificate, in NTLM's MsvAvChannelBindings form (RFC 2744 §3.11 struct, MD5). */
function expectedBindings(certPem: string): Buffer {
  const application = Buffer.concat([Buffer.from('tls-server-end-point:'), createHash('sha256').update(new X509Certificate(certPem).raw).digest()]);
  const struct = Buffer.alloc(20);
  struct.writeUInt32LE(application.length, 16);
  return createHash('md5').update(struct).update(application).digest();
}

describe('pywinrm 0.3.0 authentication against a real winrmd (allowUnencrypted false, CBT strict)', () => {
  let server: Winrmd;
  let root: string;
  let pki: TestPki;
  let http: string;
  let https: string;
  const logLines: string[] = [];
  /** The server's log records from index `from` on. */
  const logSince = (from: number) => logLines.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>);
  const requestsSince = (from: number) => logSince(from).filter((l) => l.event === 'request');
  /** Why the server refused credentials since `from` (the first, bare leg of every handshake is left out). */
  const failuresSince = (from: number) =>
    logSince(from).filter((l) => l.event === 'auth_failed' && l.reason !== 'no Authorization header').map((l) => String(l.reason));

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'winrmd-pywinrm-auth-'));
    await chmod(root, 0o777); // the marker file of the "never" test would be written as nobody
    pki = makeTestPki(path.join(root, 'pki'));
    const config = configSchema.parse({
    limits: NO_SHEDDING,
      stateDir: path.join(root, 'state'),
      listeners: {
        http: { host: '127.0.0.1', port: 0 },
        https: { host: '127.0.0.1', port: 0, certFile: pki.server.cert, keyFile: pki.server.key, clientCaFiles: [pki.ca.cert] },
      },
      service: {
        allowUnencrypted: false,
        auth: { basic: true, negotiate: true, certificate: true, cbtHardeningLevel: 'strict' },
        certMapping: [{ user: 'alice', upn: 'alice@winrmd.test', issuer: pki.caThumbprint }],
      },
      // Wrong passwords are sent on purpose: the refusals asserted must come from the credential.
      security: NO_LOCKOUT,
      logging: { level: 'debug' },
    });
    const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
    server = await startServer({ config, users: await testUsers(), log });
    http = `http://127.0.0.1:${server.httpPort}/wsman`;
    https = `https://127.0.0.1:${server.httpsPort}/wsman`;
  });

  afterAll(async () => {
    await server?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  describe('NTLM over HTTP with message encryption (pywinrm\'s default \'auto\')', () => {
    it('run_cmd: stdout, and stderr with a non-zero exit code; every request and reply sealed', async () => {
      // The NT hash the client is given is the server's MD4: pin it to MS-NLMP 4.2.2.1.2's NTOWFv1("Password").
      expect(ntHash('Password').toString('hex')).toBe('a4f49c406510bdcab6824ee7c30fd852');
      const job: Job = { endpoint: http, transport: 'ntlm', username: ALICE.user, password: ntlmPassword(ALICE.password) };
      const [hello, oops] = await run(job, [
        { kind: 'run_cmd', command: 'echo hello; id -un' },
        { kind: 'run_cmd', command: 'echo oops >&2; exit 7' },
      ]);
      expect(ok(hello).status_code).toBe(0);
      expect(text(hello!.std_out_b64)).toBe('hello\nnobody\n');
      expect(text(hello!.std_err_b64)).toBe('');
      expect(ok(oops).status_code).toBe(7);
      expect(text(oops!.std_out_b64)).toBe('');
      expect(text(oops!.std_err_b64)).toBe('oops\n');
      for (const r of [hello!, oops!]) {
        // Each run_cmd is a new winrm.Session: its own handshake, then Create, Command, Receive…, Signal, Delete.
        const messages = expectEncryptedSession(r.wire);
        expect(messages.length).toBeGreaterThanOrEqual(5);
        expect(messages.every((x) => x.status === 200)).toBe(true);
      }
    });

    it('raw send_message (Identify, a Get) and faults (unknown resource, unknown shell): all sealed, faults included', async () => {
      const job: Job = { endpoint: http, transport: 'ntlm', username: ALICE.user, password: ntlmPassword(ALICE.password) };
      const [identify, get, unknown, noShell] = await run(job, [
        { kind: 'identify' },
        envelope({ action: ACTIONS.get, resourceUri: OS_URI }),
        { kind: 'get', resource_uri: 'http://schemas.example.invalid/wsman/NoSuchResource' },
        { kind: 'run_command', shell_id: '11111111-2222-3333-4444-555555555555', command: 'id' },
      ]);
      expect(ok(identify).ProductVendor).toBe('winrmd');
      expect(String(ok(get).reply)).toContain('Win32_OperatingSystem');
      expect(String(get!.reply)).toContain(`<p:CSName>${os.hostname()}</p:CSName>`);

      // The first three steps share one Protocol: one handshake, then one sealed exchange per step,
      // with no Authorization, on that same connection.
      const [first] = expectEncryptedSession(identify!.wire);
      expect(identify!.wire).toHaveLength(4);
      const port = first!.local_port!;
      expectSealed(get!.wire, port);
      expect(get!.wire).toHaveLength(1);
      expectSealed(unknown!.wire, port);
      expect(unknown!.wire).toHaveLength(1);

      // The fault: a sealed HTTP 500 that pywinrm decrypted and parsed into WinRMError.
      expect(unknown!.ok).toBe(false);
      expect(unknown!.error).toBe('WinRMError');
      expect(unknown!.wire[0]!.status).toBe(500);
      expect(unknown!.fault_data).toMatchObject({ http_status_code: 500, fault_code: 's:Sender', fault_subcode: 'a:DestinationUnreachable' });

      // Shell not found, on a Protocol of its own (a second handshake): sealed too.
      expect(noShell!.ok).toBe(false);
      expect(noShell!.error).toBe('WinRMError');
      expect(noShell!.fault_data).toMatchObject({ http_status_code: 500, wsmanfault_code: '2150858843', fault_subcode: 'w:InvalidSelectors' });
      const [fault] = expectEncryptedSession(noShell!.wire);
      expect(noShell!.wire).toHaveLength(4);
      expect(fault!.status).toBe(500);
    });

    it('message_encryption=\'never\' over HTTP is refused, and nothing runs', async () => {
      const marker = path.join(root, 'never-ran');
      const from = logLines.length;
      const [r] = await run(
        { endpoint: http, transport: 'ntlm', username: ALICE.user, password: ntlmPassword(ALICE.password), message_encryption: 'never' },
        [{ kind: 'run_cmd', command: `touch ${marker}` }],
      );
      refused(r);
      expect(r!.stage).toBe('open_shell'); // the first message already
      // The handshake completed, carrying the Create in clear on every leg; the AUTHENTICATE's reply is the refusal.
      const { legs, rest } = handshake(r!.wire, { bodyless: false });
      expect(rest).toEqual([]);
      expect(legs[2]!.status).toBe(401);
      expect(legs[2]!.request_content_type).toBe(SOAP);
      expect(legs[2]!.request_plain_soap).toBe(true);
      expect(failuresSince(from)).toContain('an unencrypted message on a connection that must encrypt (allowUnencrypted is false)');
      expect(requestsSince(from).filter((l) => Number(l.status) < 400)).toEqual([]);
      await expect(stat(marker)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });

  describe('NTLM user names and passwords', () => {
    it('alice, WINRMD\\alice and alice@winrmd.test all authenticate as alice', async () => {
      const from = logLines.length;
      const names = [
        { username: 'alice', user: 'alice', domain: '' },
        { username: 'WINRMD\\alice', user: 'alice', domain: 'WINRMD' }, // requests_ntlm uppercases the domain
        { username: 'alice@winrmd.test', user: 'alice@winrmd.test', domain: '' }, // not split by the client
      ];
      const results = await Promise.all(names.map((n) =>
        run({ endpoint: http, transport: 'ntlm', username: n.username, password: ntlmPassword(ALICE.password) }, [{ kind: 'identify' }])));
      names.forEach((n, i) => {
        const r = ok(results[i]![0]);
        expect(r.ProductVendor).toBe('winrmd');
        const { legs } = handshake(r.wire, { bodyless: true });
        const auth = parseAuthenticate(token(legs[2]!));
        expect({ user: auth.user, domain: auth.domain }, n.username).toEqual({ user: n.user, domain: n.domain });
      });
      const seen = requestsSince(from).filter((l) => l.status === 200 && l.action);
      expect(seen).toHaveLength(3);
      for (const l of seen) expect(l.user).toBe('alice');
    });

    it('a wrong password: InvalidCredentialsError, refused at the AUTHENTICATE', async () => {
      const from = logLines.length;
      const [r] = await run({ endpoint: http, transport: 'ntlm', username: ALICE.user, password: ntlmPassword('not-the-password') }, [{ kind: 'identify' }]);
      refused(r);
      const { legs, rest } = handshake(r!.wire, { bodyless: false });
      expect(legs[2]!.status).toBe(401);
      expect(rest).toEqual([]);
      expect(failuresSince(from)).toEqual(['wrong password']);
      expect(requestsSince(from).filter((l) => Number(l.status) < 400)).toEqual([]);
    });
  });

  describe('HTTPS', () => {
    it('NTLM: plain SOAP inside TLS, channel bindings sent and matched (strict refuses a client without them)', async () => {
      const job: Job = { endpoint: https, transport: 'ntlm', username: ALICE.user, password: ntlmPassword(ALICE.password) };
      const from = logLines.length;
      const [[identify, cmd], [noCbt]] = await Promise.all([
        run(job, [{ kind: 'identify' }, { kind: 'run_cmd', command: 'echo over tls' }]),
        run({ ...job, send_cbt: false }, [{ kind: 'identify' }]),
      ]);
      expect(ok(identify).ProductVendor).toBe('winrmd');
      expect(text(ok(cmd).std_out_b64)).toBe('over tls\n');
      for (const r of [identify!, cmd!]) {
        // 'auto' does not encrypt over HTTPS: the first message rides the handshake, in clear inside TLS.
        const { legs, rest } = handshake(r.wire, { bodyless: false });
        expect(legs[2]!.status).toBe(200);
        const auth = parseAuthenticate(token(legs[2]!));
        const bindings = parseNtlmV2Response(auth.ntResponse).avPairs.get(AV.CHANNEL_BINDINGS);
        expect(bindings?.toString('hex')).toBe(expectedBindings(pki.server.certPem).toString('hex'));
        for (const x of [...legs, ...rest]) {
          expect(x.tls).toMatch(/^TLSv1\.[23]$/);
          expect(x.local_port).toBe(legs[0]!.local_port);
          expect(x.request_content_type).toBe(SOAP);
          expect(x.request_plain_soap).toBe(true);
        }
        for (const x of [legs[2]!, ...rest]) {
          expect(x.status).toBe(200);
          expect(x.response_content_type).toBe(SOAP);
          expect(x.response_plain_soap).toBe(true);
        }
        for (const x of rest) expect(x.auth_scheme).toBeNull();
      }
      // The control: the same client without channel bindings is refused by strict.
      refused(noCbt);
      const { legs } = handshake(noCbt!.wire, { bodyless: false });
      expect(parseNtlmV2Response(parseAuthenticate(token(legs[2]!)).ntResponse).avPairs.has(AV.CHANNEL_BINDINGS)).toBe(false);
      expect(legs[2]!.status).toBe(401);
      expect(failuresSince(from)).toEqual(['channel bindings required (strict) but not sent']);
    });

    it('transport=\'ssl\': Basic inside TLS (and the same Basic over HTTP is refused)', async () => {
      const job: Job = { endpoint: https, transport: 'ssl', username: ALICE.user, password: ALICE.password };
      const [[identify, cmd], [plain]] = await Promise.all([
        run(job, [{ kind: 'identify' }, { kind: 'run_cmd', command: 'id -un' }]),
        run({ ...job, endpoint: http, transport: 'plaintext' }, [{ kind: 'identify' }]),
      ]);
      expect(ok(identify).ProductVendor).toBe('winrmd');
      expect(identify!.SecurityProfiles).toContain('http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic');
      expect(ok(cmd).status_code).toBe(0);
      expect(text(cmd!.std_out_b64)).toBe('nobody\n');
      for (const x of [...identify!.wire, ...cmd!.wire]) {
        expect(x.auth_scheme).toBe('Basic'); // pre-emptive, on every request
        expect(x.tls).toMatch(/^TLSv1\.[23]$/);
        expect(x.status).toBe(200);
        expect(x.request_content_type).toBe(SOAP);
        expect(x.response_content_type).toBe(SOAP);
      }
      refused(plain);
      expect(plain!.wire.map((x) => [x.auth_scheme, x.tls, x.status])).toEqual([['Basic', null, 401]]);
    });

    describe('transport=\'certificate\'', () => {
      const job = (pair: CertPair): Job => ({ endpoint: https, transport: 'certificate', cert_pem: pair.cert, cert_key_pem: pair.key });

      it('the mapped certificate: Identify and run_cmd as alice (her runAs account, nobody)', async () => {
        const from = logLines.length;
        const [identify, cmd] = await run(job(pki.client), [{ kind: 'identify' }, { kind: 'run_cmd', command: 'id -un' }]);
        expect(ok(identify).ProductVendor).toBe('winrmd');
        expect(identify!.SecurityProfiles).toContain(MUTUAL);
        expect(ok(cmd).status_code).toBe(0);
        expect(text(cmd!.std_out_b64)).toBe('nobody\n');
        for (const x of [...identify!.wire, ...cmd!.wire]) {
          expect(x.auth_scheme).toBe(MUTUAL);
          expect(x.tls).toMatch(/^TLSv1\.[23]$/);
          expect(x.status).toBe(200);
        }
        const served = requestsSince(from);
        expect(served).toHaveLength(identify!.wire.length + cmd!.wire.length);
        for (const l of served) expect(l.user).toBe('alice');
        expect(logSince(from).filter((l) => l.event === 'shell_created').map((l) => [l.user, l.runAs])).toEqual([['alice', 'nobody']]);
      });

      it('unmapped, expired and untrusted certificates: each InvalidCredentialsError', async () => {
        const from = logLines.length;
        const results = await Promise.all([pki.unmapped, pki.expired, pki.untrusted].map((p) => run(job(p), [{ kind: 'identify' }])));
        for (const [r] of results) {
          refused(r);
          expect(r!.wire.map((x) => [x.auth_scheme, x.status])).toEqual([[MUTUAL, 401]]);
          expect(r!.wire[0]!.tls).toMatch(/^TLSv1\.[23]$/);
        }
        const reasons = failuresSince(from);
        expect(reasons).toHaveLength(3);
        expect(reasons).toEqual(expect.arrayContaining([
          `client certificate ${new X509Certificate(pki.unmapped.certPem).fingerprint256} maps to no user`,
          'client certificate refused: CERT_HAS_EXPIRED',
          expect.stringMatching(/^client certificate refused: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/),
        ]));
        expect(requestsSince(from).filter((l) => Number(l.status) < 400)).toEqual([]);
      });
    });
  });
});
