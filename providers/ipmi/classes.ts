// The classes of WMI's root/hardware namespace, as Windows' IPMI provider (IPMIPrv) serves them:
// concrete NumericSensor, Sensor, RecordLog, LogRecord and ComputerSystem, each deriving from the
// DMTF class of the same name with a CIM_ prefix, so both spellings resolve
// (`…/wmi/root/hardware/NumericSensor`, `…/cim-schema/2/CIM_NumericSensor`). Properties follow
// the DMTF CIM schema (DSP1009 Sensors, DSP1010 Record Log, DSP1027 Power State profiles),
// trimmed to what a BMC can fill; the superclasses come from common/cim-base.ts.
import { type CimClass, type MethodDecl } from '../../src/provider-api.js';
import {
  BOOL, DATETIME, defineClass as defineCimClass, SINT32, STRING, STRINGS, UINT16, UINT16S, UINT32, UINT64,
} from '../common/cim.js';
import { cimBaseClasses } from '../common/cim-base.js';

export const NAMESPACE = 'root/hardware';

const defineClass = (spec: Omit<Parameters<typeof defineCimClass>[0], 'namespace'>): CimClass =>
  defineCimClass({ namespace: NAMESPACE, ...spec });

export const { CIM_ManagedElement, CIM_ManagedSystemElement, CIM_LogicalElement, CIM_EnabledLogicalElement, CIM_LogicalDevice, CIM_System } = cimBaseClasses(NAMESPACE, 'dmtf');

/** CIM_EnabledLogicalElement.RequestStateChange (DSP1027 Power State Management, via EnabledState). */
// Both change real hardware: the access policy grants them (security.hardwareControlUsers).
const REQUEST_STATE_CHANGE: MethodDecl = {
  input: { RequestedState: UINT16, TimeoutPeriod: DATETIME },
  output: { ReturnValue: UINT32 },
  effects: ['changesHardware'],
};

export const CIM_Sensor = defineClass({
  name: 'CIM_Sensor',
  parent: CIM_LogicalDevice,
  keys: CIM_LogicalDevice.keys,
  properties: {
    CurrentState: STRING,
    OtherSensorTypeDescription: STRING,
    /** Nanoseconds between readings: the provider's poll interval. */
    PollingInterval: UINT64,
    PossibleStates: STRINGS,
    SensorType: UINT16,
    /** When the reading was taken, so a client sees the age of what the cache served. Not in DSP1009. */
    TimeOfLastReading: DATETIME,
  },
});

/** Discrete sensors (event/reading type other than 01h) and event-only sensors. */
export const Sensor = defineClass({ name: 'Sensor', parent: CIM_Sensor, keys: CIM_Sensor.keys, properties: {} });

/** SupportedThresholds / SettableThresholds / EnabledThresholds values (DSP1009 §7.11). */
export const THRESHOLD = {
  LowerThresholdNonCritical: 0,
  UpperThresholdNonCritical: 1,
  LowerThresholdCritical: 2,
  UpperThresholdCritical: 3,
  LowerThresholdFatal: 4,
  UpperThresholdFatal: 5,
} as const;

export const CIM_NumericSensor = defineClass({
  name: 'CIM_NumericSensor',
  parent: CIM_Sensor,
  keys: CIM_Sensor.keys,
  properties: {
    /** Accuracy in hundredths of a percent. */
    Accuracy: SINT32,
    BaseUnits: UINT16,
    /** Readings are CurrentReading × 10^UnitModifier BaseUnits per RateUnits. */
    CurrentReading: SINT32,
    EnabledThresholds: UINT16S,
    Hysteresis: UINT32,
    IsLinear: BOOL,
    LowerThresholdCritical: SINT32,
    LowerThresholdFatal: SINT32,
    LowerThresholdNonCritical: SINT32,
    MaxReadable: SINT32,
    MinReadable: SINT32,
    NominalReading: SINT32,
    NormalMax: SINT32,
    NormalMin: SINT32,
    RateUnits: UINT16,
    Resolution: UINT32,
    SettableThresholds: UINT16S,
    SupportedThresholds: UINT16S,
    Tolerance: SINT32,
    UnitModifier: SINT32,
    UpperThresholdCritical: SINT32,
    UpperThresholdFatal: SINT32,
    UpperThresholdNonCritical: SINT32,
  },
});

export const NumericSensor = defineClass({ name: 'NumericSensor', parent: CIM_NumericSensor, keys: CIM_NumericSensor.keys, properties: {} });

export const CIM_RecordLog = defineClass({
  name: 'CIM_RecordLog',
  parent: CIM_EnabledLogicalElement,
  keys: ['InstanceID'],
  properties: {
    CurrentNumberOfRecords: UINT64,
    /** Zero when the BMC does not say how much room is left. */
    MaxNumberOfRecords: UINT64,
  },
  methods: { ClearLog: { input: {}, output: { ReturnValue: UINT32 }, effects: ['changesHardware'] } },
});

export const RecordLog = defineClass({ name: 'RecordLog', parent: CIM_RecordLog, keys: CIM_RecordLog.keys, properties: {}, methods: CIM_RecordLog.methods });

export const CIM_RecordForLog = defineClass({
  name: 'CIM_RecordForLog',
  parent: CIM_ManagedElement,
  keys: [],
  properties: { Locale: STRING, PerceivedSeverity: UINT16, RecordData: STRING, RecordFormat: STRING },
});

export const CIM_LogRecord = defineClass({
  name: 'CIM_LogRecord',
  parent: CIM_RecordForLog,
  keys: ['CreationClassName', 'LogCreationClassName', 'LogName', 'MessageTimestamp', 'RecordID'],
  properties: {
    CreationClassName: STRING,
    DataFormat: STRING,
    LogCreationClassName: STRING,
    LogName: STRING,
    MessageTimestamp: DATETIME,
    RecordID: STRING,
  },
});

/** One SEL entry; RecordData holds its fields in RecordFormat's `*`-separated layout (IPMIPrv). */
export const LogRecord = defineClass({ name: 'LogRecord', parent: CIM_LogRecord, keys: CIM_LogRecord.keys, properties: {} });

export const CIM_ComputerSystem = defineClass({
  name: 'CIM_ComputerSystem',
  parent: CIM_System,
  keys: CIM_System.keys,
  properties: { Dedicated: UINT16S, OtherDedicatedDescriptions: STRINGS },
  methods: { RequestStateChange: REQUEST_STATE_CHANGE },
});

/**
 * A managed system as its BMC sees it: the chassis power state as EnabledState (2 on, 3 off),
 * Get Device ID in OtherIdentifyingInfo.
 */
export const ComputerSystem = defineClass({
  name: 'ComputerSystem',
  parent: CIM_ComputerSystem,
  keys: CIM_ComputerSystem.keys,
  properties: {},
  methods: CIM_ComputerSystem.methods,
});

export const ALL_CLASSES = [
  CIM_ManagedElement, CIM_ManagedSystemElement, CIM_LogicalElement, CIM_EnabledLogicalElement,
  CIM_LogicalDevice, CIM_Sensor, Sensor, CIM_NumericSensor, NumericSensor,
  CIM_RecordLog, RecordLog, CIM_RecordForLog, CIM_LogRecord, LogRecord,
  CIM_System, CIM_ComputerSystem, ComputerSystem,
];
