// The SDR repository walk, record parsing, id strings, reading conversion and the sensor commands,
// checked against what ipmi_sim sent and what ipmitool printed for it (fixtures/sim-captures.ts).

import { describe, expect, it } from 'vitest';
import {
  decodeIdString,
  hasReading,
  isSensorRecord,
  isThresholdSensor,
  parseSdrRecord,
  parseSdrRepositoryInfo,
  readSdrRepository,
  readSdrRepositoryInfo,
  sharedSensors,
  type FullSensorRecord,
  type SdrRecord,
  type SensorRecord,
} from '../../../../providers/ipmi/sdr.js';
import {
  convertHysteresis,
  convertReading,
  convertThresholds,
  parseFactorBytes,
  parseSensorReading,
  parseSensorThresholds,
  readReadingFactors,
  readSensorReading,
  readSensorThresholds,
  sensorAccuracy,
  sensorResolution,
  sensorTolerance,
  thresholdNames,
  thresholdStatusText,
  unitText,
  type ConversionFactors,
} from '../../../../providers/ipmi/sensor.js';
import { IpmiCommandError } from '../../../../providers/ipmi/records.js';
import { eventText, sensorTypeName, unitName } from '../../../../providers/ipmi/tables.js';
import type { IpmiRequest, IpmiResponse } from '../../../../providers/ipmi/transport.js';
import { fakeStore, hex } from './fixtures/fake-bmc.js';
import {
  READINGS,
  SDR_ELIST,
  SDR_INFO,
  SDR_RECORDS_6BIT,
  SDR_RECORDS_8BIT,
  SDRCOMP_6BIT_RECORD,
  SDRCOMP_BCD_RECORD,
  SENSOR_LIST,
  THRESHOLDS,
} from './fixtures/sim-captures.js';

const raw8 = SDR_RECORDS_8BIT.map(hex);
const raw6 = SDR_RECORDS_6BIT.map(hex);
const records8 = raw8.map(parseSdrRecord);
const sensors = records8.filter(isSensorRecord);

function sensor(number: number): SensorRecord {
  const found = sensors.find((s) => s.sensorNumber === number);
  if (!found) throw new Error(`no sensor ${number}`);
  return found;
}
function full(number: number): FullSensorRecord {
  const s = sensor(number);
  if (s.type !== 'full') throw new Error(`sensor ${number} is ${s.type}`);
  return s;
}

const LINEAR: ConversionFactors = {
  analogFormat: 'unsigned', linearization: 0, m: 1, b: 0, bExp: 0, rExp: 0, tolerance: 0, accuracy: 0, accuracyExp: 0,
};

/** How ipmitool prints a value in `sdr elist` and `sel elist`: no decimals when whole, else two. */
const short = (v: number) => (Number.isInteger(v) ? v.toFixed(0) : v.toFixed(2));
const hex2 = (n: number) => n.toString(16).padStart(2, '0');

describe('SDR records from ipmi_sim', () => {
  it('parses the CPU Temp full record field by field', () => {
    const cpu = full(1);
    expect(cpu).toMatchObject({
      type: 'full', recordId: 2, sdrVersion: 0x51, recordType: 0x01,
      ownerId: 0x20, ownerLun: 0, channel: 0, sensorNumber: 1,
      entityId: 3, entityInstance: 1, logicalEntity: false,
      sensorType: 0x01, eventReadingType: 0x01, direction: 'input', idString: 'CPU Temp',
      initialization: {
        settable: false, initScanning: true, initEvents: true, initThresholds: false, initHysteresis: false,
        initSensorType: true, eventsEnabledByDefault: true, scanningEnabledByDefault: true,
      },
      capabilities: { ignoreIfEntityAbsent: false, autoRearm: false, hysteresis: 'none', thresholdAccess: 'settable', eventMessageControl: 'per-threshold' },
      // assert/deassert uncgh (7), ucgh (9), unrgh (11)
      assertionEvents: 0x0a80, deassertionEvents: 0x0a80, thresholdsReturned: 0, discreteReadingMask: 0,
      readableThresholds: 0x38, settableThresholds: 0x38,
      units: { analogFormat: 'unsigned', rateUnit: 0, modifierUse: 'none', percentage: false, baseUnit: 1, modifierUnit: 0 },
      conversion: { analogFormat: 'unsigned', linearization: 0, m: 1, b: 0, bExp: 0, rExp: 0, tolerance: 0, accuracy: 1, accuracyExp: 0 },
      nominalSpecified: true, normalMaxSpecified: false, normalMinSpecified: false,
      nominalReading: 45, sensorMax: 255, sensorMin: 0,
      thresholds: { unr: 105, uc: 95, unc: 85, lnr: 0, lc: 0, lnc: 0 },
      positiveHysteresis: 0, negativeHysteresis: 0,
    });
    expect(thresholdNames(cpu.readableThresholds)).toEqual(['unc', 'uc', 'unr']); // ipmitool: "unc ucr unr"
    expect(thresholdNames(full(3).readableThresholds)).toEqual(['lnc', 'lc']); // FAN1: "lcr lnc"
  });

  it("parses the 2's complement Ambient record: signed B, R, tolerance, accuracy, hysteresis, normal range", () => {
    const amb = full(8);
    expect(amb.conversion).toEqual({ analogFormat: 'twos-complement', linearization: 0, m: 5, b: -20, bExp: 0, rExp: -1, tolerance: 2, accuracy: 150, accuracyExp: 1 });
    expect(amb).toMatchObject({
      entityId: 0x27, capabilities: { hysteresis: 'readable', thresholdAccess: 'readable' },
      nominalSpecified: true, normalMaxSpecified: true, normalMinSpecified: true,
      nominalReading: 10, normalMax: 30, normalMin: 0, sensorMax: 0x7f, sensorMin: 0x80,
      positiveHysteresis: 2, negativeHysteresis: 2,
    });
    const c = amb.conversion;
    expect(convertReading(amb.nominalReading, c)).toBe(3);
    expect(convertReading(amb.normalMax, c)).toBe(13);
    expect(convertReading(amb.normalMin, c)).toBe(-2);
    expect(convertReading(amb.sensorMax, c)).toBe(61.5);
    expect(convertReading(amb.sensorMin, c)).toBe(-66);
    expect(convertHysteresis(amb.positiveHysteresis, c)).toBe(1);
    expect(sensorTolerance(c)).toBe(0.5);
    expect(sensorAccuracy(c)).toBe(15);
    expect(sensorResolution(c)).toBe(0.5);
    expect(sensorResolution(full(4).conversion)).toBe(0.06);
    expect(sensorAccuracy(full(4).conversion)).toBe(0.01);
  });

  it('parses the compact, event-only and MC locator records', () => {
    expect(sensor(6)).toMatchObject({
      type: 'compact', idString: 'CPU1 Status', sensorType: 0x07, eventReadingType: 0x6f,
      assertionEvents: 0x80, discreteReadingMask: 0x81, readableThresholds: 0,
      units: { analogFormat: 'none' },
      sharing: { shareCount: 0, modifierType: 'numeric', modifierOffset: 0, entityInstanceIncrements: false },
    });
    expect(sensor(9)).toMatchObject({
      type: 'compact', idString: 'PS', sensorType: 0x08, eventReadingType: 0x08, discreteReadingMask: 0x03,
      sharing: { shareCount: 2, modifierType: 'numeric', modifierOffset: 1, entityInstanceIncrements: true },
    });
    expect(sensor(7)).toMatchObject({
      type: 'event-only', idString: 'Sys Event', sensorType: 0x12, eventReadingType: 0x6f, entityId: 7, entityInstance: 1,
    });
    expect(hasReading(sensor(7))).toBe(false);
    expect(hasReading(sensor(6))).toBe(true);
    expect(records8[0]).toMatchObject({
      type: 'mc-locator', recordId: 1, slaveAddress: 0x20, channel: 0, capabilities: 0x97,
      chassisDevice: true, bridge: false, ipmbEventGenerator: false, ipmbEventReceiver: true, fruInventoryDevice: false,
      selDevice: true, sdrRepositoryDevice: true, sensorDevice: true, entityId: 7, entityInstance: 1, idString: 'BMC sim',
    });
  });

  it('expands a shared record into its sensors (PS1, PS2; alpha: A, B … AA)', () => {
    expect(sharedSensors(sensor(9))).toEqual([
      { sensorNumber: 9, entityInstance: 1, idString: 'PS1' },
      { sensorNumber: 10, entityInstance: 2, idString: 'PS2' },
    ]);
    const alpha = hex(SDR_RECORDS_8BIT[9]);
    alpha[23] = 0x13; // alpha modifier, share count 3
    alpha[24] = 0x19; // offset 25, same entity instance
    expect(sharedSensors(parseSdrRecord(alpha) as SensorRecord).map((s) => [s.sensorNumber, s.entityInstance, s.idString])).toEqual([
      [9, 1, 'PSZ'], [10, 1, 'PSAA'], [11, 1, 'PSAB'],
    ]);
    expect(sharedSensors(full(1))).toEqual([{ sensorNumber: 1, entityInstance: 1, idString: 'CPU Temp' }]);
  });

  it('parses the 6-bit packed repository to the same records as the 8-bit one', () => {
    const records6 = raw6.map(parseSdrRecord);
    expect(records6.map((r) => ('idString' in r ? r.idString : r.type))).toEqual([
      'BMC sim', 'CPU Temp', 'Inlet Temp', 'FAN1', '12V', '3.3V', 'CPU1 Status', 'Sys Event', 'Ambient', 'PS', '-12V',
    ]);
    expect(records6).toEqual(records8);
  });

  it('reproduces `ipmitool sdr elist all` from the records and Get Sensor Reading', () => {
    const lines = records8.map((rec) => elistLine(rec));
    expect(lines).toEqual(SDR_ELIST);
  });

  it('reproduces `ipmitool sensor list` from the records, Get Sensor Reading and Get Sensor Thresholds', () => {
    const rows = sensors.filter(hasReading).map((s) => sensorListRow(s));
    expect(rows).toEqual(SENSOR_LIST);
  });

  it('converts the SDR thresholds as Get Sensor Thresholds reports them', () => {
    for (const s of sensors) {
      if (s.type !== 'full') continue;
      const got = parseSensorThresholds(hex(THRESHOLDS[s.sensorNumber]))!;
      expect(got.readable, s.idString).toBe(s.readableThresholds);
      expect(convertThresholds(s, s.thresholds), s.idString).toEqual(convertThresholds(s, got.raw));
    }
    expect(convertThresholds(full(4), full(4).thresholds)).toEqual({ lnc: null, lc: 10.8, lnr: null, unc: null, uc: 13.2, unr: null });
    expect(convertThresholds(full(11), full(11).thresholds)).toEqual({ lnc: null, lc: -13.2, lnr: null, unc: null, uc: null, unr: null });
  });
});

/** One `sdr elist` line: name | number | status | entity | reading or state. */
function elistLine(rec: SdrRecord): string {
  if (rec.type === 'mc-locator') {
    return row(rec.idString, 0, 'ok', `${rec.entityId}.${rec.entityInstance}`, `Dynamic MC @ ${hex2(rec.slaveAddress).toUpperCase()}h`);
  }
  if (!isSensorRecord(rec)) throw new Error(`unexpected ${rec.type}`);
  const entity = `${rec.entityId}.${rec.entityInstance}`;
  if (!hasReading(rec)) return row(rec.idString, rec.sensorNumber, 'ns', entity, 'Event-Only');
  const reading = parseSensorReading(hex(READINGS[rec.sensorNumber]), rec.eventReadingType)!;
  if (rec.type === 'full' && isThresholdSensor(rec)) {
    const value = convertReading(reading.raw, rec.conversion)!;
    return row(rec.idString, rec.sensorNumber, thresholdStatusText(reading.thresholdStatus!), entity, `${short(value)} ${unitText(rec.units)}`);
  }
  const first = [...Array(15).keys()].find((bit) => reading.states! & (1 << bit))!;
  return row(rec.idString, rec.sensorNumber, 'ok', entity, eventText(rec.eventReadingType, rec.sensorType, first)!);

  function row(name: string, number: number, status: string, ent: string, text: string): string {
    return `${name.padEnd(16)} | ${hex2(number).toUpperCase()}h | ${status.padEnd(3)} | ${ent.padStart(4)} | ${text}`;
  }
}

/** One `sensor list` row: name | value | unit | status | LNR | LC | LNC | UNC | UC | UNR. */
function sensorListRow(s: SensorRecord): string {
  const reading = parseSensorReading(hex(READINGS[s.sensorNumber]), s.eventReadingType)!;
  let cells: string[];
  if (s.type === 'full' && isThresholdSensor(s)) {
    const thresholds = convertThresholds(s, parseSensorThresholds(hex(THRESHOLDS[s.sensorNumber]))!.raw);
    const status = { ok: 'ok', lnc: 'nc', unc: 'nc', lcr: 'cr', ucr: 'cr', lnr: 'nr', unr: 'nr' }[thresholdStatusText(reading.thresholdStatus!)];
    cells = [
      convertReading(reading.raw, s.conversion)!.toFixed(3), unitText(s.units), status,
      ...(['lnr', 'lc', 'lnc', 'unc', 'uc', 'unr'] as const).map((t) => thresholds[t]?.toFixed(3) ?? 'na'),
    ];
  } else {
    const states = reading.states!;
    cells = [`0x${(states & 0xff).toString(16)}`, 'discrete', `0x${hex2(states & 0xff)}${hex2(states >> 8)}`, ...Array(6).fill('na')];
  }
  const [value, unit, status, ...thresholds] = cells;
  return `${s.idString.padEnd(16)} | ${value.padEnd(10)} | ${unit.padEnd(10)} | ${status.padEnd(6)}| ${thresholds.map((t) => t.padEnd(10)).join('| ')}`.trimEnd();
}

describe('Get Sensor Reading', () => {
  it('reads the flags, threshold status and discrete states', () => {
    expect(parseSensorReading(hex(READINGS[1]), 0x01)).toEqual({
      raw: 45, unavailable: false, eventMessagesEnabled: true, scanningEnabled: true, thresholdStatus: 0, states: null,
    });
    const amb = parseSensorReading(hex(READINGS[8]), 0x01)!;
    expect(amb.thresholdStatus).toBe(0x10);
    expect(thresholdNames(amb.thresholdStatus!)).toEqual(['uc']);
    expect(thresholdStatusText(amb.thresholdStatus!)).toBe('ucr');
    expect(parseSensorReading(hex(READINGS[6]), 0x6f)).toMatchObject({ states: 0x80, thresholdStatus: null, eventMessagesEnabled: false });
    expect(parseSensorReading(hex('00 40 00 41'), 0x6f)!.states).toBe(0x4100); // byte 4 bit 7 reserved
  });

  it('treats "reading unavailable" and "scanning disabled" as no reading', () => {
    expect(parseSensorReading(hex(READINGS[10]), 0x08)).toMatchObject({ unavailable: true, scanningEnabled: false }); // shared PS2
    expect(parseSensorReading(hex('00 60'), 0x01)).toMatchObject({ unavailable: true, scanningEnabled: true, thresholdStatus: 0 });
    expect(parseSensorReading(hex('2d'), 0x01)).toBeUndefined();
  });

  it('readSensorReading converts a full sensor and gives null when unavailable', async () => {
    const replies: Record<number, string> = { 4: READINGS[4], 5: '00 20 00 00' };
    const log: IpmiRequest[] = [];
    const send = async (req: IpmiRequest): Promise<IpmiResponse> => {
      log.push(req);
      return { cc: 0, data: hex(replies[req.data![0]]) };
    };
    expect(await readSensorReading(send, full(4))).toMatchObject({ value: 12.06, unavailable: false });
    expect(await readSensorReading(send, full(5))).toMatchObject({ value: null, unavailable: true });
    expect(log[0]).toEqual({ netFn: 0x04, cmd: 0x2d, data: Uint8Array.of(4), lun: 0 });
  });

  it('a non-zero completion code is an error naming the command', async () => {
    const send = async (): Promise<IpmiResponse> => ({ cc: 0xcb, data: Buffer.alloc(0) });
    const err = await readSensorReading(send, full(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpmiCommandError);
    expect((err as Error).message).toBe('Get Sensor Reading: requested sensor, data or record not present (0xcb)');
    await expect(readSensorThresholds(send, full(1))).rejects.toThrow(/^Get Sensor Thresholds: /);
  });

  it('readSensorThresholds returns the readable thresholds, null elsewhere', async () => {
    const send = async (req: IpmiRequest): Promise<IpmiResponse> => ({ cc: 0, data: hex(THRESHOLDS[req.data![0]]) });
    expect(await readSensorThresholds(send, full(3))).toEqual({ readable: 0x03, raw: { lnc: 20, lc: 10, lnr: null, unc: null, uc: null, unr: null } });
  });
});

describe('reading conversion (§36.3), by hand', () => {
  const f = (over: Partial<ConversionFactors>): ConversionFactors => ({ ...LINEAR, ...over });

  it('unsigned, 1’s complement and 2’s complement readings', () => {
    expect(convertReading(201, f({ m: 6, rExp: -2 }))).toBe(12.06);
    expect(convertReading(0xfb, f({ analogFormat: 'twos-complement', m: 5, b: -20, rExp: -1 }))).toBe(-4.5); // (5·−5 − 20)/10
    expect(convertReading(0x80, f({ analogFormat: 'twos-complement' }))).toBe(-128);
    expect(convertReading(0x9b, f({ analogFormat: 'ones-complement', m: 12, rExp: -2 }))).toBe(-12); // ~0x9b = 100
    expect(convertReading(0xff, f({ analogFormat: 'ones-complement' }))).toBe(0); // −0
    expect(convertReading(0x80, f({ analogFormat: 'ones-complement' }))).toBe(-127);
    expect(convertReading(0x7f, f({ analogFormat: 'ones-complement' }))).toBe(127);
    expect(convertReading(0xfb, f({}))).toBe(251);
  });

  it('negative M and B, B and R exponents', () => {
    expect(convertReading(10, f({ m: -3 }))).toBe(-30);
    expect(convertReading(100, f({ m: 2, b: -5, bExp: 2, rExp: -1 }))).toBe(-30); // (200 − 500)/10
    expect(convertReading(10, f({ b: 25, bExp: -1 }))).toBe(12.5);
    expect(convertReading(7, f({ rExp: 3 }))).toBe(7000);
    expect(convertReading(3, f({ m: 1, b: 1, bExp: 1, rExp: 2 }))).toBe(1300); // (3 + 10)·100
  });

  it('decodes 10-bit M and B and signed exponent nibbles from the factor bytes', () => {
    // M = 0x200 (−512), tolerance 63; B = 0x1ff (511), accuracy 0x3ff; accuracy exp 3; R = −8, Bexp = 7
    expect(parseFactorBytes(hex('00 bf ff 7f fc 87'), 0)).toEqual({ m: -512, tolerance: 63, b: 511, accuracy: 1023, accuracyExp: 3, rExp: -8, bExp: 7 });
    expect(parseFactorBytes(hex('fd c0 ec c0 00 f0'), 0)).toMatchObject({ m: -3, b: -20, rExp: -1, bExp: 0 });
  });

  it('applies each linearization function', () => {
    const at = (linearization: number, raw: number) => convertReading(raw, f({ linearization }));
    expect(at(0x01, 100)).toBeCloseTo(Math.log(100), 12);
    expect(at(0x02, 100)).toBe(2);
    expect(at(0x03, 64)).toBe(6);
    expect(at(0x04, 2)).toBeCloseTo(Math.E ** 2, 12);
    expect(at(0x05, 3)).toBe(1000);
    expect(at(0x06, 10)).toBe(1024);
    expect(at(0x07, 4)).toBe(0.25);
    expect(at(0x08, 12)).toBe(144);
    expect(at(0x09, 3)).toBe(27);
    expect(at(0x0a, 81)).toBe(9);
    expect(at(0x0b, 27)).toBe(3);
    expect(convertReading(5, f({ linearization: 0x02, m: 2, rExp: 1 }))).toBe(2); // log10((2·5)·10)
  });

  it('gives null where there is no value: no analog format, reserved linearization, ln 0, 1/0', () => {
    expect(convertReading(5, f({ analogFormat: 'none' }))).toBeNull();
    expect(convertReading(5, f({ linearization: 0x0c }))).toBeNull();
    expect(convertReading(0, f({ linearization: 0x01 }))).toBeNull();
    expect(convertReading(0, f({ linearization: 0x07 }))).toBeNull();
    expect(sensorResolution(f({ linearization: 0x01 }))).toBeNull();
    expect(sensorTolerance(f({ linearization: 0x70 }))).toBeNull();
  });

  it('converts a non-linear sensor with the factors Get Sensor Reading Factors gives for its reading', async () => {
    const nonLinear: FullSensorRecord = { ...full(1), sensorNumber: 0x42, ownerLun: 1, conversion: f({ linearization: 0x70, m: 1 }) };
    const log: IpmiRequest[] = [];
    const send = async (req: IpmiRequest): Promise<IpmiResponse> => {
      log.push(req);
      // 04/2D: raw 0x40; 04/23: next reading 0x50, M = 3, B = 10, R = −1
      return { cc: 0, data: hex(req.cmd === 0x2d ? '40 c0 00 00' : '50 03 00 0a 00 00 f0') };
    };
    const value = await readSensorReading(send, nonLinear);
    expect(value.value).toBe(20.2); // (3·64 + 10)/10
    expect(log.map((r) => [r.netFn, r.cmd, [...(r.data ?? [])], r.lun])).toEqual([
      [0x04, 0x2d, [0x42], 1],
      [0x04, 0x23, [0x42, 0x40], 1],
    ]);
    expect(await readReadingFactors(send, 0x42, 0x40, 1)).toEqual({ nextReading: 0x50, m: 3, tolerance: 0, b: 10, accuracy: 0, accuracyExp: 0, rExp: -1, bExp: 0 });
    expect(convertReading(0x40, nonLinear.conversion)).toBe(64); // the SDR's own factors, L = identity
  });
});

describe('id strings (§43.15)', () => {
  it('decodes OpenIPMI’s BCD plus and 6-bit packed names (length in characters)', () => {
    expect(parseSdrRecord(hex(SDRCOMP_BCD_RECORD))).toMatchObject({ type: 'event-only', sensorNumber: 0x30, idString: '12:30-1.5_,' });
    expect(parseSdrRecord(hex(SDRCOMP_6BIT_RECORD))).toMatchObject({ type: 'event-only', sensorNumber: 0x31, idString: 'CPU1 VCORE' });
    expect(decodeIdString(0x42, hex('21'))).toBe('12');
    expect(decodeIdString(0x41, hex('05'))).toBe('5');
    expect(decodeIdString(0x44, hex('ba dc'))).toBe(' -.:'); // low nibble first: a space, b '-', c '.', d ':'
  });

  it('decodes 6-bit ASCII least significant bits first, table from space, whether the length counts characters or bytes', () => {
    expect(decodeIdString(0x84, hex('66 e8 46'))).toBe('FAN1'); // 4 characters
    expect(decodeIdString(0x83, hex('66 e8 46'))).toBe('FAN1'); // 3 bytes
    expect(decodeIdString(0x83, hex('91 64 03'))).toBe('12V'); // 3 characters, padding dropped
    expect(decodeIdString(0x83, hex('e0 ff 7d'))).toBe('@_??'); // 20h '@', 3Fh '_', 1Fh '?', 1Fh '?'
    expect(decodeIdString(0x84, hex('66'))).toBe('F'); // cut short: what is there
  });

  it('decodes 8-bit ASCII as Latin-1, trims trailing NULs, and clamps lengths to the bytes present', () => {
    expect(decodeIdString(0xc6, hex('46 41 4e 31 00 00'))).toBe('FAN1');
    expect(decodeIdString(0xc4, Buffer.from('Temp°', 'latin1'))).toBe('Temp');
    expect(decodeIdString(0xc5, Buffer.from('Tëmp°', 'latin1'))).toBe('Tëmp°');
    expect(decodeIdString(0xdf, Buffer.from('abc'))).toBe('abc');
    expect(decodeIdString(0xc0, Buffer.alloc(0))).toBe('');
    expect(decodeIdString(undefined, Buffer.alloc(0))).toBe('');
  });

  it('decodes unicode as UTF-16LE when the bytes are there, else as Latin-1', () => {
    expect(decodeIdString(0x02, Buffer.from('AB', 'utf16le'))).toBe('AB');
    expect(decodeIdString(0x03, Buffer.from('AB', 'latin1'))).toBe('AB');
  });
});

describe('truncated and malformed records', () => {
  const all = [...raw8, ...raw6, hex(SDRCOMP_BCD_RECORD), hex(SDRCOMP_6BIT_RECORD)];

  it('every strict prefix of every record parses to invalid without throwing', () => {
    for (const raw of all) {
      for (let n = 0; n < raw.length; n++) {
        const rec = parseSdrRecord(raw.subarray(0, n));
        expect(rec.type, `${raw.subarray(0, 2).toString('hex')} cut at ${n}`).toBe('invalid');
      }
    }
  });

  it('a record whose length byte is too small for its type is invalid; extra bytes past the length are ignored', () => {
    for (const raw of all) {
      for (let len = 0; len <= raw[4]; len++) {
        const cut = Buffer.from(raw.subarray(0, 5 + len));
        cut[4] = len;
        expect(() => parseSdrRecord(cut)).not.toThrow();
      }
    }
    const short = Buffer.from(raw8[1].subarray(0, 40));
    short[4] = 35;
    expect(parseSdrRecord(short)).toMatchObject({ type: 'invalid', recordId: 2, recordType: 1 });
    expect(parseSdrRecord(Buffer.concat([raw8[1], hex('ff ff ff')]))).toEqual(records8[1]);
  });

  it('arbitrary bytes never throw', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) & 0xff;
    for (let i = 0; i < 3000; i++) {
      const buf = Buffer.from(Array.from({ length: rand() % 80 }, rand));
      if (buf.length > 3) buf[3] = [0x01, 0x02, 0x03, 0x12, 0x08][i % 5];
      expect(() => parseSdrRecord(buf)).not.toThrow();
    }
  });

  it('other record types are kept as "other"', () => {
    expect(parseSdrRecord(hex('0c 00 51 11 03 01 02 03'))).toEqual({ type: 'other', recordId: 12, sdrVersion: 0x51, recordType: 0x11 });
  });
});

describe('Get SDR Repository Info', () => {
  it('parses the simulator’s answer', async () => {
    const send = async (): Promise<IpmiResponse> => ({ cc: 0, data: hex(SDR_INFO) });
    const info = await readSdrRepositoryInfo(send);
    expect(info).toEqual({
      version: 0x51, recordCount: 11, freeSpace: 0xfffe, mostRecentAddition: 0x6b01d92d, mostRecentErase: 0,
      overflow: false, updateMode: 'unspecified', supportsDelete: false, supportsPartialAdd: false,
      supportsReserve: true, supportsAllocationInfo: false, changeStamp: info.changeStamp,
    });
  });

  it('changeStamp changes with an addition, an erase or the record count', () => {
    const base = hex(SDR_INFO);
    const stamp = (edit: (b: Buffer) => void) => {
      const b = Buffer.from(base);
      edit(b);
      return parseSdrRepositoryInfo(b)!.changeStamp;
    };
    const original = stamp(() => {});
    expect(stamp((b) => b.writeUInt32LE(0x6b01d92e, 5))).not.toBe(original);
    expect(stamp((b) => b.writeUInt32LE(0x6b01d930, 9))).not.toBe(original);
    expect(stamp((b) => b.writeUInt16LE(12, 1))).not.toBe(original);
    expect(stamp(() => {})).toBe(original);
    expect(parseSdrRepositoryInfo(base.subarray(0, 13))).toBeUndefined();
  });
});

describe('readSdrRepository', () => {
  const sdrStore = (over: Partial<Parameters<typeof fakeStore>[0]> = {}) =>
    fakeStore({ reserveCmd: 0x22, getCmd: 0x23, records: raw8, ...over });
  const ids = [0x0001, 0x0010, 0x0203, 0x0204, 0x1000, 0x2000, 0x2001, 0x7fff, 0x8000, 0xa0a0, 0xfffe];

  it('walks every record: header first, then the body in reads of at most 16 bytes', async () => {
    const bmc = sdrStore();
    const repo = await readSdrRepository(bmc.send);
    expect(repo.raw).toEqual(raw8);
    expect(repo.records).toEqual(records8);
    expect(repo.loopAt).toBeUndefined();
    expect(bmc.reserves).toBe(1);
    expect(bmc.gets[0]).toMatchObject({ id: 0, offset: 0, count: 5, reservation: 0x101 });
    expect(Math.max(...bmc.gets.map((g) => g.count))).toBe(16);
    // CPU Temp: 56 bytes = header, then 16 + 16 + 16 + 3
    expect(bmc.gets.filter((g) => g.id === 2).map((g) => [g.offset, g.count])).toEqual([[0, 5], [5, 16], [21, 16], [37, 16], [53, 3]]);
  });

  it('follows non-contiguous record ids', async () => {
    const bmc = sdrStore({ ids });
    const repo = await readSdrRepository(bmc.send);
    expect(repo.records.map((r) => ('recordId' in r ? r.recordId : -1))).toEqual(ids);
    expect([...new Set(bmc.gets.map((g) => g.id))]).toEqual([0, ...ids.slice(1)]);
  });

  it('asks for fewer bytes after completion code CAh', async () => {
    const bmc = sdrStore({ maxRead: 6, ids });
    const repo = await readSdrRepository(bmc.send);
    expect(repo.raw.map((b) => b.subarray(2))).toEqual(raw8.map((b) => b.subarray(2)));
    // 16 is refused, then 8; from then on the walk asks for at most 4
    expect(bmc.gets.filter((g) => g.cc === 0xca).map((g) => g.count)).toEqual([16, 8]);
    const last = bmc.gets.map((g) => g.cc).lastIndexOf(0xca);
    expect(bmc.gets.slice(last + 1).every((g) => g.cc === 0 && g.count <= 5)).toBe(true);
  });

  it('reserves again after C5h mid-walk and still returns every record once', async () => {
    const bmc = sdrStore({ ids, cancelAtGet: 17 });
    const repo = await readSdrRepository(bmc.send);
    expect(bmc.reserves).toBe(2);
    expect(bmc.gets[16].cc).toBe(0xc5);
    const restarted = bmc.gets[17];
    expect(restarted).toMatchObject({ id: bmc.gets[16].id, offset: 0, count: 5, reservation: 0x103 });
    expect(repo.raw.map((b) => b.readUInt16LE(0))).toEqual(ids);
    expect(repo.raw.map((b) => b.subarray(2))).toEqual(raw8.map((b) => b.subarray(2)));
  });

  it('stops when a next-record id points back (a looping BMC), each record once', async () => {
    const bmc = sdrStore({ ids, nextOf: { 5: ids[2] } });
    const repo = await readSdrRepository(bmc.send);
    expect(repo.loopAt).toBe(ids[2]);
    expect(repo.raw.map((b) => b.readUInt16LE(0))).toEqual(ids.slice(0, 6));
    const self = sdrStore({ nextOf: { 0: 0x0000 } }); // record 1 says its next is 0000h, which is itself
    expect((await readSdrRepository(self.send)).raw).toHaveLength(1);
    const alias = sdrStore({ nextOf: { 2: 0x0001 } }); // back to the first record by its real id
    const aliased = await readSdrRepository(alias.send);
    expect(aliased.raw).toHaveLength(3);
    expect(aliased.loopAt).toBe(1);
  });

  it('bounds the walk by records, bytes and reservations', async () => {
    await expect(readSdrRepository(sdrStore().send, undefined, { maxRecords: 3 })).rejects.toThrow(/more than 3 records/);
    await expect(readSdrRepository(sdrStore().send, undefined, { maxBytes: 100 })).rejects.toThrow(/more than 100 bytes/);
    const cancelling = sdrStore({ alwaysCancel: true });
    await expect(readSdrRepository(cancelling.send)).rejects.toThrow(/reservation keeps being cancelled/);
    expect(cancelling.reserves).toBe(33);
    // a BMC that always has one more record: every id answers, each pointing to id + 1
    const endless = async (req: IpmiRequest): Promise<IpmiResponse> => {
      if (req.cmd === 0x22) return { cc: 0, data: hex('01 00') };
      const d = Buffer.from(req.data!);
      const id = d.readUInt16LE(2) || 1;
      const rec = hex('00 00 51 c0 04 01 02 03 04');
      rec.writeUInt16LE(id, 0);
      const next = Buffer.from([(id + 1) & 0xff, (id + 1) >> 8]);
      return { cc: 0, data: Buffer.concat([next, rec.subarray(d[4], d[4] + d[5])]) };
    };
    await expect(readSdrRepository(endless, undefined, { maxRecords: 50 })).rejects.toThrow('Get SDR: more than 50 records; giving up');
    await expect(readSdrRepository(endless)).rejects.toThrow('Get SDR: more than 4096 records; giving up');
  });

  it('names the command and completion code on other errors', async () => {
    const err = await readSdrRepository(sdrStore({ failAt: { index: 3, cc: 0xff } }).send).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpmiCommandError);
    expect(err).toMatchObject({ command: 'Get SDR', cc: 0xff, message: 'Get SDR: unspecified error (0xff)' });
    await expect(readSdrRepository(sdrStore({ reserveCc: 0xd4 }).send)).rejects.toThrow(
      'Reserve SDR Repository: insufficient privilege level (0xd4)',
    );
  });

  it('walks with reservation 0000h when Reserve SDR Repository is not implemented', async () => {
    const bmc = sdrStore({ reserveCc: 0xc1, noReservations: true });
    expect((await readSdrRepository(bmc.send)).raw).toEqual(raw8);
    expect(bmc.gets.every((g) => g.reservation === 0)).toBe(true);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    const bmc = sdrStore();
    const send = async (req: IpmiRequest) => {
      if (bmc.gets.length === 4) controller.abort();
      return bmc.send(req);
    };
    await expect(readSdrRepository(send, controller.signal)).rejects.toThrow(/abort/i);
    expect(bmc.gets.length).toBeLessThan(8);
  });
});

describe('code tables', () => {
  it('names sensor types, units and events', () => {
    expect([1, 2, 3, 4, 5, 7, 8, 0x0c, 0x12, 0x23, 0x2c].map(sensorTypeName)).toEqual([
      'Temperature', 'Voltage', 'Current', 'Fan', 'Physical Security', 'Processor', 'Power Supply', 'Memory',
      'System Event', 'Watchdog 2', 'FRU State',
    ]);
    expect(sensorTypeName(0xc3)).toBe('OEM sensor type 0xc3');
    expect([0, 1, 2, 3, 4, 5, 6, 18, 19].map(unitName)).toEqual([
      'unspecified', 'degrees C', 'degrees F', 'degrees K', 'Volts', 'Amps', 'Watts', 'RPM', 'Hz',
    ]);
    expect(eventText(0x01, 0x01, 0)).toBe('Lower Non-critical going low');
    expect(eventText(0x01, 0x01, 11)).toBe('Upper Non-recoverable going high');
    expect(eventText(0x03, 0, 1)).toBe('State Asserted');
    expect(eventText(0x0b, 0, 1)).toBe('Redundancy Lost');
    expect(eventText(0x6f, 0x23, 8)).toBe('Timer interrupt');
    expect(eventText(0x6f, 0x23, 4)).toBeUndefined(); // reserved
    expect(eventText(0x6f, 0x01, 0)).toBeUndefined(); // temperature has no sensor-specific offsets
    expect(unitText({ analogFormat: 'unsigned', rateUnit: 4, modifierUse: 'none', percentage: false, baseUnit: 41, modifierUnit: 0 })).toBe(
      'revolutions per minute',
    );
    expect(unitText({ analogFormat: 'unsigned', rateUnit: 0, modifierUse: 'divide', percentage: true, baseUnit: 6, modifierUnit: 24 })).toBe(
      '% Watts/hour',
    );
  });
});
