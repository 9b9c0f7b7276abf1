// The Sensor Data Record repository (IPMI 2.0 §33) and its record formats (§43). Parsing is
// bounds-checked throughout: every length comes from the BMC, and a short or inconsistent record
// parses to { type: 'invalid' } rather than throwing.

import {
  command,
  LAST_RECORD_ID,
  NETFN_STORAGE,
  readBytes,
  reserve,
  ReservationLost,
  storeSupport,
  type IpmiSend,
  type ReadState,
  type StoreCommands,
  type StoreSupport,
} from './records.js';
import { ANALOG_FORMATS, parseFactorBytes, type AnalogFormat, type ConversionFactors } from './sensor.js';

// ---- Get SDR Repository Info (§33.9) ----------------------------------------------------------

export interface SdrRepositoryInfo extends StoreSupport {
  /** SDR version, BCD with the least significant digit first: 51h = 1.5. */
  version: number;
  recordCount: number;
  /** Free bytes; FFFEh means 64 KB − 2 or more, FFFFh unspecified. */
  freeSpace: number;
  /** Seconds (§37 timestamp format); 0 or FFFFFFFFh when unspecified. */
  mostRecentAddition: number;
  mostRecentErase: number;
  /** §33.9 byte 14 [6:5]: how the repository is updated. */
  updateMode: 'unspecified' | 'non-modal' | 'modal' | 'both';
  /**
   * Changes whenever the repository does (an addition or erase timestamp, or the record count):
   * compare it for equality to know whether a cached walk is still good. Not for parsing.
   */
  changeStamp: string;
}

const UPDATE_MODES = ['unspecified', 'non-modal', 'modal', 'both'] as const;

export function parseSdrRepositoryInfo(data: Buffer): SdrRepositoryInfo | undefined {
  if (data.length < 14) return undefined;
  const ops = data[13];
  const info = {
    version: data[0],
    recordCount: data.readUInt16LE(1),
    freeSpace: data.readUInt16LE(3),
    mostRecentAddition: data.readUInt32LE(5),
    mostRecentErase: data.readUInt32LE(9),
    updateMode: UPDATE_MODES[(ops >> 5) & 0x03],
    ...storeSupport(ops),
  };
  return { ...info, changeStamp: `${info.mostRecentAddition}:${info.mostRecentErase}:${info.recordCount}` };
}

export async function readSdrRepositoryInfo(send: IpmiSend): Promise<SdrRepositoryInfo> {
  const data = await command(send, 'Get SDR Repository Info', { netFn: NETFN_STORAGE, cmd: 0x20 }, 14);
  return parseSdrRepositoryInfo(data)!;
}

// ---- The walk: Reserve SDR Repository (§33.11), Get SDR (§33.12) ------------------------------

const SDR: StoreCommands = {
  reserve: { cmd: 0x22, name: 'Reserve SDR Repository' },
  get: { cmd: 0x23, name: 'Get SDR' },
};

export const SDR_HEADER_LENGTH = 5;

export interface SdrWalkOptions {
  /** Most records to read (default 4096). */
  maxRecords?: number;
  /** Most record bytes to read, headers included (default 256 KiB; a repository holds at most 64 KiB). */
  maxBytes?: number;
  /** First partial read size (default 16, lowered on completion code CAh). */
  chunkSize?: number;
  /** Most new reservations after C5h, over the whole walk (default 32). */
  maxReservations?: number;
}

export interface SdrRepository {
  /** Each record as read, header included, in walk order; each record id once. */
  raw: Buffer[];
  /** parseSdrRecord of each, in the same order. */
  records: SdrRecord[];
  /** Set when the walk stopped early because the BMC's next-record ids came back to a record already read. */
  loopAt?: number;
}

/**
 * Reads the whole repository: Reserve SDR Repository, then Get SDR from record 0000h following each
 * next-record id until FFFFh (ids need not be contiguous). Each record is read as its 5-byte header,
 * then its body in partial reads of at most 16 bytes; completion code CAh asks for fewer, C5h
 * reserves again and restarts that record. A next id that comes back to a record already read ends
 * the walk (loopAt says where); going past maxRecords or maxBytes throws.
 */
export async function readSdrRepository(
  send: IpmiSend,
  signal?: AbortSignal,
  options: SdrWalkOptions = {},
): Promise<SdrRepository> {
  const maxRecords = options.maxRecords ?? 4096;
  const maxBytes = options.maxBytes ?? 256 * 1024;
  let reservations = options.maxReservations ?? 32;
  signal?.throwIfAborted();
  const state: ReadState = {
    reservation: await reserve(send, SDR),
    chunk: Math.max(1, Math.min(options.chunkSize ?? 16, 0xfe)),
    requests: 0,
    maxRequests: maxBytes + 4 * maxRecords,
    signal,
  };
  const raw: Buffer[] = [];
  const requested = new Set<number>();
  const seen = new Set<number>();
  let bytes = 0;
  for (let id = 0x0000; id !== LAST_RECORD_ID; ) {
    if (requested.has(id)) return finish(raw, id);
    requested.add(id);
    let got: { next: number; record: Buffer };
    try {
      got = await readSdrRecord(send, state, id);
    } catch (e) {
      if (!(e instanceof ReservationLost)) throw e;
      if (--reservations < 0) throw new Error('Get SDR: the reservation keeps being cancelled; giving up');
      signal?.throwIfAborted();
      state.reservation = await reserve(send, SDR);
      requested.delete(id);
      continue;
    }
    const recordId = got.record.readUInt16LE(0);
    if (seen.has(recordId)) return finish(raw, recordId);
    seen.add(recordId);
    bytes += got.record.length;
    if (raw.length >= maxRecords) throw new Error(`Get SDR: more than ${maxRecords} records; giving up`);
    if (bytes > maxBytes) throw new Error(`Get SDR: more than ${maxBytes} bytes of records; giving up`);
    raw.push(got.record);
    id = got.next;
  }
  return finish(raw);
}

function finish(raw: Buffer[], loopAt?: number): SdrRepository {
  const repo: SdrRepository = { raw, records: raw.map(parseSdrRecord) };
  if (loopAt !== undefined) repo.loopAt = loopAt;
  return repo;
}

/** One record: its header (whose length byte sizes the rest), then the body. */
async function readSdrRecord(send: IpmiSend, state: ReadState, id: number): Promise<{ next: number; record: Buffer }> {
  const head = await readBytes(send, SDR, state, id, 0, SDR_HEADER_LENGTH);
  const length = head.bytes[4];
  const body = await readBytes(send, SDR, state, id, SDR_HEADER_LENGTH, length);
  return { next: head.next, record: Buffer.concat([head.bytes, body.bytes]) };
}

// ---- Record formats (§43) ---------------------------------------------------------------------

export type ThresholdName = 'lnc' | 'lc' | 'lnr' | 'unc' | 'uc' | 'unr';
export type Thresholds<T> = Record<ThresholdName, T>;

/** Hysteresis and threshold support (§43.1 byte 12 [5:4], [3:2]). */
export type AccessSupport = 'none' | 'readable' | 'settable' | 'fixed';
/** Event message control (§43.1 byte 12 [1:0]). */
export type EventMessageControl = 'per-threshold' | 'entire-sensor' | 'global' | 'none';
export type SensorDirection = 'unspecified' | 'input' | 'output' | 'reserved';

const ACCESS: readonly AccessSupport[] = ['none', 'readable', 'settable', 'fixed'];
const EVENT_CONTROL: readonly EventMessageControl[] = ['per-threshold', 'entire-sensor', 'global', 'none'];
const DIRECTIONS: readonly SensorDirection[] = ['unspecified', 'input', 'output', 'reserved'];

export interface SdrHeader {
  recordId: number;
  sdrVersion: number;
  recordType: number;
}

/** What identifies a sensor (§43.1 bytes 6–8). */
export interface SensorKey {
  /** Byte 6: [7:1] slave address or software id, [0] 1 = system software. */
  ownerId: number;
  ownerLun: number;
  channel: number;
  sensorNumber: number;
}

export interface SensorUnits {
  analogFormat: AnalogFormat;
  /** Index into RATE_UNITS: 0 none, 1 per µs … 6 per day. */
  rateUnit: number;
  /** §43.1 byte 21 [2:1]: 01b base/modifier, 10b base·modifier. */
  modifierUse: 'none' | 'divide' | 'multiply' | 'reserved';
  percentage: boolean;
  /** Unit codes (§43.17): see UNITS. */
  baseUnit: number;
  modifierUnit: number;
}

/** Sensor initialization (§43.1 byte 11). */
export interface SensorInitialization {
  settable: boolean;
  initScanning: boolean;
  initEvents: boolean;
  initThresholds: boolean;
  initHysteresis: boolean;
  initSensorType: boolean;
  eventsEnabledByDefault: boolean;
  scanningEnabledByDefault: boolean;
}

/** Sensor capabilities (§43.1 byte 12). */
export interface SensorCapabilities {
  ignoreIfEntityAbsent: boolean;
  autoRearm: boolean;
  hysteresis: AccessSupport;
  thresholdAccess: AccessSupport;
  eventMessageControl: EventMessageControl;
}

/** Record sharing of compact and event-only records (§43.2 bytes 24–25, §43.3 bytes 13–14). */
export interface SensorSharing {
  /** How many sensors share the record: sensor numbers sensorNumber … sensorNumber + shareCount − 1. */
  shareCount: number;
  modifierType: 'numeric' | 'alpha';
  modifierOffset: number;
  entityInstanceIncrements: boolean;
}

interface SensorBase extends SdrHeader, SensorKey {
  entityId: number;
  entityInstance: number;
  logicalEntity: boolean;
  sensorType: number;
  eventReadingType: number;
  direction: SensorDirection;
  idString: string;
  oem: number;
}

/** What full and compact records share (§43.1, §43.2 bytes 6–23). */
interface ReadingSensorBase extends SensorBase {
  initialization: SensorInitialization;
  capabilities: SensorCapabilities;
  /** Event offsets 0–14 the sensor can assert (threshold sensors: 0–11, see THRESHOLD_EVENTS). */
  assertionEvents: number;
  deassertionEvents: number;
  /** Discrete sensors: the states Get Sensor Reading can return. 0 for threshold sensors. */
  discreteReadingMask: number;
  /** Threshold sensors: the comparison bits Get Sensor Reading returns (bit n = THRESHOLD_NAMES[n]). */
  thresholdsReturned: number;
  /** Threshold sensors: readable and settable thresholds (bytes 19–20; bit n = THRESHOLD_NAMES[n]). */
  readableThresholds: number;
  settableThresholds: number;
  units: SensorUnits;
  /** Raw hysteresis counts; convertHysteresis gives units. */
  positiveHysteresis: number;
  negativeHysteresis: number;
}

/** Full Sensor Record (01h, §43.1). Raw values convert with convertReading(raw, conversion). */
export interface FullSensorRecord extends ReadingSensorBase {
  type: 'full';
  conversion: ConversionFactors;
  /** Analog characteristic flags (byte 31): which of nominal, normal max and min are given. */
  nominalSpecified: boolean;
  normalMaxSpecified: boolean;
  normalMinSpecified: boolean;
  nominalReading: number;
  normalMax: number;
  normalMin: number;
  sensorMax: number;
  sensorMin: number;
  /** Raw thresholds (bytes 37–42); meaningful where readableThresholds says so. */
  thresholds: Thresholds<number>;
}

/** Compact Sensor Record (02h, §43.2): no conversion factors or thresholds. */
export interface CompactSensorRecord extends ReadingSensorBase {
  type: 'compact';
  sharing: SensorSharing;
}

/** Event-Only Record (03h, §43.3): a sensor that only generates events and has no reading. */
export interface EventOnlyRecord extends SensorBase {
  type: 'event-only';
  sharing: SensorSharing;
}

/** Management Controller Device Locator Record (12h, §43.9). */
export interface McLocatorRecord extends SdrHeader {
  type: 'mc-locator';
  /** 8-bit IPMB address: 20h for the BMC. */
  slaveAddress: number;
  channel: number;
  acpiSystemPowerNotification: boolean;
  acpiDevicePowerNotification: boolean;
  /** Byte 8 [1:0]: global initialization. */
  globalInitialization: number;
  /** Byte 9: device capabilities, bit 7 chassis … bit 0 sensor device. */
  capabilities: number;
  chassisDevice: boolean;
  bridge: boolean;
  ipmbEventGenerator: boolean;
  ipmbEventReceiver: boolean;
  fruInventoryDevice: boolean;
  selDevice: boolean;
  sdrRepositoryDevice: boolean;
  sensorDevice: boolean;
  entityId: number;
  entityInstance: number;
  oem: number;
  idString: string;
}

/** Any other record type (FRU locator, entity association, OEM, …), kept for what it is. */
export interface OtherSdrRecord extends SdrHeader {
  type: 'other';
}

/** A record too short for its header or its type, or cut off before its declared length. */
export interface InvalidSdrRecord {
  type: 'invalid';
  recordId?: number;
  recordType?: number;
  reason: string;
}

export type SensorRecord = FullSensorRecord | CompactSensorRecord | EventOnlyRecord;
export type SdrRecord = SensorRecord | McLocatorRecord | OtherSdrRecord | InvalidSdrRecord;

export const SDR_TYPE = { FULL: 0x01, COMPACT: 0x02, EVENT_ONLY: 0x03, MC_LOCATOR: 0x12 } as const;

/** The bytes each type needs up to and including its id string type/length byte. */
const MIN_LENGTH: Record<number, number> = { 0x01: 48, 0x02: 32, 0x03: 17, 0x12: 16 };

/** Parses one record, header included (§43). Never throws on short or inconsistent input. */
export function parseSdrRecord(raw: Buffer): SdrRecord {
  if (raw.length < SDR_HEADER_LENGTH) return { type: 'invalid', reason: `${raw.length} bytes: shorter than the record header` };
  const header: SdrHeader = { recordId: raw.readUInt16LE(0), sdrVersion: raw[2], recordType: raw[3] };
  const end = SDR_HEADER_LENGTH + raw[4];
  const invalid = (reason: string): InvalidSdrRecord => ({ type: 'invalid', recordId: header.recordId, recordType: header.recordType, reason });
  if (raw.length < end) return invalid(`truncated: ${raw.length} of ${end} bytes`);
  const rec = raw.subarray(0, end);
  const min = MIN_LENGTH[header.recordType];
  if (min !== undefined && rec.length < min) return invalid(`${rec.length} bytes: too short for a type 0x${header.recordType.toString(16)} record`);
  switch (header.recordType) {
    case SDR_TYPE.FULL:
      return parseFull(rec, header);
    case SDR_TYPE.COMPACT:
      return parseCompact(rec, header);
    case SDR_TYPE.EVENT_ONLY:
      return parseEventOnly(rec, header);
    case SDR_TYPE.MC_LOCATOR:
      return parseMcLocator(rec, header);
    default:
      return { type: 'other', ...header };
  }
}

/** The id string whose type/length byte is at `at` (0-based), bounded by the record's end. */
function idStringAt(rec: Buffer, at: number): string {
  return decodeIdString(rec[at], rec.subarray(at + 1));
}

/** §43.1 bytes 6–10 and 13–14 (0-based 5–9, 12–13): the key, entity and types. */
function sensorKey(rec: Buffer): SensorKey & Pick<SensorBase, 'entityId' | 'entityInstance' | 'logicalEntity'> {
  return {
    ownerId: rec[5],
    ownerLun: rec[6] & 0x03,
    channel: rec[6] >> 4,
    sensorNumber: rec[7],
    entityId: rec[8],
    entityInstance: rec[9] & 0x7f,
    logicalEntity: (rec[9] & 0x80) !== 0,
  };
}

/** §43.1/§43.2 bytes 11–23 (0-based 10–22), common to full and compact records. */
function readingSensorBase(rec: Buffer, header: SdrHeader) {
  const init = rec[10];
  const caps = rec[11];
  const assertion = rec.readUInt16LE(14);
  const deassertion = rec.readUInt16LE(16);
  const threshold = rec[13] === 0x01;
  const units1 = rec[20];
  return {
    ...header,
    ...sensorKey(rec),
    sensorType: rec[12],
    eventReadingType: rec[13],
    initialization: {
      settable: (init & 0x80) !== 0,
      initScanning: (init & 0x40) !== 0,
      initEvents: (init & 0x20) !== 0,
      initThresholds: (init & 0x10) !== 0,
      initHysteresis: (init & 0x08) !== 0,
      initSensorType: (init & 0x04) !== 0,
      eventsEnabledByDefault: (init & 0x02) !== 0,
      scanningEnabledByDefault: (init & 0x01) !== 0,
    },
    capabilities: {
      ignoreIfEntityAbsent: (caps & 0x80) !== 0,
      autoRearm: (caps & 0x40) !== 0,
      hysteresis: ACCESS[(caps >> 4) & 0x03],
      thresholdAccess: ACCESS[(caps >> 2) & 0x03],
      eventMessageControl: EVENT_CONTROL[caps & 0x03],
    },
    // §43.1 bytes 15–18: for threshold sensors bits 12–14 are the lower and upper threshold reading masks.
    assertionEvents: assertion & (threshold ? 0x0fff : 0x7fff),
    deassertionEvents: deassertion & (threshold ? 0x0fff : 0x7fff),
    thresholdsReturned: threshold ? ((assertion >> 12) & 0x07) | (((deassertion >> 12) & 0x07) << 3) : 0,
    // §43.1 bytes 19–20: discrete reading mask, or readable (19) and settable (20) thresholds.
    discreteReadingMask: threshold ? 0 : rec.readUInt16LE(18) & 0x7fff,
    readableThresholds: threshold ? rec[18] & 0x3f : 0,
    settableThresholds: threshold ? rec[19] & 0x3f : 0,
    units: {
      analogFormat: ANALOG_FORMATS[units1 >> 6],
      rateUnit: (units1 >> 3) & 0x07,
      modifierUse: (['none', 'divide', 'multiply', 'reserved'] as const)[(units1 >> 1) & 0x03],
      percentage: (units1 & 0x01) !== 0,
      baseUnit: rec[21],
      modifierUnit: rec[22],
    },
  };
}

/** Full Sensor Record (§43.1); the caller checked rec.length >= 48. */
function parseFull(rec: Buffer, header: SdrHeader): FullSensorRecord {
  const base = readingSensorBase(rec, header);
  const flags = rec[30];
  return {
    type: 'full',
    ...base,
    conversion: { analogFormat: base.units.analogFormat, linearization: rec[23] & 0x7f, ...parseFactorBytes(rec, 24) },
    direction: DIRECTIONS[rec[28] & 0x03],
    nominalSpecified: (flags & 0x01) !== 0,
    normalMaxSpecified: (flags & 0x02) !== 0,
    normalMinSpecified: (flags & 0x04) !== 0,
    nominalReading: rec[31],
    normalMax: rec[32],
    normalMin: rec[33],
    sensorMax: rec[34],
    sensorMin: rec[35],
    thresholds: { unr: rec[36], uc: rec[37], unc: rec[38], lnr: rec[39], lc: rec[40], lnc: rec[41] },
    positiveHysteresis: rec[42],
    negativeHysteresis: rec[43],
    oem: rec[46],
    idString: idStringAt(rec, 47),
  };
}

/** Record sharing bytes (§43.2 bytes 24–25, §43.3 bytes 13–14) at 0-based `at`. */
function sharing(rec: Buffer, at: number): SensorSharing {
  return {
    shareCount: rec[at] & 0x0f,
    modifierType: (rec[at] >> 4) & 0x03 ? 'alpha' : 'numeric',
    modifierOffset: rec[at + 1] & 0x7f,
    entityInstanceIncrements: (rec[at + 1] & 0x80) !== 0,
  };
}

/** Compact Sensor Record (§43.2); the caller checked rec.length >= 32. */
function parseCompact(rec: Buffer, header: SdrHeader): CompactSensorRecord {
  return {
    type: 'compact',
    ...readingSensorBase(rec, header),
    direction: DIRECTIONS[rec[23] >> 6],
    sharing: sharing(rec, 23),
    positiveHysteresis: rec[25],
    negativeHysteresis: rec[26],
    oem: rec[30],
    idString: idStringAt(rec, 31),
  };
}

/** Event-Only Record (§43.3); the caller checked rec.length >= 17. */
function parseEventOnly(rec: Buffer, header: SdrHeader): EventOnlyRecord {
  return {
    type: 'event-only',
    ...header,
    ...sensorKey(rec),
    sensorType: rec[10],
    eventReadingType: rec[11],
    direction: DIRECTIONS[rec[12] >> 6],
    sharing: sharing(rec, 12),
    oem: rec[15],
    idString: idStringAt(rec, 16),
  };
}

/** Management Controller Device Locator Record (§43.9); the caller checked rec.length >= 16. */
function parseMcLocator(rec: Buffer, header: SdrHeader): McLocatorRecord {
  const caps = rec[8];
  return {
    type: 'mc-locator',
    ...header,
    slaveAddress: rec[5],
    channel: rec[6] & 0x0f,
    acpiSystemPowerNotification: (rec[7] & 0x80) !== 0,
    acpiDevicePowerNotification: (rec[7] & 0x40) !== 0,
    globalInitialization: rec[7] & 0x03,
    capabilities: caps,
    chassisDevice: (caps & 0x80) !== 0,
    bridge: (caps & 0x40) !== 0,
    ipmbEventGenerator: (caps & 0x20) !== 0,
    ipmbEventReceiver: (caps & 0x10) !== 0,
    fruInventoryDevice: (caps & 0x08) !== 0,
    selDevice: (caps & 0x04) !== 0,
    sdrRepositoryDevice: (caps & 0x02) !== 0,
    sensorDevice: (caps & 0x01) !== 0,
    entityId: rec[12],
    entityInstance: rec[13] & 0x7f,
    oem: rec[14],
    idString: idStringAt(rec, 15),
  };
}

export function isSensorRecord(rec: SdrRecord): rec is SensorRecord {
  return rec.type === 'full' || rec.type === 'compact' || rec.type === 'event-only';
}

/** Threshold-based sensors (event/reading type 01h) show as NumericSensor; the rest are discrete. */
export function isThresholdSensor(rec: SensorRecord): boolean {
  return rec.eventReadingType === 0x01;
}

/** Whether a record's sensor can be read at all: event-only sensors have no reading. */
export function hasReading(rec: SensorRecord): rec is FullSensorRecord | CompactSensorRecord {
  return rec.type !== 'event-only';
}

/** One of the sensors a shared compact or event-only record stands for (§43.2 bytes 24–25). */
export interface SharedSensor {
  sensorNumber: number;
  entityInstance: number;
  idString: string;
}

/**
 * The sensors a record stands for: itself, or for a shared record (share count > 1) one per
 * sensor number, named with the instance modifier: numeric "PS1, PS2", alpha "Temp A … Z, AA".
 */
export function sharedSensors(rec: SensorRecord): SharedSensor[] {
  const count = rec.type === 'full' ? 1 : Math.max(1, rec.sharing.shareCount);
  if (count === 1 || rec.type === 'full') return [{ sensorNumber: rec.sensorNumber, entityInstance: rec.entityInstance, idString: rec.idString }];
  const { modifierType, modifierOffset, entityInstanceIncrements } = rec.sharing;
  return Array.from({ length: count }, (_, i) => ({
    sensorNumber: (rec.sensorNumber + i) & 0xff,
    entityInstance: entityInstanceIncrements ? (rec.entityInstance + i) & 0x7f : rec.entityInstance,
    idString: rec.idString + (modifierType === 'alpha' ? alphaSuffix(modifierOffset + i) : String(modifierOffset + i)),
  }));
}

/** 0 → A, 25 → Z, 26 → AA (§43.2: "alpha characters are considered to be base 26"). */
function alphaSuffix(n: number): string {
  let s = '';
  for (let v = n + 1; v > 0; v = Math.floor((v - 1) / 26)) s = String.fromCharCode(65 + ((v - 1) % 26)) + s;
  return s;
}

// ---- Id strings (§43.15) ----------------------------------------------------------------------

const BCD_PLUS = '0123456789 -.:,_';

/**
 * Decodes an id string from its type/length byte (§43.15: [7:6] 00 unicode, 01 BCD plus, 10 6-bit
 * packed ASCII, 11 8-bit ASCII/Latin-1; [4:0] length) and the bytes after it (the rest of the
 * record: the decode never reads past them). Packing is least significant bits first, as §43.15
 * lays out 6-bit ASCII. The spec counts the length in characters (OpenIPMI writes it so) while
 * some BMCs count bytes: BCD plus follows the spec; for 6-bit ASCII a length larger than the bytes
 * present is a character count, otherwise a byte count whose zero padding decodes to trailing
 * spaces, which are dropped. Trailing NULs are trimmed.
 */
export function decodeIdString(typeLength: number | undefined, bytes: Uint8Array): string {
  if (typeLength === undefined) return '';
  const length = typeLength & 0x1f;
  switch (typeLength >> 6) {
    case 0: // Unicode: taken as UTF-16LE when it fits, else as Latin-1.
      return decodeUnicode(bytes, length);
    case 1:
      return decodePacked(bytes, length, 4, true, (v) => BCD_PLUS[v]);
    case 2:
      return decodePacked(bytes, length, 6, length > bytes.length, (v) => String.fromCharCode(0x20 + v)).replace(/ +$/, '');
    default:
      return Buffer.from(bytes.subarray(0, length)).toString('latin1').replace(/\0+$/, '');
  }
}

function decodeUnicode(bytes: Uint8Array, length: number): string {
  const pairs = bytes.length >= length * 2 ? bytes.subarray(0, length * 2) : undefined;
  const text = pairs ? Buffer.from(pairs).toString('utf16le') : Buffer.from(bytes.subarray(0, length)).toString('latin1');
  return text.replace(/\0+$/, '');
}

/** Characters of `bits` bits each, least significant first: `length` characters, or all in `length` bytes. */
function decodePacked(bytes: Uint8Array, length: number, bits: number, lengthInChars: boolean, char: (v: number) => string): string {
  const capacity = Math.floor((Math.min(length, bytes.length) * 8) / bits);
  const count = lengthInChars ? Math.min(length, Math.floor((bytes.length * 8) / bits)) : capacity;
  let out = '';
  for (let i = 0; i < count; i++) {
    const bit = i * bits;
    const at = bit >> 3;
    const word = bytes[at] | ((bytes[at + 1] ?? 0) << 8);
    out += char((word >> (bit & 7)) & ((1 << bits) - 1));
  }
  return out;
}
