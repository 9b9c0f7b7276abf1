// Accepting a Kerberos AP-REQ (RFC 4120 §3.2.3, RFC 4121 §4.1): the ticket opened with the
// service's key from the keytab, its times checked, the authenticator opened with the ticket's
// session key and checked against it, the clock and the replay cache; then the AP-REP with a
// fresh acceptor subkey, which both sides use for the per-message tokens (RFC 4121 §2).
import { randomBytes, randomInt } from 'node:crypto';
import { decrypt, encrypt, ENCTYPE, ENCTYPE_NAMES, KerberosCryptoError, keyLength } from './crypto.js';
import type { KeytabEntry } from './keytab.js';
import { encodeApRep, encodeEncApRepPart, gssFrame, gssUnframe, KerberosFormatError, parseApReq, parseAuthenticator, parseEncTicketPart, TOK_ID, type EncryptionKey } from './messages.js';

/** Key usage numbers (RFC 4120 §7.5.1). */
const USAGE = { ticket: 2, authenticator: 11, apRep: 12 } as const;
/** RFC 4121 §4.1.1: the authenticator checksum type of the GSS-API mechanism, and its flags. */
const GSS_CHECKSUM = 0x8003;
export const GSS_FLAG = { delegate: 1, mutual: 2, replay: 4, sequence: 8, conf: 16, integ: 32, dce: 0x1000 } as const;
/** APOptions bit 2, mutual-required (RFC 4120 §5.5.1), as the first 32 bits read big-endian. */
const MUTUAL_REQUIRED = 0x20000000;

export class KerberosRefused extends Error {
  constructor(reason: string, readonly client?: string) {
    super(reason);
  }
}

export interface AcceptorOptions {
  keys: KeytabEntry[];
  /** The service principals accepted (`HTTP/host.example.com`); empty: every one the keytab holds. */
  principals?: string[];
  /** The encryption types accepted (RFC 3962's AES by default). */
  enctypes?: number[];
  maxSkewMs: number;
  now?: () => number;
}

export interface Accepted {
  /** `alice`, `WS01$`, `HTTP/host` (components joined by /). */
  client: string;
  realm: string;
  /** What the mechListMIC and per-message tokens use: the acceptor subkey. */
  key: EncryptionKey;
  initiatorSeq: number;
  acceptorSeq: number;
  gssFlags: number;
  /** MD5 of the client's channel bindings (all zero when it sent none). */
  bindings: Buffer;
  /** The GSS-framed AP-REP (mutual authentication), when the client asked for it. */
  apRep?: Buffer;
}

const hostLess = (s: string) => s.toLowerCase();

export class KerberosAcceptor {
  /** Authenticators seen within the skew window: (client, ctime, cusec) accepted once. */
  private readonly seen = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly o: AcceptorOptions) {
    this.now = o.now ?? Date.now;
  }

  accept(token: Buffer): Accepted {
    let framed: { tokId: number; message: Buffer };
    try {
      framed = gssUnframe(token);
      if (framed.tokId !== TOK_ID.apReq) throw new KerberosRefused(`a Kerberos token that is not an AP-REQ (TOK_ID ${framed.tokId.toString(16)})`);
      return this.acceptApReq(framed.message);
    } catch (err) {
      if (err instanceof KerberosFormatError) throw new KerberosRefused(`malformed Kerberos token: ${err.message}`);
      throw err;
    }
  }

  private acceptApReq(der: Buffer): Accepted {
    const req = parseApReq(der);
    const { ticket } = req;
    const service = ticket.sname.names.join('/');
    const allowed = this.o.enctypes ?? [ENCTYPE.aes256, ENCTYPE.aes128];
    const etype = ticket.encPart.etype;
    if (!allowed.includes(etype)) throw new KerberosRefused(`a ticket in ${ENCTYPE_NAMES[etype] ?? `encryption type ${etype}`}, which the configuration does not accept`);
    if (this.o.principals?.length && !this.o.principals.some((p) => hostLess(p) === hostLess(service))) {
      throw new KerberosRefused(`a ticket for ${service}@${ticket.realm}, a service principal winrmd does not answer for`);
    }
    // The key of that principal, realm and type; of the ticket's key version when it names one.
    const candidates = this.o.keys.filter((k) => hostLess(k.principal) === hostLess(service) && k.realm === ticket.realm && k.enctype === etype);
    const key = candidates.find((k) => ticket.encPart.kvno === undefined || k.kvno === ticket.encPart.kvno) ?? undefined;
    if (!key) {
      throw new KerberosRefused(candidates.length
        ? `a ticket for ${service}@${ticket.realm} with key version ${ticket.encPart.kvno}, which the keytab does not hold (it has ${candidates.map((c) => c.kvno).join(', ')})`
        : `a ticket for ${service}@${ticket.realm}, for which the keytab holds no ${ENCTYPE_NAMES[etype]} key`);
    }
    let encTicket;
    try {
      encTicket = parseEncTicketPart(decrypt(key.key, USAGE.ticket, ticket.encPart.cipher));
    } catch (err) {
      if (err instanceof KerberosCryptoError) throw new KerberosRefused(`the ticket does not open with the keytab's key for ${service}: ${err.message}`);
      throw err;
    }
    const client = encTicket.cname.names.join('/');
    const now = this.now();
    const skew = this.o.maxSkewMs;
    if (now > encTicket.endtime.getTime() + skew) throw new KerberosRefused(`an expired ticket (it ended ${encTicket.endtime.toISOString()})`, client);
    if (now < (encTicket.starttime ?? encTicket.authtime).getTime() - skew) throw new KerberosRefused('a ticket that is not valid yet', client);
    if (!allowed.includes(encTicket.key.type)) throw new KerberosRefused(`a session key in ${ENCTYPE_NAMES[encTicket.key.type] ?? encTicket.key.type}, which the configuration does not accept`, client);

    let auth;
    try {
      auth = parseAuthenticator(decrypt(encTicket.key.value, USAGE.authenticator, req.authenticator.cipher));
    } catch (err) {
      if (err instanceof KerberosCryptoError) throw new KerberosRefused(`the authenticator does not open with the ticket's session key: ${err.message}`, client);
      throw err;
    }
    if (auth.crealm !== encTicket.crealm || auth.cname.names.join('/') !== client) throw new KerberosRefused('an authenticator for another client than the ticket', client);
    const ctime = auth.ctime.getTime() + Math.floor(auth.cusec / 1000);
    if (Math.abs(now - ctime) > skew) throw new KerberosRefused(`clock skew of ${Math.round(Math.abs(now - ctime) / 1000)} s, beyond the ${skew / 1000} s allowed`, client);
    this.forgetOld(now);
    const replayKey = `${client}@${auth.crealm}|${auth.ctime.getTime()}|${auth.cusec}`;
    if (this.seen.has(replayKey)) throw new KerberosRefused('a replayed authenticator', client);
    this.seen.set(replayKey, now);

    // RFC 4121 §4.1.1: the GSS checksum carries the channel bindings' MD5 and the context flags.
    const ck = auth.checksum;
    if (!ck || ck.type !== GSS_CHECKSUM || ck.value.length < 24 || ck.value.readUInt32LE(0) !== 16) throw new KerberosRefused('an authenticator without the GSS-API checksum', client);
    const bindings = Buffer.from(ck.value.subarray(4, 20));
    const gssFlags = ck.value.readUInt32LE(20);

    // A fresh acceptor subkey of the client's subkey type (else the session key's), and our sequence number.
    const subType = auth.subkey?.type ?? encTicket.key.type;
    const acceptorKey: EncryptionKey = { type: subType, value: randomBytes(keyLength(subType)) };
    const acceptorSeq = randomInt(0, 0x3fffffff);
    const mutual = Boolean(req.apOptions & MUTUAL_REQUIRED) || Boolean(gssFlags & GSS_FLAG.mutual);
    const apRep = mutual
      ? gssFrame(TOK_ID.apRep, encodeApRep({ etype: encTicket.key.type, cipher: encrypt(encTicket.key.value, USAGE.apRep, encodeEncApRepPart({ ctime: auth.ctime, cusec: auth.cusec, subkey: acceptorKey, seqNumber: acceptorSeq })) }))
      : undefined;
    return {
      client, realm: encTicket.crealm, key: mutual ? acceptorKey : auth.subkey ?? encTicket.key,
      initiatorSeq: auth.seqNumber ?? 0, acceptorSeq: mutual ? acceptorSeq : auth.seqNumber ?? 0, gssFlags, bindings, ...(apRep ? { apRep } : {}),
    };
  }

  private forgetOld(now: number): void {
    for (const [k, at] of this.seen) {
      if (now - at <= 2 * this.o.maxSkewMs && this.seen.size <= 100_000) break;
      this.seen.delete(k);
    }
  }
}
