// The OS provider's class declarations and the shape of every instance it serves.

import { describe, expect, it } from 'vitest';
import { PROVIDER_API_VERSION, ProviderError } from '../../../../src/provider-api.js';
import { enumerate, makeInvoke, makeReq, provider, typeProblem } from './helpers.js';

const classes = provider.classes!;
const byName = new Map(classes.map((c) => [c.name, c]));
const concrete = classes.filter((c) => c.name.startsWith('Win32_') && c.name !== 'Win32_BaseService');

function chain(name: string): string[] {
  const out = [name];
  for (let c = byName.get(name); c?.superclass; c = byName.get(c.superclass)) {
    if (out.includes(c.superclass)) throw new Error(`cycle at ${c.superclass}`);
    out.push(c.superclass);
  }
  return out;
}

describe('os provider declarations', () => {
  it('declares the provider API version and the root/cimv2 namespace', () => {
    expect(provider.apiVersion).toBe(PROVIDER_API_VERSION);
    for (const c of classes) expect(c.namespace).toBe('root/cimv2');
  });

  it('resolves every superclass chain to a declared class, as WMI chains them', () => {
    for (const c of classes) {
      if (c.superclass) expect(byName.has(c.superclass), `${c.name} → ${c.superclass}`).toBe(true);
    }
    expect(chain('Win32_OperatingSystem')).toEqual([
      'Win32_OperatingSystem', 'CIM_OperatingSystem', 'CIM_LogicalElement', 'CIM_ManagedSystemElement',
    ]);
    expect(chain('Win32_ComputerSystem').slice(0, 4)).toEqual([
      'Win32_ComputerSystem', 'CIM_UnitaryComputerSystem', 'CIM_ComputerSystem', 'CIM_System',
    ]);
    expect(chain('Win32_Process')[1]).toBe('CIM_Process');
    expect(chain('Win32_Service').slice(1, 3)).toEqual(['Win32_BaseService', 'CIM_Service']);
    expect(chain('Win32_LogicalDisk').slice(1, 4)).toEqual(['CIM_LogicalDisk', 'CIM_StorageExtent', 'CIM_LogicalDevice']);
    expect(chain('Win32_Processor').slice(1, 3)).toEqual(['CIM_Processor', 'CIM_LogicalDevice']);
    expect(chain('Win32_NetworkAdapterConfiguration')).toEqual(['Win32_NetworkAdapterConfiguration', 'CIM_Setting']);
    expect(chain('Win32_BIOS').slice(1, 3)).toEqual(['CIM_BIOSElement', 'CIM_SoftwareElement']);
  });

  it('keys WMI-style and declares every key as a property', () => {
    const keys = Object.fromEntries(concrete.map((c) => [c.name, c.keys]));
    expect(keys).toMatchObject({
      Win32_OperatingSystem: ['Name'],
      Win32_ComputerSystem: ['Name'],
      Win32_Process: ['Handle'],
      Win32_Service: ['Name'],
      Win32_LogicalDisk: ['DeviceID'],
      Win32_Processor: ['DeviceID'],
      Win32_NetworkAdapterConfiguration: ['Index'],
      Win32_BIOS: ['Name'],
    });
    for (const c of classes) for (const k of c.keys) expect(c.properties[k], `${c.name}.${k}`).toBeDefined();
  });

  it('lists properties in WMI order (alphabetical, case-insensitive) and inherits the superclass ones', () => {
    for (const c of classes) {
      const names = Object.keys(c.properties);
      const sorted = [...names].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1));
      expect(names, c.name).toEqual(sorted);
      if (c.superclass) {
        for (const p of Object.keys(byName.get(c.superclass)!.properties)) expect(names, `${c.name}.${p}`).toContain(p);
      }
    }
  });

  it('declares Win32_Process.Create and Terminate with their WMI parameters', () => {
    expect(byName.get('Win32_Process')!.methods).toEqual({
      Create: {
        input: { CommandLine: { type: 'string' }, CurrentDirectory: { type: 'string' } },
        output: { ProcessId: { type: 'uint32' }, ReturnValue: { type: 'uint32' } },
        effects: ['runsAsAccount'],
      },
      Terminate: { input: { Reason: { type: 'uint32' } }, output: { ReturnValue: { type: 'uint32' } }, effects: ['runsAsAccount'] },
    });
  });
});

describe('os provider instances', () => {
  it('lists no instances of an abstract CIM_ class (the core walks to the subclasses)', async () => {
    for (const c of classes.filter((c) => !concrete.includes(c))) expect(await enumerate(c.name), c.name).toEqual([]);
  });

  it.each(concrete.map((c) => c.name))('%s: every declared property, in order, of its declared type', async (name) => {
    const cls = byName.get(name)!;
    for (const inst of await enumerate(name)) {
      expect(inst.className).toBe(name);
      expect(Object.keys(inst.properties)).toEqual(Object.keys(cls.properties));
      for (const [p, decl] of Object.entries(cls.properties)) {
        expect(typeProblem(decl, inst.properties[p]!), `${name}.${p}`).toBeNull();
      }
      for (const k of cls.keys) expect(inst.properties[k], `${name} key ${k}`).not.toBeNull();
    }
  });

  it('answers a class name in any case, as CIM does', async () => {
    expect(await enumerate('win32_operatingsystem')).toHaveLength(1);
  });

  it('refuses an unknown class, another namespace and an undeclared method', async () => {
    await expect(enumerate('Win32_NoSuchClass')).rejects.toMatchObject({ code: 'INVALID_CLASS' });
    await expect(enumerate('Win32_Process', { namespace: 'root/hardware' })).rejects.toMatchObject({
      code: 'INVALID_NAMESPACE',
    });
    await expect(provider.invoke!(makeInvoke('Win32_Process', 'Suspend', {}))).rejects.toMatchObject({
      code: 'METHOD_NOT_AVAILABLE',
    });
    await expect(provider.invoke!(makeInvoke('Win32_BIOS', 'Create', {}))).rejects.toBeInstanceOf(ProviderError);
  });

  it('stops when the request is cancelled', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(enumerate('Win32_Process', { signal: ac.signal })).rejects.toMatchObject({ code: 'TIMED_OUT' });
  });

  it('leaves a class without a direct lookup to the core, which selects by key (test/integration/protocol.test.ts)', async () => {
    expect(await provider.get!(makeReq('Win32_ComputerSystem', { selectors: { Name: 'x' } }))).toBeUndefined();
  });
});
