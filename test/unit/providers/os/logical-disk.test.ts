// Win32_LogicalDisk against df, read independently of the provider.

import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { enumerate, get } from './helpers.js';

/** df's own figures for a mount point, in bytes. */
function df(mount: string): { size: number; avail: number; fstype: string } {
  const out = execFileSync('df', ['-B1', '--output=size,avail,fstype', mount], { encoding: 'utf8' });
  const [size, avail, fstype] = out.trim().split('\n')[1]!.trim().split(/\s+/);
  return { size: Number(size), avail: Number(avail), fstype: fstype! };
}

const MiB = 1024 * 1024;

describe('Win32_LogicalDisk', () => {
  it('has the root filesystem, with df -B1 sizes', async () => {
    const disks = await enumerate('Win32_LogicalDisk');
    const root = disks.find((d) => d.properties.DeviceID === '/');
    expect(root).toBeDefined();
    const p = root!.properties;
    const want = df('/');
    // FreeSpace is what unprivileged users may still use (df's Avail), not the raw free blocks.
    expect(Math.abs((p.FreeSpace as number) - want.avail)).toBeLessThan(64 * MiB);
    expect(p.Size).toBe(want.size);
    expect(p.FileSystem).toBe(want.fstype);
    expect(p.Name).toBe('/');
    expect(p.DriveType).toBe(3);
    expect(p.MediaType).toBe(12);
  });

  it('leaves out memory filesystems', async () => {
    for (const d of await enumerate('Win32_LogicalDisk')) {
      expect(['tmpfs', 'devtmpfs', 'ramfs', 'proc', 'sysfs']).not.toContain(d.properties.FileSystem);
    }
  });

  it('is got by DeviceID; an unmounted path is NOT_FOUND', async () => {
    expect((await get('Win32_LogicalDisk', { DeviceID: '/' })).properties.DeviceID).toBe('/');
    await expect(get('Win32_LogicalDisk', { DeviceID: 'C:' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
