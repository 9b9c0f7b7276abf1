// The cryptography of the two cipher suites spoken (IPMI 2.0 §13.28, §13.31, §13.32, table 22-20):
// 3 = RAKP-HMAC-SHA1 / HMAC-SHA1-96 / AES-CBC-128 and 17 = RAKP-HMAC-SHA256 / HMAC-SHA256-128 /
// AES-CBC-128. Pure functions over buffers, so each is checked against known answers.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

export interface CipherSuite {
  id: 3 | 17;
  /** Algorithm numbers for the Open Session records (IPMI 2.0 tables 13-17, 13-18, 13-19). */
  authentication: number;
  integrity: number;
  confidentiality: number;
  hash: 'sha1' | 'sha256';
  /** Length of the RAKP 4 integrity check value and of every packet's integrity code. */
  icvLength: number;
}

export const CIPHER_SUITES: Record<3 | 17, CipherSuite> = {
  3: { id: 3, authentication: 0x01, integrity: 0x01, confidentiality: 0x01, hash: 'sha1', icvLength: 12 },
  17: { id: 17, authentication: 0x03, integrity: 0x04, confidentiality: 0x01, hash: 'sha256', icvLength: 16 },
};

const hmac = (suite: CipherSuite, key: Buffer, ...parts: Buffer[]) => {
  const h = createHmac(suite.hash, key);
  for (const p of parts) h.update(p);
  return h.digest();
};

const le32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
};

/** What both ends of the RAKP exchange know once RAKP 2 has arrived. */
export interface RakpInputs {
  consoleId: number; // SIDm
  bmcId: number; // SIDc
  consoleRandom: Buffer; // Rm
  bmcRandom: Buffer; // Rc
  bmcGuid: Buffer; // GUIDc
  /** The requested maximum privilege byte of RAKP 1 (ROLEm), name-only-lookup bit included. */
  role: number;
  user: Buffer; // UNAMEm
}

const roleAndName = (r: RakpInputs) => Buffer.concat([Buffer.from([r.role, r.user.length]), r.user]);

/** RAKP 2 key exchange authentication code (IPMI 2.0 §13.31): HMAC(Kuid, SIDm‖SIDc‖Rm‖Rc‖GUIDc‖ROLEm‖ULENm‖UNAMEm). */
export const rakp2Code = (suite: CipherSuite, kuid: Buffer, r: RakpInputs) =>
  hmac(suite, kuid, le32(r.consoleId), le32(r.bmcId), r.consoleRandom, r.bmcRandom, r.bmcGuid, roleAndName(r));

/** RAKP 3 key exchange authentication code (§13.31): HMAC(Kuid, Rc‖SIDm‖ROLEm‖ULENm‖UNAMEm). */
export const rakp3Code = (suite: CipherSuite, kuid: Buffer, r: RakpInputs) =>
  hmac(suite, kuid, r.bmcRandom, le32(r.consoleId), roleAndName(r));

export interface SessionKeys {
  sik: Buffer;
  /** Integrity key. */
  k1: Buffer;
  /** Confidentiality key; AES-CBC-128 takes its first 16 bytes. */
  k2: Buffer;
}

// §13.32: the constants are 20 bytes of 01h and 02h. ipmitool and FreeIPMI keep 20 bytes for
// HMAC-SHA256 too (FreeIPMI notes the spec could be read as "up to the block size"); BMCs follow them.
const CONST1 = Buffer.alloc(20, 0x01);
const CONST2 = Buffer.alloc(20, 0x02);

/** SIK = HMAC(Kg, Rm‖Rc‖ROLEm‖ULENm‖UNAMEm), Kg being Kuid when no BMC key is set (§13.31); K1, K2 (§13.32). */
export function sessionKeys(suite: CipherSuite, kg: Buffer, r: RakpInputs): SessionKeys {
  const sik = hmac(suite, kg, r.consoleRandom, r.bmcRandom, roleAndName(r));
  return { sik, k1: hmac(suite, sik, CONST1), k2: hmac(suite, sik, CONST2) };
}

/** RAKP 4 integrity check value (§13.31): HMAC(SIK, Rm‖SIDc‖GUIDc), cut to 12 (SHA1-96) or 16 (SHA256-128) bytes. */
export const rakp4Icv = (suite: CipherSuite, sik: Buffer, r: RakpInputs) =>
  hmac(suite, sik, r.consoleRandom, le32(r.bmcId), r.bmcGuid).subarray(0, suite.icvLength);

/** A packet's integrity code (§13.28.4): HMAC(K1, auth type … next header), cut likewise. */
export const integrityCode = (suite: CipherSuite, k1: Buffer, covered: Buffer) =>
  hmac(suite, k1, covered).subarray(0, suite.icvLength);

/**
 * AES-CBC-128 (§13.29): a random IV first, then the payload padded with 01 02 … N and the pad
 * length N so that payload, pad and pad length fill whole blocks.
 */
export function encrypt(k2: Buffer, plaintext: Buffer, iv: Buffer = randomBytes(16)): Buffer {
  const padLength = (16 - ((plaintext.length + 1) % 16)) % 16;
  const pad = Buffer.alloc(padLength + 1);
  for (let i = 0; i < padLength; i++) pad[i] = i + 1;
  pad[padLength] = padLength;
  const cipher = createCipheriv('aes-128-cbc', k2.subarray(0, 16), iv).setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(Buffer.concat([plaintext, pad])), cipher.final()]);
}

export class ConfidentialityError extends Error {}

/** The inverse of encrypt(); throws on a payload that is not whole blocks or whose pad is wrong (§13.29). */
export function decrypt(k2: Buffer, payload: Buffer): Buffer {
  if (payload.length < 32 || payload.length % 16 !== 0) throw new ConfidentialityError('encrypted payload is not whole AES blocks');
  const decipher = createDecipheriv('aes-128-cbc', k2.subarray(0, 16), payload.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(payload.subarray(16)), decipher.final()]);
  const padLength = plain[plain.length - 1];
  if (padLength > 15) throw new ConfidentialityError('confidentiality pad length out of range');
  const end = plain.length - 1 - padLength;
  for (let i = 0; i < padLength; i++) {
    if (plain[end + i] !== i + 1) throw new ConfidentialityError('confidentiality pad is malformed');
  }
  return plain.subarray(0, end);
}
