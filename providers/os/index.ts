// The OS provider: WMI's root/cimv2 classes for the running Linux host. Each family lives in
// its own file; common/cim.ts routes a request to the class it names.

import type { Provider } from '../../src/provider-api.js';
import { classProvider } from '../common/cim.js';
import { SessionsByUser } from '../common/processes.js';
import { biosClasses } from './bios.js';
import { CIM_LogicalDevice, CIM_LogicalElement, CIM_ManagedSystemElement, abstractClass, NAMESPACE } from './common.js';
import { computerSystemClasses } from './computer-system.js';
import { logicalDiskClasses } from './logical-disk.js';
import { networkClasses } from './network.js';
import { operatingSystemClasses } from './operating-system.js';
import { processClasses } from './process.js';
import { processorClasses } from './processor.js';
import { serviceClasses } from './service.js';

export function createOsProvider(): Provider {
  const created = new SessionsByUser();
  const provider = classProvider({
    name: 'os',
    namespace: NAMESPACE,
    impls: [
      abstractClass(CIM_ManagedSystemElement),
      abstractClass(CIM_LogicalElement),
      abstractClass(CIM_LogicalDevice),
      ...operatingSystemClasses,
      ...computerSystemClasses,
      ...processClasses(created),
      ...serviceClasses,
      ...logicalDiskClasses,
      ...processorClasses,
      ...networkClasses,
      ...biosClasses,
    ],
  });
  // Win32_Process.Create's processes end with the user who asked for them.
  return { ...provider, endUser: async (user) => void (await created.end(user)) };
}
