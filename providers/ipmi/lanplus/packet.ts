// Framing (IPMI 2.0 §13.1–§13.8): the RMCP header, the IPMI 1.5 session header used before a
// session exists, the RMCP+ session header and trailer, and the IPMI message inside. Decoding is
// bounds-checked throughout: every length comes from the network.
import { timingSafeEqual } from 'node:crypto';
import { type CipherSuite, integrityCode } from './cipher.js';

/** RMCP version 1.0, reserved, sequence FFh (no RMCP ACK), class 07h IPMI (§13.1). */
export const RMCP_HEADER = Buffer.from([0x06, 0x00, 0xff, 0x07]);

const AUTH_TYPE_NONE = 0x00;
const AUTH_TYPE_RMCPP = 0x06;
const ENCRYPTED = 0x80;
const AUTHENTICATED = 0x40;
const NEXT_HEADER = 0x07;

/** Payload types (§13.27). */
export const PAYLOAD = {
  IPMI: 0x00,
  OPEN_SESSION_REQUEST: 0x10,
  OPEN_SESSION_RESPONSE: 0x11,
  RAKP1: 0x12,
  RAKP2: 0x13,
  RAKP3: 0x14,
  RAKP4: 0x15,
} as const;

/** The BMC's responder address and the remote console's software ID (§13.8). */
const BMC_ADDRESS = 0x20;
const CONSOLE_ADDRESS = 0x81;

export class PacketError extends Error {}

/** The IPMB 2's-complement checksum (§13.8): the covered bytes plus it sum to 0 mod 256. */
export const checksum = (bytes: Uint8Array) => -bytes.reduce((sum, b) => sum + b, 0) & 0xff;

export interface RequestMessage {
  netFn: number;
  cmd: number;
  data?: Uint8Array;
  lun?: number;
}

/** An IPMI request message (§13.8): rsAddr, netFn/rsLUN, checksum, rqAddr, rqSeq/rqLUN, cmd, data, checksum. */
export function encodeRequest(req: RequestMessage, rqSeq: number): Buffer {
  const data = req.data ?? new Uint8Array(0);
  const m = Buffer.alloc(7 + data.length);
  m[0] = BMC_ADDRESS;
  m[1] = ((req.netFn & 0x3f) << 2) | ((req.lun ?? 0) & 0x03);
  m[2] = checksum(m.subarray(0, 2));
  m[3] = CONSOLE_ADDRESS;
  m[4] = (rqSeq & 0x3f) << 2;
  m[5] = req.cmd & 0xff;
  m.set(data, 6);
  m[m.length - 1] = checksum(m.subarray(3, m.length - 1));
  return m;
}

export interface ResponseMessage {
  netFn: number;
  cmd: number;
  rqSeq: number;
  cc: number;
  data: Buffer;
}

/** The response to encodeRequest(), both checksums verified. */
export function decodeResponse(m: Buffer): ResponseMessage {
  if (m.length < 8) throw new PacketError('IPMI response message too short');
  if (checksum(m.subarray(0, 2)) !== m[2]) throw new PacketError('IPMI response header checksum does not verify');
  if (checksum(m.subarray(3, m.length - 1)) !== m[m.length - 1]) throw new PacketError('IPMI response data checksum does not verify');
  if (m[0] !== CONSOLE_ADDRESS || m[3] !== BMC_ADDRESS) throw new PacketError('IPMI response is not addressed from the BMC to us');
  return { netFn: m[1] >> 2, rqSeq: m[4] >> 2, cmd: m[5], cc: m[6], data: Buffer.from(m.subarray(7, m.length - 1)) };
}

/** A message outside any session in IPMI 1.5 framing (§13.6, table 13-8): auth type NONE, sequence and session id 0. */
export function encodeSessionless(message: Buffer): Buffer {
  const header = Buffer.alloc(10);
  header[9] = message.length;
  return Buffer.concat([RMCP_HEADER, header, message]);
}

export interface RmcppOut {
  payloadType: number;
  sessionId: number;
  sequence: number;
  payload: Buffer;
  encrypted?: boolean;
  /** Present inside a session: the packet gets the integrity trailer keyed by K1. */
  integrity?: { suite: CipherSuite; k1: Buffer };
}

/** An RMCP+ packet (§13.6, table 13-8), with the integrity trailer when authenticated. */
export function encodeRmcpp(p: RmcppOut): Buffer {
  const header = Buffer.alloc(12);
  header[0] = AUTH_TYPE_RMCPP;
  header[1] = (p.payloadType & 0x3f) | (p.encrypted ? ENCRYPTED : 0) | (p.integrity ? AUTHENTICATED : 0);
  header.writeUInt32LE(p.sessionId >>> 0, 2);
  header.writeUInt32LE(p.sequence >>> 0, 6);
  header.writeUInt16LE(p.payload.length, 10);
  let body = Buffer.concat([header, p.payload]);
  if (p.integrity) {
    // Integrity pad: FFh bytes so that auth type through next header is a multiple of 4.
    const padLength = (4 - ((body.length + 2) % 4)) % 4;
    body = Buffer.concat([body, Buffer.alloc(padLength, 0xff), Buffer.from([padLength, NEXT_HEADER])]);
    body = Buffer.concat([body, integrityCode(p.integrity.suite, p.integrity.k1, body)]);
  }
  return Buffer.concat([RMCP_HEADER, body]);
}

export interface RmcppIn {
  format: 'rmcpp';
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  sequence: number;
  payload: Buffer;
  /** Auth type through the end of the datagram: what the integrity code covers, and the code. */
  body: Buffer;
  /** Where the payload ends inside body. */
  payloadEnd: number;
}

export interface SessionlessIn {
  format: 'ipmi15';
  sessionId: number;
  sequence: number;
  message: Buffer;
}

/** Either framing a BMC may answer in; anything else (RMCP ACKs, ASF, OEM payloads) is a PacketError. */
export function decodePacket(d: Buffer): RmcppIn | SessionlessIn {
  if (d.length < 5 || d[0] !== 0x06 || d[2] !== 0xff || d[3] !== 0x07) throw new PacketError('not an RMCP IPMI packet');
  const authType = d[4] & 0x0f;
  if (authType === AUTH_TYPE_RMCPP) {
    if (d.length < 16) throw new PacketError('RMCP+ session header truncated');
    const payloadType = d[5] & 0x3f;
    if (payloadType === 0x02) throw new PacketError('OEM payloads are not spoken');
    const length = d.readUInt16LE(14);
    if (16 + length > d.length) throw new PacketError('RMCP+ payload length exceeds the packet');
    return {
      format: 'rmcpp',
      payloadType,
      encrypted: Boolean(d[5] & ENCRYPTED),
      authenticated: Boolean(d[5] & AUTHENTICATED),
      sessionId: d.readUInt32LE(6),
      sequence: d.readUInt32LE(10),
      payload: d.subarray(16, 16 + length),
      body: d.subarray(4),
      payloadEnd: 12 + length,
    };
  }
  // IPMI 1.5: auth type, sequence, session id, a 16-byte auth code unless NONE, length, message.
  const at = authType === AUTH_TYPE_NONE ? 13 : 29;
  if (d.length < at + 1 || d.length < at + 1 + d[at]) throw new PacketError('IPMI 1.5 packet truncated');
  return { format: 'ipmi15', sequence: d.readUInt32LE(5), sessionId: d.readUInt32LE(9), message: d.subarray(at + 1, at + 1 + d[at]) };
}

/** Checks the integrity trailer of an authenticated packet (§13.28.4): pad, pad length, next header, code. */
export function verifyIntegrity(p: RmcppIn, suite: CipherSuite, k1: Buffer): boolean {
  const codeAt = p.body.length - suite.icvLength;
  if (codeAt < p.payloadEnd + 2) return false;
  const padLength = p.body[codeAt - 2];
  if (p.body[codeAt - 1] !== NEXT_HEADER || codeAt - 2 - padLength !== p.payloadEnd || padLength > 3) return false;
  for (let i = p.payloadEnd; i < codeAt - 2; i++) if (p.body[i] !== 0xff) return false;
  return timingSafeEqual(integrityCode(suite, k1, p.body.subarray(0, codeAt)), p.body.subarray(codeAt));
}
