// Win32_OperatingSystem, Win32_ComputerSystem, Win32_Processor and Win32_BIOS against the
// running host, read independently of the provider (node:os, /etc/os-release).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { enumerate, get } from './helpers.js';

function osRelease(): Record<string, string> {
  const text = readFileSync('/etc/os-release', 'utf8');
  return Object.fromEntries(
    [...text.matchAll(/^(\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.replace(/^"(.*)"$/, '$1')]),
  );
}

describe('Win32_OperatingSystem', () => {
  it('describes the running Linux system', async () => {
    const [inst, ...rest] = await enumerate('Win32_OperatingSystem');
    expect(rest).toEqual([]);
    const p = inst!.properties;
    expect(p.CSName).toBe(os.hostname());
    expect(p.Caption).toContain(osRelease().NAME);
    expect(os.release().startsWith(p.Version as string)).toBe(true);
    expect(p.BuildNumber).toBe(os.release());
    expect(p.OSType).toBe(36); // CIM_OperatingSystem.OSType LINUX
    expect(p.TotalVisibleMemorySize).toBe(Math.floor(os.totalmem() / 1024));
    expect(p.FreePhysicalMemory as number).toBeGreaterThan(0);
    expect(p.FreePhysicalMemory as number).toBeLessThanOrEqual(p.TotalVisibleMemorySize as number);
    // ps counts the same kernel list (give or take processes starting and ending meanwhile).
    const psCount = execFileSync('ps', ['-e', '-o', 'pid='], { encoding: 'utf8' }).trim().split('\n').length - 1; // less ps itself
    expect(Math.abs((p.NumberOfProcesses as number) - psCount)).toBeLessThanOrEqual(10);
    expect(p.CurrentTimeZone).toBe(-new Date().getTimezoneOffset());
    const boot = Date.now() - os.uptime() * 1000;
    expect(Math.abs((p.LastBootUpTime as Date).getTime() - boot)).toBeLessThan(2000);
    expect(Math.abs((p.LocalDateTime as Date).getTime() - Date.now())).toBeLessThan(2000);
    expect(p.InstallDate).toBeNull();
  });

  it('keeps LastBootUpTime identical across requests', async () => {
    const [a] = await enumerate('Win32_OperatingSystem');
    await new Promise((r) => setTimeout(r, 30));
    const [b] = await enumerate('Win32_OperatingSystem');
    expect(a!.properties.LastBootUpTime).toEqual(b!.properties.LastBootUpTime);
  });

  it('is got with no selectors (a singleton in WMI) or by Name, and a wrong Name is NOT_FOUND', async () => {
    const one = await get('Win32_OperatingSystem', {});
    expect((await get('Win32_OperatingSystem', { name: one.properties.Name as string })).properties.CSName).toBe(
      os.hostname(),
    );
    await expect(get('Win32_OperatingSystem', { Name: 'Microsoft Windows 11 Pro' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('Win32_ComputerSystem', () => {
  it('describes the host', async () => {
    const [inst, ...rest] = await enumerate('Win32_ComputerSystem');
    expect(rest).toEqual([]);
    const p = inst!.properties;
    expect(p.Name).toBe(os.hostname());
    expect(p.TotalPhysicalMemory).toBe(os.totalmem());
    expect(p.NumberOfLogicalProcessors).toBe(os.cpus().length);
    expect(p.NumberOfProcessors as number).toBeGreaterThanOrEqual(1);
    expect(p.PartOfDomain).toBe(false);
    expect(p.Domain).toBe('WORKGROUP');
    expect(p.UserName).toBeNull();
    expect(p.SystemType).toBe({ x64: 'x64-based PC', arm64: 'ARM64-based PC' }[os.arch()] ?? null);
  });

  it('is got by Name; another name is NOT_FOUND', async () => {
    expect((await get('Win32_ComputerSystem', { Name: os.hostname() })).properties.Name).toBe(os.hostname());
    await expect(get('Win32_ComputerSystem', { Name: `${os.hostname()}-not` })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('Win32_Processor', () => {
  it('has one instance per socket that together hold every logical CPU', async () => {
    const cpus = await enumerate('Win32_Processor');
    expect(cpus.map((c) => c.properties.DeviceID)).toEqual(cpus.map((_, i) => `CPU${i}`));
    const logical = cpus.reduce((n, c) => n + (c.properties.NumberOfLogicalProcessors as number), 0);
    expect(logical).toBe(os.cpus().length);
    const p = cpus[0]!.properties;
    expect(p.Architecture).toBe({ x64: 9, arm64: 12, ia32: 0, arm: 5 }[os.arch()] ?? null);
    expect(p.Name).toBe(os.cpus()[0]!.model.trim());
    expect(p.NumberOfCores as number).toBeGreaterThanOrEqual(1);
    expect(p.LoadPercentage as number).toBeGreaterThanOrEqual(0);
    expect(p.LoadPercentage as number).toBeLessThanOrEqual(100);
    expect(p.AddressWidth).toBe(['x64', 'arm64'].includes(os.arch()) ? 64 : p.AddressWidth);
  });

  it('is got by DeviceID', async () => {
    expect((await get('Win32_Processor', { DeviceID: 'CPU0' })).properties.DeviceID).toBe('CPU0');
    await expect(get('Win32_Processor', { DeviceID: 'CPU999' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('Win32_BIOS', () => {
  it('has one instance with a Name, the rest as far as SMBIOS tells', async () => {
    const [bios, ...rest] = await enumerate('Win32_BIOS');
    expect(rest).toEqual([]);
    const p = bios!.properties;
    expect(typeof p.Name).toBe('string');
    expect(p.SoftwareElementID).toBe(p.Name);
    expect(p.PrimaryBIOS).toBe(true);
    if (p.ReleaseDate !== null) expect(p.ReleaseDate).toBeInstanceOf(Date);
    expect((await get('Win32_BIOS', { Name: p.Name as string })).properties.Name).toBe(p.Name);
    await expect(get('Win32_BIOS', { Name: 'no such BIOS' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
