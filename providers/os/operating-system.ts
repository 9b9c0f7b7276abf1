// CIM_OperatingSystem and Win32_OperatingSystem: the running Linux system described the way
// WMI describes Windows (learn.microsoft.com, "Win32_OperatingSystem class").

import os from 'node:os';
import { OSTYPE_LINUX } from '../common/cim-base.js';
import {
  CIM_LogicalElement,
  abstractClass,
  cached,
  defineClass,
  STATIC_FACTS_MS,
  hostname,
  is64Bit,
  known,
  BOOL,
  DATETIME,
  SINT16,
  STRING,
  UINT16,
  UINT32,
  UINT64,
  type ClassImpl,
  type Values,
} from './common.js';
import { osCaption, osInfo, sysinfo } from './host.js';
import { countProcesses } from './process.js';

export const CIM_OperatingSystem = defineClass({
  name: 'CIM_OperatingSystem',
  parent: CIM_LogicalElement,
  keys: ['CSCreationClassName', 'CSName', 'CreationClassName', 'Name'],
  properties: {
    CreationClassName: STRING,
    CSCreationClassName: STRING,
    CSName: STRING,
    CurrentTimeZone: SINT16,
    Distributed: BOOL,
    FreePhysicalMemory: UINT64,
    FreeSpaceInPagingFiles: UINT64,
    FreeVirtualMemory: UINT64,
    LastBootUpTime: DATETIME,
    LocalDateTime: DATETIME,
    MaxNumberOfProcesses: UINT32,
    MaxProcessMemorySize: UINT64,
    NumberOfLicensedUsers: UINT32,
    NumberOfProcesses: UINT32,
    NumberOfUsers: UINT32,
    OSType: UINT16,
    OtherTypeDescription: STRING,
    SizeStoredInPagingFiles: UINT64,
    TotalSwapSpaceSize: UINT64,
    TotalVirtualMemorySize: UINT64,
    TotalVisibleMemorySize: UINT64,
    Version: STRING,
  },
});

/**
 * WMI declares Win32_OperatingSystem [Singleton] ("use @ for the key"); the provider API has no
 * singleton notion, so it is keyed on Name and a Get with no selectors returns the one instance.
 */
export const Win32_OperatingSystem = defineClass({
  name: 'Win32_OperatingSystem',
  parent: CIM_OperatingSystem,
  keys: ['Name'],
  properties: {
    BootDevice: STRING,
    BuildNumber: STRING,
    CodeSet: STRING,
    CSDVersion: STRING,
    Manufacturer: STRING,
    OSArchitecture: STRING,
    Primary: BOOL,
    ProductType: UINT32,
    SerialNumber: STRING,
    ServicePackMajorVersion: UINT16,
    ServicePackMinorVersion: UINT16,
    SystemDevice: STRING,
    SystemDirectory: STRING,
    SystemDrive: STRING,
  },
});

// Boot time does not change while we run: compute it once, to the second, so LastBootUpTime is
// the same in every response instead of jittering with the uptime clock.
const bootTime = new Date(Math.round(Date.now() / 1000 - os.uptime()) * 1000);

// Only the root file system's device is read here (BootDevice, SystemDevice): it does not move.
const rootFs = cached(STATIC_FACTS_MS, async () => (await (await sysinfo()).fsSize()).find((f) => f.mount === '/'));
// `who` and `w` run per read; a login count ten seconds old is still the count.
const loggedOn = cached(10_000, async () => (await sysinfo()).users());

function osArchitecture(arch: string): string {
  // Windows says "64-bit", "32-bit" and, on ARM, "ARM 64-bit Processor".
  if (arch === 'arm64') return 'ARM 64-bit Processor';
  return is64Bit(arch) ? '64-bit' : '32-bit';
}

async function operatingSystem(): Promise<Values> {
  const [info, mem, users, processes, root] = await Promise.all([
    osInfo(),
    (await sysinfo()).mem(),
    loggedOn(),
    countProcesses(),
    rootFs(),
  ]);
  const name = osCaption(info);
  const kb = (bytes: number) => Math.floor(bytes / 1024);
  return {
    BootDevice: root?.fs ?? null,
    // The kernel release is the build; Version is its numeric part so that clients parsing it
    // as a [version] (major.minor.build, like "10.0.19045") still can.
    BuildNumber: os.release(),
    Caption: name,
    // WMI reports the ANSI code page number; a UTF-8 locale is code page 65001.
    CodeSet: /utf-?8/i.test(info.codepage) ? '65001' : known(info.codepage),
    CreationClassName: 'Win32_OperatingSystem',
    CSCreationClassName: 'Win32_ComputerSystem',
    CSDVersion: null,
    CSName: hostname(),
    // Minutes east of UTC, as CIM_OperatingSystem defines it (getTimezoneOffset is west).
    CurrentTimeZone: -new Date().getTimezoneOffset(),
    Description: null,
    Distributed: false,
    // "Free" in Windows' sense is memory available without swapping: MemAvailable, not MemFree.
    FreePhysicalMemory: kb(mem.available),
    FreeSpaceInPagingFiles: kb(mem.swapfree),
    FreeVirtualMemory: kb(mem.available + mem.swapfree),
    InstallDate: null, // Linux keeps no reliable install date.
    LastBootUpTime: bootTime,
    LocalDateTime: new Date(),
    Manufacturer: known(info.distro),
    MaxNumberOfProcesses: null,
    MaxProcessMemorySize: null,
    Name: name,
    NumberOfLicensedUsers: null,
    NumberOfProcesses: processes,
    NumberOfUsers: users.length,
    OSArchitecture: osArchitecture(os.arch()),
    OSType: OSTYPE_LINUX,
    OtherTypeDescription: null,
    Primary: true,
    ProductType: 3, // 1 workstation, 2 domain controller, 3 server: a host serving WinRM is a server.
    SerialNumber: known(info.serial), // the machine-id
    ServicePackMajorVersion: 0,
    ServicePackMinorVersion: 0,
    SizeStoredInPagingFiles: kb(mem.swaptotal),
    Status: 'OK',
    SystemDevice: root?.fs ?? null,
    SystemDirectory: '/usr/bin',
    SystemDrive: '/',
    TotalSwapSpaceSize: kb(mem.swaptotal),
    TotalVirtualMemorySize: kb(mem.total + mem.swaptotal),
    TotalVisibleMemorySize: kb(mem.total),
    Version: /^\d+(\.\d+)*/.exec(info.kernel)?.[0] ?? info.kernel,
  };
}

// Sampling memory and the process count (two reads of /proc) serves every request for a
// second, so a busy client cannot turn Get into a stream of /proc scans. The clock is read per
// request.
const snapshot = cached(1000, operatingSystem);

export const operatingSystemClasses: ClassImpl[] = [
  abstractClass(CIM_OperatingSystem),
  { cls: Win32_OperatingSystem, list: async () => [{ ...(await snapshot()), LocalDateTime: new Date() }] },
];
