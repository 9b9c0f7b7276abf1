// Shared pieces of the OS provider: its namespace, a small cache and a bounded execFile; the
// class machinery comes from common/cim.ts. Nothing here knows a particular class.

import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { ProviderError, type CimClass } from '../../src/provider-api.js';
import { defineClass as defineCimClass } from '../common/cim.js';

export const NAMESPACE = 'root/cimv2';

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


const execFileP = promisify(execFile);

/**
 * Runs a program without a shell, bounded by the request's signal and a hard timeout, in the
 * C locale and UTC so its output parses the same everywhere. Rejects with the execFile error
 * (its `code` is the exit status) or a TIMED_OUT ProviderError when cancelled.
 */
export async function run(file: string, args: string[], signal?: AbortSignal): Promise<string> {
  try {
    const { stdout } = await execFileP(file, args, {
      signal,
      timeout: 10_000,
      maxBuffer: 32 * 1024 * 1024,
      env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' },
    });
    return stdout;
  } catch (err) {
    if (signal?.aborted) throw new ProviderError('TIMED_OUT', `${file} was cancelled`);
    throw err;
  }
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
