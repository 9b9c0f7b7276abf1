// The collector bench's load generator, in its own process (its CPU is its own): simulated
// Windows forwarders (test/helpers/wef-source.ts) over NTLM with message encryption, each on one
// kept-alive connection with one batch in flight, as Windows sends them. A batch is the same
// bytes for every source (made once: UTF-16LE, SLDC when asked): the collector keys what it
// stores by the authenticated principal, not by anything in the envelope.
import { sourceName, SOURCE_PASSWORD } from './protocol.js';
import { exitWithParent } from './protocol.js';
import { prepare, WefSource, bookmarkList, type Offer } from '../helpers/wef-source.js';
import { renderedEvent } from './wef-events.js';

export interface WefLoadSpec {
  port: number;
  sources: number;
  batch: number;
  sldc: boolean;
  seconds: number;
  /** Hold the connections open, after one heartbeat each, until told to close (memory per source). */
  idle?: boolean;
}

export interface WefLoadResult {
  events: number;
  batches: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
  errorSamples: string[];
  /** Bytes of one batch on the wire (before sealing). */
  batchBytes: number;
  clientCpuMicros: number;
}

let held: WefSource[] = [];

async function run(spec: WefLoadSpec): Promise<WefLoadResult> {
  const cpu0 = process.cpuUsage();
  const sources = Array.from({ length: spec.sources }, (_, i) => new WefSource({ server: `http://127.0.0.1:${spec.port}/wsman/SubscriptionManager/WEC`, machineId: `ws${i}.example.test`, transport: { kind: 'ntlm', user: sourceName(i), password: SOURCE_PASSWORD } }));
  // Every source enumerates first (its own connection, closed after End), in groups.
  const offers: Offer[] = [];
  for (let i = 0; i < sources.length; i += 100) {
    const group = await Promise.all(sources.slice(i, i + 100).map(async (s) => (await s.enumerate()).offers[0]));
    for (const o of group) {
      if (!o) throw new Error('the bench subscription was not offered');
      offers.push(o);
    }
  }
  const errorSamples: string[] = [];
  let errors = 0;
  if (spec.idle) {
    for (let i = 0; i < sources.length; i += 100) {
      await Promise.all(sources.slice(i, i + 100).map(async (s, k) => {
        const r = await s.heartbeat(offers[i + k]!);
        if (r.status !== 200) errors++;
      }));
    }
    held = sources;
    return { events: 0, batches: 0, seconds: 0, p50: NaN, p99: NaN, errors, errorSamples, batchBytes: 0, clientCpuMicros: 0 };
  }
  const events = Array.from({ length: spec.batch }, (_, i) => renderedEvent(i + 1));
  const body = prepare(sources[0]!.eventsEnvelope(offers[0]!, events, bookmarkList('Security', spec.batch)), spec.sldc);
  const latencies: number[] = [];
  let batches = 0;
  const start = Date.now();
  const end = start + spec.seconds * 1000;
  await Promise.all(sources.map(async (s, i) => {
    while (Date.now() < end) {
      const t0 = performance.now();
      try {
        const r = await s.sendPrepared(offers[i]!.deliveryAddress, body);
        if (r.status !== 200) throw new Error(`status ${r.status}: ${r.text.slice(0, 200)}`);
        latencies.push(performance.now() - t0);
        batches++;
      } catch (err) {
        errors++;
        if (errorSamples.length < 3) errorSamples.push((err as Error).message);
      }
    }
  }));
  const seconds = (Date.now() - start) / 1000;
  for (const s of sources) s.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
  const cpu = process.cpuUsage(cpu0);
  return { events: batches * spec.batch, batches, seconds, p50: pct(0.5), p99: pct(0.99), errors, errorSamples, batchBytes: body.bytes.length, clientCpuMicros: cpu.user + cpu.system };
}

exitWithParent();
process.on('message', (m: { type: string; id: number; spec?: WefLoadSpec }) => {
  if (m.type === 'run') {
    run(m.spec!).then((result) => process.send!({ type: 'run', id: m.id, result }), (err: Error) => process.send!({ type: 'run', id: m.id, error: err.stack ?? err.message }));
  } else if (m.type === 'release') {
    for (const s of held) s.close();
    held = [];
    process.send!({ type: 'release', id: m.id });
  }
});
