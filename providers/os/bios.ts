// CIM_BIOSElement and Win32_BIOS, from the SMBIOS tables systeminformation reads
// (learn.microsoft.com, "Win32_BIOS class"). In containers and some VMs these are empty.

import {
  CIM_SoftwareElement,
  abstractClass,
  cached,
  STATIC_FACTS_MS,
  defineClass,
  known,
  BOOL,
  DATETIME,
  STRING,
  STRINGS,
  UINT8,
  type ClassImpl,
  type Values,
} from './common.js';
import { sysinfo, systemInfo } from './host.js';

export const CIM_BIOSElement = defineClass({
  name: 'CIM_BIOSElement',
  parent: CIM_SoftwareElement,
  keys: CIM_SoftwareElement.keys,
  properties: { PrimaryBIOS: BOOL },
});

/**
 * WMI keys Win32_BIOS on Name, SoftwareElementID, SoftwareElementState, TargetOperatingSystem
 * and Version. There is one BIOS, and Version is often unknown here (no SMBIOS in a container),
 * which an EPR selector cannot carry; so the key is Name alone, which is never null.
 */
export const Win32_BIOS = defineClass({
  name: 'Win32_BIOS',
  parent: CIM_BIOSElement,
  keys: ['Name'],
  properties: {
    BIOSVersion: STRINGS,
    ReleaseDate: DATETIME,
    SMBIOSBIOSVersion: STRING,
    SMBIOSPresent: BOOL,
    SystemBiosMajorVersion: UINT8,
    SystemBiosMinorVersion: UINT8,
  },
});

const biosInfo = cached(STATIC_FACTS_MS, async () => (await sysinfo()).bios());

/** An SMBIOS release date ("2019-05-01" as systeminformation gives it), or null. */
function releaseDate(s: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
}

async function bios(): Promise<Values> {
  const [b, system] = await Promise.all([biosInfo(), systemInfo()]);
  const version = known(b.version);
  // WMI's usual name for a BIOS that does not name itself.
  const name = version ?? 'Default System BIOS';
  // The SMBIOS "BIOS revision" is major.minor, each a byte.
  const rev = /^(\d{1,3})\.(\d{1,3})$/.exec(known(b.revision) ?? '');
  const byte = (s: string | undefined) => (s !== undefined && Number(s) < 256 ? Number(s) : null);
  return {
    BIOSVersion: version ? [version] : null,
    BuildNumber: null,
    Caption: name,
    Description: name,
    InstallDate: null,
    Manufacturer: known(b.vendor),
    Name: name,
    PrimaryBIOS: true,
    ReleaseDate: releaseDate(b.releaseDate),
    // Win32_BIOS.SerialNumber is the machine's serial, SMBIOS type 1, when the BIOS has none.
    SerialNumber: known(b.serial) ?? known(system.serial),
    SMBIOSBIOSVersion: version,
    SMBIOSPresent: Boolean(known(b.vendor) || version || known(b.releaseDate)),
    SoftwareElementID: name,
    SoftwareElementState: 3, // running
    Status: 'OK',
    SystemBiosMajorVersion: byte(rev?.[1]),
    SystemBiosMinorVersion: byte(rev?.[2]),
    TargetOperatingSystem: 0, // unknown: what WMI reports for the BIOS
    Version: version,
  };
}

export const biosClasses: ClassImpl[] = [
  abstractClass(CIM_SoftwareElement),
  abstractClass(CIM_BIOSElement),
  { cls: Win32_BIOS, list: async () => [await bios()] },
];
