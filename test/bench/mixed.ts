// The mixed load (issue 12, part B 12): a fleet's worth of clients at once against a fresh winrmd,
// for BENCH_MIXED_SECONDS. Most clients loop over Identify, Get Win32_OperatingSystem, Get of one
// Win32_Process and a whole enumeration of Win32_Process (half on kept-alive connections, half on a
// new connection each time); BENCH_MIXED_SHELLS of them run shell round trips (Create, Command,
// Receive until Done, Signal, Delete). A 503 (shed load) is counted apart and retried after its
// Retry-After. The server's RSS is sampled every five seconds, so a leak or a pile-up shows.
// Loopback only, bounded in time, and it stops by itself.
import path from 'node:path';
import type { MixedKind, MixedResult, MixedSpec } from './load.js';
import { BENCH_AUTH, spawnChild, type Child, type MemorySample } from './protocol.js';
import { f0, f1, f2, MB, table } from './report.js';

export interface MixedOptions {
  here: string;
  winrmd: Child;
  port: number;
  seconds: number;
  clients: number;
  shells: number;
}

export interface MixedResults {
  result: MixedResult;
  /** [seconds since the start, RSS bytes]. */
  rss: [number, number][];
  /** Ten seconds after the load, after a full GC: what the load left behind. */
  after: { rss: number; heapUsed: number; openEnumerations?: number };
}

const LABEL: Record<MixedKind, string> = {
  identify: 'Identify',
  'get-os': 'Get Win32_OperatingSystem',
  'get-process': 'Get Win32_Process (Handle=1)',
  'enum-processes': 'Enumerate Win32_Process (whole table)',
  'shell-roundtrip': 'Shell round trip',
};

export async function runMixedBench(o: MixedOptions): Promise<MixedResults> {
  const loader = spawnChild(path.join(o.here, 'load.js'), { name: 'mixed load generator' });
  const rss: [number, number][] = [];
  const began = Date.now();
  const sample = async () => rss.push([(Date.now() - began) / 1000, (await o.winrmd.ask<{ sample: MemorySample }>({ type: 'memory', gc: false })).sample.rss]);
  try {
    await sample();
    const timer = setInterval(() => void sample(), 5000);
    const spec: MixedSpec = { port: o.port, authorization: BENCH_AUTH, clients: o.clients, shellClients: o.shells, durationMs: o.seconds * 1000 };
    const r = await loader.ask<{ result?: MixedResult; error?: string }>({ type: 'mixed', spec }, o.seconds * 1000 + 180_000).finally(() => clearInterval(timer));
    if (r.error) throw new Error(`mixed load generator: ${r.error}`);
    await sample();
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const settled = (await o.winrmd.ask<{ sample: MemorySample }>({ type: 'memory', gc: true })).sample;
    return { result: r.result!, rss, after: { rss: settled.rss, heapUsed: settled.heapUsed, openEnumerations: settled.openEnumerations } };
  } finally {
    await loader.stop();
  }
}

export function renderMixed(m: MixedResults, o: { clients: number; shells: number; seconds: number }): { text: string; md: string } {
  const rows = (Object.keys(LABEL) as MixedKind[]).filter((k) => m.result.kinds[k]).map((k) => {
    const s = m.result.kinds[k];
    return [LABEL[k], f0(s.units / m.result.seconds), f2(s.p50), f2(s.p99), f2(s.max), String(s.errors), String(s.shed)];
  });
  const t = table(['Kind', 'Units/s', 'p50 ms', 'p99 ms', 'max ms', 'Errors', 'Shed (503)'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']);
  const timeline = m.rss.map(([s, b]) => `${f0(s)} s: ${f1(MB(b))}`).join(', ');
  const errors = Object.entries(m.result.kinds).flatMap(([k, s]) => s.errorSamples.map((e) => `${k}: ${e}`));
  const head = `Mixed load: ${o.clients} clients (${o.shells} of them running shell round trips) for ${o.seconds} s against a fresh winrmd.`;
  const rssLine = `Server RSS MB over time: ${timeline}; ten seconds after the load, after a full GC: RSS ${f1(MB(m.after.rss))} MB, heap used ${f1(MB(m.after.heapUsed))} MB, ${m.after.openEnumerations ?? 0} enumeration contexts still open (they expire after enumerationTimeoutMs).`;
  return {
    text: ['Mixed load', head, t.text, rssLine, ...errors].join('\n'),
    md: ['## Mixed load', '', head, '', t.md, '', rssLine, ...(errors.length ? ['', ...errors.map((e) => `- ${e}`)] : [])].join('\n'),
  };
}
