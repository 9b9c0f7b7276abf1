// Win32_NetworkAdapterConfiguration against node:os and sysfs, read independently.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { enumerate, get } from './helpers.js';

describe('Win32_NetworkAdapterConfiguration', () => {
  it('has every non-loopback interface with an address, with all its addresses', async () => {
    const configs = await enumerate('Win32_NetworkAdapterConfiguration');
    const byId = new Map(configs.map((c) => [c.properties.SettingID, c.properties]));
    const ifaces = Object.entries(os.networkInterfaces()).filter(([, a]) => a!.some((x) => !x.internal));
    expect(ifaces.length).toBeGreaterThan(0);
    for (const [name, addrs] of ifaces) {
      const p = byId.get(name);
      expect(p, name).toBeDefined();
      expect(p!.Index).toBe(Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')));
      expect(p!.InterfaceIndex).toBe(p!.Index);
      expect([...(p!.IPAddress as string[])].sort()).toEqual(addrs!.map((a) => a.address).sort());
      expect((p!.IPSubnet as string[]).length).toBe((p!.IPAddress as string[]).length);
      expect(p!.IPEnabled).toBe(true);
      expect(p!.MACAddress).toBe(addrs![0]!.mac.toUpperCase());
      expect(p!.Caption).toMatch(/^\[\d{8}\] /);
    }
    for (const p of byId.values()) expect(p.IPAddress ?? []).not.toContain('127.0.0.1');
  });

  it('is got by Index', async () => {
    const [first] = await enumerate('Win32_NetworkAdapterConfiguration');
    const index = String(first!.properties.Index);
    expect((await get('Win32_NetworkAdapterConfiguration', { Index: index })).properties.Index).toBe(Number(index));
    await expect(get('Win32_NetworkAdapterConfiguration', { Index: '999999' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
