// CIM_ComputerSystem, CIM_UnitaryComputerSystem and Win32_ComputerSystem: the host itself
// (learn.microsoft.com, "Win32_ComputerSystem class").

import os from 'node:os';
import {
  CIM_System,
  abstractClass,
  defineClass,
  hostname,
  known,
  BOOL,
  SINT16,
  STRING,
  UINT16,
  UINT32,
  UINT64,
  type ClassImpl,
  type Values,
} from './common.js';
import { cpuInfo, sysinfo, systemInfo } from './host.js';

export const CIM_ComputerSystem = defineClass({
  name: 'CIM_ComputerSystem',
  parent: CIM_System,
  keys: CIM_System.keys,
  properties: {},
});

export const CIM_UnitaryComputerSystem = defineClass({
  name: 'CIM_UnitaryComputerSystem',
  parent: CIM_ComputerSystem,
  keys: CIM_System.keys,
  properties: {},
});

export const Win32_ComputerSystem = defineClass({
  name: 'Win32_ComputerSystem',
  parent: CIM_UnitaryComputerSystem,
  keys: ['Name'],
  properties: {
    BootupState: STRING,
    CurrentTimeZone: SINT16,
    DNSHostName: STRING,
    Domain: STRING,
    DomainRole: UINT16,
    HypervisorPresent: BOOL,
    Manufacturer: STRING,
    Model: STRING,
    NumberOfLogicalProcessors: UINT32,
    NumberOfProcessors: UINT32,
    PartOfDomain: BOOL,
    SystemSKUNumber: STRING,
    SystemType: STRING,
    TotalPhysicalMemory: UINT64,
    UserName: STRING,
    Workgroup: STRING,
  },
});

/** Win32_ComputerSystem.SystemType: "x64-based PC", "ARM64-based PC", "X86-based PC". */
function systemType(arch: string): string | null {
  return { x64: 'x64-based PC', arm64: 'ARM64-based PC', ia32: 'X86-based PC' }[arch] ?? null;
}

async function computerSystem(): Promise<Values> {
  const [system, cpu, mem] = await Promise.all([systemInfo(), cpuInfo(), (await sysinfo()).mem()]);
  const host = hostname();
  return {
    BootupState: 'Normal boot',
    Caption: host,
    CreationClassName: 'Win32_ComputerSystem',
    CurrentTimeZone: -new Date().getTimezoneOffset(), // minutes east of UTC
    Description: null,
    DNSHostName: host.split('.')[0]!,
    // Not joined to an Active Directory domain: WMI then reports the workgroup as the Domain.
    Domain: 'WORKGROUP',
    DomainRole: 2, // standalone server
    HypervisorPresent: system.virtual,
    InstallDate: null,
    Manufacturer: known(system.manufacturer),
    Model: known(system.model),
    Name: host,
    NameFormat: null,
    NumberOfLogicalProcessors: os.cpus().length || cpu.cores,
    NumberOfProcessors: cpu.processors || 1, // physical packages, as WMI counts them
    PartOfDomain: false,
    PrimaryOwnerContact: null,
    PrimaryOwnerName: null,
    Roles: null,
    Status: 'OK',
    SystemSKUNumber: known(system.sku),
    SystemType: systemType(os.arch()),
    TotalPhysicalMemory: mem.total, // bytes, MemTotal: what os.totalmem() reports
    UserName: null, // WMI's is the console user; a server has none
    Workgroup: 'WORKGROUP',
  };
}

export const computerSystemClasses: ClassImpl[] = [
  abstractClass(CIM_System),
  abstractClass(CIM_ComputerSystem),
  abstractClass(CIM_UnitaryComputerSystem),
  { cls: Win32_ComputerSystem, list: async () => [await computerSystem()] },
];
