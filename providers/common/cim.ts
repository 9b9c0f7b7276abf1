// What every CIM-class provider shares: class declarations that read like their MOF, instance
// building, and the routing from a request to the class it names. Nothing
// here knows a particular class or namespace.
import {
  PROVIDER_API_VERSION,
  ProviderError,
  type CimClass,
  type CimValue,
  type Instance,
  type InvokeRequest,
  type MethodDecl,
  type PropertyDecl,
  type Provider,
  type ProviderRequest,
} from '../../src/provider-api.js';

// Property type shorthands, so a class declaration reads like its MOF.
export const STRING: PropertyDecl = { type: 'string' };
export const STRINGS: PropertyDecl = { type: 'string', array: true };
export const BOOL: PropertyDecl = { type: 'boolean' };
export const DATETIME: PropertyDecl = { type: 'datetime' };
export const UINT8: PropertyDecl = { type: 'uint8' };
export const UINT8S: PropertyDecl = { type: 'uint8', array: true };
export const UINT16: PropertyDecl = { type: 'uint16' };
export const UINT16S: PropertyDecl = { type: 'uint16', array: true };
export const UINT32: PropertyDecl = { type: 'uint32' };
export const UINT64: PropertyDecl = { type: 'uint64' };
export const SINT8: PropertyDecl = { type: 'sint8' };
export const SINT16: PropertyDecl = { type: 'sint16' };
export const SINT32: PropertyDecl = { type: 'sint32' };
export const REAL32: PropertyDecl = { type: 'real32' };

export type Values = Record<string, CimValue>;

/**
 * Declares a class. Properties are inherited from the parent (a CIM subclass carries every
 * superclass property, DSP0004) and put in case-insensitive alphabetical order,
 * the order in which WMI (and so `winrm enumerate wmicimv2/...`) lists them.
 */
export function defineClass(spec: {
  name: string;
  namespace: string;
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
    namespace: spec.namespace,
    keys: spec.keys,
    properties: Object.fromEntries(names.map((n) => [n, merged[n]!])),
  };
  if (spec.parent) cls.superclass = spec.parent.name;
  if (spec.methods) cls.methods = spec.methods;
  return cls;
}

/**
 * Builds an instance carrying exactly the declared properties, in declared order, null where
 * the value is not known (the contract: every declared property is present).
 * A value for an undeclared property is a bug in the provider, so it throws.
 */
export function makeInstance(cls: CimClass, values: Values): Instance {
  for (const name of Object.keys(values)) {
    if (!Object.hasOwn(cls.properties, name)) throw new Error(`${cls.name}: undeclared property ${name}`);
  }
  const properties: Values = {};
  // Own values only: a property named like a member of every object (toString) is not that member.
  for (const name of Object.keys(cls.properties)) properties[name] = Object.hasOwn(values, name) ? values[name] ?? null : null;
  return { className: cls.name, properties };
}

/** One class as a provider implements it. Abstract CIM_ classes have no list(). */
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

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new ProviderError('TIMED_OUT', 'the operation was cancelled');
}

/**
 * A provider serving the given classes of one namespace: each request goes to the class it
 * names. The core handles polymorphism: it enumerates a CIM_ class by calling enumerate() once
 * per concrete class whose superclass chain reaches it, so enumerate() lists instances of
 * exactly req.className, and an abstract CIM_ class lists none.
 */
export function classProvider(spec: { name: string; namespace: string; impls: ClassImpl[] }): Provider {
  const byName = new Map(spec.impls.map((i) => [i.cls.name.toLowerCase(), i]));

  /** The class a request addresses. CIM class names are case-insensitive (DSP0004). */
  function resolve(req: ProviderRequest): ClassImpl {
    const ns = req.namespace?.replace(/\\/g, '/').toLowerCase();
    if (ns !== undefined && ns !== spec.namespace) {
      throw new ProviderError('INVALID_NAMESPACE', `the ${spec.name} provider serves ${spec.namespace}, not ${req.namespace}`);
    }
    const impl = req.className ? byName.get(req.className.toLowerCase()) : undefined;
    if (!impl) throw new ProviderError('INVALID_CLASS', `no class ${req.className ?? '(none)'} in ${spec.namespace}`);
    return impl;
  }

  return {
    apiVersion: PROVIDER_API_VERSION,
    name: spec.name,
    classes: spec.impls.map((i) => i.cls),

    async *enumerate(req: ProviderRequest): AsyncIterable<Instance> {
      const impl = resolve(req);
      if (!impl.list) return;
      for (const values of await impl.list(req)) {
        throwIfAborted(req.signal);
        yield makeInstance(impl.cls, values);
      }
    },

    // A direct lookup where the class has one; otherwise the core selects from the enumeration,
    // by its one rule for matching keys (src/wsman/operations/transfer.ts).
    async get(req: ProviderRequest): Promise<Instance | undefined> {
      const impl = resolve(req);
      return impl.get && makeInstance(impl.cls, await impl.get(req));
    },

    async invoke(req: InvokeRequest) {
      const impl = resolve(req);
      const method = Object.keys(impl.cls.methods ?? {}).find((m) => m.toLowerCase() === req.method.toLowerCase());
      if (!method) throw new ProviderError('METHOD_NOT_AVAILABLE', `${impl.cls.name} has no method ${req.method}`);
      // A lab host's Win32_Process, for one: the class has the method, this provider does not run it.
      if (!impl.invoke) throw new ProviderError('METHOD_NOT_AVAILABLE', `${impl.cls.name}.${method} is not served here`);
      return impl.invoke({ ...req, method });
    },
  };
}
