// The server side of an NTLMv2 handshake (MS-NLMP 3.2.5), free of HTTP: NEGOTIATE → CHALLENGE,
// then AUTHENTICATE → a verified user and the session keys, or a reason for the log.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hmacMd5, ntowfV2, rc4 } from './crypto.js';
import { AV, AV_FLAG_MIC, buildChallenge, encodeAvPairs, F, fileTime, parseAuthenticate, parseNegotiate, parseNtlmV2Response } from './messages.js';

/** What winrmd supports; the challenge grants the intersection with what the client asked for. */
const SUPPORTED = F.UNICODE | F.OEM | F.REQUEST_TARGET | F.SIGN | F.SEAL | F.NTLM | F.ALWAYS_SIGN | F.ESS | F.TARGET_INFO | F.VERSION | F.N128 | F.KEY_EXCH | F.N56;

export type ChannelBindingLevel = 'none' | 'relaxed' | 'strict';

export interface AcceptorOptions {
  /** NetBIOS computer name: the challenge's TargetName and the domain of local accounts. */
  netbiosName: string;
  dnsName: string;
  channelBinding: ChannelBindingLevel;
}

/** The state between the CHALLENGE and the AUTHENTICATE, kept for one connection. */
export interface PendingHandshake {
  negotiate: Buffer;
  challenge: Buffer;
  serverChallenge: Buffer;
  /** The flags the CHALLENGE granted: the AUTHENTICATE may drop some, never add security ones. */
  granted: number;
  issuedAt: number;
}

const SECURITY_FLAGS = F.SIGN | F.SEAL | F.KEY_EXCH | F.N128 | F.N56 | F.ESS | F.LM_KEY;

export interface Accepted {
  user: string;
  domain: string;
  flags: number;
  exportedSessionKey: Buffer;
}

/** A refused AUTHENTICATE. `user` is the claimed name, for the brute-force throttle and the log. */
export class NtlmRefused extends Error {
  constructor(reason: string, readonly user?: string, readonly credentialFailure = false) {
    super(reason);
  }
}

/** Grant the intersection (MS-NLMP 3.2.5.1.1): pywinrm needs SIGN+SEAL+KEY_EXCH; the Go client must not get KEY_EXCH. */
export function grantFlags(requested: number): number {
  let flags = (requested & SUPPORTED) | F.NTLM | F.TARGET_INFO | F.REQUEST_TARGET | F.TARGET_TYPE_SERVER;
  if (flags & F.UNICODE) flags &= ~F.OEM;
  else flags |= F.OEM;
  return flags >>> 0;
}

export function challenge(negotiate: Buffer, opts: AcceptorOptions, now = Date.now()): PendingHandshake {
  const { flags: requested } = parseNegotiate(negotiate);
  const u16 = (s: string) => Buffer.from(s, 'utf16le');
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigUInt64LE(fileTime(now));
  // MsvAvTimestamp makes clients send a MIC (MS-NLMP 3.1.5.1.2).
  const targetInfo = encodeAvPairs([
    [AV.NB_DOMAIN_NAME, u16(opts.netbiosName)],
    [AV.NB_COMPUTER_NAME, u16(opts.netbiosName)],
    [AV.DNS_DOMAIN_NAME, u16(opts.dnsName)],
    [AV.DNS_COMPUTER_NAME, u16(opts.dnsName)],
    [AV.TIMESTAMP, timestamp],
  ]);
  const serverChallenge = randomBytes(8);
  const granted = grantFlags(requested);
  const message = buildChallenge({ flags: granted, serverChallenge, targetName: opts.netbiosName, targetInfo });
  return { negotiate, challenge: message, serverChallenge, granted, issuedAt: now };
}

const equal = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

export interface AcceptInput {
  pending: PendingHandshake;
  authenticate: Buffer;
  /** The NT hash of the named user, or undefined when there is no such user (or it has none). */
  ntHashOf(user: string, domain: string): Buffer | undefined;
  /** MD5 of the connection's gss_channel_bindings_struct, when it is TLS. */
  channelBindings?: Buffer;
  level: ChannelBindingLevel;
}

export function accept(input: AcceptInput): Accepted {
  const auth = parseAuthenticate(input.authenticate);
  const { user, domain } = auth;
  if (auth.flags & F.ANONYMOUS || !user) throw new NtlmRefused('anonymous NTLM is refused');
  // NTLMv1 and LM responses are 24 bytes; anything NTLMv2 is longer (MS-NLMP 3.3.2).
  if (auth.ntResponse.length <= 24) throw new NtlmRefused('NTLMv1/LM response refused (NTLMv2 only)', user);
  if (auth.flags & SECURITY_FLAGS & ~input.pending.granted) throw new NtlmRefused('AUTHENTICATE claims security flags the CHALLENGE did not grant', user);
  const sessionSecurity = Boolean(auth.flags & (F.SIGN | F.SEAL));
  // Windows' defaults for signing and sealing: extended session security and 128-bit keys.
  if (sessionSecurity && !(auth.flags & F.ESS && auth.flags & F.N128)) throw new NtlmRefused('signing or sealing without extended session security and 128-bit keys is refused', user);
  const keyExchange = sessionSecurity && Boolean(auth.flags & F.KEY_EXCH);
  if (keyExchange && auth.encryptedRandomSessionKey.length !== 16) throw new NtlmRefused('key exchange without a 16-byte session key', user);
  const response = parseNtlmV2Response(auth.ntResponse);

  const ntHash = input.ntHashOf(user, domain);
  // Spend the same HMACs for an unknown user as for a known one.
  const responseKey = ntowfV2(ntHash ?? Buffer.alloc(16), user, domain);
  const proof = hmacMd5(responseKey, input.pending.serverChallenge, response.blob);
  if (!ntHash) throw new NtlmRefused('unknown user, or a user without an NT hash', user, true);
  if (!equal(proof, response.ntProofStr)) throw new NtlmRefused('wrong password', user, true);

  // NTLMv2: KeyExchangeKey = SessionBaseKey (MS-NLMP 3.4.5.1).
  const sessionBaseKey = hmacMd5(responseKey, proof);
  // MS-NLMP 3.2.5.1.2: KEY_EXCH with SIGN or SEAL carries the exported key, RC4-sealed.
  const exportedSessionKey = keyExchange ? rc4(sessionBaseKey, auth.encryptedRandomSessionKey) : sessionBaseKey;

  const avFlags = response.avPairs.get(AV.FLAGS);
  if (avFlags && avFlags.length >= 4 && avFlags.readUInt32LE(0) & AV_FLAG_MIC) {
    const { micOffset } = auth;
    if (input.authenticate.length < micOffset + 16) throw new NtlmRefused('MIC missing', user);
    const zeroed = Buffer.from(input.authenticate);
    zeroed.fill(0, micOffset, micOffset + 16);
    const mic = hmacMd5(exportedSessionKey, input.pending.negotiate, input.pending.challenge, zeroed);
    if (!equal(mic, input.authenticate.subarray(micOffset, micOffset + 16))) throw new NtlmRefused('MIC does not verify', user);
  }

  checkChannelBindings(response.avPairs.get(AV.CHANNEL_BINDINGS), input.channelBindings, input.level, user);
  return { user, domain, flags: auth.flags, exportedSessionKey };
}

/** WinRM's CbtHardeningLevel over HTTPS: relaxed checks bindings a client sends; strict requires them. */
function checkChannelBindings(sent: Buffer | undefined, expected: Buffer | undefined, level: ChannelBindingLevel, user: string): void {
  if (level === 'none' || !expected) return; // no TLS channel to bind to
  const provided = sent && sent.some((b) => b !== 0) ? sent : undefined;
  if (!provided) {
    if (level === 'strict') throw new NtlmRefused('channel bindings required (strict) but not sent', user);
    return;
  }
  if (!equal(provided, expected)) throw new NtlmRefused('channel bindings do not match this TLS channel', user);
}
