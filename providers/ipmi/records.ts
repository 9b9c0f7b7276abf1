// What the SDR repository and the SEL share: one IPMI command with its completion code checked,
// reservations (IPMI 2.0 §31.4, §33.11), and partial reads of one record. Get SDR (§33.12) and Get
// SEL Entry (§31.5) have the same request (reservation id, record id, offset, byte count) and the
// same response (next record id, then the bytes), so one reader serves both.

import { completionCodeText, IpmiError, type IpmiRequest, type IpmiResponse } from './transport.js';

/** The transport's request, already bound to a session. */
export type IpmiSend = (req: IpmiRequest) => Promise<IpmiResponse>;

export const NETFN_SENSOR = 0x04;
export const NETFN_STORAGE = 0x0a;

export const CC_RESERVATION_CANCELLED = 0xc5;
export const CC_CANNOT_RETURN_BYTES = 0xca;
export const CC_INVALID_COMMAND = 0xc1;

/** The last record id of a store: "no next record" (§31.5, §33.12). */
export const LAST_RECORD_ID = 0xffff;

/** A command answered with a non-zero completion code. */
export class IpmiCommandError extends Error {
  constructor(readonly command: string, readonly cc: number) {
    super(`${command}: ${completionCodeText(cc)}`);
    this.name = 'IpmiCommandError';
  }
}

/** Sends a command and returns its data; a non-zero completion code throws an IpmiCommandError. */
export async function command(send: IpmiSend, name: string, req: IpmiRequest, minLength = 0): Promise<Buffer> {
  const res = await send(req);
  if (res.cc !== 0) throw new IpmiCommandError(name, res.cc);
  if (res.data.length < minLength) throw new IpmiError('protocol', `${name}: response too short (${res.data.length} bytes)`);
  return res.data;
}

/** The operation support byte of Get SEL Info and Get SDR Repository Info (§31.2, §33.9 byte 14). */
export interface StoreSupport {
  overflow: boolean;
  supportsDelete: boolean;
  supportsPartialAdd: boolean;
  supportsReserve: boolean;
  supportsAllocationInfo: boolean;
}

export function storeSupport(ops: number): StoreSupport {
  return {
    overflow: (ops & 0x80) !== 0,
    supportsDelete: (ops & 0x08) !== 0,
    supportsPartialAdd: (ops & 0x04) !== 0,
    supportsReserve: (ops & 0x02) !== 0,
    supportsAllocationInfo: (ops & 0x01) !== 0,
  };
}

export function u16(n: number): [number, number] {
  return [n & 0xff, (n >> 8) & 0xff];
}

/** How one store (the SDR repository or the SEL) is reserved and read. */
export interface StoreCommands {
  reserve: { cmd: number; name: string };
  get: { cmd: number; name: string };
}

/**
 * Reserve SDR Repository (§33.11) or Reserve SEL (§31.4): the reservation id. A BMC that does not
 * implement reservations (invalid command) gets 0000h, which full reads accept.
 */
export async function reserve(send: IpmiSend, store: StoreCommands): Promise<number> {
  const res = await send({ netFn: NETFN_STORAGE, cmd: store.reserve.cmd });
  if (res.cc === CC_INVALID_COMMAND) return 0;
  if (res.cc !== 0) throw new IpmiCommandError(store.reserve.name, res.cc);
  if (res.data.length < 2) throw new IpmiError('protocol', `${store.reserve.name}: response too short`);
  return res.data.readUInt16LE(0);
}

/** One Get SDR / Get SEL Entry answer: the completion code, the next record id and the bytes read. */
export interface PartialRead {
  cc: number;
  next: number;
  bytes: Buffer;
}

/** One Get SDR / Get SEL Entry request for `count` bytes at `offset` (FFh = the whole record). */
export async function getPart(
  send: IpmiSend,
  store: StoreCommands,
  reservation: number,
  recordId: number,
  offset: number,
  count: number,
): Promise<PartialRead> {
  const data = Uint8Array.from([...u16(reservation), ...u16(recordId), offset, count]);
  const res = await send({ netFn: NETFN_STORAGE, cmd: store.get.cmd, data });
  if (res.cc !== 0) return { cc: res.cc, next: LAST_RECORD_ID, bytes: Buffer.alloc(0) };
  if (res.data.length < 2) throw new IpmiError('protocol', `${store.get.name}: response too short`);
  const bytes = res.data.subarray(2);
  return { cc: 0, next: res.data.readUInt16LE(0), bytes: count === 0xff ? bytes : bytes.subarray(0, count) };
}

/** The state of a walk that may ask for smaller reads or a new reservation as it goes. */
export interface ReadState {
  reservation: number;
  /** The most bytes one partial read may ask for; lowered on completion code CAh. */
  chunk: number;
  /** Requests sent so far; bounded by maxRequests. */
  requests: number;
  maxRequests: number;
  signal?: AbortSignal;
}

/** Thrown by readBytes when the reservation was cancelled (C5h): reserve again and restart the record. */
export class ReservationLost extends Error {}

/**
 * Reads `length` bytes of one record from `offset` in partial reads of at most `state.chunk` bytes,
 * halving the chunk on CAh ("cannot return the number of requested bytes"). Returns the bytes and
 * the next record id given with the first read.
 */
export async function readBytes(
  send: IpmiSend,
  store: StoreCommands,
  state: ReadState,
  recordId: number,
  offset: number,
  length: number,
): Promise<{ next: number; bytes: Buffer }> {
  const parts: Buffer[] = [];
  let next: number | undefined;
  for (let done = 0; done < length; ) {
    state.signal?.throwIfAborted();
    if (++state.requests > state.maxRequests) throw new Error(`${store.get.name}: more than ${state.maxRequests} requests; giving up`);
    const want = Math.min(state.chunk, length - done);
    const part = await getPart(send, store, state.reservation, recordId, offset + done, want);
    if (part.cc === CC_CANNOT_RETURN_BYTES && state.chunk > 1) {
      state.chunk = Math.max(1, Math.min(state.chunk, want) >> 1);
      continue;
    }
    if (part.cc === CC_RESERVATION_CANCELLED) throw new ReservationLost();
    if (part.cc !== 0) throw new IpmiCommandError(store.get.name, part.cc);
    if (part.bytes.length === 0) throw new IpmiError('protocol', `${store.get.name}: record 0x${hex4(recordId)} returned no data`);
    next ??= part.next;
    parts.push(part.bytes);
    done += part.bytes.length;
  }
  return { next: next ?? LAST_RECORD_ID, bytes: Buffer.concat(parts) };
}

export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
