// Sensor readings: the conversion from raw counts to units (IPMI 2.0 §36.3), and the sensor
// commands Get Sensor Reading Factors (§35.5), Get Sensor Thresholds (§35.9) and Get Sensor
// Reading (§35.14). The record types come from sdr.ts.

import type { FullSensorRecord, SensorRecord, SensorUnits, ThresholdName, Thresholds } from './sdr.js';
import { command, NETFN_SENSOR, type IpmiSend } from './records.js';
import { RATE_UNITS, unitName } from './tables.js';

/** Analog data format (§43.1 byte 21 [7:6]): how a raw reading byte is signed; 'none' = no numeric reading. */
export type AnalogFormat = 'unsigned' | 'ones-complement' | 'twos-complement' | 'none';

export const ANALOG_FORMATS: readonly AnalogFormat[] = ['unsigned', 'ones-complement', 'twos-complement', 'none'];

/** Linearization (§43.1 byte 24): 00h–0Bh functions, 70h–7Fh non-linear (factors per reading). */
export const LINEARIZATION = {
  LINEAR: 0x00, LN: 0x01, LOG10: 0x02, LOG2: 0x03, E: 0x04, EXP10: 0x05, EXP2: 0x06,
  INVERSE: 0x07, SQR: 0x08, CUBE: 0x09, SQRT: 0x0a, CUBE_ROOT: 0x0b, NON_LINEAR: 0x70,
} as const;

/** Everything §36.3 needs to turn a raw reading into units. */
export interface ConversionFactors {
  analogFormat: AnalogFormat;
  linearization: number;
  /** 10-bit signed. */
  m: number;
  /** 10-bit signed. */
  b: number;
  /** Signed nibbles. */
  bExp: number;
  rExp: number;
  /** 6 bits, in ±½ raw counts. */
  tolerance: number;
  /** 10 bits, in 1/100 percent, scaled by 10^accuracyExp. */
  accuracy: number;
  accuracyExp: number;
}

/** The per-reading factors of a non-linear sensor (Get Sensor Reading Factors, §35.5). */
export interface ReadingFactors extends Omit<ConversionFactors, 'analogFormat' | 'linearization'> {
  /** The next raw reading for which the BMC gives different factors. */
  nextReading: number;
}

/** Sign-extends the low `bits` bits of n. */
export function signed(n: number, bits: number): number {
  const mask = (1 << bits) - 1;
  const v = n & mask;
  return v & (1 << (bits - 1)) ? v - (1 << bits) : v;
}

/**
 * The six factor bytes shared by the full sensor record (§43.1 bytes 25–30) and Get Sensor
 * Reading Factors (§35.5 bytes 3–8): M, tolerance, B, accuracy, accuracy exponent, R and B exponents.
 * The caller has checked that `at + 6 <= buf.length`.
 */
export function parseFactorBytes(buf: Buffer, at: number): Omit<ReadingFactors, 'nextReading'> {
  const [mLo, mHiTol, bLo, bHiAcc, accHiExp, exps] = buf.subarray(at, at + 6);
  return {
    m: signed(((mHiTol >> 6) << 8) | mLo, 10),
    tolerance: mHiTol & 0x3f,
    b: signed(((bHiAcc >> 6) << 8) | bLo, 10),
    accuracy: ((accHiExp >> 4) << 6) | (bHiAcc & 0x3f),
    accuracyExp: (accHiExp >> 2) & 0x03,
    rExp: signed(exps >> 4, 4),
    bExp: signed(exps, 4),
  };
}

export function isNonLinear(linearization: number): boolean {
  return linearization >= 0x70 && linearization <= 0x7f;
}

/** A raw reading byte as the signed or unsigned count x of §36.3; null when the format has no reading. */
export function rawToCount(raw: number, format: AnalogFormat): number | null {
  const v = raw & 0xff;
  switch (format) {
    case 'unsigned':
      return v;
    case 'ones-complement':
      return v & 0x80 ? -(~v & 0xff) : v;
    case 'twos-complement':
      return signed(v, 8);
    default:
      return null;
  }
}

/** v·10^e, dividing for negative exponents so that 1206·10^-2 is exactly the double nearest 12.06. */
function scale(v: number, e: number): number {
  return e >= 0 ? v * 10 ** e : v / 10 ** -e;
}

const LINEARIZE: Record<number, (y: number) => number> = {
  0x00: (y) => y,
  0x01: Math.log,
  0x02: Math.log10,
  0x03: Math.log2,
  0x04: Math.exp,
  0x05: (y) => 10 ** y,
  0x06: (y) => 2 ** y,
  0x07: (y) => 1 / y,
  0x08: (y) => y * y,
  0x09: (y) => y * y * y,
  0x0a: Math.sqrt,
  0x0b: Math.cbrt,
};

/**
 * §36.3: y = L[(M·x + B·10^Bexp)·10^R]. For a non-linear sensor (70h–7Fh) pass the factors Get
 * Sensor Reading Factors gave for this reading (see readReadingFactors); L is then the identity.
 * Null when the sensor has no numeric reading, the linearization is reserved, or L is undefined
 * at the value (ln 0, 1/0).
 */
export function convertReading(raw: number, factors: ConversionFactors): number | null {
  const x = rawToCount(raw, factors.analogFormat);
  if (x === null) return null;
  const linear = scale(factors.m * x + scale(factors.b, factors.bExp), factors.rExp);
  const l = isNonLinear(factors.linearization) ? LINEARIZE[0] : LINEARIZE[factors.linearization];
  if (!l) return null;
  const y = l(linear);
  return Number.isFinite(y) ? y + 0 : null; // + 0 turns −0 into 0
}

/** A hysteresis value in units: M·raw·10^R, without B (it is a difference of readings); linear sensors only. */
export function convertHysteresis(raw: number, factors: ConversionFactors): number | null {
  if (factors.analogFormat === 'none' || factors.linearization !== LINEARIZATION.LINEAR) return null;
  return Math.abs(scale(factors.m * (raw & 0xff), factors.rExp));
}

/** The tolerance in units, ±(M·tolerance/2)·10^R (§43.1 byte 26: in ±½ raw counts); linear sensors only. */
export function sensorTolerance(factors: ConversionFactors): number | null {
  if (factors.linearization !== LINEARIZATION.LINEAR) return null;
  return Math.abs(scale((factors.m * factors.tolerance) / 2, factors.rExp));
}

/** The accuracy in percent: accuracy (1/100 %) · 10^accuracyExp / 100 (§43.1 bytes 28–29). */
export function sensorAccuracy(factors: ConversionFactors): number {
  return scale(factors.accuracy, factors.accuracyExp - 2);
}

/** The value of one raw count, |M|·10^R; linear sensors only. */
export function sensorResolution(factors: ConversionFactors): number | null {
  if (factors.linearization !== LINEARIZATION.LINEAR) return null;
  return Math.abs(scale(factors.m, factors.rExp));
}

/** The unit text ipmitool prints: "degrees C", "% Watts", "Watts/hour", plus a rate: "RPM per minute". */
export function unitText(units: SensorUnits): string {
  const base = units.percentage && units.baseUnit === 0 ? 'percent' : `${units.percentage ? '% ' : ''}${unitName(units.baseUnit)}`;
  const combined =
    units.modifierUse === 'divide' ? `${base}/${unitName(units.modifierUnit)}`
    : units.modifierUse === 'multiply' ? `${base}*${unitName(units.modifierUnit)}`
    : base;
  const rate = RATE_UNITS[units.rateUnit];
  return rate ? `${combined} ${rate}` : combined;
}

// ---- Get Sensor Reading Factors (§35.5) -------------------------------------------------------

/** Get Sensor Reading Factors for one raw reading of a non-linear sensor. */
export async function readReadingFactors(
  send: IpmiSend,
  sensorNumber: number,
  rawReading: number,
  lun = 0,
): Promise<ReadingFactors> {
  const data = await command(
    send,
    'Get Sensor Reading Factors',
    { netFn: NETFN_SENSOR, cmd: 0x23, data: Uint8Array.of(sensorNumber, rawReading & 0xff), lun },
    7,
  );
  return { nextReading: data[0], ...parseFactorBytes(data, 1) };
}

// ---- Get Sensor Reading (§35.14) --------------------------------------------------------------

/** Threshold status and mask bits (§35.14 byte 3, §35.9 byte 2, §43.1 bytes 19–20): bit n = THRESHOLD_NAMES[n]. */
export const THRESHOLD_NAMES: readonly ThresholdName[] = ['lnc', 'lc', 'lnr', 'unc', 'uc', 'unr'];

export function thresholdNames(mask: number): ThresholdName[] {
  return THRESHOLD_NAMES.filter((_, bit) => mask & (1 << bit));
}

export interface SensorReading {
  /** The raw reading byte (meaningless for a discrete sensor without a numeric reading). */
  raw: number;
  /** No reading: the "reading/state unavailable" bit, or sensor scanning disabled. */
  unavailable: boolean;
  eventMessagesEnabled: boolean;
  scanningEnabled: boolean;
  /** Threshold sensors: bit 0–5 = at or below LNC, LC, LNR; at or above UNC, UC, UNR. Null otherwise. */
  thresholdStatus: number | null;
  /** Discrete sensors: the 15 state bits (bit n = offset n asserted). Null for threshold sensors. */
  states: number | null;
}

/** Parses Get Sensor Reading's data (after the completion code); undefined when shorter than 2 bytes. */
export function parseSensorReading(data: Buffer, eventReadingType: number): SensorReading | undefined {
  if (data.length < 2) return undefined;
  const flags = data[1];
  const scanningEnabled = (flags & 0x40) !== 0;
  const threshold = eventReadingType === 0x01;
  return {
    raw: data[0],
    unavailable: (flags & 0x20) !== 0 || !scanningEnabled,
    eventMessagesEnabled: (flags & 0x80) !== 0,
    scanningEnabled,
    thresholdStatus: threshold ? (data[2] ?? 0) & 0x3f : null,
    states: threshold ? null : (data[2] ?? 0) | (((data[3] ?? 0) & 0x7f) << 8),
  };
}

/** The ipmitool status of a threshold sensor: the most severe threshold crossed, or 'ok'. */
export function thresholdStatusText(status: number): 'ok' | 'lnc' | 'lcr' | 'lnr' | 'unc' | 'ucr' | 'unr' {
  if (status & 0x20) return 'unr';
  if (status & 0x04) return 'lnr';
  if (status & 0x10) return 'ucr';
  if (status & 0x02) return 'lcr';
  if (status & 0x08) return 'unc';
  if (status & 0x01) return 'lnc';
  return 'ok';
}

/** A reading with its value in units where the sensor has one. */
export interface SensorValue extends SensorReading {
  /** The converted reading; null when unavailable, discrete, or not numeric. */
  value: number | null;
}

/** Which sensor to ask: any full or compact record (owner LUN, number, event/reading type). */
type ReadableSensor = Pick<SensorRecord, 'sensorNumber' | 'ownerLun' | 'eventReadingType'> & {
  conversion?: ConversionFactors;
};

/**
 * Get Sensor Reading for a full or compact sensor, converted for full records with a numeric
 * format; a non-linear sensor's factors are fetched with Get Sensor Reading Factors. Sensors owned
 * by other controllers (owner id other than the BMC's) need bridging, which this does not do.
 */
export async function readSensorReading(send: IpmiSend, sensor: ReadableSensor): Promise<SensorValue> {
  const data = await command(
    send,
    'Get Sensor Reading',
    { netFn: NETFN_SENSOR, cmd: 0x2d, data: Uint8Array.of(sensor.sensorNumber), lun: sensor.ownerLun },
    2,
  );
  const reading = parseSensorReading(data, sensor.eventReadingType)!;
  const conv = sensor.conversion;
  if (reading.unavailable || !conv || conv.analogFormat === 'none') return { ...reading, value: null };
  if (!isNonLinear(conv.linearization)) return { ...reading, value: convertReading(reading.raw, conv) };
  const factors = await readReadingFactors(send, sensor.sensorNumber, reading.raw, sensor.ownerLun);
  return { ...reading, value: convertReading(reading.raw, { ...conv, ...factors }) };
}

// ---- Get Sensor Thresholds (§35.9) ------------------------------------------------------------

export interface SensorThresholds {
  /** Bit n = THRESHOLD_NAMES[n] is readable. */
  readable: number;
  /** The raw threshold values; null where not readable. */
  raw: Thresholds<number | null>;
}

/** Parses Get Sensor Thresholds' data: mask, then LNC, LC, LNR, UNC, UC, UNR. Undefined when short. */
export function parseSensorThresholds(data: Buffer): SensorThresholds | undefined {
  if (data.length < 7) return undefined;
  const readable = data[0] & 0x3f;
  const raw = Object.fromEntries(
    THRESHOLD_NAMES.map((name, bit) => [name, readable & (1 << bit) ? data[1 + bit] : null]),
  ) as Thresholds<number | null>;
  return { readable, raw };
}

export async function readSensorThresholds(
  send: IpmiSend,
  sensor: Pick<SensorRecord, 'sensorNumber' | 'ownerLun'>,
): Promise<SensorThresholds> {
  const data = await command(
    send,
    'Get Sensor Thresholds',
    { netFn: NETFN_SENSOR, cmd: 0x27, data: Uint8Array.of(sensor.sensorNumber), lun: sensor.ownerLun },
    7,
  );
  return parseSensorThresholds(data)!;
}

/** A full record's thresholds in units, for the thresholds its readable mask names; null elsewhere. */
export function convertThresholds(
  sensor: Pick<FullSensorRecord, 'conversion' | 'readableThresholds'>,
  raw: Thresholds<number | null>,
): Thresholds<number | null> {
  return Object.fromEntries(
    THRESHOLD_NAMES.map((name, bit) => {
      const v = raw[name];
      const readable = (sensor.readableThresholds & (1 << bit)) !== 0;
      return [name, readable && v !== null ? convertReading(v, sensor.conversion) : null];
    }),
  ) as Thresholds<number | null>;
}
