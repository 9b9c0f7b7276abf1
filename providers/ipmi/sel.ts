// The System Event Log (IPMI 2.0 §31) and its record format (§32). Records are 16 bytes; decoding
// is bounds-checked and never throws on short input.

import { setTimeout as sleep } from 'node:timers/promises';
import {
  CC_CANNOT_RETURN_BYTES,
  CC_RESERVATION_CANCELLED,
  command,
  getPart,
  IpmiCommandError,
  LAST_RECORD_ID,
  NETFN_STORAGE,
  readBytes,
  reserve,
  ReservationLost,
  storeSupport,
  u16,
  type IpmiSend,
  type ReadState,
  type StoreCommands,
  type StoreSupport,
} from './records.js';
import type { FullSensorRecord } from './sdr.js';
import { convertReading, unitText } from './sensor.js';
import { eventText, sensorTypeName } from './tables.js';
import { IpmiError } from './transport.js';

export const SEL_RECORD_LENGTH = 16;

const SEL: StoreCommands = {
  reserve: { cmd: 0x42, name: 'Reserve SEL' },
  get: { cmd: 0x43, name: 'Get SEL Entry' },
};

// ---- Timestamps (§37) -------------------------------------------------------------------------

/** Timestamps up to 20000000h count seconds since the SEL device initialised, not since 1970 (§37). */
export const PRE_INIT_LIMIT = 0x20000000;
/** FFFFFFFFh: no timestamp (§37). */
export const UNSPECIFIED_TIME = 0xffffffff;

export interface IpmiTime {
  /** The raw value: seconds since 1970 UTC, or since initialisation when preInit. */
  seconds: number;
  /** Null when pre-init or unspecified. */
  timestamp: Date | null;
  /** Seconds since the BMC initialised, not a date (ipmitool prints "Pre-Init"). */
  preInit: boolean;
}

export function ipmiTime(seconds: number): IpmiTime {
  const preInit = seconds <= PRE_INIT_LIMIT;
  const dated = !preInit && seconds !== UNSPECIFIED_TIME;
  return { seconds, timestamp: dated ? new Date(seconds * 1000) : null, preInit };
}

// ---- Get SEL Info (§31.2) ---------------------------------------------------------------------

export interface SelInfo extends StoreSupport {
  /** SEL version, BCD least significant digit first: 51h = 1.5. */
  version: number;
  entries: number;
  /** Free bytes; FFFFh means 65535 or more. */
  freeSpace: number;
  /** Raw §37 timestamps; see ipmiTime. */
  lastAddTime: number;
  lastEraseTime: number;
  /** Changes whenever the SEL does; compare for equality only. */
  changeStamp: string;
}

export function parseSelInfo(data: Buffer): SelInfo | undefined {
  if (data.length < 14) return undefined;
  const info = {
    version: data[0],
    entries: data.readUInt16LE(1),
    freeSpace: data.readUInt16LE(3),
    lastAddTime: data.readUInt32LE(5),
    lastEraseTime: data.readUInt32LE(9),
    ...storeSupport(data[13]),
  };
  return { ...info, changeStamp: `${info.lastAddTime}:${info.lastEraseTime}:${info.entries}` };
}

export async function readSelInfo(send: IpmiSend): Promise<SelInfo> {
  return parseSelInfo(await command(send, 'Get SEL Info', { netFn: NETFN_STORAGE, cmd: 0x40 }, 14))!;
}

// ---- Records (§32) ----------------------------------------------------------------------------

interface SelBase {
  recordId: number;
  recordType: number;
  /** The 16 bytes as read. */
  raw: Buffer;
}

/** A system event record (type 02h, and any other type below C0h, as ipmitool reads them) (§32.1). */
export interface SelEventRecord extends SelBase, IpmiTime {
  kind: 'event';
  /** Bytes 8–9 as a little-endian word: 0020h for the BMC. */
  generatorId: number;
  /** Byte 8: the IPMB slave address (bit 0 clear) or system software id (bit 0 set). */
  generatorAddress: number;
  generatorIsSoftware: boolean;
  generatorChannel: number;
  generatorLun: number;
  evmRev: number;
  sensorType: number;
  sensorNumber: number;
  /** Byte 13 bit 7 clear: an assertion; set: a deassertion. */
  assertion: boolean;
  /** Event/reading type code (§42.1): 01h threshold, 02h–0Ch generic, 6Fh sensor-specific. */
  eventType: number;
  eventData: [number, number, number];
  /** Event data 1 [3:0]: the event offset. */
  offset: number;
  /** "Upper Non-critical going high", "Presence detected", … */
  description: string;
  /** Threshold events whose event data 1 [7:6] = 01b: the raw trigger reading (event data 2). */
  triggerReading?: number;
  /** Threshold events whose event data 1 [5:4] = 01b: the raw trigger threshold (event data 3). */
  triggerThreshold?: number;
}

/** OEM timestamped record, types C0h–DFh (§32.2): timestamp, manufacturer id, 6 OEM bytes. */
export interface SelOemTimestampedRecord extends SelBase, IpmiTime {
  kind: 'oem-timestamped';
  manufacturerId: number;
  oemData: Buffer;
}

/** OEM non-timestamped record, types E0h–FFh (§32.3): 13 OEM bytes. */
export interface SelOemRecord extends SelBase {
  kind: 'oem';
  oemData: Buffer;
}

/** Fewer than 16 bytes. */
export interface SelInvalidRecord {
  kind: 'invalid';
  recordId?: number;
  raw: Buffer;
  reason: string;
}

export type SelRecord = SelEventRecord | SelOemTimestampedRecord | SelOemRecord | SelInvalidRecord;

/** Decodes one 16-byte SEL record (§32). */
export function decodeSelRecord(raw: Buffer): SelRecord {
  if (raw.length < SEL_RECORD_LENGTH) {
    const recordId = raw.length >= 2 ? raw.readUInt16LE(0) : undefined;
    return { kind: 'invalid', ...(recordId === undefined ? {} : { recordId }), raw, reason: `${raw.length} of 16 bytes` };
  }
  const rec = raw.subarray(0, SEL_RECORD_LENGTH);
  const base = { recordId: rec.readUInt16LE(0), recordType: rec[2], raw: rec };
  if (base.recordType >= 0xe0) return { kind: 'oem', ...base, oemData: rec.subarray(3) };
  const time = ipmiTime(rec.readUInt32LE(3));
  if (base.recordType >= 0xc0) {
    return { kind: 'oem-timestamped', ...base, ...time, manufacturerId: rec.readUIntLE(7, 3), oemData: rec.subarray(10) };
  }
  return decodeEvent(rec, base, time);
}

/** §32.1 bytes 8–16 (0-based 7–15). */
function decodeEvent(rec: Buffer, base: SelBase, time: IpmiTime): SelEventRecord {
  const eventType = rec[12] & 0x7f;
  const eventData: [number, number, number] = [rec[13], rec[14], rec[15]];
  const offset = eventData[0] & 0x0f;
  const event: SelEventRecord = {
    kind: 'event',
    ...base,
    ...time,
    generatorId: rec.readUInt16LE(7),
    generatorAddress: rec[7],
    generatorIsSoftware: (rec[7] & 0x01) !== 0,
    generatorChannel: rec[8] >> 4,
    generatorLun: rec[8] & 0x03,
    evmRev: rec[9],
    sensorType: rec[10],
    sensorNumber: rec[11],
    assertion: (rec[12] & 0x80) === 0,
    eventType,
    eventData,
    offset,
    description: eventDescription(eventType, rec[10], offset),
  };
  // §29.7 table 29-6: threshold event data 1 [7:6] and [5:4] say what data 2 and 3 hold.
  if (eventType === 0x01 && eventData[0] >> 6 === 0x01) event.triggerReading = eventData[1];
  if (eventType === 0x01 && ((eventData[0] >> 4) & 0x03) === 0x01) event.triggerThreshold = eventData[2];
  return event;
}

function eventDescription(eventType: number, sensorType: number, offset: number): string {
  const text = eventText(eventType, sensorType, offset);
  if (text) return text;
  const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
  if (eventType >= 0x70 && eventType <= 0x7f) return `OEM event type ${hex(eventType)} offset ${hex(offset)}`;
  return `${sensorTypeName(sensorType)} event type ${hex(eventType)} offset ${hex(offset)}`;
}

/** A number as ipmitool prints SEL readings: no decimals when whole, else two. */
function readingText(v: number): string {
  return Number.isInteger(v) ? v.toFixed(0) : v.toFixed(2);
}

/**
 * The trigger reading and threshold of a threshold event in the sensor's units, as ipmitool's
 * `sel elist` shows them: "Reading 86 > Threshold 85 degrees C". Going-high offsets compare with
 * '>', going-low with '<', reversed for deassertions. Undefined when the event carries neither.
 */
export function selThresholdText(event: SelEventRecord, sensor: Pick<FullSensorRecord, 'conversion' | 'units'>): string | undefined {
  if (event.eventType !== 0x01 || event.triggerReading === undefined) return undefined;
  const reading = convertReading(event.triggerReading, sensor.conversion);
  if (reading === null) return undefined;
  let text = `Reading ${readingText(reading)}`;
  const threshold = event.triggerThreshold === undefined ? null : convertReading(event.triggerThreshold, sensor.conversion);
  if (threshold !== null) {
    const high = (event.offset % 2 === 1) === event.assertion;
    text += ` ${high ? '>' : '<'} Threshold ${readingText(threshold)}`;
  }
  return `${text} ${unitText(sensor.units)}`;
}

/** The sensor an event names, for selText: its id string and, for full records, its conversion. */
export interface SelSensor {
  idString: string;
  full?: Pick<FullSensorRecord, 'conversion' | 'units'>;
}

/**
 * One record as ipmitool's `sel elist` prints it after the date columns:
 * "Temperature CPU Temp | Upper Non-critical going high | Asserted | Reading 86 > Threshold 85 degrees C",
 * "OEM record c1 | 030201 | 040506070809", "OEM record e0 | 0102…0d".
 */
export function selText(record: SelRecord, sensor?: SelSensor): string {
  const hex = (b: Buffer) => b.toString('hex');
  switch (record.kind) {
    case 'oem':
      return `OEM record ${record.recordType.toString(16)} | ${hex(record.oemData)}`;
    case 'oem-timestamped':
      return `OEM record ${record.recordType.toString(16)} | ${record.manufacturerId.toString(16).padStart(6, '0')} | ${hex(record.oemData)}`;
    case 'invalid':
      return `Invalid record | ${hex(record.raw)}`;
  }
  const name = sensor?.idString ?? `#0x${record.sensorNumber.toString(16).padStart(2, '0')}`;
  const parts = [`${sensorTypeName(record.sensorType)} ${name}`, record.description, record.assertion ? 'Asserted' : 'Deasserted'];
  const threshold = sensor?.full ? selThresholdText(record, sensor.full) : undefined;
  if (threshold) parts.push(threshold);
  return parts.join(' | ');
}

// ---- Reading the SEL: Reserve SEL (§31.4), Get SEL Entry (§31.5) -------------------------------

export interface SelWalkOptions {
  /** Most entries to read (default 8192; a SEL holds at most 64 KiB of 16-byte records). */
  maxEntries?: number;
  /** Most new reservations after C5h over the walk (default 32). */
  maxReservations?: number;
}

export interface SelLog {
  /** Every entry, in log order, each record id once. */
  records: SelRecord[];
  /** Set when the walk stopped early because the next-record ids came back to an entry already read. */
  loopAt?: number;
}

/**
 * Reads every entry: Reserve SEL, then Get SEL Entry from 0000h following each next-record id until
 * FFFFh. Entries are read whole; a BMC that answers CAh is read in partial reads instead, and C5h
 * reserves again and retries the entry. An empty SEL (CBh for the first entry) is no entries.
 */
export async function readSel(send: IpmiSend, signal?: AbortSignal, options: SelWalkOptions = {}): Promise<SelLog> {
  const maxEntries = options.maxEntries ?? 8192;
  let reservations = options.maxReservations ?? 32;
  signal?.throwIfAborted();
  const state: ReadState = { reservation: await reserve(send, SEL), chunk: 16, requests: 0, maxRequests: 32 * maxEntries, signal };
  const records: SelRecord[] = [];
  const requested = new Set<number>();
  const seen = new Set<number>();
  for (let id = 0x0000; id !== LAST_RECORD_ID; ) {
    if (requested.has(id)) return { records, loopAt: id };
    requested.add(id);
    let got: { next: number; bytes: Buffer } | 'empty';
    try {
      got = await readSelEntry(send, state, id, records.length === 0);
    } catch (e) {
      if (!(e instanceof ReservationLost)) throw e;
      if (--reservations < 0) throw new Error('Get SEL Entry: the reservation keeps being cancelled; giving up');
      state.reservation = await reserve(send, SEL);
      requested.delete(id);
      continue;
    }
    if (got === 'empty') return { records };
    const record = decodeSelRecord(got.bytes);
    const recordId = record.recordId ?? id;
    if (seen.has(recordId)) return { records, loopAt: recordId };
    seen.add(recordId);
    if (records.length >= maxEntries) throw new Error(`Get SEL Entry: more than ${maxEntries} entries; giving up`);
    records.push(record);
    id = got.next;
  }
  return { records };
}

/** One entry, whole (offset 0, FFh bytes), or in partial reads when the BMC answers CAh. */
async function readSelEntry(send: IpmiSend, state: ReadState, id: number, first: boolean): Promise<{ next: number; bytes: Buffer } | 'empty'> {
  state.signal?.throwIfAborted();
  if (++state.requests > state.maxRequests) throw new Error(`Get SEL Entry: more than ${state.maxRequests} requests; giving up`);
  const whole = await getPart(send, SEL, state.reservation, id, 0, 0xff);
  if (whole.cc === 0xcb && first && id === 0) return 'empty';
  if (whole.cc === CC_RESERVATION_CANCELLED) throw new ReservationLost();
  if (whole.cc === CC_CANNOT_RETURN_BYTES) return readBytes(send, SEL, state, id, 0, SEL_RECORD_LENGTH);
  if (whole.cc !== 0) throw new IpmiCommandError(SEL.get.name, whole.cc);
  return { next: whole.next, bytes: whole.bytes.subarray(0, SEL_RECORD_LENGTH) };
}

// ---- Clear SEL (§31.9) ------------------------------------------------------------------------

export interface ClearSelOptions {
  /** Most "get erasure status" polls (default 60). */
  maxPolls?: number;
  /** Milliseconds between polls (default 500). */
  pollIntervalMs?: number;
}

const CLR = [0x43, 0x4c, 0x52]; // 'C', 'L', 'R'
const INITIATE_ERASE = 0xaa;
const GET_ERASURE_STATUS = 0x00;

/**
 * Reserve SEL, Clear SEL with "initiate erase", then poll "get erasure status" until the BMC reports
 * the erasure completed. A reservation cancelled during the polls (the erase may cancel it) is
 * renewed. Throws when the erasure has not completed after maxPolls.
 */
export async function clearSel(send: IpmiSend, signal?: AbortSignal, options: ClearSelOptions = {}): Promise<void> {
  const maxPolls = options.maxPolls ?? 60;
  const interval = options.pollIntervalMs ?? 500;
  signal?.throwIfAborted();
  let reservation = await reserve(send, SEL);
  if (await clearStep(send, reservation, INITIATE_ERASE)) return;
  for (let poll = 0; poll < maxPolls; poll++) {
    if (interval > 0) await sleep(interval, undefined, { signal });
    signal?.throwIfAborted();
    const res = await send(clearRequest(reservation, GET_ERASURE_STATUS));
    if (res.cc === CC_RESERVATION_CANCELLED) {
      reservation = await reserve(send, SEL);
      continue;
    }
    if (res.cc !== 0) throw new IpmiCommandError('Clear SEL', res.cc);
    if (erasureCompleted(res.data)) return;
  }
  throw new Error(`Clear SEL: erasure still in progress after ${maxPolls} polls`);
}

function clearRequest(reservation: number, action: number) {
  return { netFn: NETFN_STORAGE, cmd: 0x47, data: Uint8Array.from([...u16(reservation), ...CLR, action]) };
}

/** §31.9 response byte 2 [3:0]: 0h erasure in progress, 1h erase completed. */
function erasureCompleted(data: Buffer): boolean {
  if (data.length < 1) throw new IpmiError('protocol', 'Clear SEL: response too short');
  return (data[0] & 0x0f) === 0x01;
}

async function clearStep(send: IpmiSend, reservation: number, action: number): Promise<boolean> {
  return erasureCompleted(await command(send, 'Clear SEL', clearRequest(reservation, action)));
}
