// NTLM's primitives and the server's handshake against published vectors: RFC 1320 (MD4) and
// MS-NLMP §4.2 (common values §4.2.1, NTLMv2 §4.2.4). Then the handshake's refusals, driven by
// the test client in test/helpers/ntlm-client.ts.
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { accept, challenge, grantFlags, NtlmRefused, type PendingHandshake } from '../../../src/auth/ntlm/acceptor.js';
import { hmacMd5, md4, ntHash, ntowfV2, rc4 } from '../../../src/auth/ntlm/crypto.js';
import { F, parseAuthenticate, SIGNATURE } from '../../../src/auth/ntlm/messages.js';
import { NtlmSession, sealKey, signKey } from '../../../src/auth/ntlm/session.js';
import { certificateHash, ntlmChannelBindings } from '../../../src/auth/channel-binding.js';
import { authenticateMessage, negotiateMessage, PYWINRM_LIKE } from '../../helpers/ntlm-client.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('MD4 (RFC 1320 §A.5)', () => {
  const vectors: [string, string][] = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [input, digest] of vectors) it(JSON.stringify(input).slice(0, 24), () => expect(md4(Buffer.from(input)).toString('hex')).toBe(digest));
});

// MS-NLMP §4.2.1: User "User", UserDom "Domain", Password "Password", RandomSessionKey 55×16,
// ServerChallenge 0123456789abcdef, ClientChallenge aa×8, Time 0, NTLMv2 flags e28a8233.
const USER = 'User';
const DOMAIN = 'Domain';
const PASSWORD = 'Password';
const RANDOM_SESSION_KEY = Buffer.alloc(16, 0x55);
const SERVER_CHALLENGE = hex('0123456789abcdef');
const FLAGS_424 = 0xe28a8233;
// §4.2.4.1.3 temp: version 1.1, Time 0, ClientChallenge, then AV pairs NbDomainName "Domain",
// NbComputerName "Server", MsvAvEOL, and 4 reserved bytes.
const TEMP = hex(`0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000
  02000c00 44006f006d00610069006e00 01000c00 53006500720076006500720000000000 00000000`);

describe('MS-NLMP §4.2 test vectors', () => {
  it('NTOWFv1 (§4.2.2.1.2): the NT hash winrmd stores', () => expect(ntHash(PASSWORD).toString('hex')).toBe('a4f49c406510bdcab6824ee7c30fd852'));
  it('NTOWFv2 (§4.2.4.1.1)', () => expect(ntowfV2(ntHash(PASSWORD), USER, DOMAIN).toString('hex')).toBe('0c868a403bfd7a93a3001ef22ef02e3f'));

  const key = ntowfV2(ntHash(PASSWORD), USER, DOMAIN);
  const proof = hmacMd5(key, SERVER_CHALLENGE, TEMP);
  it('NTProofStr (§4.2.4.2.2)', () => expect(proof.toString('hex')).toBe('68cd0ab851e51c96aabc927bebef6a1c'));
  it('session base key (§4.2.4.1.2) and encrypted session key (§4.2.4.2.3)', () => {
    const sessionBaseKey = hmacMd5(key, proof);
    expect(sessionBaseKey.toString('hex')).toBe('8de40ccadbc14a82f15cb0ad0de95ca3');
    expect(rc4(sessionBaseKey, RANDOM_SESSION_KEY).toString('hex')).toBe('c5dad2544fc9799094ce1ce90bc9d03e');
  });
  it('sealing and signing keys (§4.2.4.4)', () => {
    expect(sealKey(RANDOM_SESSION_KEY, FLAGS_424, 'client').toString('hex')).toBe('59f600973cc4960a25480a7c196e4c58');
    expect(signKey(RANDOM_SESSION_KEY, 'client').toString('hex')).toBe('4788dc861b4782f35d43fd98fe1a2d39');
  });
  it('GSS_WrapEx of "Plaintext" (§4.2.4.4): the client seals it so, and the server opens it', () => {
    const plaintext = Buffer.from('Plaintext', 'utf16le');
    const client = new NtlmSession(RANDOM_SESSION_KEY, FLAGS_424, 'client').wrap(plaintext);
    expect(client.sealed.toString('hex')).toBe('54e50165bf1936dc996020c1811b0f06fb5f');
    expect(client.signature.toString('hex')).toBe('010000007fb38ec5c55d497600000000');
    expect(new NtlmSession(RANDOM_SESSION_KEY, FLAGS_424).unwrap(client.sealed, client.signature)).toEqual(plaintext);
  });

  it('accept() verifies the §4.2.4 AUTHENTICATE and recovers the exported session key', () => {
    const pending: PendingHandshake = { negotiate: negotiateMessage(), challenge: Buffer.alloc(0), serverChallenge: SERVER_CHALLENGE, granted: FLAGS_424, issuedAt: Date.now() };
    const message = buildAuthenticate(FLAGS_424, Buffer.concat([proof, TEMP]), hex('c5dad2544fc9799094ce1ce90bc9d03e'));
    const accepted = accept({ pending, authenticate: message, ntHashOf: (u) => (u === USER ? ntHash(PASSWORD) : undefined), level: 'relaxed' });
    expect(accepted).toMatchObject({ user: USER, domain: DOMAIN, flags: FLAGS_424 });
    expect(accepted.exportedSessionKey).toEqual(RANDOM_SESSION_KEY);
    expect(() => accept({ pending, authenticate: message, ntHashOf: () => ntHash('password'), level: 'relaxed' })).toThrow('wrong password');
  });
});

/** An AUTHENTICATE laid out as §4.2.4.3: empty LM, the NTLMv2 response, Domain, User, COMPUTER, key. */
function buildAuthenticate(flags: number, nt: Buffer, encryptedKey: Buffer, lm = Buffer.alloc(24)): Buffer {
  const u16 = (s: string) => Buffer.from(s, 'utf16le');
  const fields = [lm, nt, u16(DOMAIN), u16(USER), u16('COMPUTER'), encryptedKey];
  const header = Buffer.alloc(72);
  SIGNATURE.copy(header);
  header.writeUInt32LE(3, 8);
  let offset = 72;
  fields.forEach((f, i) => {
    header.writeUInt16LE(f.length, 12 + i * 8);
    header.writeUInt16LE(f.length, 14 + i * 8);
    header.writeUInt32LE(offset, 16 + i * 8);
    offset += f.length;
  });
  header.writeUInt32LE(flags, 60);
  return Buffer.concat([header, ...fields]);
}

describe('the handshake', () => {
  const opts = { netbiosName: 'WINRMD', dnsName: 'winrmd.test', channelBinding: 'relaxed' as const };
  const users = (u: string) => (u.toLowerCase() === 'alice' ? ntHash('alice-Secret-1') : undefined);
  const run = (o: Parameters<typeof authenticateMessage>[2], level: 'none' | 'relaxed' | 'strict' = 'relaxed', channelBindings?: Buffer) => {
    const negotiate = negotiateMessage();
    const pending = challenge(negotiate, opts);
    const { message } = authenticateMessage(negotiate, pending.challenge, o);
    return () => accept({ pending, authenticate: message, ntHashOf: users, channelBindings, level });
  };

  it('grants the intersection of the flags: pywinrm gets SIGN, SEAL and KEY_EXCH; the Go client gets neither KEY_EXCH nor LM_KEY', () => {
    const py = grantFlags(0xe2889032 | F.UNICODE);
    expect(py & (F.SIGN | F.SEAL | F.KEY_EXCH | F.ESS | F.N128)).toBe(F.SIGN | F.SEAL | F.KEY_EXCH | F.ESS | F.N128);
    const go = grantFlags(0xa0880001 | F.LM_KEY);
    expect(go & (F.KEY_EXCH | F.LM_KEY | F.SEAL | F.SIGN)).toBe(0);
    expect(go & F.UNICODE).toBeTruthy();
    expect(grantFlags(F.OEM) & (F.UNICODE | F.OEM)).toBe(F.OEM);
  });

  it('the CHALLENGE names the server, carries a timestamp (so clients send a MIC) and a fresh server challenge', () => {
    const a = challenge(negotiateMessage(), opts);
    const b = challenge(negotiateMessage(), opts);
    expect(a.serverChallenge.equals(b.serverChallenge)).toBe(false);
    expect(a.challenge.toString('utf16le')).toContain('WINRMD');
    expect(a.challenge.readUInt32LE(8)).toBe(2);
  });

  it('accepts the right password with a MIC, and user@domain or DOMAIN-qualified names', () => {
    expect(run({ user: 'alice', password: 'alice-Secret-1' })().user).toBe('alice');
    expect(run({ user: 'ALICE', password: 'alice-Secret-1', domain: 'WINRMD' })().domain).toBe('WINRMD');
  });

  it('refuses a wrong password, an unknown user and a bad MIC', () => {
    expect(run({ user: 'alice', password: 'wrong' })).toThrow(/wrong password/);
    expect(run({ user: 'mallory', password: 'alice-Secret-1' })).toThrow(/unknown user/);
    const negotiate = negotiateMessage();
    const pending = challenge(negotiate, opts);
    const { message } = authenticateMessage(negotiate, pending.challenge, { user: 'alice', password: 'alice-Secret-1' });
    message[72] ^= 1;
    expect(() => accept({ pending, authenticate: message, ntHashOf: users, level: 'none' })).toThrow(/MIC/);
  });

  it('refuses NTLMv1 and LM responses (24 bytes)', () => {
    const pending = challenge(negotiateMessage(), opts);
    const v1 = buildAuthenticate(PYWINRM_LIKE, Buffer.alloc(24, 1), Buffer.alloc(16));
    expect(() => accept({ pending, authenticate: v1, ntHashOf: users, level: 'none' })).toThrow(NtlmRefused);
    expect(() => accept({ pending, authenticate: v1, ntHashOf: users, level: 'none' })).toThrow(/NTLMv2 only/);
  });

  it('refuses truncated messages without throwing anything but a format error', () => {
    const negotiate = negotiateMessage();
    const pending = challenge(negotiate, opts);
    const { message } = authenticateMessage(negotiate, pending.challenge, { user: 'alice', password: 'alice-Secret-1' });
    for (const cut of [8, 40, 63, 90, message.length - 30]) {
      expect(() => accept({ pending, authenticate: message.subarray(0, cut), ntHashOf: users, level: 'none' })).toThrow(/message|MIC|response|AV_PAIR|password/);
    }
    expect(() => parseAuthenticate(Buffer.alloc(10))).toThrow('not an NTLMSSP message');
  });

  describe('channel bindings (CbtHardeningLevel)', () => {
    const der = Buffer.from('a certificate');
    const bindings = ntlmChannelBindings(der);
    const other = ntlmChannelBindings(Buffer.from('another certificate'));
    const good = { user: 'alice', password: 'alice-Secret-1' };
    it('relaxed: matching bindings pass, absent bindings pass, wrong bindings fail', () => {
      expect(run({ ...good, channelBindings: bindings }, 'relaxed', bindings)).not.toThrow();
      expect(run(good, 'relaxed', bindings)).not.toThrow();
      expect(run({ ...good, channelBindings: other }, 'relaxed', bindings)).toThrow(/channel bindings do not match/);
    });
    it('strict: absent or zero bindings fail over TLS', () => {
      expect(run(good, 'strict', bindings)).toThrow(/required/);
      expect(run({ ...good, channelBindings: Buffer.alloc(16) }, 'strict', bindings)).toThrow(/required/);
      expect(run({ ...good, channelBindings: bindings }, 'strict', bindings)).not.toThrow();
    });
    it('none: ignored', () => expect(run({ ...good, channelBindings: other }, 'none', bindings)).not.toThrow());
    it('tls-server-end-point hashes with the certificate signature hash, SHA-256 for SHA-1 and below (RFC 5929 §4.1)', () => {
      const cert = (algorithm: string, ...extra: string[]) => {
        const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-cbt-'));
        execFileSync('openssl', ['req', '-x509', '-newkey', algorithm, '-nodes', '-keyout', path.join(dir, 'k'), '-out', path.join(dir, 'c'), '-subj', '/CN=x', '-days', '1', ...extra], { stdio: 'ignore' });
        return new X509Certificate(readFileSync(path.join(dir, 'c'))).raw;
      };
      for (const [args, hash] of [[['ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-sha256'], 'sha256'], [['ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-sha1'], 'sha256'], [['ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384'], 'sha384'],
        [['rsa:2048', '-sha512'], 'sha512'], [['rsa-pss', '-pkeyopt', 'rsa_keygen_bits:2048', '-sha384', '-sigopt', 'rsa_padding_mode:pss'], 'sha384']] as [string[], string][]) {
        const der = cert(args[0], ...args.slice(1));
        expect(certificateHash(der).toString('hex'), args.join(' ')).toBe(createHash(hash).update(der).digest('hex'));
      }
    });
  });
});
