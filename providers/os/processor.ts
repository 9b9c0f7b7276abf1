// CIM_Processor and Win32_Processor: one instance per physical package (socket), as WMI has
// (learn.microsoft.com, "Win32_Processor class").

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CIM_LogicalDevice,
  abstractClass,
  defineClass,
  hostname,
  is64Bit,
  known,
  positive,
  throwIfAborted,
  STRING,
  UINT16,
  UINT32,
  type ClassImpl,
  type Values,
} from './common.js';
import { cpuInfo, sysinfo } from './host.js';
import type { ProviderRequest } from '../../src/provider-api.js';

export const CIM_Processor = defineClass({
  name: 'CIM_Processor',
  parent: CIM_LogicalDevice,
  keys: CIM_LogicalDevice.keys,
  properties: {
    AddressWidth: UINT16,
    CurrentClockSpeed: UINT32,
    DataWidth: UINT16,
    Family: UINT16,
    LoadPercentage: UINT16,
    MaxClockSpeed: UINT32,
    Role: STRING,
    Stepping: STRING,
    UniqueId: STRING,
  },
});

export const Win32_Processor = defineClass({
  name: 'Win32_Processor',
  parent: CIM_Processor,
  keys: ['DeviceID'],
  properties: {
    Architecture: UINT16,
    CpuStatus: UINT16,
    L2CacheSize: UINT32,
    L3CacheSize: UINT32,
    Manufacturer: STRING,
    NumberOfCores: UINT32,
    NumberOfEnabledCore: UINT32,
    NumberOfLogicalProcessors: UINT32,
    ProcessorId: STRING,
    ProcessorType: UINT16,
    SocketDesignation: STRING,
    ThreadCount: UINT32,
  },
});

/** Win32_Processor.Architecture: 0 x86, 5 ARM, 9 x64, 12 ARM64 (null for the others). */
const ARCHITECTURE: Record<string, number> = { ia32: 0, arm: 5, x64: 9, arm64: 12 };

/**
 * The CPU load over roughly the last second, as LoadPercentage is defined. systeminformation's currentLoad()
 * reports the load since its previous call (its very first call samples 500 ms by itself), so
 * when our previous call is old the load is sampled anew over a quarter of a second, honouring
 * the request's cancellation.
 */
let lastLoadCall = 0;
async function loadPercentage(signal: AbortSignal): Promise<number> {
  if (lastLoadCall !== 0 && Date.now() - lastLoadCall > 2000) {
    await (await sysinfo()).currentLoad();
    await sleep(250, undefined, { signal }).catch(() => throwIfAborted(signal));
  }
  lastLoadCall = Date.now();
  return Math.round((await (await sysinfo()).currentLoad()).currentLoad);
}

/**
 * The clock in MHz. systeminformation reads cpufreq, which VMs often lack; the kernel's
 * cpuinfo "cpu MHz" lines still give the clock there, so they are the fallback.
 */
async function cpuinfoMHz(): Promise<number | null> {
  const text = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const mhz = [...text.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((m) => Number(m[1]));
  return mhz.length ? Math.round(mhz.reduce((a, b) => a + b, 0) / mhz.length) : null;
}

/** "Intel64 Family 6 Model 207 Stepping 2", the form of Windows' processor Caption. */
function caption(arch: string, vendor: string, family: string, model: string, stepping: string): string {
  const isa = arch === 'x64' ? (/intel/i.test(vendor) ? 'Intel64' : 'AMD64') : arch === 'arm64' ? 'ARMv8' : arch;
  return `${isa} Family ${family} Model ${model} Stepping ${stepping}`;
}

async function listProcessors(req: ProviderRequest): Promise<Values[]> {
  const [cpu, speed, load, mhz] = await Promise.all([
    cpuInfo(),
    (await sysinfo()).cpuCurrentSpeed(),
    loadPercentage(req.signal),
    cpuinfoMHz(),
  ]);
  const sockets = Math.max(1, cpu.processors || 1);
  const logical = os.cpus().length || cpu.cores;
  const cores = cpu.physicalCores || logical;
  const current = positive(speed.avg) ? Math.round(speed.avg * 1000) : mhz;
  const max = positive(cpu.speedMax) ? Math.round(cpu.speedMax * 1000) : positive(cpu.speed) ? Math.round(cpu.speed * 1000) : current;
  const width = is64Bit() ? 64 : 32;
  const cap = caption(os.arch(), cpu.vendor, cpu.family, cpu.model, cpu.stepping);
  const perSocketKb = (bytes: number | undefined) => (positive(bytes) ? Math.round(bytes! / 1024 / sockets) : null);
  const host = hostname();
  return Array.from({ length: sockets }, (_, i) => ({
    AddressWidth: width,
    Architecture: ARCHITECTURE[os.arch()] ?? null,
    Availability: 3, // running / full power
    Caption: cap,
    CpuStatus: 1, // enabled
    CreationClassName: 'Win32_Processor',
    CurrentClockSpeed: current,
    DataWidth: width,
    Description: cap,
    DeviceID: `CPU${i}`,
    Family: null, // a CIM value map of named families, which Linux does not give
    InstallDate: null,
    L2CacheSize: perSocketKb(cpu.cache?.l2),
    L3CacheSize: perSocketKb(cpu.cache?.l3),
    LoadPercentage: load,
    Manufacturer: known(cpu.manufacturer),
    MaxClockSpeed: max,
    // WMI's Name is the CPUID brand string, which os.cpus() reports unedited.
    Name: known(os.cpus()[0]?.model) ?? known(`${cpu.manufacturer} ${cpu.brand}`),
    NumberOfCores: Math.round(cores / sockets),
    NumberOfEnabledCore: Math.round(cores / sockets),
    NumberOfLogicalProcessors: Math.round(logical / sockets),
    ProcessorId: null, // WMI builds it from CPUID leaf 1, which Linux does not expose as such
    ProcessorType: 3, // central processor
    Role: 'CPU',
    SocketDesignation: known(cpu.socket),
    Status: 'OK',
    Stepping: known(cpu.stepping),
    SystemCreationClassName: 'Win32_ComputerSystem',
    SystemName: host,
    ThreadCount: Math.round(logical / sockets),
    UniqueId: null,
  }));
}

export const processorClasses: ClassImpl[] = [
  abstractClass(CIM_Processor),
  { cls: Win32_Processor, list: listProcessors },
];
