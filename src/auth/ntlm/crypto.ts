// The three primitives NTLM needs that Node 20's OpenSSL 3 no longer offers by default: MD4
// (RFC 1320) for the NT hash, and RC4 for sealing and key exchange. Both are short; running Node
// with the legacy OpenSSL provider instead would re-enable every legacy cipher for the whole
// process. Proven against RFC 1320's and MS-NLMP §4.2's vectors (test/unit/auth/ntlm-crypto).
import { createHash, createHmac } from 'node:crypto';

const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));

/** MD4 (RFC 1320 §3). */
export function md4(data: Buffer): Buffer {
  const bitLength = data.length * 8;
  // Pad to 56 mod 64 with 0x80 then zeros, then the 64-bit little-endian bit length (§3.1, §3.2).
  const padded = Buffer.alloc(((data.length + 8) >> 6) * 64 + 64);
  data.copy(padded);
  padded[data.length] = 0x80;
  padded.writeUInt32LE(bitLength >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor(bitLength / 2 ** 32), padded.length - 4);

  let a = 0x67452301, b = 0xefcdab89, c = 0x98badcfe, d = 0x10325476;
  const x = new Array<number>(16);
  const f = (p: number, q: number, r: number) => (p & q) | (~p & r);
  const g = (p: number, q: number, r: number) => (p & q) | (p & r) | (q & r);
  const h = (p: number, q: number, r: number) => p ^ q ^ r;
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) x[i] = padded.readUInt32LE(block + i * 4);
    const [aa, bb, cc, dd] = [a, b, c, d];
    // Round 1: [abcd k s] a = (a + F(b,c,d) + X[k]) <<< s
    for (const k of [0, 4, 8, 12]) {
      a = rotl((a + f(b, c, d) + x[k]) | 0, 3);
      d = rotl((d + f(a, b, c) + x[k + 1]) | 0, 7);
      c = rotl((c + f(d, a, b) + x[k + 2]) | 0, 11);
      b = rotl((b + f(c, d, a) + x[k + 3]) | 0, 19);
    }
    // Round 2: a = (a + G(b,c,d) + X[k] + 5A827999) <<< s
    for (const k of [0, 1, 2, 3]) {
      a = rotl((a + g(b, c, d) + x[k] + 0x5a827999) | 0, 3);
      d = rotl((d + g(a, b, c) + x[k + 4] + 0x5a827999) | 0, 5);
      c = rotl((c + g(d, a, b) + x[k + 8] + 0x5a827999) | 0, 9);
      b = rotl((b + g(c, d, a) + x[k + 12] + 0x5a827999) | 0, 13);
    }
    // Round 3: a = (a + H(b,c,d) + X[k] + 6ED9EBA1) <<< s
    for (const k of [0, 2, 1, 3]) {
      a = rotl((a + h(b, c, d) + x[k] + 0x6ed9eba1) | 0, 3);
      d = rotl((d + h(a, b, c) + x[k + 8] + 0x6ed9eba1) | 0, 9);
      c = rotl((c + h(d, a, b) + x[k + 4] + 0x6ed9eba1) | 0, 11);
      b = rotl((b + h(c, d, a) + x[k + 12] + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0; b = (b + bb) | 0; c = (c + cc) | 0; d = (d + dd) | 0;
  }
  const out = Buffer.alloc(16);
  [a, b, c, d].forEach((v, i) => out.writeInt32LE(v, i * 4));
  return out;
}

/** An RC4 key stream. NTLM keeps one per direction for a whole session (MS-NLMP 3.4.3), so it is stateful. */
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Buffer) {
    for (let i = 0; i < 256; i++) this.s[i] = i;
    for (let i = 0, j = 0; i < 256; i++) {
      j = (j + this.s[i] + key[i % key.length]) & 0xff;
      [this.s[i], this.s[j]] = [this.s[j], this.s[i]];
    }
  }

  update(data: Buffer): Buffer {
    const out = Buffer.allocUnsafe(data.length);
    const s = this.s;
    let { i, j } = this;
    for (let n = 0; n < data.length; n++) {
      i = (i + 1) & 0xff;
      j = (j + s[i]) & 0xff;
      const t = s[i];
      s[i] = s[j];
      s[j] = t;
      out[n] = data[n] ^ s[(s[i] + s[j]) & 0xff];
    }
    this.i = i;
    this.j = j;
    return out;
  }
}

/** One-shot RC4 (MS-NLMP's RC4K). */
export const rc4 = (key: Buffer, data: Buffer) => new Rc4(key).update(data);

export const md5 = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('md5')).digest();

export const hmacMd5 = (key: Buffer, ...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHmac('md5', key)).digest();

/** NTOWFv1: MD4 of the UTF-16LE password (MS-NLMP 3.3.1). What `winrmd user add` stores for NTLM. */
export const ntHash = (password: string) => md4(Buffer.from(password, 'utf16le'));

/** NTOWFv2 = HMAC_MD5(NT hash, UNICODE(Uppercase(User) ‖ UserDom)) (MS-NLMP 3.3.2). */
export const ntowfV2 = (ntHashValue: Buffer, user: string, domain: string) =>
  hmacMd5(ntHashValue, Buffer.from(user.toUpperCase() + domain, 'utf16le'));
