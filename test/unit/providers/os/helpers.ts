// Test helpers for the OS provider: a ProviderRequest as the core would build it, and a check
// that a value fits its declared CIM type.

import { ProviderError, type CimClass, type CimScalar, type CimValue, type Instance, type InvokeRequest, type PropertyDecl, type ProviderRequest } from '../../../../src/provider-api.js';
import { keySelectors, matchesSelectors } from '../../../../src/wsman/operations/transfer.js';
import { createOsProvider } from '../../../../providers/os/index.js';

export const provider = createOsProvider();

const noop = () => {};
export const log = { info: noop, warn: noop, error: noop, debug: noop };

export function makeReq(className: string, over: Partial<ProviderRequest> = {}): ProviderRequest {
  return {
    caller: { user: 'alice', runAs: 'nobody', clientAddress: '127.0.0.1' },
    resourceUri: `http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/${className}`,
    className,
    namespace: 'root/cimv2',
    selectors: {},
    options: {},
    signal: new AbortController().signal,
    deadline: Date.now() + 60_000,
    maxEnvelopeSize: 512_000,
    log,
    ...over,
  };
}

export function makeInvoke(className: string, method: string, input: InvokeRequest['input'], over: Partial<ProviderRequest> = {}): InvokeRequest {
  return { ...makeReq(className, over), method, input };
}

export async function enumerate(className: string, over: Partial<ProviderRequest> = {}): Promise<Instance[]> {
  const out: Instance[] = [];
  for await (const i of provider.enumerate!(makeReq(className, over))) out.push(i);
  return out;
}

/** A Get as the core serves it: the provider's direct lookup, else selected from its enumeration by the core's rule. */
export async function get(className: string, selectors: Record<string, string>): Promise<Instance> {
  const cls = classNamed(className);
  const keys = keySelectors(cls, selectors);
  const direct = await provider.get!(makeReq(className, { selectors: keys }));
  if (direct) return direct;
  const hits = (await enumerate(className)).filter((i) => matchesSelectors(i, cls, keys));
  if (hits.length !== 1) throw new ProviderError('NOT_FOUND', `${hits.length} ${className} instances match ${JSON.stringify(selectors)}`);
  return hits[0];
}

export function classNamed(name: string): CimClass {
  const cls = provider.classes!.find((c) => c.name === name);
  if (!cls) throw new Error(`no class ${name}`);
  return cls;
}

const RANGES: Record<string, [bigint, bigint]> = {
  uint8: [0n, 255n],
  uint16: [0n, 65535n],
  uint32: [0n, 4294967295n],
  uint64: [0n, 18446744073709551615n],
  sint8: [-128n, 127n],
  sint16: [-32768n, 32767n],
  sint32: [-2147483648n, 2147483647n],
  sint64: [-9223372036854775808n, 9223372036854775807n],
};

function scalarFits(type: PropertyDecl['type'], v: CimScalar): boolean {
  switch (type) {
    case 'string':
    case 'char16':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'datetime':
      return v instanceof Date && !Number.isNaN(v.getTime());
    case 'real32':
    case 'real64':
      return typeof v === 'number';
    default: {
      if (typeof v === 'number' && !Number.isSafeInteger(v)) return false;
      if (typeof v !== 'number' && typeof v !== 'bigint') return false;
      const [lo, hi] = RANGES[type]!;
      return BigInt(v) >= lo && BigInt(v) <= hi;
    }
  }
}

/** Why a value does not fit its declaration, or null when it does. */
export function typeProblem(decl: PropertyDecl, v: CimValue): string | null {
  if (v === null) return null;
  if (decl.array) {
    if (!Array.isArray(v)) return `expected an array of ${decl.type}`;
    const bad = v.find((e) => !scalarFits(decl.type, e));
    return bad === undefined ? null : `element ${String(bad)} is not a ${decl.type}`;
  }
  if (Array.isArray(v)) return `expected a scalar ${decl.type}`;
  return scalarFits(decl.type, v) ? null : `${String(v)} (${typeof v}) is not a ${decl.type}`;
}
