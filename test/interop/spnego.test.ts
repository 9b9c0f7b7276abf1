// Interop of SPNEGO (RFC 4178) with a real initiator: MIT GSS-API through Debian's python3-gssapi,
// with gss-ntlmssp as the mechanism (spnego_client.py: a password credential for SPNEGO, limited to
// NTLM by gss_set_neg_mechs), over one HTTP connection to one real winrmd on 127.0.0.1 that must
// encrypt (allowUnencrypted false), as pypsrp's default auth='negotiate' and Windows clients do.
// Then what no real initiator sends: mechanisms winrmd lacks, malformed DER, a wrong password.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageType } from '../../src/auth/ntlm/messages.js';
import { encodeNegTokenInit, MECH, NEG_STATE, parseNegotiationToken, type NegTokenInit, type NegTokenResp } from '../../src/auth/spnego.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type Winrmd } from '../../src/server.js';
import { ACTIONS, enumerateBody, envelope, identify, URI } from '../helpers/envelope.js';
import { runJsonClient } from '../helpers/json-client.js';
import { negotiateMessage, NtlmTestClient, OneConnection } from '../helpers/ntlm-client.js';
import { ALICE, NO_LOCKOUT, testUsers, NO_SHEDDING } from '../helpers/server.js';
import { xp } from '../helpers/xpath.js';

const PYTHON = '/usr/bin/python3';
const CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'spnego_client.py');
// What the client must find in a sealed reply: written out, not imported from the server.
const ENCRYPTED = 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"';

interface Leg { sent: string; status: number; www_authenticate: string[] }
interface Reply { status: number; content_type: string | null; original_content?: string; plaintext: string }
interface Result { legs: Leg[]; complete: boolean; replies: Reply[]; error?: string }

const b64 = (s: string) => Buffer.from(s, 'base64');
const init = (token: string): NegTokenInit => {
  const t = parseNegotiationToken(b64(token));
  if (!('init' in t)) throw new Error('not a NegTokenInit');
  return t.init;
};
const resp = (token: Buffer): NegTokenResp => {
  const t = parseNegotiationToken(token);
  if (!('resp' in t)) throw new Error('not a NegTokenResp');
  return t.resp;
};
/** The one `Negotiate <token>` a reply carries. */
const negotiateToken = (values: string[]) => {
  expect(values).toHaveLength(1);
  expect(values[0]).toMatch(/^Negotiate [A-Za-z0-9+/]+=*$/);
  return b64(values[0]!.slice('Negotiate '.length));
};

let root: string;
let server: Winrmd;
let endpoint: string;
const logLines: string[] = [];
const failures = () => logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'auth_failed').map((l) => String(l.reason));

function run(job: { username: string; password: string; messages?: string[] }): Promise<Result> {
  return runJsonClient<Result>(PYTHON, [CLIENT], { endpoint, ...job }, { timeoutMs: 20_000, env: { PYTHONDONTWRITEBYTECODE: '1' } }).then((r) => r[0]!);
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'winrmd-spnego-'));
  const config = configSchema.parse({
    limits: NO_SHEDDING,
    stateDir: path.join(root, 'state'),
    listeners: { http: { host: '127.0.0.1', port: 0 }, https: { enabled: false } },
    service: { allowUnencrypted: false, auth: { basic: true, negotiate: true } },
    security: NO_LOCKOUT, // wrong passwords are sent on purpose
  });
  server = await startServer({ config, users: await testUsers(), log: pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) }) });
  endpoint = `http://127.0.0.1:${server.httpPort}/wsman`;
});

afterAll(async () => {
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('MIT GSS-API with gss-ntlmssp: SPNEGO around NTLM', () => {
  const OS = `${URI.wmi}/Win32_OperatingSystem`;
  const PROCESS = `${URI.wmi}/Win32_Process`;
  let r: Result;
  beforeAll(async () => {
    r = await run({
      ...{ username: ALICE.user, password: ALICE.password },
      messages: [identify(), envelope({ action: ACTIONS.get, resourceUri: OS }), envelope({ action: ACTIONS.enumerate, resourceUri: PROCESS, body: enumerateBody({ optimize: true, maxElements: 5 }) })],
    });
  });

  it('NegTokenInit offering NTLM with its NEGOTIATE → 401 with one NegTokenResp: accept-incomplete, supportedMech NTLM, the CHALLENGE (RFC 4178 §4.2.2)', () => {
    const [first] = r.legs;
    const offer = init(first!.sent);
    expect(offer.mechTypes).toEqual([MECH.ntlm]);
    expect(messageType(offer.mechToken!)).toBe(1);
    expect(first!.status).toBe(401);
    const answer = resp(negotiateToken(first!.www_authenticate));
    expect(answer).toMatchObject({ negState: NEG_STATE.acceptIncomplete, supportedMech: MECH.ntlm, mechListMIC: undefined });
    expect(messageType(answer.responseToken!)).toBe(2);
  });

  it('AUTHENTICATE with the client\'s mechListMIC → 200 carrying accept-completed with ours, which the client verifies (RFC 4178 §5)', () => {
    expect(r.legs).toHaveLength(2);
    const last = r.legs[1]!;
    const sent = resp(b64(last.sent));
    expect(messageType(sent.responseToken!)).toBe(3);
    expect(sent.mechListMIC).toHaveLength(16); // NTLM signature: version 1, checksum, sequence 0
    expect(sent.mechListMIC!.readUInt32LE(12)).toBe(0);
    expect(last.status).toBe(200);
    expect(last.www_authenticate, 'the HTTP layer must send AuthOutcome.mutualToken as the success reply\'s WWW-Authenticate').toHaveLength(1);
    const done = resp(negotiateToken(last.www_authenticate));
    expect(done).toMatchObject({ negState: NEG_STATE.acceptCompleted, supportedMech: undefined, responseToken: undefined });
    expect(done.mechListMIC).toHaveLength(16);
    expect(r.complete).toBe(true);
  });

  it('then Identify, a Get of Win32_OperatingSystem and an Enumerate of Win32_Process, sealed with gss_wrap both ways (MS-WSMV 2.2.9.1.1; sequence 1 after the mechListMIC, MS-SPNG 3.3.5.1)', () => {
    expect(r.error).toBeUndefined();
    const [id, get, enumerate] = r.replies;
    for (const x of r.replies) {
      expect(x.status).toBe(200);
      expect(x.content_type).toBe(ENCRYPTED);
      expect(x.original_content).toMatch(/^type=application\/soap\+xml;charset=UTF-8;Length=\d+$/);
    }
    expect(xp(id!.plaintext, 'string(//wsmid:IdentifyResponse/wsmid:ProtocolVersion)')).toBe(URI.wsman);
    expect(xp(get!.plaintext, 'string(//os:Win32_OperatingSystem/os:CSName)')).toBe(os.hostname());
    expect(Number(xp(enumerate!.plaintext, 'count(//w:Items/proc:Win32_Process)'))).toBeGreaterThan(0);
  });
});

describe('what the SPNEGO acceptor refuses: a 401 with the reason logged, never a 500', () => {
  it('a wrong password → 401 on the last leg', async () => {
    const r = await run({ username: ALICE.user, password: 'wrong' });
    expect(r.legs.map((l) => l.status)).toEqual([401, 401]);
    expect(r.complete).toBe(false);
    expect(failures()).toContain('wrong password');
  });

  /** One token on a fresh connection: its status and WWW-Authenticate. */
  const send = async (token: Buffer) => {
    const c = new OneConnection(endpoint);
    const reply = await c.post('', { Authorization: `Negotiate ${token.toString('base64')}` });
    c.close();
    return { status: reply.status, www: String(reply.headers['www-authenticate']) };
  };

  it('a NegTokenInit offering only Kerberos → 401 with the usual offers (no mechanism in common, RFC 4178 §3.2)', async () => {
    const reply = await send(encodeNegTokenInit({ mechTypes: [MECH.msKerberos, MECH.kerberos], mechToken: Buffer.from('6082', 'hex') }));
    expect(reply).toEqual({ status: 401, www: 'Negotiate, NTLM' }); // Basic is not offered over HTTP here
    expect(failures()).toContain(`SPNEGO offers no mechanism winrmd supports (${MECH.msKerberos}, ${MECH.kerberos})`);
  });

  it('malformed DER → 401, each with its reason', async () => {
    const good = encodeNegTokenInit({ mechTypes: [MECH.ntlm], mechToken: negotiateMessage() });
    const cases: [string, Buffer][] = [
      ['truncated', good.subarray(0, 20)],
      ['indefinite length', Buffer.concat([Buffer.from([0x60, 0x80]), good.subarray(2), Buffer.from([0, 0])])],
      ['not SPNEGO\'s OID', Buffer.from(good.toString('hex').replace('2b0601050502', '2b0601050503'), 'hex')],
      ['trailing bytes', Buffer.concat([good, Buffer.from([0])])],
      ['a NegTokenResp whose negState is an OCTET STRING', Buffer.from('a1073005a0030401', 'hex')],
      ['a lone [APPLICATION 0]', Buffer.from([0x60])],
    ];
    for (const [name, token] of cases) expect((await send(token)).status, name).toBe(401);
    expect(failures().filter((f) => f.startsWith('malformed SPNEGO token: ')).length).toBeGreaterThanOrEqual(cases.length);
  });

  it('bare NTLMSSP under Negotiate (pywinrm, the Go client) still works beside it', async () => {
    const c = new NtlmTestClient(endpoint);
    expect((await c.handshake({ user: ALICE.user, password: ALICE.password })).status).toBe(200);
    const reply = await c.post(identify());
    expect(reply.status).toBe(200);
    expect(reply.text).toContain('IdentifyResponse');
    c.close();
  });
});
