// The DMTF superclasses (DSP0004; the CIM schema's Core model), declared once for every namespace
// a provider serves. Windows serves them in two shapes, and so does winrmd:
// - `wmi`, WMI's root/cimv2 copies (CIM 2.0): CIM_ManagedSystemElement is the root, devices and
//   systems derive from CIM_LogicalElement, trimmed to what the OS provider fills;
// - `dmtf`, the later schema that root/hardware (IPMIPrv) follows: CIM_ManagedElement above
//   CIM_ManagedSystemElement, and CIM_EnabledLogicalElement (EnabledState, RequestStateChange's
//   home, DSP1027) between CIM_LogicalElement and the devices and systems.
// They have no instances of their own: they exist so that enumerating a superclass reaches every
// concrete class below it, as it does on Windows.
import type { CimClass } from '../../src/provider-api.js';
import { defineClass, DATETIME, STRING, STRINGS, UINT16, UINT16S } from './cim.js';

/** CIM_OperatingSystem.OSType / CIM_SoftwareElement.TargetOperatingSystem: 36 is LINUX. */
export const OSTYPE_LINUX = 36;

const DEVICE_KEYS = ['CreationClassName', 'DeviceID', 'SystemCreationClassName', 'SystemName'];
const DEVICE_PROPERTIES = { CreationClassName: STRING, DeviceID: STRING, SystemCreationClassName: STRING, SystemName: STRING };
const SYSTEM_KEYS = ['CreationClassName', 'Name'];
const SYSTEM_PROPERTIES = { CreationClassName: STRING, NameFormat: STRING, PrimaryOwnerContact: STRING, PrimaryOwnerName: STRING, Roles: STRINGS };

interface Common {
  CIM_ManagedSystemElement: CimClass;
  CIM_LogicalElement: CimClass;
  CIM_LogicalDevice: CimClass;
  CIM_System: CimClass;
}

export interface WmiBase extends Common {
  CIM_SoftwareElement: CimClass;
  /** The root of the settings hierarchy (not a managed element), as in WMI. */
  CIM_Setting: CimClass;
}

export interface DmtfBase extends Common {
  CIM_ManagedElement: CimClass;
  CIM_EnabledLogicalElement: CimClass;
}

export function cimBaseClasses(namespace: string, shape: 'wmi'): WmiBase;
export function cimBaseClasses(namespace: string, shape: 'dmtf'): DmtfBase;
export function cimBaseClasses(namespace: string, shape: 'wmi' | 'dmtf'): WmiBase | DmtfBase {
  const define = (spec: Omit<Parameters<typeof defineClass>[0], 'namespace'>) => defineClass({ namespace, ...spec });
  if (shape === 'wmi') {
    const CIM_ManagedSystemElement = define({
      name: 'CIM_ManagedSystemElement',
      keys: [],
      properties: { Caption: STRING, Description: STRING, InstallDate: DATETIME, Name: STRING, Status: STRING },
    });
    const CIM_LogicalElement = define({ name: 'CIM_LogicalElement', parent: CIM_ManagedSystemElement, keys: [], properties: {} });
    return {
      CIM_ManagedSystemElement,
      CIM_LogicalElement,
      CIM_LogicalDevice: define({ name: 'CIM_LogicalDevice', parent: CIM_LogicalElement, keys: DEVICE_KEYS, properties: { Availability: UINT16, ...DEVICE_PROPERTIES } }),
      CIM_System: define({ name: 'CIM_System', parent: CIM_LogicalElement, keys: SYSTEM_KEYS, properties: SYSTEM_PROPERTIES }),
      CIM_SoftwareElement: define({
        name: 'CIM_SoftwareElement',
        parent: CIM_LogicalElement,
        keys: ['Name', 'SoftwareElementID', 'SoftwareElementState', 'TargetOperatingSystem', 'Version'],
        properties: {
          BuildNumber: STRING, Manufacturer: STRING, SerialNumber: STRING, SoftwareElementID: STRING,
          SoftwareElementState: UINT16, TargetOperatingSystem: UINT16, Version: STRING,
        },
      }),
      CIM_Setting: define({ name: 'CIM_Setting', keys: [], properties: { Caption: STRING, Description: STRING, SettingID: STRING } }),
    };
  }
  const CIM_ManagedElement = define({
    name: 'CIM_ManagedElement',
    keys: [],
    properties: { Caption: STRING, Description: STRING, ElementName: STRING, InstanceID: STRING },
  });
  const CIM_ManagedSystemElement = define({
    name: 'CIM_ManagedSystemElement',
    parent: CIM_ManagedElement,
    keys: [],
    properties: { HealthState: UINT16, InstallDate: DATETIME, Name: STRING, OperationalStatus: UINT16S, Status: STRING, StatusDescriptions: STRINGS },
  });
  const CIM_LogicalElement = define({ name: 'CIM_LogicalElement', parent: CIM_ManagedSystemElement, keys: [], properties: {} });
  const CIM_EnabledLogicalElement = define({
    name: 'CIM_EnabledLogicalElement',
    parent: CIM_LogicalElement,
    keys: [],
    properties: { EnabledDefault: UINT16, EnabledState: UINT16, OtherEnabledState: STRING, RequestedState: UINT16, TimeOfLastStateChange: DATETIME },
  });
  return {
    CIM_ManagedElement,
    CIM_ManagedSystemElement,
    CIM_LogicalElement,
    CIM_EnabledLogicalElement,
    CIM_LogicalDevice: define({ name: 'CIM_LogicalDevice', parent: CIM_EnabledLogicalElement, keys: DEVICE_KEYS, properties: DEVICE_PROPERTIES }),
    CIM_System: define({
      name: 'CIM_System',
      parent: CIM_EnabledLogicalElement,
      keys: SYSTEM_KEYS,
      properties: { ...SYSTEM_PROPERTIES, IdentifyingDescriptions: STRINGS, OtherIdentifyingInfo: STRINGS },
    }),
  };
}
