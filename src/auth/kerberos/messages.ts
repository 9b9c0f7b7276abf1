// The Kerberos messages an acceptor reads and writes (RFC 4120 §5, ASN.1 DER): AP-REQ with its
// Ticket and Authenticator, AP-REP, and the GSS-API framing around them (RFC 4121 §4.1). Every
// field comes from the network: anything malformed is a KerberosFormatError, never a crash.
import { children, DerError, readOnly, readTlv, tlv, type Tlv } from '../der.js';

export class KerberosFormatError extends Error {}

const T = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  sequence: 0x30,
  generalizedTime: 0x18,
  generalString: 0x1b,
  app: (n: number) => 0x60 + n,
  ctx: (n: number) => 0xa0 + n,
} as const;

export interface PrincipalName { type: number; names: string[] }
export interface EncryptedData { etype: number; kvno?: number; cipher: Buffer }
export interface EncryptionKey { type: number; value: Buffer }

export interface Ticket { realm: string; sname: PrincipalName; encPart: EncryptedData }
export interface ApReq { apOptions: number; ticket: Ticket; authenticator: EncryptedData }

export interface EncTicketPart {
  flags: number;
  key: EncryptionKey;
  crealm: string;
  cname: PrincipalName;
  authtime: Date;
  starttime?: Date;
  endtime: Date;
}

export interface Authenticator {
  crealm: string;
  cname: PrincipalName;
  checksum?: { type: number; value: Buffer };
  cusec: number;
  ctime: Date;
  subkey?: EncryptionKey;
  seqNumber?: number;
}

/** The [n] fields of a SEQUENCE (each DER-parsed once), ascending. */
function fields(seq: Tlv, expected: number = T.sequence): Map<number, Tlv> {
  if (seq.tag !== expected) throw new KerberosFormatError(`expected tag 0x${expected.toString(16)}, got 0x${seq.tag.toString(16)}`);
  const out = new Map<number, Tlv>();
  let last = -1;
  for (const c of children(seq.value)) {
    const n = c.tag - T.ctx(0);
    if (n < 0 || n > 30 || n <= last) throw new KerberosFormatError('fields out of order or not context-tagged');
    last = n;
    out.set(n, readOnly(c.value));
  }
  return out;
}

/** [APPLICATION n] SEQUENCE { … }: the application tag wraps one SEQUENCE (RFC 4120 §5). */
function appFields(t: Tlv, n: number): Map<number, Tlv> {
  if (t.tag !== T.app(n)) throw new KerberosFormatError(`expected [APPLICATION ${n}], got tag 0x${t.tag.toString(16)}`);
  return fields(readOnly(t.value, T.sequence));
}

function need(f: Map<number, Tlv>, n: number, what: string): Tlv {
  const t = f.get(n);
  if (!t) throw new KerberosFormatError(`${what} is missing`);
  return t;
}

function int(t: Tlv): number {
  if (t.tag !== T.integer || t.value.length === 0 || t.value.length > 5) throw new KerberosFormatError('bad INTEGER');
  let v = t.value[0]! & 0x80 ? -1 : 0;
  for (const b of t.value) v = v * 256 + b;
  return v;
}

const str = (t: Tlv) => {
  if (t.tag !== T.generalString) throw new KerberosFormatError('bad KerberosString');
  return t.value.toString('utf8');
};
const octets = (t: Tlv) => {
  if (t.tag !== T.octetString) throw new KerberosFormatError('bad OCTET STRING');
  return t.value;
};

/** KerberosTime: GeneralizedTime YYYYMMDDHHMMSSZ (RFC 4120 §5.2.3). */
function time(t: Tlv): Date {
  const m = t.tag === T.generalizedTime ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(t.value.toString('latin1')) : null;
  if (!m) throw new KerberosFormatError('bad KerberosTime');
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

function principal(t: Tlv): PrincipalName {
  const f = fields(t);
  const seq = need(f, 1, 'name-string');
  if (seq.tag !== T.sequence) throw new KerberosFormatError('bad name-string');
  return { type: int(need(f, 0, 'name-type')), names: children(seq.value).map(str) };
}

function encryptedData(t: Tlv): EncryptedData {
  const f = fields(t);
  const kvno = f.get(1);
  return { etype: int(need(f, 0, 'etype')), ...(kvno ? { kvno: int(kvno) >>> 0 } : {}), cipher: octets(need(f, 2, 'cipher')) };
}

function encryptionKey(t: Tlv): EncryptionKey {
  const f = fields(t);
  return { type: int(need(f, 0, 'keytype')), value: octets(need(f, 1, 'keyvalue')) };
}

/** A BIT STRING's first 32 bits as a number, bit 0 the most significant (RFC 4120 §5.2.8 KerberosFlags). */
function flags(t: Tlv): number {
  if (t.tag !== T.bitString || t.value.length < 1) throw new KerberosFormatError('bad BIT STRING');
  const bits = Buffer.concat([t.value.subarray(1, 5), Buffer.alloc(4)]).subarray(0, 4);
  return bits.readUInt32BE(0);
}

const wrap = <V>(what: string, f: () => V): V => {
  try {
    return f();
  } catch (err) {
    if (err instanceof KerberosFormatError) throw new KerberosFormatError(`${what}: ${err.message}`);
    if (err instanceof DerError) throw new KerberosFormatError(`${what}: ${err.message}`);
    throw err;
  }
};

export function parseApReq(der: Buffer): ApReq {
  return wrap('AP-REQ', () => {
    const f = appFields(readOnly(der), 14);
    if (int(need(f, 0, 'pvno')) !== 5 || int(need(f, 1, 'msg-type')) !== 14) throw new KerberosFormatError('not a version 5 AP-REQ');
    const ticketApp = need(f, 3, 'ticket');
    const tf = appFields(ticketApp, 1);
    if (int(need(tf, 0, 'tkt-vno')) !== 5) throw new KerberosFormatError('not a version 5 ticket');
    return {
      apOptions: flags(need(f, 2, 'ap-options')),
      ticket: { realm: str(need(tf, 1, 'realm')), sname: principal(need(tf, 2, 'sname')), encPart: encryptedData(need(tf, 3, 'enc-part')) },
      authenticator: encryptedData(need(f, 4, 'authenticator')),
    };
  });
}

export function parseEncTicketPart(der: Buffer): EncTicketPart {
  return wrap('EncTicketPart', () => {
    const f = appFields(readTlv0(der), 3);
    const start = f.get(6);
    return {
      flags: flags(need(f, 0, 'flags')),
      key: encryptionKey(need(f, 1, 'key')),
      crealm: str(need(f, 2, 'crealm')),
      cname: principal(need(f, 3, 'cname')),
      authtime: time(need(f, 5, 'authtime')),
      ...(start ? { starttime: time(start) } : {}),
      endtime: time(need(f, 7, 'endtime')),
    };
  });
}

export function parseAuthenticator(der: Buffer): Authenticator {
  return wrap('Authenticator', () => {
    const f = appFields(readTlv0(der), 2);
    if (int(need(f, 0, 'authenticator-vno')) !== 5) throw new KerberosFormatError('not a version 5 authenticator');
    const ck = f.get(3);
    const sub = f.get(6);
    const seq = f.get(7);
    let checksum: Authenticator['checksum'];
    if (ck) {
      const cf = fields(ck);
      checksum = { type: int(need(cf, 0, 'cksumtype')), value: octets(need(cf, 1, 'checksum')) };
    }
    return {
      crealm: str(need(f, 1, 'crealm')),
      cname: principal(need(f, 2, 'cname')),
      ...(checksum ? { checksum } : {}),
      cusec: int(need(f, 4, 'cusec')),
      ctime: time(need(f, 5, 'ctime')),
      ...(sub ? { subkey: encryptionKey(sub) } : {}),
      ...(seq ? { seqNumber: int(seq) >>> 0 } : {}),
    };
  });
}

/**
 * Decrypted parts may carry padding after the DER element (encryption types pad to their block
 * in other profiles; AES-CTS does not, but MIT accepts it): read the first element only.
 */
function readTlv0(der: Buffer): Tlv {
  return readTlv(der, 0);
}

// ---- writing ----

const derInt = (n: number) => {
  let hex = (n >>> 0).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(T.integer, bytes);
};
const derTime = (d: Date) => tlv(T.generalizedTime, Buffer.from(`${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`, 'latin1'));
const ctx = (n: number, v: Buffer) => tlv(T.ctx(n), v);

export function encodeEncryptionKey(k: EncryptionKey): Buffer {
  return tlv(T.sequence, ctx(0, derInt(k.type)), ctx(1, tlv(T.octetString, k.value)));
}

/** EncAPRepPart (RFC 4120 §5.5.2): the authenticator's time back, and the acceptor's subkey and sequence number. */
export function encodeEncApRepPart(o: { ctime: Date; cusec: number; subkey?: EncryptionKey; seqNumber?: number }): Buffer {
  return tlv(T.app(27), tlv(T.sequence,
    ctx(0, derTime(o.ctime)), ctx(1, derInt(o.cusec)),
    ...(o.subkey ? [ctx(2, encodeEncryptionKey(o.subkey))] : []),
    ...(o.seqNumber !== undefined ? [ctx(3, derInt(o.seqNumber))] : [])));
}

export function encodeApRep(encPart: EncryptedData): Buffer {
  return tlv(T.app(15), tlv(T.sequence, ctx(0, derInt(5)), ctx(1, derInt(15)),
    ctx(2, tlv(T.sequence, ctx(0, derInt(encPart.etype)), ctx(2, tlv(T.octetString, encPart.cipher))))));
}

/** The Kerberos V5 GSS mechanism (RFC 1964 §1.1; Windows also offers it under 1.2.840.48018.1.2.2). */
const KRB5_OID_DER = Buffer.from('06092a864886f712010202', 'hex');
export const TOK_ID = { apReq: 0x0100, apRep: 0x0200, error: 0x0300 } as const;

/** RFC 4121 §4.1 / RFC 2743 §3.1: [APPLICATION 0] { mech OID, TOK_ID, the message }. */
export function gssFrame(tokId: number, message: Buffer): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(tokId);
  return tlv(T.app(0), KRB5_OID_DER, id, message);
}

/** A GSS-framed krb5 token: its TOK_ID and the message after it. */
export function gssUnframe(token: Buffer): { tokId: number; message: Buffer } {
  try {
    const outer = readOnly(token, T.app(0));
    const oid = outer.value.subarray(0, KRB5_OID_DER.length);
    if (!oid.equals(KRB5_OID_DER)) throw new KerberosFormatError('not a Kerberos V5 GSS token');
    const rest = outer.value.subarray(KRB5_OID_DER.length);
    if (rest.length < 3) throw new KerberosFormatError('a GSS token without its message');
    return { tokId: rest.readUInt16BE(0), message: rest.subarray(2) };
  } catch (err) {
    if (err instanceof DerError) throw new KerberosFormatError(`GSS token: ${err.message}`);
    throw err;
  }
}

/** Whether a Negotiate or Kerberos token is a bare krb5 GSS token (not SPNEGO): its mech OID follows the frame. */
export function isKrb5Token(token: Buffer): boolean {
  if (token[0] !== T.app(0)) return false;
  const lenBytes = token[1]! & 0x80 ? (token[1]! & 0x7f) : 0;
  return token.subarray(2 + lenBytes, 2 + lenBytes + KRB5_OID_DER.length).equals(KRB5_OID_DER);
}
