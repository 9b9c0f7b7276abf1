// RFC 4121 §4.2 per-message tokens, as Windows writes them for WinRM: Wrap tokens with
// confidentiality, EC 0, and the encrypted data rotated right by RRC 28 (the header copy and the
// checksum first), so that the first 60 bytes are the "signature" MS-WSMV 2.2.9.1.2 puts in front
// and the rest is exactly as long as the plaintext. MIC tokens for SPNEGO's mechListMIC.
import { timingSafeEqual } from 'node:crypto';
import { checksum, decrypt, encrypt, KerberosCryptoError } from './crypto.js';

/** Key usages (RFC 4121 §2). */
const USAGE = { acceptorSeal: 22, acceptorSign: 23, initiatorSeal: 24, initiatorSign: 25 } as const;
const FLAG = { sentByAcceptor: 0x01, sealed: 0x02, acceptorSubkey: 0x04 } as const;
const WRAP = 0x0504;
const MIC = 0x0404;
const HEADER = 16;
const CONFOUNDER = 16;
const CHECKSUM = 12;
/** What Windows rotates by: the encrypted header copy and the checksum. */
const RRC = HEADER + CHECKSUM;

export class CfxError extends Error {}

const rotateRight = (b: Buffer, n: number) => {
  n %= b.length || 1;
  return n === 0 ? b : Buffer.concat([b.subarray(b.length - n), b.subarray(0, b.length - n)]);
};
const rotateLeft = (b: Buffer, n: number) => rotateRight(b, b.length - (n % (b.length || 1)));

export interface CfxOptions {
  key: Buffer;
  /** Whether the key is the acceptor's subkey (the flag both sides set in every token). */
  acceptorSubkey: boolean;
  /** The first sequence number each way. */
  initiatorSeq: number;
  acceptorSeq: number;
}

/** The acceptor's side of a security context. */
export class CfxSession {
  private sendSeq: bigint;
  /** The next initiator sequence number accepted: strictly increasing, so a replayed or reordered token is refused. */
  private recvSeq: bigint;

  constructor(private readonly o: CfxOptions) {
    this.sendSeq = BigInt(o.acceptorSeq);
    this.recvSeq = BigInt(o.initiatorSeq);
  }

  private header(tokId: number, flags: number, ec: number, rrc: number, seq: bigint): Buffer {
    const h = Buffer.alloc(HEADER);
    h.writeUInt16BE(tokId, 0);
    h[2] = flags;
    if (tokId === WRAP) {
      h[3] = 0xff;
      h.writeUInt16BE(ec, 4);
      h.writeUInt16BE(rrc, 6);
    } else {
      h.fill(0xff, 3, 8);
    }
    h.writeBigUInt64BE(seq, 8);
    return h;
  }

  private flags(extra: number): number {
    return extra | (this.o.acceptorSubkey ? FLAG.acceptorSubkey : 0);
  }

  /** A token from the initiator: checked, decrypted, its sequence number past every one before it. */
  unwrap(token: Buffer): Buffer {
    if (token.length < HEADER + CONFOUNDER + HEADER + CHECKSUM) throw new CfxError('a wrap token too short to hold anything');
    if (token.readUInt16BE(0) !== WRAP) throw new CfxError('not an RFC 4121 wrap token');
    const flags = token[2]!;
    if (flags & FLAG.sentByAcceptor) throw new CfxError('a wrap token sent by the acceptor, coming back (reflection)');
    if (!(flags & FLAG.sealed)) throw new CfxError('a wrap token without confidentiality');
    if (Boolean(flags & FLAG.acceptorSubkey) !== this.o.acceptorSubkey) throw new CfxError('a wrap token under the wrong key');
    if (token[3] !== 0xff) throw new CfxError('a wrap token with a bad filler byte');
    const ec = token.readUInt16BE(4);
    const rrc = token.readUInt16BE(6);
    const seq = token.readBigUInt64BE(8);
    if (seq < this.recvSeq) throw new CfxError(`a replayed or reordered token (sequence ${seq}, expected at least ${this.recvSeq})`);
    let plain: Buffer;
    try {
      plain = decrypt(this.o.key, USAGE.initiatorSeal, rotateLeft(token.subarray(HEADER), rrc));
    } catch (err) {
      if (err instanceof KerberosCryptoError) throw new CfxError(`the wrap token does not decrypt: ${err.message}`);
      throw err;
    }
    if (plain.length < ec + HEADER) throw new CfxError('a wrap token shorter than its filler');
    // The encrypted copy of the header must match, but for RRC, which is 0 in the copy (RFC 4121 §4.2.5).
    const copy = plain.subarray(plain.length - HEADER);
    if (!copy.subarray(0, 6).equals(token.subarray(0, 6)) || !copy.subarray(8).equals(token.subarray(8, HEADER))) throw new CfxError('the wrap token\'s header was changed');
    this.recvSeq = seq + 1n;
    return plain.subarray(0, plain.length - HEADER - ec);
  }

  /** A token for the initiator, in the layout Windows uses (EC 0, RRC 28). */
  wrap(plain: Buffer): Buffer {
    const seq = this.sendSeq++;
    const flags = this.flags(FLAG.sentByAcceptor | FLAG.sealed);
    const inner = this.header(WRAP, flags, 0, 0, seq);
    const sealed = encrypt(this.o.key, USAGE.acceptorSeal, Buffer.concat([plain, inner]));
    return Buffer.concat([this.header(WRAP, flags, 0, RRC, seq), rotateRight(sealed, RRC)]);
  }

  /** MS-WSMV 2.2.9.1.2: a wrap token cut where the plaintext's bytes start. */
  static split(token: Buffer): { signature: Buffer; sealed: Buffer } {
    const at = HEADER + RRC + CONFOUNDER;
    return { signature: token.subarray(0, at), sealed: token.subarray(at) };
  }

  /** Our MIC over data (SPNEGO's mechListMIC, RFC 4178 §5). */
  getMic(data: Buffer): Buffer {
    const header = this.header(MIC, this.flags(FLAG.sentByAcceptor), 0, 0, this.sendSeq++);
    return Buffer.concat([header, checksum(this.o.key, USAGE.acceptorSign, Buffer.concat([data, header]))]);
  }

  verifyMic(data: Buffer, token: Buffer): void {
    if (token.length !== HEADER + CHECKSUM || token.readUInt16BE(0) !== MIC) throw new CfxError('not an RFC 4121 MIC token');
    const flags = token[2]!;
    if (flags & FLAG.sentByAcceptor) throw new CfxError('a MIC token sent by the acceptor, coming back');
    const header = token.subarray(0, HEADER);
    const expected = checksum(this.o.key, USAGE.initiatorSign, Buffer.concat([data, header]));
    if (!timingSafeEqual(expected, token.subarray(HEADER))) throw new CfxError('the MIC does not verify');
    const seq = header.readBigUInt64BE(8);
    if (seq >= this.recvSeq) this.recvSeq = seq + 1n;
  }
}
