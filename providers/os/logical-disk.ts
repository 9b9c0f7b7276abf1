// CIM_StorageExtent, CIM_LogicalDisk and Win32_LogicalDisk: one instance per mounted
// filesystem, identified by its mount point, as Windows identifies a volume by its drive letter
// (learn.microsoft.com, "Win32_LogicalDisk class").

import { stat, statfs } from 'node:fs/promises';
import { sysinfo } from './host.js';
import {
  CIM_LogicalDevice,
  abstractClass,
  cached,
  defineClass,
  hostname,
  known,
  STRING,
  UINT16,
  UINT32,
  UINT64,
  type ClassImpl,
  type Values,
} from './common.js';

export const CIM_StorageExtent = defineClass({
  name: 'CIM_StorageExtent',
  parent: CIM_LogicalDevice,
  keys: CIM_LogicalDevice.keys,
  properties: { Access: UINT16, BlockSize: UINT64, NumberOfBlocks: UINT64 },
});

export const CIM_LogicalDisk = defineClass({
  name: 'CIM_LogicalDisk',
  parent: CIM_StorageExtent,
  keys: CIM_LogicalDevice.keys,
  properties: { FreeSpace: UINT64, Size: UINT64 },
});

export const Win32_LogicalDisk = defineClass({
  name: 'Win32_LogicalDisk',
  parent: CIM_LogicalDisk,
  keys: ['DeviceID'],
  properties: {
    DriveType: UINT32,
    FileSystem: STRING,
    MediaType: UINT32,
    ProviderName: STRING,
    VolumeName: STRING,
    VolumeSerialNumber: STRING,
  },
});

/** Memory-backed filesystems are not disks (systeminformation already drops most of them). */
const MEMORY_FS = new Set(['tmpfs', 'devtmpfs', 'ramfs']);
/** Filesystems whose data is on another machine: Windows' "Network Connection" drives. */
const NETWORK_FS = /^(nfs4?|cifs|smb3?|smbfs|9p|ceph|glusterfs|fuse\.sshfs|fuse\.glusterfs|afs|lustre)$/;

const blockDevices = cached(2000, async () => (await sysinfo()).blockDevices());

async function listDisks(): Promise<Values[]> {
  const [mounts, devices] = await Promise.all([(await sysinfo()).fsSize(), blockDevices()]);
  // A mount point mounted over again shows the last filesystem: keep the last entry per mount.
  const byMount = new Map(mounts.filter((m) => !MEMORY_FS.has(m.type)).map((m) => [m.mount, m]));
  const host = hostname();
  const disks = await Promise.all(
    [...byMount.values()].map(async (m): Promise<Values | null> => {
      // Files bind-mounted into a container (/etc/hosts, /etc/resolv.conf) are not volumes.
      if (!(await stat(m.mount).catch(() => null))?.isDirectory()) return null;
      // statfs gives the exact byte counts df -B1 prints; systeminformation's come from df -k.
      const fs = await statfs(m.mount).catch(() => null);
      const device = devices.find((d) => d.device === m.fs || `/dev/${d.name}` === m.fs);
      const network = NETWORK_FS.test(m.type);
      const removable = device?.removable === true;
      // Win32_LogicalDisk DriveType: 2 removable, 3 local disk, 4 network drive; MediaType 11
      // is removable media, 12 fixed hard disk media.
      const [driveType, description, mediaType] = network
        ? [4, 'Network Connection', null]
        : removable
          ? [2, 'Removable Disk', 11]
          : [3, 'Local Fixed Disk', 12];
      return {
        // Access: 1 readable, 3 read/write, 0 unknown (systeminformation knows rw only for
        // filesystems on a /dev device).
        Access: m.rw === true ? 3 : m.rw === false && m.fs.startsWith('/') ? 1 : 0,
        Availability: null,
        BlockSize: fs ? fs.bsize : null,
        Caption: m.mount,
        CreationClassName: 'Win32_LogicalDisk',
        Description: description,
        DeviceID: m.mount,
        DriveType: driveType,
        FileSystem: m.type,
        FreeSpace: fs ? fs.bavail * fs.bsize : m.available, // what unprivileged users may use, as df's Avail
        InstallDate: null,
        MediaType: mediaType,
        Name: m.mount,
        NumberOfBlocks: fs ? fs.blocks : null,
        ProviderName: network ? m.fs : null,
        Size: fs ? fs.blocks * fs.bsize : m.size,
        Status: null,
        SystemCreationClassName: 'Win32_ComputerSystem',
        SystemName: host,
        VolumeName: known(device?.label),
        VolumeSerialNumber: known(device?.uuid),
      };
    }),
  );
  return disks.filter((d): d is Values => d !== null);
}

export const logicalDiskClasses: ClassImpl[] = [
  abstractClass(CIM_StorageExtent),
  abstractClass(CIM_LogicalDisk),
  { cls: Win32_LogicalDisk, list: listDisks },
];
