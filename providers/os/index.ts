// The OS provider: WMI's root/cimv2 classes for the running Linux host. Each family lives in
// its own file; this one routes a request to the class it names.
//
// The core handles polymorphism: it enumerates a CIM_ class by calling enumerate() once per
// concrete class whose superclass chain reaches it, so enumerate() here lists instances of
// exactly req.className, and an abstract CIM_ class lists none.

import {
  PROVIDER_API_VERSION,
  ProviderError,
  type InvokeRequest,
  type Instance,
  type Provider,
  type ProviderRequest,
} from '../../src/provider-api.js';
import { biosClasses } from './bios.js';
import { CIM_LogicalDevice, CIM_LogicalElement, CIM_ManagedSystemElement } from './cim-base.js';
import { abstractClass, makeInstance, NAMESPACE, selectOne, throwIfAborted, type ClassImpl } from './common.js';
import { computerSystemClasses } from './computer-system.js';
import { logicalDiskClasses } from './logical-disk.js';
import { networkClasses } from './network.js';
import { operatingSystemClasses } from './operating-system.js';
import { processClasses } from './process.js';
import { processorClasses } from './processor.js';
import { serviceClasses } from './service.js';

export function createOsProvider(): Provider {
  const impls: ClassImpl[] = [
    abstractClass(CIM_ManagedSystemElement),
    abstractClass(CIM_LogicalElement),
    abstractClass(CIM_LogicalDevice),
    ...operatingSystemClasses,
    ...computerSystemClasses,
    ...processClasses,
    ...serviceClasses,
    ...logicalDiskClasses,
    ...processorClasses,
    ...networkClasses,
    ...biosClasses,
  ];
  const byName = new Map(impls.map((i) => [i.cls.name.toLowerCase(), i]));

  /** The class a request addresses. CIM class names are case-insensitive (DSP0004). */
  function resolve(req: ProviderRequest): ClassImpl {
    const ns = req.namespace?.replace(/\\/g, '/').toLowerCase();
    if (ns !== undefined && ns !== NAMESPACE) {
      throw new ProviderError('INVALID_NAMESPACE', `the os provider serves ${NAMESPACE}, not ${req.namespace}`);
    }
    const impl = req.className ? byName.get(req.className.toLowerCase()) : undefined;
    if (!impl) throw new ProviderError('INVALID_CLASS', `no class ${req.className ?? '(none)'} in ${NAMESPACE}`);
    return impl;
  }

  return {
    apiVersion: PROVIDER_API_VERSION,
    name: 'os',
    classes: impls.map((i) => i.cls),

    async *enumerate(req: ProviderRequest): AsyncIterable<Instance> {
      const impl = resolve(req);
      if (!impl.list) return;
      for (const values of await impl.list(req)) {
        throwIfAborted(req.signal);
        yield makeInstance(impl.cls, values);
      }
    },

    async get(req: ProviderRequest): Promise<Instance> {
      const impl = resolve(req);
      if (impl.get) return makeInstance(impl.cls, await impl.get(req));
      const all = impl.list ? await impl.list(req) : [];
      return makeInstance(impl.cls, selectOne(impl.cls, all, req.selectors));
    },

    async invoke(req: InvokeRequest) {
      const impl = resolve(req);
      const method = Object.keys(impl.cls.methods ?? {}).find((m) => m.toLowerCase() === req.method.toLowerCase());
      if (!method || !impl.invoke) {
        throw new ProviderError('METHOD_NOT_AVAILABLE', `${impl.cls.name} has no method ${req.method}`);
      }
      return impl.invoke({ ...req, method });
    },
  };
}
