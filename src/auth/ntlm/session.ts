// NTLM session security with extended session security (MS-NLMP 3.4): one RC4 stream per
// direction for the life of the security context, sequence numbers per direction, and a signature
// over every message. The server seals with the server-to-client keys and opens with the
// client-to-server keys.
import { timingSafeEqual } from 'node:crypto';
import { F } from './messages.js';
import { hmacMd5, md5, Rc4 } from './crypto.js';

const magic = (s: string) => Buffer.from(`session key to ${s} magic constant\0`, 'latin1');

/** SIGNKEY (MS-NLMP 3.4.5.2). */
export const signKey = (exportedSessionKey: Buffer, mode: 'client' | 'server') =>
  md5(exportedSessionKey, magic(mode === 'client' ? 'client-to-server signing key' : 'server-to-client signing key'));

/** SEALKEY (MS-NLMP 3.4.5.3): the session key cut to 128, 56 or 40 bits by the negotiated strength. */
export function sealKey(exportedSessionKey: Buffer, flags: number, mode: 'client' | 'server'): Buffer {
  const key = flags & F.N128 ? exportedSessionKey : exportedSessionKey.subarray(0, flags & F.N56 ? 7 : 5);
  return md5(key, magic(mode === 'client' ? 'client-to-server sealing key' : 'server-to-client sealing key'));
}

export class SignatureError extends Error {}

interface Direction {
  signKey: Buffer;
  sealKey: Buffer;
  rc4: Rc4;
  seq: number;
}

export class NtlmSession {
  private readonly incoming: Direction;
  private readonly outgoing: Direction;
  private readonly keyExchange: boolean;

  /** `role` is which end this is: winrmd is the server; tests play the client. */
  constructor(exportedSessionKey: Buffer, readonly flags: number, role: 'server' | 'client' = 'server') {
    const direction = (mode: 'client' | 'server'): Direction => {
      const key = sealKey(exportedSessionKey, flags, mode);
      return { signKey: signKey(exportedSessionKey, mode), sealKey: key, rc4: new Rc4(key), seq: 0 };
    };
    this.incoming = direction(role === 'server' ? 'client' : 'server');
    this.outgoing = direction(role);
    this.keyExchange = Boolean(flags & F.KEY_EXCH);
  }

  /** NTLMSSP_MESSAGE_SIGNATURE with ESS (MS-NLMP 2.2.2.9.2, 3.4.4.2): version 1, checksum, seq. */
  private signature(d: Direction, plaintext: Buffer): Buffer {
    const seq = Buffer.alloc(4);
    seq.writeUInt32LE(d.seq, 0);
    let checksum: Buffer = hmacMd5(d.signKey, seq, plaintext).subarray(0, 8);
    if (this.keyExchange) checksum = d.rc4.update(checksum);
    d.seq = (d.seq + 1) >>> 0;
    return Buffer.concat([Buffer.from([1, 0, 0, 0]), checksum, seq]);
  }

  /** GSS_GetMIC (MS-NLMP 3.4.4.2): the signature alone, on the outgoing stream and sequence. */
  sign(message: Buffer): Buffer {
    return this.signature(this.outgoing, message);
  }

  /** GSS_VerifyMIC: throws when the signature does not verify. */
  verify(message: Buffer, signature: Buffer): void {
    const expected = this.signature(this.incoming, message);
    if (signature.length !== 16 || !timingSafeEqual(signature, expected)) throw new SignatureError('signature does not verify');
  }

  /**
   * MS-SPNG 3.3.5.1: the first message sealed or signed after the mechListMIC starts from the same
   * RC4 state as the mechListMIC did, so the direction's RC4 stream restarts from its sealing key.
   * The sequence number goes on (gss-ntlmssp's gssntlm_reset_crypto, as MIT's SPNEGO calls it).
   */
  restartRc4(which: 'incoming' | 'outgoing'): void {
    const d = this[which];
    d.rc4 = new Rc4(d.sealKey);
  }

  /** GSS_WrapEx (MS-NLMP 3.4.6): seal the message first, then sign it, both on the same RC4 stream. */
  wrap(plaintext: Buffer): { signature: Buffer; sealed: Buffer } {
    const sealed = this.outgoing.rc4.update(plaintext);
    return { signature: this.signature(this.outgoing, plaintext), sealed };
  }

  /** GSS_UnwrapEx: open and check. A bad signature throws; the caller must then end the session. */
  unwrap(sealed: Buffer, signature: Buffer): Buffer {
    const plaintext = this.incoming.rc4.update(sealed);
    const expected = this.signature(this.incoming, plaintext);
    if (signature.length !== 16 || !timingSafeEqual(signature, expected)) throw new SignatureError('message signature does not verify');
    return plaintext;
  }
}
