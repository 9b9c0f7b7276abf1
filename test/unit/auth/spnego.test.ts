// SPNEGO (RFC 4178) around NTLM: the DER codec on fixed tokens laid out by the RFC's ASN.1, the
// NTLM mechListMIC on MS-NLMP §4.2.4's keys, and the acceptor's legs, driven in process with the
// NTLM test client of test/helpers/ntlm-client.ts playing the initiator.
import { describe, expect, it } from 'vitest';
import type { AuthOutcome, MessageSecurity } from '../../../src/auth/authenticator.js';
import { decodeOid, DerError, encodeOid, readOnly, readTlv, TAG } from '../../../src/auth/der.js';
import { NtlmAuthenticator } from '../../../src/auth/ntlm/authenticator.js';
import { messageType } from '../../../src/auth/ntlm/messages.js';
import { NtlmSession } from '../../../src/auth/ntlm/session.js';
import { encodeMechTypes, encodeNegTokenInit, encodeNegTokenResp, MECH, NEG_STATE, parseNegotiationToken, SpnegoFormatError, type NegTokenResp } from '../../../src/auth/spnego.js';
import { authenticateMessage, negotiateMessage } from '../../helpers/ntlm-client.js';
import { ALICE, testUsers } from '../../helpers/server.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('DER (X.690)', () => {
  it('OBJECT IDENTIFIERs (§8.19): SPNEGO, NTLM, Kerberos', () => {
    const vectors: [string, string][] = [
      [MECH.spnego, '2b0601050502'],
      [MECH.ntlm, '2b06010401823702020a'],
      [MECH.kerberos, '2a864886f712010202'],
      [MECH.msKerberos, '2a864882f712010202'],
    ];
    for (const [oid, der] of vectors) {
      expect(encodeOid(oid).toString('hex')).toBe(der);
      expect(decodeOid(hex(der))).toBe(oid);
    }
    expect(() => decodeOid(hex('2b060181'))).toThrow(DerError);
  });

  it('lengths: short and long form; indefinite, non-minimal, truncated and overlong are refused (§8.1.3, §10.1)', () => {
    expect(readTlv(hex('0403616263')).value.toString()).toBe('abc');
    const long = Buffer.concat([hex('048180'), Buffer.alloc(128, 1)]);
    expect(readOnly(long, TAG.octetString).value).toHaveLength(128);
    for (const bad of ['0480', '04810161', '0482000161', '040561', '04', '1f0100', '0485ffffffffff']) expect(() => readTlv(hex(bad)), bad).toThrow(DerError);
    expect(() => readOnly(hex('0400 00'), TAG.octetString)).toThrow(/trailing/);
  });
});

// gss-ntlmssp 1.2.0's first token, as RFC 2743 §3.1 and RFC 4178 §4.2.1 lay it out.
const NEG_TOKEN_INIT = hex([
  '6048', //                                   [APPLICATION 0] InitialContextToken, 72 bytes
  '0606 2b0601050502', //                        thisMech: SPNEGO
  'a03e 303c', //                                [0] NegTokenInit ::= SEQUENCE
  'a00e 300c 060a 2b06010401823702020a', //        mechTypes [0] MechTypeList: { NTLM }
  'a22a 0428', //                                  mechToken [2] OCTET STRING: an NTLM NEGOTIATE
  '4e544c4d53535000 01000000 378208e2 0000000000000000 0000000000000000 060200000000000f',
].join(''));

describe('SPNEGO tokens (RFC 4178 §4.2)', () => {
  it('parses a NegTokenInit: mechTypes, the MechTypeList DER the mechListMIC covers, the optimistic mechToken', () => {
    const t = parseNegotiationToken(NEG_TOKEN_INIT);
    expect('init' in t && t.init).toMatchObject({ mechTypes: [MECH.ntlm], mechListMIC: undefined });
    if (!('init' in t)) return;
    expect(t.init.mechTypesDer.toString('hex')).toBe('300c060a2b06010401823702020a');
    expect(t.init.mechTypesDer).toEqual(encodeMechTypes([MECH.ntlm]));
    expect(messageType(t.init.mechToken!)).toBe(1);
    expect(t.init.mechToken!.readUInt32LE(12)).toBe(0xe2088237);
    expect(encodeNegTokenInit({ mechTypes: [MECH.ntlm], mechToken: t.init.mechToken })).toEqual(NEG_TOKEN_INIT);
  });

  it('encodes NegTokenResp: accept-incomplete with supportedMech and a token; accept-completed with a mechListMIC (the shape Windows sends)', () => {
    const incomplete = encodeNegTokenResp({ negState: NEG_STATE.acceptIncomplete, supportedMech: MECH.ntlm, responseToken: Buffer.from('NTLMSSP\0') });
    expect(incomplete.toString('hex')).toBe('a121301f a0030a0101 a10c060a2b06010401823702020a a20a04084e544c4d53535000'.replace(/ /g, ''));
    const mic = hex('01000000 0011223344556677 00000000');
    const completed = encodeNegTokenResp({ negState: NEG_STATE.acceptCompleted, mechListMIC: mic });
    expect(completed.toString('base64')).toMatch(/^oRswGaADCgEAoxIEEAEAAAA/);
    expect(parseNegotiationToken(completed)).toEqual({ resp: { negState: 0, supportedMech: undefined, responseToken: undefined, mechListMIC: mic } });
  });

  it('refuses what is not a NegotiationToken', () => {
    const bad = [
      NEG_TOKEN_INIT.subarray(0, 30), // truncated
      hex('6006 0604 2a030405'), // no inner token
      Buffer.from(NEG_TOKEN_INIT.toString('hex').replace('2b0601050502', '2a864886f712'), 'hex'), // thisMech is not SPNEGO
      hex('6010 0606 2b0601050502 a006 3004 a0023000'), // empty mechTypes
      hex('a108 3006 a2020400 a0020a00'), // fields out of order
      hex('a105 3003 a00104'), // a field holding a bare tag
    ];
    for (const b of bad) expect(() => parseNegotiationToken(b), b.toString('hex')).toThrow(SpnegoFormatError);
  });
});

// MS-NLMP §4.2.4: RandomSessionKey 55×16, flags e28a8233 (KEY_EXCH, ESS, SEAL, SIGN …).
const KEY = Buffer.alloc(16, 0x55);
const FLAGS = 0xe28a8233;

describe('the NTLM mechListMIC (RFC 4178 §5, MS-SPNG 3.3.5.1, MS-NLMP 3.4.4.2)', () => {
  const mechTypes = encodeMechTypes([MECH.ntlm]);

  it('is the NTLM signature at sequence 0; after it each RC4 stream restarts and the sequence goes on at 1', () => {
    const client = new NtlmSession(KEY, FLAGS, 'client');
    const server = new NtlmSession(KEY, FLAGS);
    const mic = client.sign(mechTypes);
    expect(mic.subarray(0, 4).toString('hex')).toBe('01000000');
    expect(mic.readUInt32LE(12)).toBe(0);
    server.verify(mechTypes, mic);
    client.restartRc4('outgoing');
    server.restartRc4('incoming');
    // The first sealed message starts from the state the mechListMIC started from: §4.2.4.4's
    // sealed "Plaintext" comes out unchanged; only its signature's sequence number is 1.
    const plaintext = Buffer.from('Plaintext', 'utf16le');
    const wrapped = client.wrap(plaintext);
    expect(wrapped.sealed.toString('hex')).toBe('54e50165bf1936dc996020c1811b0f06fb5f');
    expect(wrapped.signature.readUInt32LE(12)).toBe(1);
    expect(server.unwrap(wrapped.sealed, wrapped.signature)).toEqual(plaintext);
  });

  it('a MIC over another list, or with another key, does not verify', () => {
    const mic = new NtlmSession(KEY, FLAGS, 'client').sign(mechTypes);
    expect(() => new NtlmSession(KEY, FLAGS).verify(encodeMechTypes([MECH.kerberos, MECH.ntlm]), mic)).toThrow(/does not verify/);
    expect(() => new NtlmSession(Buffer.alloc(16, 0x56), FLAGS).verify(mechTypes, mic)).toThrow(/does not verify/);
  });
});

describe('the acceptor, leg by leg', async () => {
  const users = await testUsers();
  const make = () => new NtlmAuthenticator({ users, allowUnencrypted: false, channelBinding: 'relaxed', netbiosName: 'WINRMD', dnsName: 'winrmd.test' });
  const leg = (auth: NtlmAuthenticator, connection: object, token: Buffer) =>
    auth.authenticate({ authorization: undefined, secure: false, clientAddress: '127.0.0.1', connection }, token.toString('base64'), 'Negotiate');
  const answer = (o: AuthOutcome): NegTokenResp => {
    const value = o.ok ? o.mutualToken : o.challenge;
    expect(value, JSON.stringify(o)).toMatch(/^Negotiate /);
    const t = parseNegotiationToken(Buffer.from(value!.slice(10), 'base64'));
    if (!('resp' in t)) throw new Error('not a NegTokenResp');
    return t.resp;
  };

  /** An initiator offering `mechs`, with an optimistic token for the first; returns what it saw and its session. */
  async function login(o: { mechs: string[]; mic?: 'right' | 'none' | 'wrong'; password?: string }) {
    const auth = make();
    const connection = {};
    const negotiate = negotiateMessage();
    const ntlmFirst = o.mechs[0] === MECH.ntlm;
    let reply = answer(await leg(auth, connection, encodeNegTokenInit({ mechTypes: o.mechs, mechToken: ntlmFirst ? negotiate : hex('6082') })));
    const replies = [reply];
    if (!ntlmFirst) {
      // RFC 4178 §3.2: the acceptor picked another mechanism than the optimistic token's; the client starts it.
      expect(reply).toMatchObject({ negState: NEG_STATE.acceptIncomplete, supportedMech: MECH.ntlm, responseToken: undefined });
      replies.push((reply = answer(await leg(auth, connection, encodeNegTokenResp({ responseToken: negotiate })))));
    }
    const { message, exportedSessionKey, flags } = authenticateMessage(negotiate, reply.responseToken!, { user: ALICE.user, password: o.password ?? ALICE.password });
    const client = new NtlmSession(exportedSessionKey, flags, 'client');
    const mechTypes = encodeMechTypes(o.mechs);
    const mic = o.mic === 'none' ? undefined : client.sign(o.mic === 'wrong' ? encodeMechTypes([MECH.ntlm, MECH.kerberos]) : mechTypes);
    client.restartRc4('outgoing');
    const outcome = await leg(auth, connection, encodeNegTokenResp({ negState: NEG_STATE.acceptIncomplete, responseToken: message, mechListMIC: mic }));
    return { auth, connection, replies, outcome, client, mechTypes };
  }

  it('NTLM first: the CHALLENGE in the first reply, with supportedMech; accept-completed with our MIC; then sealed messages both ways', async () => {
    const { replies, outcome, client, mechTypes } = await login({ mechs: [MECH.ntlm] });
    expect(replies[0]).toMatchObject({ negState: NEG_STATE.acceptIncomplete, supportedMech: MECH.ntlm });
    expect(messageType(replies[0]!.responseToken!)).toBe(2);
    expect(outcome).toMatchObject({ ok: true, caller: { user: 'alice' }, password: 'verified' });
    const done = answer(outcome);
    expect(done).toMatchObject({ negState: NEG_STATE.acceptCompleted, supportedMech: undefined, responseToken: undefined });
    client.verify(mechTypes, done.mechListMIC!);
    client.restartRc4('incoming');
    const security = (outcome as { security: MessageSecurity }).security;
    const request = client.wrap(Buffer.from('<request/>'));
    expect(security.unwrap(request.sealed, request.signature).toString()).toBe('<request/>');
    const response = security.wrap(Buffer.from('<reply/>'));
    expect(client.unwrap(response.sealed, response.signature).toString()).toBe('<reply/>');
    expect(response.signature.readUInt32LE(12)).toBe(1);
  });

  it('NTLM as the client\'s first choice needs no mechListMIC, and then none is sent back', async () => {
    const { outcome } = await login({ mechs: [MECH.ntlm], mic: 'none' });
    expect(outcome.ok).toBe(true);
    expect(answer(outcome)).toEqual({ negState: NEG_STATE.acceptCompleted, supportedMech: undefined, responseToken: undefined, mechListMIC: undefined });
  });

  it('Kerberos first, NTLM second: supportedMech without a token, then NTLM; the mechListMIC is then required (RFC 4178 §5)', async () => {
    const mechs = [MECH.msKerberos, MECH.kerberos, MECH.ntlm];
    const good = await login({ mechs });
    expect(good.outcome.ok).toBe(true);
    expect(good.replies[1]!.supportedMech).toBeUndefined(); // only in the first reply (RFC 4178 §4.2.2)
    const bare = await login({ mechs, mic: 'none' });
    expect(bare.outcome).toMatchObject({ ok: false, reason: "SPNEGO without a mechListMIC, though NTLM was not the client's first choice" });
    expect(bare.auth.resume({ authorization: undefined, secure: false, clientAddress: '127.0.0.1', connection: bare.connection })).toBeUndefined();
  });

  it('refuses a mechListMIC that does not verify, a wrong password, no mechanism in common, a NegTokenResp out of the blue', async () => {
    expect((await login({ mechs: [MECH.ntlm], mic: 'wrong' })).outcome).toMatchObject({ ok: false, reason: 'the SPNEGO mechListMIC does not verify' });
    expect((await login({ mechs: [MECH.ntlm], password: 'wrong' })).outcome).toMatchObject({ ok: false, reason: 'wrong password', user: 'alice', counts: true });
    const auth = make();
    expect(await leg(auth, {}, encodeNegTokenInit({ mechTypes: [MECH.kerberos] }))).toMatchObject({ ok: false, reason: `SPNEGO offers no mechanism winrmd supports (${MECH.kerberos})` });
    expect(await leg(auth, {}, encodeNegTokenResp({ responseToken: negotiateMessage() }))).toMatchObject({ ok: false, reason: 'SPNEGO NegTokenResp without a NegTokenInit on this connection' });
    expect(await leg(auth, {}, hex('a1023000 00'))).toMatchObject({ ok: false, reason: expect.stringMatching(/^malformed SPNEGO token: /) });
    expect(await leg(auth, {}, Buffer.from('not a token'))).toMatchObject({ ok: false, reason: "Negotiate token is neither SPNEGO nor a mechanism's own (NTLMSSP)" });
  });
});
