// A provider for the enumeration benchmark: one class, root/bench:Bench_Item, whose enumerate()
// yields `count` generated instances with a mix of CIM types (strings, integers, a boolean, a
// real, a datetime, a string array and a null). Instances are generated on every enumerate, as a
// real provider reading live state would, but cheaply, so the benchmark measures the server.
import { PROVIDER_API_VERSION, ProviderError, type CimClass, type Instance, type Provider } from '../../src/provider-api.js';

export const BENCH_NAMESPACE = 'root/bench';
export const BENCH_CLASS = 'Bench_Item';
export const BENCH_RESOURCE_URI = `http://schemas.microsoft.com/wbem/wsman/1/wmi/${BENCH_NAMESPACE}/${BENCH_CLASS}`;

export const BenchItem: CimClass = {
  name: BENCH_CLASS,
  namespace: BENCH_NAMESPACE,
  keys: ['Id'],
  properties: {
    Id: { type: 'string' },
    Name: { type: 'string' },
    Index: { type: 'uint32' },
    Size: { type: 'uint64' },
    Enabled: { type: 'boolean' },
    Load: { type: 'real64' },
    Created: { type: 'datetime' },
    Tags: { type: 'string', array: true },
    Description: { type: 'string' },
  },
};

const EPOCH = Date.UTC(2024, 0, 1);

export function benchItem(i: number): Instance {
  return {
    className: BENCH_CLASS,
    properties: {
      Id: `item-${String(i).padStart(6, '0')}`,
      Name: `Bench item number ${i}`,
      Index: i,
      Size: 1_000_000 + i * 4096,
      Enabled: i % 2 === 0,
      Load: (i % 100) / 7,
      Created: new Date(EPOCH + i * 60_000),
      Tags: ['bench', `group-${i % 10}`, i % 3 === 0 ? 'fizz' : 'plain'],
      Description: i % 5 === 0 ? null : `A generated instance & <escaped> text for item ${i}`,
    },
  };
}

export function bulkProvider(count = 1000): Provider {
  return {
    apiVersion: PROVIDER_API_VERSION,
    name: 'bench-bulk',
    classes: [BenchItem],
    async *enumerate() {
      for (let i = 1; i <= count; i++) yield benchItem(i);
    },
    async get(req) {
      const m = /^item-(\d+)$/.exec(req.selectors.Id ?? '');
      const i = m ? Number(m[1]) : 0;
      if (i < 1 || i > count) throw new ProviderError('NOT_FOUND', `no ${BENCH_CLASS} ${req.selectors.Id}`);
      return benchItem(i);
    },
  };
}
