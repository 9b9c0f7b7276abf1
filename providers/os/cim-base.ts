// The DMTF superclasses shared by several families, declared with the properties and keys
// WMI's copies of them have (trimmed to what this provider fills). They have no instances of
// their own; they exist so that enumerating CIM_ManagedSystemElement, CIM_LogicalDevice and so
// on reaches every concrete class below them, as it does on Windows.

import { defineClass, DATETIME, STRING, STRINGS, UINT16 } from './common.js';

export const CIM_ManagedSystemElement = defineClass({
  name: 'CIM_ManagedSystemElement',
  keys: [],
  properties: { Caption: STRING, Description: STRING, InstallDate: DATETIME, Name: STRING, Status: STRING },
});

export const CIM_LogicalElement = defineClass({
  name: 'CIM_LogicalElement',
  parent: CIM_ManagedSystemElement,
  keys: [],
  properties: {},
});

export const CIM_LogicalDevice = defineClass({
  name: 'CIM_LogicalDevice',
  parent: CIM_LogicalElement,
  keys: ['CreationClassName', 'DeviceID', 'SystemCreationClassName', 'SystemName'],
  properties: {
    Availability: UINT16,
    CreationClassName: STRING,
    DeviceID: STRING,
    SystemCreationClassName: STRING,
    SystemName: STRING,
  },
});

export const CIM_System = defineClass({
  name: 'CIM_System',
  parent: CIM_LogicalElement,
  keys: ['CreationClassName', 'Name'],
  properties: {
    CreationClassName: STRING,
    NameFormat: STRING,
    PrimaryOwnerContact: STRING,
    PrimaryOwnerName: STRING,
    Roles: STRINGS,
  },
});

export const CIM_SoftwareElement = defineClass({
  name: 'CIM_SoftwareElement',
  parent: CIM_LogicalElement,
  keys: ['Name', 'SoftwareElementID', 'SoftwareElementState', 'TargetOperatingSystem', 'Version'],
  properties: {
    BuildNumber: STRING,
    Manufacturer: STRING,
    SerialNumber: STRING,
    SoftwareElementID: STRING,
    SoftwareElementState: UINT16,
    TargetOperatingSystem: UINT16,
    Version: STRING,
  },
});

/** The root of the settings hierarchy (not a managed element), as in WMI. */
export const CIM_Setting = defineClass({
  name: 'CIM_Setting',
  keys: [],
  properties: { Caption: STRING, Description: STRING, SettingID: STRING },
});

/** CIM_OperatingSystem.OSType / CIM_SoftwareElement.TargetOperatingSystem: 36 is LINUX. */
export const OSTYPE_LINUX = 36;
