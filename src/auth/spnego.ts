// SPNEGO's tokens on the wire (RFC 4178 §4.2, RFC 2743 §3.1): the client's first token is a
// NegTokenInit inside the GSS-API InitialContextToken framing; every later token either way is a
// bare NegTokenResp. Parsing refuses anything that is not well-formed DER (SpnegoFormatError).
import { children, decodeOid, DerError, encodeOid, readOnly, TAG, tlv, type Tlv } from './der.js';

/** Mechanism OIDs. */
export const MECH = {
  spnego: '1.3.6.1.5.5.2',
  ntlm: '1.3.6.1.4.1.311.2.2.10',
  kerberos: '1.2.840.113554.1.2.2',
  /** What Windows offers first: Kerberos under Microsoft's old, truncated OID (MS-SPNG 3.1.5.1). */
  msKerberos: '1.2.840.48018.1.2.2',
} as const;

/** negState (RFC 4178 §4.2.2). */
export const NEG_STATE = { acceptCompleted: 0, acceptIncomplete: 1, reject: 2, requestMic: 3 } as const;

export class SpnegoFormatError extends Error {}

export interface NegTokenInit {
  mechTypes: string[];
  /** The MechTypeList's DER as the client sent it: what both mechListMICs cover (RFC 4178 §5). */
  mechTypesDer: Buffer;
  mechToken?: Buffer;
  mechListMIC?: Buffer;
}

export interface NegTokenResp {
  negState?: number;
  supportedMech?: string;
  responseToken?: Buffer;
  mechListMIC?: Buffer;
}

export type NegotiationToken = { init: NegTokenInit } | { resp: NegTokenResp };

/** Whether a Negotiate token is SPNEGO at all: InitialContextToken or NegTokenResp. */
export const isSpnego = (token: Buffer) => token[0] === TAG.application0 || token[0] === TAG.context(1);

/** The [n] fields of a SEQUENCE, in ascending order, each at most once; later extensions are skipped. */
function fields(seq: Buffer, known: number): Map<number, Tlv> {
  const out = new Map<number, Tlv>();
  let last = -1;
  for (const child of children(seq)) {
    const n = child.tag - TAG.context(0);
    if (n < 0 || n > 30 || n <= last) throw new SpnegoFormatError('fields out of order or not context-tagged');
    last = n;
    if (n < known) out.set(n, readOnly(child.value));
  }
  return out;
}

function octets(f: Map<number, Tlv>, n: number): Buffer | undefined {
  const t = f.get(n);
  if (t && t.tag !== TAG.octetString) throw new SpnegoFormatError(`field [${n}] is not an OCTET STRING`);
  return t?.value;
}

function oid(t: Tlv): string {
  if (t.tag !== TAG.oid) throw new SpnegoFormatError('expected an OBJECT IDENTIFIER');
  return decodeOid(t.value);
}

export function parseNegotiationToken(token: Buffer): NegotiationToken {
  try {
    if (token[0] === TAG.application0) {
      // RFC 2743 §3.1: [APPLICATION 0] { thisMech OID, innerContextToken }; RFC 4178 §4.2: thisMech is SPNEGO's.
      const [mech, inner, ...rest] = children(readOnly(token, TAG.application0).value);
      if (!mech || !inner || rest.length || oid(mech) !== MECH.spnego) throw new SpnegoFormatError('not an SPNEGO InitialContextToken');
      if (inner.tag !== TAG.context(0)) throw new SpnegoFormatError('the initial token is not a NegTokenInit');
      const f = fields(readOnly(inner.value, TAG.sequence).value, 4);
      const list = f.get(0);
      if (!list || list.tag !== TAG.sequence) throw new SpnegoFormatError('NegTokenInit without mechTypes');
      const mechTypes = children(list.value).map(oid);
      if (mechTypes.length === 0) throw new SpnegoFormatError('NegTokenInit with an empty mechTypes');
      return { init: { mechTypes, mechTypesDer: list.raw, mechToken: octets(f, 2), mechListMIC: octets(f, 3) } };
    }
    const f = fields(readOnly(readOnly(token, TAG.context(1)).value, TAG.sequence).value, 4);
    const state = f.get(0);
    if (state && (state.tag !== TAG.enumerated || state.value.length !== 1)) throw new SpnegoFormatError('bad negState');
    const mech = f.get(1);
    return { resp: { negState: state?.value[0], supportedMech: mech && oid(mech), responseToken: octets(f, 2), mechListMIC: octets(f, 3) } };
  } catch (err) {
    if (err instanceof DerError) throw new SpnegoFormatError(err.message);
    throw err;
  }
}

const field = (n: number, content: Buffer | undefined) => (content ? [tlv(TAG.context(n), content)] : []);

export function encodeNegTokenResp(r: NegTokenResp): Buffer {
  return tlv(TAG.context(1), tlv(TAG.sequence,
    ...field(0, r.negState === undefined ? undefined : tlv(TAG.enumerated, Buffer.from([r.negState]))),
    ...field(1, r.supportedMech ? tlv(TAG.oid, encodeOid(r.supportedMech)) : undefined),
    ...field(2, r.responseToken && tlv(TAG.octetString, r.responseToken)),
    ...field(3, r.mechListMIC && tlv(TAG.octetString, r.mechListMIC)),
  ));
}

/** The MechTypeList's DER (RFC 4178 §4.1). */
export const encodeMechTypes = (mechs: string[]) => tlv(TAG.sequence, ...mechs.map((m) => tlv(TAG.oid, encodeOid(m))));

/** The initiator's first token; winrmd never sends one, its tests do. */
export function encodeNegTokenInit(i: { mechTypes: string[]; mechToken?: Buffer; mechListMIC?: Buffer }): Buffer {
  const init = tlv(TAG.sequence, ...field(0, encodeMechTypes(i.mechTypes)), ...field(2, i.mechToken && tlv(TAG.octetString, i.mechToken)), ...field(3, i.mechListMIC && tlv(TAG.octetString, i.mechListMIC)));
  return tlv(TAG.application0, tlv(TAG.oid, encodeOid(MECH.spnego)), tlv(TAG.context(0), init));
}
