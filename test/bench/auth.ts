// The cost of authentication (issue 4): Identify throughput over one and over 16 kept-alive
// connections with three transports taking turns in five rounds, in the same run against a fresh winrmd
// (serve-winrmd with BENCH_HTTPS=1): plain HTTP with Basic (the reference), HTTPS with Basic, and
// HTTP with NTLM and message encryption (pywinrm's default: each connection handshakes once, then
// every request and reply is sealed). Then the cost of one NTLM handshake: a new connection and
// the three legs, against a new connection carrying one Basic Identify.
// The client is test/helpers/ntlm-client.ts (the same MS-NLMP code as the server, in this process).
import { performance } from 'node:perf_hooks';
import { identify } from '../helpers/envelope.js';
import { NtlmTestClient, OneConnection } from '../helpers/ntlm-client.js';
import { BENCH_AUTH, BENCH_USER } from './protocol.js';
import { f0, f2, table } from './report.js';

export interface AuthBenchOptions {
  port: number;
  httpsPort: number;
  seconds: number;
  warmup: number;
  /** Handshakes to time. */
  handshakes: number;
}

type Transport = 'http-basic' | 'https-basic' | 'http-ntlm-sealed';
const LABEL: Record<Transport, string> = { 'http-basic': 'HTTP, Basic', 'https-basic': 'HTTPS, Basic', 'http-ntlm-sealed': 'HTTP, NTLM, encrypted' };
const CONNECTIONS = [1, 16];

interface Row { transport: Transport; connections: number; requestsPerSecond: number; p50: number; p99: number; errors: number }
export interface AuthResults {
  rows: Row[];
  handshake: { ntlm: number[]; basic: number[] };
  errors: string[];
}

const IDENTIFY = identify('s');
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;

/** One connection's closed loop: a send function returning whether the reply was right. */
async function client(o: AuthBenchOptions, transport: Transport): Promise<{ send(): Promise<boolean>; close(): void }> {
  if (transport === 'http-ntlm-sealed') {
    const c = new NtlmTestClient(`http://127.0.0.1:${o.port}/wsman`);
    if ((await c.handshake(BENCH_USER)).status !== 200 || !c.security) throw new Error('NTLM handshake failed');
    return { send: async () => { const r = await c.post(IDENTIFY); return r.status === 200 && r.text.includes('ProductVendor'); }, close: () => c.close() };
  }
  const url = transport === 'https-basic' ? `https://127.0.0.1:${o.httpsPort}/wsman` : `http://127.0.0.1:${o.port}/wsman`;
  const c = new OneConnection(url);
  return { send: async () => { const r = await c.post(IDENTIFY, { Authorization: BENCH_AUTH }); return r.status === 200 && r.body.includes('ProductVendor'); }, close: () => c.close() };
}

interface Sample { latencies: number[]; failures: number; seconds: number }

/** `connections` closed loops over one transport for `seconds` after `warmup`. */
async function measure(o: AuthBenchOptions, transport: Transport, connections: number, seconds: number, warmup: number, errors: string[]): Promise<Sample> {
  const clients = await Promise.all(Array.from({ length: connections }, () => client(o, transport)));
  const latencies: number[] = [];
  let failures = 0;
  const measureFrom = performance.now() + warmup * 1000;
  const end = measureFrom + seconds * 1000;
  await Promise.all(clients.map(async (c) => {
    for (let t = performance.now(); t < end; t = performance.now()) {
      const ok = await c.send().catch((err: Error) => (errors.push(`${transport}: ${err.message}`), false));
      if (t >= measureFrom) {
        latencies.push(performance.now() - t);
        if (!ok) failures++;
      }
    }
  }));
  for (const c of clients) c.close();
  return { latencies, failures, seconds };
}

/** Rounds in which the transports take turns: drift in the machine's load hits all three alike. */
const ROUNDS = 5;

export async function runAuthBench(o: AuthBenchOptions, log: (line: string) => void = (l) => console.error(l)): Promise<AuthResults> {
  const errors: string[] = [];
  const rows: Row[] = [];
  const transports = Object.keys(LABEL) as Transport[];
  // A fresh server: warm every transport's path first, so that the first one measured does not
  // pay for the JIT on behalf of the others.
  for (const transport of transports) await measure(o, transport, 16, o.warmup, 0, errors);
  for (const connections of CONNECTIONS) {
    const samples = new Map<Transport, Sample[]>(transports.map((t) => [t, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const transport of transports) samples.get(transport)!.push(await measure(o, transport, connections, o.seconds / ROUNDS, 0.1, errors));
    }
    for (const transport of transports) {
      const all = samples.get(transport)!;
      const latencies = all.flatMap((x) => x.latencies);
      const row = { transport, connections, requestsPerSecond: latencies.length / o.seconds, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), errors: all.reduce((n, x) => n + x.failures, 0) };
      log(`auth ${LABEL[transport]} c=${connections}: ${f0(row.requestsPerSecond)} req/s, p50 ${f2(row.p50)} ms`);
      rows.push(row);
    }
  }
  const handshake = { ntlm: [] as number[], basic: [] as number[] };
  for (let i = 0; i < o.handshakes; i++) {
    let t = performance.now();
    const n = new NtlmTestClient(`http://127.0.0.1:${o.port}/wsman`);
    if ((await n.handshake(BENCH_USER)).status !== 200) errors.push('an NTLM handshake failed');
    handshake.ntlm.push(performance.now() - t);
    n.close();
    t = performance.now();
    const b = new OneConnection(`http://127.0.0.1:${o.port}/wsman`);
    if ((await b.post(IDENTIFY, { Authorization: BENCH_AUTH })).status !== 200) errors.push('a Basic Identify failed');
    handshake.basic.push(performance.now() - t);
    b.close();
  }
  log(`auth NTLM handshake: p50 ${f2(pct(handshake.ntlm, 0.5))} ms; new connection + Basic Identify: p50 ${f2(pct(handshake.basic, 0.5))} ms`);
  return { rows, handshake, errors };
}

export function renderAuth(r: AuthResults): { text: string; md: string; errors: string[] } {
  const ref = (c: number) => r.rows.find((x) => x.transport === 'http-basic' && x.connections === c)!;
  const t = table(
    ['Transport', 'Conns', 'Identify req/s', 'vs HTTP Basic', 'p50 ms', 'p99 ms', 'Errors'],
    r.rows.map((x) => [LABEL[x.transport], String(x.connections), f0(x.requestsPerSecond), `${(x.requestsPerSecond / ref(x.connections).requestsPerSecond).toFixed(2)}×`, f2(x.p50), f2(x.p99), String(x.errors)]),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  const h = r.handshake;
  const hs = table(
    ['Over a new connection', 'Runs', 'p50 ms', 'p99 ms'],
    [
      ['NTLM handshake (3 legs, the last with an empty body)', String(h.ntlm.length), f2(pct(h.ntlm, 0.5)), f2(pct(h.ntlm, 0.99))],
      ['Basic Identify (1 request)', String(h.basic.length), f2(pct(h.basic, 0.5)), f2(pct(h.basic, 0.99))],
    ],
    ['l', 'r', 'r', 'r'],
  );
  const head = 'Authentication: Identify over kept-alive connections by transport, ratios against plain HTTP with Basic in the same run';
  return {
    text: `${head}\n${t.text}\nThe cost of one NTLM handshake\n${hs.text}`,
    md: `## Authentication\n\n${head}. The client runs in the bench process and seals with the same MS-NLMP code as the server.\n\n${t.md}\n\n### The cost of one NTLM handshake\n\n${hs.md}`,
    errors: r.errors,
  };
}
