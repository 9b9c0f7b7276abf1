// Kerberos encryption for AES (RFC 3961's simplified profile with RFC 3962's AES-CTS and
// HMAC-SHA1-96): enough to open a service ticket and an authenticator, to write an AP-REP, and
// to wrap and unwrap RFC 4121 tokens. Node's OpenSSL does the block cipher, the HMAC and PBKDF2;
// what is Kerberos's own (n-fold, key derivation, ciphertext stealing) is here, proved by the
// RFCs' test vectors (test/unit/auth/kerberos-crypto.test.ts).
import { createCipheriv, createDecipheriv, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/** The encryption types winrmd accepts (RFC 3962 §7); RC4 (23) and DES are refused. */
export const ENCTYPE = { aes128: 17, aes256: 18 } as const;
export type Enctype = (typeof ENCTYPE)[keyof typeof ENCTYPE];

export const ENCTYPE_NAMES: Record<number, string> = {
  1: 'des-cbc-crc', 3: 'des-cbc-md5', 16: 'des3-cbc-sha1', 17: 'aes128-cts-hmac-sha1-96', 18: 'aes256-cts-hmac-sha1-96',
  19: 'aes128-cts-hmac-sha256-128', 20: 'aes256-cts-hmac-sha384-192', 23: 'rc4-hmac', 24: 'rc4-hmac-exp',
};

export class KerberosCryptoError extends Error {}

const BLOCK = 16;
const MAC = 12;

export const keyLength = (etype: number): number => {
  if (etype === ENCTYPE.aes128) return 16;
  if (etype === ENCTYPE.aes256) return 32;
  throw new KerberosCryptoError(`encryption type ${ENCTYPE_NAMES[etype] ?? etype} is not supported`);
};

const cipherName = (key: Buffer) => (key.length === 16 ? 'aes-128' : 'aes-256');

/** RFC 3961 §5.1 n-fold: copies of the input, each rotated 13 bits further right, added in ones' complement. */
export function nfold(input: Buffer, outBytes: number): Buffer {
  const inBits = BigInt(input.length * 8);
  const outBits = BigInt(outBytes * 8);
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const lcm = (input.length * outBytes) / gcd(input.length, outBytes);
  const value = BigInt(`0x${input.toString('hex')}`);
  const inMask = (1n << inBits) - 1n;
  const outMask = (1n << outBits) - 1n;
  let stream = 0n;
  for (let k = 0; k < lcm / input.length; k++) {
    const r = BigInt(13 * k) % inBits;
    const rotated = r === 0n ? value : ((value >> r) | (value << (inBits - r))) & inMask;
    stream = (stream << inBits) | rotated;
  }
  let sum = 0n;
  for (let i = 0; i < lcm / outBytes; i++) {
    sum += (stream >> (BigInt(lcm - (i + 1) * outBytes) * 8n)) & outMask;
    while (sum > outMask) sum = (sum & outMask) + (sum >> outBits);
  }
  return Buffer.from(sum.toString(16).padStart(outBytes * 2, '0'), 'hex');
}

function ecb(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv(`${cipherName(key)}-ecb`, key, null).setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

/** RFC 3961 §5.1 DK: DR (the key's cipher run over the n-folded constant, chained) then random-to-key (the identity for AES). */
export function deriveKey(key: Buffer, constant: Buffer): Buffer {
  let block = constant.length === BLOCK ? constant : nfold(constant, BLOCK);
  const out: Buffer[] = [];
  let have = 0;
  while (have < key.length) {
    block = ecb(key, block);
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, key.length);
}

/** RFC 3962 §4: PBKDF2-HMAC-SHA1, then DK with "kerberos". */
export function stringToKey(etype: Enctype, password: string | Buffer, salt: string | Buffer, iterations = 4096): Buffer {
  const tkey = pbkdf2Sync(password, salt, iterations, keyLength(etype), 'sha1');
  return deriveKey(tkey, Buffer.from('kerberos'));
}

/** AES-CBC with ciphertext stealing as RFC 3962 §6 has it: the last two blocks swapped, the last one cut to length. */
export function ctsEncrypt(key: Buffer, iv: Buffer, plain: Buffer): Buffer {
  if (plain.length < BLOCK) throw new KerberosCryptoError('CTS needs at least one block');
  const c = createCipheriv(`${cipherName(key)}-cbc`, key, iv).setAutoPadding(false);
  if (plain.length === BLOCK) return Buffer.concat([c.update(plain), c.final()]);
  const n = Math.ceil(plain.length / BLOCK);
  const last = plain.length - (n - 1) * BLOCK;
  const padded = Buffer.concat([plain, Buffer.alloc(n * BLOCK - plain.length)]);
  const out = Buffer.concat([c.update(padded), c.final()]);
  return Buffer.concat([out.subarray(0, (n - 2) * BLOCK), out.subarray((n - 1) * BLOCK), out.subarray((n - 2) * BLOCK, (n - 2) * BLOCK + last)]);
}

export function ctsDecrypt(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  if (data.length < BLOCK) throw new KerberosCryptoError('CTS needs at least one block');
  const cbc = (ct: Buffer, v: Buffer) => {
    const d = createDecipheriv(`${cipherName(key)}-cbc`, key, v).setAutoPadding(false);
    return Buffer.concat([d.update(ct), d.final()]);
  };
  if (data.length === BLOCK) return cbc(data, iv);
  const n = Math.ceil(data.length / BLOCK);
  const last = data.length - (n - 1) * BLOCK;
  const head = data.subarray(0, (n - 2) * BLOCK);
  const swapped = data.subarray((n - 2) * BLOCK, (n - 1) * BLOCK); // the encryption of the padded last block
  const partial = data.subarray((n - 1) * BLOCK); // the first `last` bytes of the block before it
  const d = createDecipheriv(`${cipherName(key)}-ecb`, key, null).setAutoPadding(false);
  const decrypted = Buffer.concat([d.update(swapped), d.final()]);
  // The padded plaintext was zeros past `last`, so those bytes of the previous ciphertext block show through.
  const previous = Buffer.concat([partial, decrypted.subarray(last)]);
  const lastPlain = Buffer.alloc(last);
  for (let i = 0; i < last; i++) lastPlain[i] = decrypted[i]! ^ previous[i]!;
  const before = cbc(Buffer.concat([head, previous]), iv);
  return Buffer.concat([before, lastPlain]);
}

/** The three keys RFC 3961 §5.3 derives per usage number: checksum, encryption, integrity. */
export function usageKeys(base: Buffer, usage: number): { kc: Buffer; ke: Buffer; ki: Buffer } {
  const constant = (tail: number) => {
    const b = Buffer.alloc(5);
    b.writeUInt32BE(usage, 0);
    b[4] = tail;
    return b;
  };
  return { kc: deriveKey(base, constant(0x99)), ke: deriveKey(base, constant(0xaa)), ki: deriveKey(base, constant(0x55)) };
}

const hmac96 = (key: Buffer, ...data: Buffer[]) => {
  const h = createHmac('sha1', key);
  for (const d of data) h.update(d);
  return h.digest().subarray(0, MAC);
};

/** RFC 3961 §5.3 encryption: a random confounder, CTS over confounder and plaintext, HMAC-SHA1-96 of both. */
export function encrypt(base: Buffer, usage: number, plain: Buffer, confounder: Buffer = randomBytes(BLOCK)): Buffer {
  const { ke, ki } = usageKeys(base, usage);
  const data = Buffer.concat([confounder, plain]);
  return Buffer.concat([ctsEncrypt(ke, Buffer.alloc(BLOCK), data), hmac96(ki, data)]);
}

export function decrypt(base: Buffer, usage: number, cipher: Buffer): Buffer {
  if (cipher.length < BLOCK + MAC) throw new KerberosCryptoError('the ciphertext is too short');
  const { ke, ki } = usageKeys(base, usage);
  const data = ctsDecrypt(ke, Buffer.alloc(BLOCK), cipher.subarray(0, cipher.length - MAC));
  const mac = hmac96(ki, data);
  if (!timingSafeEqual(mac, cipher.subarray(cipher.length - MAC))) throw new KerberosCryptoError('the integrity check failed (wrong key, or the message was changed)');
  return data.subarray(BLOCK);
}

/** RFC 3961 §5.4 keyed checksum (hmac-sha1-96-aes128/256) with the usage's Kc. */
export function checksum(base: Buffer, usage: number, data: Buffer): Buffer {
  return hmac96(usageKeys(base, usage).kc, data);
}
