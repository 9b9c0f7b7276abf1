// The session-setup payloads (IPMI 2.0 §13.17–§13.24): Open Session request and response, RAKP
// messages 1 to 4, and the status codes the BMC answers them with.
import type { CipherSuite } from './cipher.js';
import { PacketError } from './packet.js';

/** RMCP+ and RAKP message status codes (§13.24, table 13-15). */
export const RMCPP_STATUS: Record<number, string> = {
  0x01: 'insufficient resources to create a session',
  0x02: 'invalid session id',
  0x03: 'invalid payload type',
  0x04: 'invalid authentication algorithm',
  0x05: 'invalid integrity algorithm',
  0x06: 'no matching authentication payload',
  0x07: 'no matching integrity payload',
  0x08: 'inactive session id',
  0x09: 'invalid role',
  0x0a: 'unauthorized role or privilege level requested',
  0x0b: 'insufficient resources to create a session at the requested role',
  0x0c: 'invalid name length',
  0x0d: 'unauthorized name',
  0x0e: 'unauthorized GUID',
  0x0f: 'invalid integrity check value',
  0x10: 'invalid confidentiality algorithm',
  0x11: 'no cipher suite match with proposed security algorithms',
  0x12: 'illegal or unrecognized parameter',
};

export const statusText = (s: number) => `RMCP+ status 0x${s.toString(16).padStart(2, '0')} (${RMCPP_STATUS[s] ?? 'unknown'})`;

/** Open Session request (§13.17): tag, requested maximum privilege, console session id, three algorithm records. */
export function openSessionRequest(tag: number, privilege: number, consoleId: number, suite: CipherSuite): Buffer {
  const p = Buffer.alloc(32);
  p[0] = tag;
  p[1] = privilege;
  p.writeUInt32LE(consoleId >>> 0, 4);
  [suite.authentication, suite.integrity, suite.confidentiality].forEach((algorithm, i) => {
    p[8 + i * 8] = i; // payload type: 0 authentication, 1 integrity, 2 confidentiality
    p[11 + i * 8] = 8; // payload length
    p[12 + i * 8] = algorithm;
  });
  return p;
}

export interface OpenSessionResponse {
  tag: number;
  status: number;
  consoleId: number;
  bmcId: number;
  /** The algorithms the BMC chose, when it did not refuse. */
  algorithms?: [number, number, number];
}

/** Open Session response (§13.18). A refusal may carry only the tag and status. */
export function parseOpenSessionResponse(p: Buffer): OpenSessionResponse {
  if (p.length < 2) throw new PacketError('Open Session response truncated');
  const r: OpenSessionResponse = { tag: p[0], status: p[1], consoleId: p.length >= 8 ? p.readUInt32LE(4) : 0, bmcId: 0 };
  if (r.status !== 0) return r;
  if (p.length < 36) throw new PacketError('Open Session response truncated');
  r.bmcId = p.readUInt32LE(8);
  r.algorithms = [p[16] & 0x3f, p[24] & 0x3f, p[32] & 0x3f];
  return r;
}

/** RAKP 1 (§13.20): tag, BMC session id, console random, role (privilege | 10h name-only lookup), user name. */
export function rakp1(tag: number, bmcId: number, consoleRandom: Buffer, role: number, user: Buffer): Buffer {
  const p = Buffer.alloc(28 + user.length);
  p[0] = tag;
  p.writeUInt32LE(bmcId >>> 0, 4);
  consoleRandom.copy(p, 8);
  p[24] = role;
  p[27] = user.length;
  user.copy(p, 28);
  return p;
}

export interface Rakp2 {
  tag: number;
  status: number;
  consoleId: number;
  bmcRandom: Buffer;
  bmcGuid: Buffer;
  code: Buffer;
}

/** RAKP 2 (§13.21): tag, status, console session id, BMC random, BMC GUID, key exchange authentication code. */
export function parseRakp2(p: Buffer): Rakp2 {
  if (p.length < 2) throw new PacketError('RAKP 2 truncated');
  if (p[1] !== 0) return { tag: p[0], status: p[1], consoleId: p.length >= 8 ? p.readUInt32LE(4) : 0, bmcRandom: Buffer.alloc(0), bmcGuid: Buffer.alloc(0), code: Buffer.alloc(0) };
  if (p.length < 40) throw new PacketError('RAKP 2 truncated');
  return { tag: p[0], status: 0, consoleId: p.readUInt32LE(4), bmcRandom: Buffer.from(p.subarray(8, 24)), bmcGuid: Buffer.from(p.subarray(24, 40)), code: Buffer.from(p.subarray(40)) };
}

/** RAKP 3 (§13.22): tag, status (non-zero tells the BMC to abandon the session), BMC session id, code. */
export function rakp3(tag: number, status: number, bmcId: number, code: Buffer): Buffer {
  const p = Buffer.alloc(8 + code.length);
  p[0] = tag;
  p[1] = status;
  p.writeUInt32LE(bmcId >>> 0, 4);
  code.copy(p, 8);
  return p;
}

export interface Rakp4 {
  tag: number;
  status: number;
  consoleId: number;
  icv: Buffer;
}

/** RAKP 4 (§13.23): tag, status, console session id, integrity check value. */
export function parseRakp4(p: Buffer): Rakp4 {
  if (p.length < 2) throw new PacketError('RAKP 4 truncated');
  if (p[1] !== 0) return { tag: p[0], status: p[1], consoleId: p.length >= 8 ? p.readUInt32LE(4) : 0, icv: Buffer.alloc(0) };
  if (p.length < 8) throw new PacketError('RAKP 4 truncated');
  return { tag: p[0], status: 0, consoleId: p.readUInt32LE(4), icv: Buffer.from(p.subarray(8)) };
}
