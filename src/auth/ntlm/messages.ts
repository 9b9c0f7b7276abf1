// The three NTLM messages on the wire (MS-NLMP 2.2.1) and the AV_PAIR list (2.2.2.1). Parsing is
// bounds-checked throughout: every length and offset comes from the network.

export const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');

/** NegotiateFlags (MS-NLMP 2.2.2.5). */
export const F = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  LM_KEY: 0x00000080,
  NTLM: 0x00000200,
  ANONYMOUS: 0x00000800,
  ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_DOMAIN: 0x00010000,
  TARGET_TYPE_SERVER: 0x00020000,
  ESS: 0x00080000, // NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  N128: 0x20000000,
  KEY_EXCH: 0x40000000,
  N56: 0x80000000,
} as const;

/** AvId values (MS-NLMP 2.2.2.1). */
export const AV = {
  EOL: 0,
  NB_COMPUTER_NAME: 1,
  NB_DOMAIN_NAME: 2,
  DNS_COMPUTER_NAME: 3,
  DNS_DOMAIN_NAME: 4,
  FLAGS: 6,
  TIMESTAMP: 7,
  TARGET_NAME: 9,
  CHANNEL_BINDINGS: 10,
} as const;

/** MsvAvFlags bit: the AUTHENTICATE message carries a MIC. */
export const AV_FLAG_MIC = 0x00000002;

export class NtlmFormatError extends Error {}

export function messageType(token: Buffer): number {
  if (token.length < 12 || !token.subarray(0, 8).equals(SIGNATURE)) throw new NtlmFormatError('not an NTLMSSP message');
  return token.readUInt32LE(8);
}

/** A (Len, MaxLen, Offset) field pointing into the message's payload. */
function field(msg: Buffer, at: number): Buffer {
  if (at + 8 > msg.length) throw new NtlmFormatError('message too short');
  const len = msg.readUInt16LE(at);
  const offset = msg.readUInt32LE(at + 4);
  if (len === 0) return Buffer.alloc(0);
  if (offset + len > msg.length) throw new NtlmFormatError('a field points outside the message');
  return msg.subarray(offset, offset + len);
}

export interface Negotiate {
  flags: number;
}

export function parseNegotiate(msg: Buffer): Negotiate {
  if (messageType(msg) !== 1 || msg.length < 16) throw new NtlmFormatError('not a NEGOTIATE message');
  return { flags: msg.readUInt32LE(12) };
}

export function encodeAvPairs(pairs: [number, Buffer][]): Buffer {
  const parts = pairs.flatMap(([id, value]) => {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(id, 0);
    head.writeUInt16LE(value.length, 2);
    return [head, value];
  });
  return Buffer.concat([...parts, Buffer.alloc(4)]); // MsvAvEOL
}

export function parseAvPairs(buf: Buffer): Map<number, Buffer> {
  const pairs = new Map<number, Buffer>();
  for (let at = 0; at + 4 <= buf.length; ) {
    const id = buf.readUInt16LE(at);
    const len = buf.readUInt16LE(at + 2);
    if (id === AV.EOL) return pairs;
    if (at + 4 + len > buf.length) throw new NtlmFormatError('an AV_PAIR runs past its list');
    if (!pairs.has(id)) pairs.set(id, buf.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  throw new NtlmFormatError('AV_PAIR list without MsvAvEOL');
}

/** Windows Server 2019's VERSION (MS-NLMP 2.2.2.10): 10.0 build 17763, NTLMSSP_REVISION_W2K3. */
const VERSION = Buffer.from([10, 0, 0x63, 0x45, 0, 0, 0, 0x0f]);

export interface ChallengeFields {
  flags: number;
  serverChallenge: Buffer;
  targetName: string;
  targetInfo: Buffer;
}

/** CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2). */
export function buildChallenge(c: ChallengeFields): Buffer {
  const target = Buffer.from(c.targetName, c.flags & F.UNICODE ? 'utf16le' : 'latin1');
  const header = Buffer.alloc(56);
  SIGNATURE.copy(header, 0);
  header.writeUInt32LE(2, 8);
  header.writeUInt16LE(target.length, 12);
  header.writeUInt16LE(target.length, 14);
  header.writeUInt32LE(56, 16);
  header.writeUInt32LE(c.flags >>> 0, 20);
  c.serverChallenge.copy(header, 24);
  header.writeUInt16LE(c.targetInfo.length, 40);
  header.writeUInt16LE(c.targetInfo.length, 42);
  header.writeUInt32LE(56 + target.length, 44);
  if (c.flags & F.VERSION) VERSION.copy(header, 48);
  return Buffer.concat([header, target, c.targetInfo]);
}

export interface Authenticate {
  flags: number;
  lmResponse: Buffer;
  ntResponse: Buffer;
  domain: string;
  user: string;
  workstation: string;
  encryptedRandomSessionKey: Buffer;
  /** Where the 16-byte MIC sits when the client sent one (after the 8-byte VERSION). */
  micOffset: number;
}

/** AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3). */
export function parseAuthenticate(msg: Buffer): Authenticate {
  if (messageType(msg) !== 3 || msg.length < 64) throw new NtlmFormatError('not an AUTHENTICATE message');
  const flags = msg.readUInt32LE(60);
  const text = (b: Buffer) => b.toString(flags & F.UNICODE ? 'utf16le' : 'latin1');
  return {
    flags,
    lmResponse: field(msg, 12),
    ntResponse: field(msg, 20),
    domain: text(field(msg, 28)),
    user: text(field(msg, 36)),
    workstation: text(field(msg, 44)),
    encryptedRandomSessionKey: field(msg, 52),
    micOffset: 72,
  };
}

/** The parts of an NTLMv2 response (MS-NLMP 2.2.2.8, 2.2.2.7): NTProofStr, then the client's blob. */
export interface NtlmV2Response {
  ntProofStr: Buffer;
  /** `temp` in MS-NLMP 3.3.2: everything after NTProofStr, which NTProofStr covers. */
  blob: Buffer;
  timestamp: bigint;
  avPairs: Map<number, Buffer>;
}

export function parseNtlmV2Response(nt: Buffer): NtlmV2Response {
  // 16 (NTProofStr) + 28 (blob header) + at least MsvAvEOL.
  if (nt.length < 48) throw new NtlmFormatError('not an NTLMv2 response');
  const blob = nt.subarray(16);
  if (blob[0] !== 1 || blob[1] !== 1) throw new NtlmFormatError('unknown NTLMv2 response version');
  return { ntProofStr: nt.subarray(0, 16), blob, timestamp: blob.readBigUInt64LE(8), avPairs: parseAvPairs(blob.subarray(28)) };
}

/** Windows FILETIME: 100 ns ticks since 1601-01-01. */
export const fileTime = (ms: number) => (BigInt(ms) + 11_644_473_600_000n) * 10_000n;
