// The CIM shapes of what a BMC said (providers/ipmi/instances.ts), from bytes captured off ipmi_sim.
import { describe, expect, it } from 'vitest';
import type { SensorState } from '../../../../providers/ipmi/bmc.js';
import { logRecord, numericSensor, UNKNOWN_TIME, type BmcIdentity } from '../../../../providers/ipmi/instances.js';
import { parseSdrRecord, type FullSensorRecord } from '../../../../providers/ipmi/sdr.js';
import { decodeSelRecord } from '../../../../providers/ipmi/sel.js';
import { convertReading, convertThresholds, parseSensorReading, parseSensorThresholds } from '../../../../providers/ipmi/sensor.js';
import { READINGS, SDR_RECORDS_8BIT, SEL_ENTRIES, SEL_ENTRIES_LATER, THRESHOLDS } from './fixtures/sim-captures.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const bmc: BmcIdentity = { name: 'bmc1', address: '127.0.0.1:623', pollIntervalMs: 10_000, requestedState: 12 };
const readAt = new Date('2026-11-21T17:00:00Z');

/** A full sensor as the poller would hold it: its SDR record, reading and thresholds from the captures. */
function sensor(index: number): SensorState {
  const record = parseSdrRecord(hex(SDR_RECORDS_8BIT[index])) as FullSensorRecord;
  const reading = parseSensorReading(hex(READINGS[record.sensorNumber]), record.eventReadingType)!;
  return {
    record,
    sensorNumber: record.sensorNumber,
    name: record.idString,
    reading: { ...reading, value: convertReading(reading.raw, record.conversion) },
    thresholds: convertThresholds(record, parseSensorThresholds(hex(THRESHOLDS[record.sensorNumber]))!.raw),
  };
}
/** A SEL record from a Get SEL Entry response (next id, then the 16 bytes). */
const sel = (response: string) => decodeSelRecord(hex(response).subarray(2));

describe('NumericSensor values (DSP1009)', () => {
  it('12V: R = -2 gives UnitModifier -2 and integers in hundredths of a volt', () => {
    expect(numericSensor(bmc, sensor(4), readAt)).toMatchObject({
      DeviceID: '12V(4.0.32)', BaseUnits: 5, UnitModifier: -2, CurrentReading: 1206, Resolution: 6,
      LowerThresholdCritical: 1080, UpperThresholdCritical: 1320, LowerThresholdNonCritical: null,
      SupportedThresholds: [2, 3], SettableThresholds: [], CurrentState: 'Normal', HealthState: 5,
      SensorType: 3, PollingInterval: 10_000_000_000, TimeOfLastReading: readAt,
    });
  });
  it('Ambient: two\'s complement, B = -20, R = -1; past a threshold (as ipmi_sim reports it) is its state', () => {
    const v = numericSensor(bmc, sensor(8), readAt);
    expect(v).toMatchObject({ CurrentReading: -45, UnitModifier: -1, UpperThresholdCritical: 180, LowerThresholdCritical: -70 });
    expect(v).toMatchObject({ CurrentState: 'Upper Critical', HealthState: 25, OperationalStatus: [6] });
  });
  it('an unavailable reading is Unknown with no CurrentReading', () => {
    const s = sensor(1);
    s.reading = { ...s.reading!, unavailable: true, value: null };
    expect(numericSensor(bmc, s, readAt)).toMatchObject({ CurrentReading: null, CurrentState: 'Unknown', HealthState: 0 });
  });
});

describe('LogRecord values (IPMIPrv\'s layout)', () => {
  const sensors = [sensor(1)];
  it('a system event: Caption, RecordFormat/RecordData fields in SEL byte order, a pre-init time as the unknown date', () => {
    const v = logRecord(bmc, sel(SEL_ENTRIES[0]), sensors);
    expect(v).toMatchObject({
      Caption: 'Temperature Assert: Upper Non-critical going high',
      Description: 'Temperature CPU Temp | Upper Non-critical going high | Asserted | Reading 86 > Threshold 85 degrees C',
      ElementName: 'CPU Temp', LogName: 'SEL:bmc1', RecordID: '1', MessageTimestamp: UNKNOWN_TIME, PerceivedSeverity: 3,
    });
    const fields = String(v.RecordFormat).split('*').filter(Boolean);
    const data = String(v.RecordData).split('*').filter(Boolean);
    expect(fields).toHaveLength(13);
    expect(data).toHaveLength(13);
    expect(Object.fromEntries(fields.map((f, i) => [f.split(' ')[1], data[i]]))).toMatchObject({
      'CIM_Sensor.DeviceID': 'CPU Temp(1.0.32)', IPMI_RecordID: '01 00', IPMI_RecordType: '02', IPMI_GeneratorID: '20 00',
      IPMI_EvMRev: '04', IPMI_SensorType: '01', IPMI_SensorNumber: '01', IPMI_AssertionEvent: 'true', IPMI_EventType: '01',
      IPMI_EventData1: '57', IPMI_EventData2: '56', IPMI_EventData3: '55',
    });
  });
  it('a real timestamp is the MessageTimestamp', () => {
    expect(logRecord(bmc, sel(SEL_ENTRIES_LATER[0]), sensors).MessageTimestamp).toEqual(new Date('2026-11-21T17:00:02Z'));
  });
  it('OEM records: "OEM SEL", and the timestamped and non-timestamped layouts', () => {
    const stamped = logRecord(bmc, sel(SEL_ENTRIES_LATER[1]), sensors);
    expect(stamped).toMatchObject({ Caption: 'OEM SEL', RecordData: '*04 00*C1*12 CE 01 6B*01 02 03*04 05 06 07 08 09*' });
    expect(String(stamped.RecordFormat)).toContain('uint8[3] IPMI_ManufacturerID');
    const plain = logRecord(bmc, sel(SEL_ENTRIES_LATER[2]), sensors);
    expect(plain).toMatchObject({ Caption: 'OEM SEL', MessageTimestamp: UNKNOWN_TIME, RecordData: '*05 00*E0*01 02 03 04 05 06 07 08 09 0A 0B 0C 0D*' });
  });
});
