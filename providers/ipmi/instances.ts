// A BMC snapshot as CIM instances: pure functions from what the BMC said to property values, in
// the shapes Windows' IPMI provider uses (MS docs, ipmiprv) and DSP1009/DSP1010 where it is silent.
import type { Values } from '../common/cim.js';
import type { BmcSnapshot, SensorState } from './bmc.js';
import type { FullSensorRecord, ThresholdName } from './sdr.js';
import { selText, type SelRecord } from './sel.js';
import { convertHysteresis, convertReading, sensorAccuracy, sensorResolution, sensorTolerance, THRESHOLD_NAMES, thresholdNames } from './sensor.js';
import { eventText, sensorTypeName } from './tables.js';

/** What every instance of one BMC shares. */
export interface BmcIdentity {
  name: string;
  address: string;
  pollIntervalMs: number;
  /** The last RequestStateChange asked of this system, or 12 (Not Applicable). */
  requestedState: number;
}

const SYSTEM_CLASS = 'ComputerSystem';
/** A timestamp the SEL does not have (pre-init or unspecified): DMTF's "unknown" datetime. */
export const UNKNOWN_TIME = new Date(Date.UTC(9999, 0, 1));

// ---- Sensors ----------------------------------------------------------------------------------

/** `CPU Temp(1.0.32)`: name, then sensor number, LUN and owner in decimal, as IPMIPrv's DeviceIDs read. */
export function sensorDeviceId(name: string, sensorNumber: number, lun: number, owner: number): string {
  return `${name}(${sensorNumber}.${lun}.${owner})`;
}

/** CIM_Sensor.SensorType from the IPMI sensor type (§42.2); anything else is Other with its name. */
const CIM_SENSOR_TYPE: Record<number, number> = { 0x01: 2, 0x02: 3, 0x03: 4, 0x04: 5 };

/**
 * CIM_NumericSensor.BaseUnits for an IPMI unit code (§43.17), with the power of ten the CIM unit
 * needs (milliseconds are Seconds × 10^-3). IPMI 0–19 are CIM's 1–20 shifted by one.
 */
function cimUnit(ipmi: number, percentage: boolean): [units: number, exponent: number] {
  if (percentage) return [65, 0];
  if (ipmi <= 19) return [ipmi + 1, 0];
  const table: Record<number, [number, number]> = {
    20: [21, -6], 21: [21, -3], 22: [21, 0], 23: [22, 0], 24: [23, 0], 25: [24, 0], 26: [25, 0],
    27: [26, 0], 28: [27, 0], 29: [28, 0], 30: [29, 0], 31: [30, 0], 32: [31, -3], 33: [31, -2],
    34: [31, 0], 35: [32, 0], 36: [33, 0], 37: [34, 0], 38: [35, 0], 39: [36, 0], 40: [37, 0],
    41: [38, 0], 42: [39, 0], 43: [40, 0], 44: [41, 0], 45: [42, 0], 46: [43, 0], 47: [44, 0],
    48: [45, 0], 49: [46, 0], 50: [47, 0], 51: [47, -3], 52: [48, 0], 53: [48, -6], 54: [49, 0],
    55: [50, 0], 56: [51, 0], 57: [52, 0], 58: [53, 0], 60: [54, 0], 61: [55, 0], 62: [56, 0],
    63: [57, 0], 64: [58, 0], 65: [59, 0], 66: [60, 0], 67: [60, 3], 68: [60, 6], 69: [60, 9],
    70: [61, 0], 71: [61, 3], 72: [61, 6], 73: [61, 9], 74: [62, 0], 75: [63, 0], 76: [64, 0],
  };
  return table[ipmi] ?? [1, 0];
}

/** Where each IPMI threshold sits in CIM's SupportedThresholds numbering (DSP1009). */
const CIM_THRESHOLD: Record<ThresholdName, { index: number; property: string; state: string; health: number }> = {
  lnc: { index: 0, property: 'LowerThresholdNonCritical', state: 'Lower Non-Critical', health: 15 },
  unc: { index: 1, property: 'UpperThresholdNonCritical', state: 'Upper Non-Critical', health: 15 },
  lc: { index: 2, property: 'LowerThresholdCritical', state: 'Lower Critical', health: 25 },
  uc: { index: 3, property: 'UpperThresholdCritical', state: 'Upper Critical', health: 25 },
  lnr: { index: 4, property: 'LowerThresholdFatal', state: 'Lower Fatal', health: 30 },
  unr: { index: 5, property: 'UpperThresholdFatal', state: 'Upper Fatal', health: 30 },
};
/** Most severe first: the state a sensor past several thresholds is in. */
const SEVERITY: ThresholdName[] = ['unr', 'lnr', 'uc', 'lc', 'unc', 'lnc'];

const thresholdIndexes = (mask: number) =>
  thresholdNames(mask).map((n) => CIM_THRESHOLD[n].index).sort((a, b) => a - b);

/** What NumericSensor and Sensor share: identity, type, scanning state, age. */
function sensorBase(bmc: BmcIdentity, s: SensorState, className: string, readAt: Date): Values {
  const rec = s.record;
  const cimType = CIM_SENSOR_TYPE[rec.sensorType];
  const typeName = sensorTypeName(rec.sensorType);
  const reading = s.reading;
  return {
    Caption: s.name,
    CreationClassName: className,
    Description: `${s.name}(${s.sensorNumber}): ${typeName} sensor`,
    DeviceID: sensorDeviceId(s.name, s.sensorNumber, rec.ownerLun, rec.ownerId),
    ElementName: s.name,
    // 2 Enabled while the BMC scans the sensor, 3 Disabled when it does not, 5 Not Applicable without a reading.
    EnabledState: reading ? (reading.scanningEnabled ? 2 : 3) : 5,
    Name: s.name,
    OtherSensorTypeDescription: cimType ? null : typeName,
    PollingInterval: bmc.pollIntervalMs * 1_000_000,
    RequestedState: 12,
    SensorType: cimType ?? 1,
    SystemCreationClassName: SYSTEM_CLASS,
    SystemName: bmc.name,
    TimeOfLastReading: reading ? readAt : null,
  };
}

/** A threshold sensor as NumericSensor (DSP1009): readings as integers × 10^UnitModifier. */
export function numericSensor(bmc: BmcIdentity, s: SensorState, readAt: Date): Values {
  const values = sensorBase(bmc, s, 'NumericSensor', readAt);
  const rec = s.record;
  if (rec.type !== 'full') return values; // a compact record carries no conversion: no numbers to give
  const conv = rec.conversion;
  const [baseUnits, unitExp] = cimUnit(rec.units.baseUnit, rec.units.percentage);
  // Enough decimals to show every count: 10^(R + min(Bexp, 0)) for linear sensors, three otherwise.
  const decimals = conv.linearization === 0 ? Math.max(0, -(conv.rExp + Math.min(conv.bExp, 0))) : 3;
  const scaled = (v: number | null) => (v === null || !Number.isFinite(v) ? null : Math.round(v * 10 ** decimals));
  const fromRaw = (raw: number) => scaled(convertReading(raw, conv));
  const reading = s.reading;
  const available = reading && !reading.unavailable;
  const status = available ? (reading.thresholdStatus ?? 0) : 0;
  const crossed = SEVERITY.find((n) => status & (1 << THRESHOLD_NAMES.indexOf(n)));
  const supported = thresholdIndexes(rec.readableThresholds);
  const possible = ['Unknown', 'Normal', ...thresholdNames(rec.readableThresholds).map((n) => CIM_THRESHOLD[n].state)];
  Object.assign(values, {
    Accuracy: Math.round(sensorAccuracy(conv) * 100),
    BaseUnits: baseUnits,
    CurrentReading: available ? scaled(reading.value) : null,
    CurrentState: !available ? 'Unknown' : crossed ? CIM_THRESHOLD[crossed].state : 'Normal',
    EnabledThresholds: supported,
    HealthState: !available ? 0 : crossed ? CIM_THRESHOLD[crossed].health : 5,
    Hysteresis: scaled(convertHysteresis(rec.positiveHysteresis, conv)),
    IsLinear: conv.linearization === 0,
    MaxReadable: fromRaw(rec.sensorMax),
    MinReadable: fromRaw(rec.sensorMin),
    NominalReading: rec.nominalSpecified ? fromRaw(rec.nominalReading) : null,
    NormalMax: rec.normalMaxSpecified ? fromRaw(rec.normalMax) : null,
    NormalMin: rec.normalMinSpecified ? fromRaw(rec.normalMin) : null,
    OperationalStatus: !available ? [0] : !crossed ? [2] : CIM_THRESHOLD[crossed].health === 15 ? [3] : [6],
    PossibleStates: possible,
    RateUnits: rec.units.rateUnit,
    Resolution: scaled(sensorResolution(conv)),
    SettableThresholds: thresholdIndexes(rec.settableThresholds),
    SupportedThresholds: supported,
    Tolerance: scaled(sensorTolerance(conv)),
    UnitModifier: unitExp - decimals,
  });
  for (const name of THRESHOLD_NAMES) values[CIM_THRESHOLD[name].property] = scaled(s.thresholds?.[name] ?? null);
  return values;
}

/** A discrete or event-only sensor as Sensor: its state is the first asserted offset's text. */
export function discreteSensor(bmc: BmcIdentity, s: SensorState, readAt: Date): Values {
  const values = sensorBase(bmc, s, 'Sensor', readAt);
  const rec = s.record;
  if (rec.type === 'event-only') return values;
  const text = (offset: number) => eventText(rec.eventReadingType, rec.sensorType, offset) ?? `State ${offset}`;
  const offsets = (mask: number) => Array.from({ length: 15 }, (_, i) => i).filter((i) => mask & (1 << i));
  const reading = s.reading;
  const available = reading && !reading.unavailable;
  const asserted = available ? offsets(reading.states ?? 0) : [];
  values.PossibleStates = offsets(rec.discreteReadingMask || rec.assertionEvents).map(text);
  values.CurrentState = !available ? 'Unknown' : asserted.length ? text(asserted[0]) : 'None';
  values.HealthState = available ? 5 : 0;
  values.OperationalStatus = available ? [2] : [0];
  return values;
}

// ---- The SEL ----------------------------------------------------------------------------------

export function recordLogName(bmc: string): string {
  return `SEL:${bmc}`;
}

/** RecordLog's key, in CIM's `<OrgID>:<LocalID>` form. */
export function recordLogInstanceId(bmc: string): string {
  return `winrmd:${recordLogName(bmc)}`;
}

export function recordLog(bmc: BmcIdentity, snap: BmcSnapshot): Values {
  const { selInfo } = snap;
  const free = selInfo.freeSpace === 0xffff ? null : Math.floor(selInfo.freeSpace / 16);
  return {
    Caption: 'IPMI System Event Log',
    CurrentNumberOfRecords: selInfo.entries,
    Description: `The System Event Log of BMC ${bmc.name} (${bmc.address})`,
    ElementName: `System Event Log of ${bmc.name}`,
    EnabledState: 2,
    HealthState: selInfo.overflow ? 15 : 5,
    InstanceID: recordLogInstanceId(bmc.name),
    // MS: zero when the size is not known.
    MaxNumberOfRecords: free === null ? 0 : selInfo.entries + free,
    Name: recordLogName(bmc.name),
    OperationalStatus: selInfo.overflow ? [3] : [2],
    RequestedState: 12,
  };
}

const hexBytes = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');

/** The fields of a system event record, in IPMIPrv's RecordFormat (MS docs, LogRecord remarks). */
const SYSTEM_FORMAT = '*string CIM_Sensor.DeviceID*uint8[2] IPMI_RecordID*uint8 IPMI_RecordType*uint8[4] IPMI_Timestamp*uint8[2] IPMI_GeneratorID*uint8 IPMI_EvMRev*uint8 IPMI_SensorType*uint8 IPMI_SensorNumber*boolean IPMI_AssertionEvent*uint8 IPMI_EventType*uint8 IPMI_EventData1*uint8 IPMI_EventData2*uint8 IPMI_EventData3*';
const OEM_TIMESTAMPED_FORMAT = '*uint8[2] IPMI_RecordID*uint8 IPMI_RecordType*uint8[4] IPMI_Timestamp*uint8[3] IPMI_ManufacturerID*uint8[6] IPMI_OEMDefinedData*';
const OEM_FORMAT = '*uint8[2] IPMI_RecordID*uint8 IPMI_RecordType*uint8[13] IPMI_OEMDefinedData*';

/** CIM_RecordForLog.PerceivedSeverity of a threshold event: 3 Degraded/Warning, 6 Critical, 7 Fatal; else 2 Information. */
function severity(rec: SelRecord): number {
  if (rec.kind !== 'event' || rec.eventType !== 0x01) return 2;
  // Offsets (§42.2 table 42-2) go LNC, LC, LNR, UNC, UC, UNR, two each (going low, going high).
  return [3, 6, 7, 3, 6, 7][Math.floor(rec.offset / 2)] ?? 2;
}

export function logRecord(bmc: BmcIdentity, rec: SelRecord, sensors: SensorState[]): Values {
  const raw = rec.raw;
  const field = (from: number, to: number) => hexBytes(raw.subarray(from, to));
  const common: Values = {
    CreationClassName: 'LogRecord',
    LogCreationClassName: 'RecordLog',
    LogName: recordLogName(bmc.name),
    RecordID: String(rec.recordId ?? 0),
  };
  if (rec.kind === 'invalid') {
    return { ...common, Caption: 'Invalid SEL', Description: selText(rec), MessageTimestamp: UNKNOWN_TIME, RecordData: `*${hexBytes(raw)}*`, RecordFormat: '*uint8[] IPMI_Raw*', PerceivedSeverity: 0 };
  }
  const when = rec.kind === 'oem' ? UNKNOWN_TIME : rec.timestamp ?? UNKNOWN_TIME;
  if (rec.kind !== 'event') {
    const timestamped = rec.kind === 'oem-timestamped';
    return {
      ...common,
      Caption: 'OEM SEL',
      Description: selText(rec),
      MessageTimestamp: when,
      PerceivedSeverity: 2,
      RecordFormat: timestamped ? OEM_TIMESTAMPED_FORMAT : OEM_FORMAT,
      RecordData: timestamped
        ? `*${field(0, 2)}*${field(2, 3)}*${field(3, 7)}*${field(7, 10)}*${field(10, 16)}*`
        : `*${field(0, 2)}*${field(2, 3)}*${field(3, 16)}*`,
    };
  }
  const sensor = sensors.find((s) => s.sensorNumber === rec.sensorNumber && s.record.ownerId === rec.generatorAddress);
  const name = sensor?.name ?? 'SEL';
  const full = sensor?.record.type === 'full' ? (sensor.record as FullSensorRecord) : undefined;
  const description = eventText(rec.eventType, rec.sensorType, rec.offset) ?? rec.description;
  return {
    ...common,
    // IPMIPrv: sensor type, Assert or Deassert, and the event: "Temperature Assert: Upper Non-critical going high".
    Caption: `${sensorTypeName(rec.sensorType)} ${rec.assertion ? 'Assert' : 'Deassert'}: ${description}`,
    Description: selText(rec, sensor ? { idString: sensor.name, full } : undefined),
    ElementName: name,
    MessageTimestamp: when,
    PerceivedSeverity: severity(rec),
    RecordFormat: SYSTEM_FORMAT,
    RecordData: [
      sensorDeviceId(name, rec.sensorNumber, rec.generatorLun, rec.generatorAddress),
      field(0, 2), field(2, 3), field(3, 7), field(7, 9), field(9, 10), field(10, 11), field(11, 12),
      rec.assertion ? 'true' : 'false', hexBytes(Uint8Array.of(rec.eventType)), field(13, 14), field(14, 15), field(15, 16),
    ].reduce((out, f) => `${out}${f}*`, '*'),
  };
}

// ---- The managed system -----------------------------------------------------------------------

export function computerSystem(bmc: BmcIdentity, snap: BmcSnapshot): Values {
  const d = snap.device;
  return {
    Caption: bmc.name,
    CreationClassName: SYSTEM_CLASS,
    Description: `The system managed by BMC ${bmc.name} (${bmc.address})`,
    ElementName: bmc.name,
    // DSP1027 through EnabledState: 2 Enabled = powered on, 3 Disabled = off, 5 Not Applicable = no chassis.
    EnabledState: snap.powerOn === null ? 5 : snap.powerOn ? 2 : 3,
    HealthState: 5,
    IdentifyingDescriptions: ['IPMI Device ID', 'IPMI Device Revision', 'IPMI Firmware Revision', 'IPMI Version', 'IPMI Manufacturer ID', 'IPMI Product ID'],
    Name: bmc.name,
    NameFormat: 'Other',
    OperationalStatus: [2],
    OtherIdentifyingInfo: [String(d.deviceId), String(d.deviceRevision), d.firmwareRevision, d.ipmiVersion, String(d.manufacturerId), String(d.productId)],
    RequestedState: bmc.requestedState,
  };
}
