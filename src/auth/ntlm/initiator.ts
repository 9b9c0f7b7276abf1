// The client half of NTLMv2 (MS-NLMP 3.1.5): NEGOTIATE, the AUTHENTICATE for a CHALLENGE with
// the keys it sets up, and the client's sealing. winrmd's forwarder authenticates to collectors
// with it, and the tests drive the server with it where real clients never go.
import { randomBytes } from 'node:crypto';
import type { MessageSecurity } from '../authenticator.js';
import { hmacMd5, ntHash, ntowfV2, rc4 } from './crypto.js';
import { AV, AV_FLAG_MIC, encodeAvPairs, F, fileTime, parseAvPairs, SIGNATURE } from './messages.js';
import { NtlmSession } from './session.js';

/** What pywinrm's ntlm-auth asks for, and winrmd's forwarder: SIGN, SEAL, KEY_EXCH, 128, 56, ESS, TARGET_INFO, VERSION, UNICODE, NTLM. */
export const PYWINRM_LIKE = (F.UNICODE | F.REQUEST_TARGET | F.SIGN | F.SEAL | F.NTLM | F.ALWAYS_SIGN | F.ESS | F.TARGET_INFO | F.VERSION | F.N128 | F.KEY_EXCH | F.N56) >>> 0;

export function negotiateMessage(flags = PYWINRM_LIKE): Buffer {
  const m = Buffer.alloc(40);
  SIGNATURE.copy(m);
  m.writeUInt32LE(1, 8);
  m.writeUInt32LE(flags, 12);
  return m;
}

export interface AuthenticateOptions {
  user: string;
  password: string;
  domain?: string;
  /** MD5 of the channel bindings to send in MsvAvChannelBindings. */
  channelBindings?: Buffer;
  mic?: boolean;
  workstation?: string;
}

/** AUTHENTICATE for a CHALLENGE (MS-NLMP 3.1.5.1.2), with the keys it sets up. */
export function authenticateMessage(negotiate: Buffer, challenge: Buffer, o: AuthenticateOptions): { message: Buffer; exportedSessionKey: Buffer; flags: number } {
  const flags = challenge.readUInt32LE(20);
  const serverChallenge = challenge.subarray(24, 32);
  const infoLen = challenge.readUInt16LE(40);
  const infoOff = challenge.readUInt32LE(44);
  const pairs = parseAvPairs(challenge.subarray(infoOff, infoOff + infoLen));
  const mic = o.mic ?? true;
  if (mic) pairs.set(AV.FLAGS, Buffer.from([AV_FLAG_MIC, 0, 0, 0]));
  if (o.channelBindings) pairs.set(AV.CHANNEL_BINDINGS, o.channelBindings);
  const timestamp = pairs.get(AV.TIMESTAMP) ?? Buffer.alloc(8);
  if (!pairs.has(AV.TIMESTAMP)) timestamp.writeBigUInt64LE(fileTime(Date.now()));
  const temp = Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]), timestamp, randomBytes(8), Buffer.alloc(4), encodeAvPairs([...pairs]), Buffer.alloc(4)]);

  const domain = o.domain ?? '';
  const key = ntowfV2(ntHash(o.password), o.user, domain);
  const proof = hmacMd5(key, serverChallenge, temp);
  const sessionBaseKey = hmacMd5(key, proof);
  const exportedSessionKey = flags & F.KEY_EXCH ? randomBytes(16) : sessionBaseKey;
  const encryptedKey = flags & F.KEY_EXCH ? rc4(sessionBaseKey, exportedSessionKey) : Buffer.alloc(0);

  const u16 = (s: string) => Buffer.from(s, 'utf16le');
  const fields: Buffer[] = [Buffer.alloc(24), Buffer.concat([proof, temp]), u16(domain), u16(o.user), u16(o.workstation ?? 'WINRMD'), encryptedKey];
  const header = Buffer.alloc(88);
  SIGNATURE.copy(header);
  header.writeUInt32LE(3, 8);
  let offset = header.length;
  fields.forEach((f, i) => {
    const at = 12 + i * 8;
    header.writeUInt16LE(f.length, at);
    header.writeUInt16LE(f.length, at + 2);
    header.writeUInt32LE(offset, at + 4);
    offset += f.length;
  });
  header.writeUInt32LE(flags, 60);
  const message = Buffer.concat([header, ...fields]);
  if (mic) hmacMd5(exportedSessionKey, negotiate, challenge, message).copy(message, 72);
  return { message, exportedSessionKey, flags };
}

/** A client-side MessageSecurity, so the server's own framing code seals and opens for the test. */
export function clientSecurity(exportedSessionKey: Buffer, flags: number): MessageSecurity {
  const session = new NtlmSession(exportedSessionKey, flags, 'client');
  return { wrap: (p) => session.wrap(p), unwrap: (s, sig) => session.unwrap(s, sig), required: false, end: () => undefined };
}
