// Shared pieces of the OS provider: its namespace and a small cache; the class machinery comes
// from common/cim.ts, running programs from common/system.ts. Nothing here knows a particular class.

import os from 'node:os';
import type { CimClass } from '../../src/provider-api.js';
import { defineClass as defineCimClass } from '../common/cim.js';
import { cimBaseClasses } from '../common/cim-base.js';

export const NAMESPACE = 'root/cimv2';

/** The DMTF superclasses, in WMI's root/cimv2 shape (common/cim-base.ts). */
export const { CIM_ManagedSystemElement, CIM_LogicalElement, CIM_LogicalDevice, CIM_System, CIM_SoftwareElement, CIM_Setting } = cimBaseClasses(NAMESPACE, 'wmi');

export {
  abstractClass, makeInstance, throwIfAborted,
  BOOL, DATETIME, SINT16, STRING, STRINGS, UINT8, UINT16, UINT16S, UINT32, UINT64,
  type ClassImpl, type Values,
} from '../common/cim.js';

/** Declares a root/cimv2 class (see common/cim.ts defineClass). */
export const defineClass = (spec: Omit<Parameters<typeof defineCimClass>[0], 'namespace'>): CimClass =>
  defineCimClass({ namespace: NAMESPACE, ...spec });

/**
 * How long facts that change only with an upgrade or a reboot are kept (OS release, DMI, CPU
 * model, the root device): each read forks a handful of programs, which stalls a busy server.
 */
export const STATIC_FACTS_MS = 60_000;

/**
 * Wraps an expensive call in a short cache (single flight: concurrent callers share one call).
 * A failed call is not cached.
 */
export function cached<T>(ttlMs: number, fn: () => Promise<T>): () => Promise<T> {
  let at = 0;
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending || Date.now() - at > ttlMs) {
      at = Date.now();
      const p = fn();
      pending = p;
      p.catch(() => {
        if (pending === p) pending = undefined;
      });
    }
    return pending;
  };
}

/** The computer's name as every CSName/SystemName carries it. */
export function hostname(): string {
  return os.hostname();
}

/** Treats the empty and placeholder strings systeminformation returns for "unknown" as null. */
export function known(s: string | undefined | null): string | null {
  if (s == null) return null;
  const t = s.trim();
  return t === '' || t === '-' || t.toLowerCase() === 'unknown' ? null : t;
}

/** A positive number, or null: systeminformation reports 0 or -1 for what it could not read. */
export function positive(n: number | null | undefined): number | null {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : null;
}

/** Whether Node's os.arch() names a 64-bit architecture. */
export function is64Bit(arch: string = os.arch()): boolean {
  return ['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64'].includes(arch);
}
