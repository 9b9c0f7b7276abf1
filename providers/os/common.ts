// Shared pieces of the OS provider: class declaration helpers, instance building, selector
// matching, a small cache and a bounded execFile. Nothing here knows a particular class.

import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import {
  ProviderError,
  type CimClass,
  type CimValue,
  type Instance,
  type MethodDecl,
  type PropertyDecl,
  type ProviderRequest,
  type InvokeRequest,
  type Selectors,
} from '../../src/provider-api.js';

export const NAMESPACE = 'root/cimv2';

// Property type shorthands, so a class declaration reads like its MOF.
export const STRING: PropertyDecl = { type: 'string' };
export const STRINGS: PropertyDecl = { type: 'string', array: true };
export const BOOL: PropertyDecl = { type: 'boolean' };
export const DATETIME: PropertyDecl = { type: 'datetime' };
export const UINT8: PropertyDecl = { type: 'uint8' };
export const UINT16: PropertyDecl = { type: 'uint16' };
export const UINT16S: PropertyDecl = { type: 'uint16', array: true };
export const UINT32: PropertyDecl = { type: 'uint32' };
export const UINT64: PropertyDecl = { type: 'uint64' };
export const SINT16: PropertyDecl = { type: 'sint16' };

export type Values = Record<string, CimValue>;

/**
 * Declares a class. Properties are inherited from the parent (a CIM subclass carries every
 * superclass property, DSP0004) and put in case-insensitive alphabetical order,
 * the order in which WMI (and so `winrm enumerate wmicimv2/...`) lists them.
 */
export function defineClass(spec: {
  name: string;
  parent?: CimClass;
  keys: string[];
  properties: Record<string, PropertyDecl>;
  methods?: Record<string, MethodDecl>;
}): CimClass {
  const merged = { ...spec.parent?.properties, ...spec.properties };
  const names = Object.keys(merged).sort((a, b) => {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const cls: CimClass = {
    name: spec.name,
    namespace: NAMESPACE,
    keys: spec.keys,
    properties: Object.fromEntries(names.map((n) => [n, merged[n]!])),
  };
  if (spec.parent) cls.superclass = spec.parent.name;
  if (spec.methods) cls.methods = spec.methods;
  return cls;
}

/**
 * Builds an instance carrying exactly the declared properties, in declared order, null where
 * the host does not know the value (the contract: every declared property is present).
 * A value for an undeclared property is a bug in this provider, so it throws.
 */
export function makeInstance(cls: CimClass, values: Values): Instance {
  for (const name of Object.keys(values)) {
    if (!(name in cls.properties)) throw new Error(`${cls.name}: undeclared property ${name}`);
  }
  const properties: Values = {};
  for (const name of Object.keys(cls.properties)) properties[name] = values[name] ?? null;
  return { className: cls.name, properties };
}

/** One class as this provider implements it. Abstract CIM_ classes have no list(). */
export interface ClassImpl {
  cls: CimClass;
  /** Property values of the instances of exactly this class (the core walks subclasses). */
  list?(req: ProviderRequest): Promise<Values[]>;
  /** A direct lookup by key, where one is cheaper than listing everything. */
  get?(req: ProviderRequest): Promise<Values>;
  invoke?(req: InvokeRequest): Promise<Values>;
}

/** A class with no instances of its own: a CIM_ superclass kept so the hierarchy resolves. */
export function abstractClass(cls: CimClass): ClassImpl {
  return { cls };
}

/**
 * Resolves selector names to the declared key names (selector names match case-insensitively,
 * as WinRM does). A selector that is not a key of the class is refused: DSP0226 answers such a
 * selector with wsman:InvalidSelectors, which the core maps from INVALID_PARAMETER.
 */
export function resolveSelectors(cls: CimClass, selectors: Selectors): Selectors {
  const out: Selectors = {};
  for (const [name, value] of Object.entries(selectors)) {
    const key = cls.keys.find((k) => k.toLowerCase() === name.toLowerCase());
    if (!key) throw new ProviderError('INVALID_PARAMETER', `${name} is not a key of ${cls.name}`);
    out[key] = value;
  }
  return out;
}

/** Renders a key value as selector text, to compare with a selector exactly. */
function selectorText(v: CimValue): string | undefined {
  if (v === null || Array.isArray(v)) return undefined;
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

/**
 * Picks the one instance the selectors name. No selectors on a class with a single instance
 * returns it (WinRM serves Win32_OperatingSystem that way); otherwise selectors that match
 * several instances do not identify one and are refused.
 */
export function selectOne(cls: CimClass, all: Values[], selectors: Selectors): Values {
  const sel = Object.entries(resolveSelectors(cls, selectors));
  const hits = all.filter((v) => sel.every(([k, want]) => selectorText(v[k] ?? null) === want));
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) {
    throw new ProviderError('NOT_FOUND', `no ${cls.name} instance matches ${JSON.stringify(selectors)}`);
  }
  throw new ProviderError('INVALID_PARAMETER', `the selectors do not identify one ${cls.name} instance`);
}

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

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new ProviderError('TIMED_OUT', 'the operation was cancelled');
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
