// The test-lab section (BENCH_ONLY=lab). Two figures, each against a baseline in the same run:
// 1. Memory per virtual host: the lab process (serve-lab.ts) serving BENCH_LAB_HOSTS hosts of the
//    bundled profile against the same process serving one, RSS and heap after a full GC.
// 2. Spread: the same closed-loop load (BENCH_LAB_CONNECTIONS keep-alive clients, each a Get of
//    Win32_OperatingSystem with Basic) sent to one host of the lab, and spread round-robin over all
//    of its hosts; requests per second and the lab's CPU per request, in alternating rounds.
import http from 'node:http';
import { envelope, ACTIONS, URI } from '../helpers/envelope.js';
import { BENCH_AUTH, spawnChild, type Child, type MemorySample } from './protocol.js';
import { f0, f1, f2, MB, table } from './report.js';

export interface LabBenchOptions { here: string; hosts: number; connections: number; seconds: number; rounds: number }

type Ready = { type: 'ready'; hosts: { address: string; port: number }[] };

const GET_OS = envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_OperatingSystem` });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function startLabChild(here: string, hosts: number): Promise<{ child: Child; ready: Ready }> {
  const child = spawnChild(`${here}/serve-lab.js`, { name: `lab of ${hosts}`, execArgv: ['--expose-gc'], env: { BENCH_LAB_HOSTS: String(hosts) } });
  const ready = await child.next<Ready>('ready', 300_000);
  return { child, ready };
}

const memory = (c: Child) => c.ask<{ sample: MemorySample }>({ type: 'memory', gc: true }).then((r) => r.sample);

/** `connections` workers, each sending Gets for `seconds`, host after host from `targets`; completed requests. */
async function load(targets: { address: string; port: number }[], connections: number, seconds: number): Promise<{ requests: number; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const end = Date.now() + seconds * 1000;
  let requests = 0;
  let errors = 0;
  let next = 0;
  const one = (t: { address: string; port: number }) => new Promise<void>((resolve) => {
    const req = http.request({ host: t.address, port: t.port, path: '/wsman', method: 'POST', agent, headers: { Authorization: BENCH_AUTH, 'Content-Type': 'application/soap+xml;charset=UTF-8' } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) requests++;
        else errors++;
        resolve();
      });
    });
    req.on('error', () => {
      errors++;
      resolve();
    });
    req.end(GET_OS);
  });
  await Promise.all(Array.from({ length: connections }, async () => {
    while (Date.now() < end) await one(targets[next++ % targets.length]!);
  }));
  agent.destroy();
  return { requests, errors };
}

export async function runLabBench(o: LabBenchOptions): Promise<{ text: string; md: string }> {
  // 1. Memory: one host, then many, each in a fresh process.
  const single = await startLabChild(o.here, 1);
  const one = await memory(single.child);
  const fleet = await startLabChild(o.here, o.hosts);
  const many = await memory(fleet.child);
  await single.child.stop();
  const perHost = { rss: (many.rss - one.rss) / (o.hosts - 1), heap: (many.heapUsed - one.heapUsed) / (o.hosts - 1) };

  // 2. Spread against one host, alternating, on the fleet's process.
  const rows: { spread: number; oneHost: number; cpuSpread: number; cpuOne: number; errors: number }[] = [];
  const cpu = async () => (await fleet.child.ask<{ sample: MemorySample }>({ type: 'memory', gc: false })).sample.cpuMicros;
  const measure = async (targets: Ready['hosts']) => {
    await load(targets, o.connections, 1); // warm-up: connections made, code warm
    const before = await cpu();
    const r = await load(targets, o.connections, o.seconds);
    return { rps: r.requests / o.seconds, cpuPerRequest: (await cpu() - before) / Math.max(1, r.requests), errors: r.errors };
  };
  for (let i = 0; i < o.rounds; i++) {
    const first = i % 2 === 0;
    const a = first ? await measure(fleet.ready.hosts) : await measure([fleet.ready.hosts[0]!]);
    const b = first ? await measure([fleet.ready.hosts[0]!]) : await measure(fleet.ready.hosts);
    const [spread, single1] = first ? [a, b] : [b, a];
    rows.push({ spread: spread.rps, oneHost: single1.rps, cpuSpread: spread.cpuPerRequest, cpuOne: single1.cpuPerRequest, errors: spread.errors + single1.errors });
  }
  await fleet.child.stop();
  const spreadRps = median(rows.map((r) => r.spread));
  const oneRps = median(rows.map((r) => r.oneHost));
  const cpuSpread = median(rows.map((r) => r.cpuSpread));
  const cpuOne = median(rows.map((r) => r.cpuOne));
  const errors = rows.reduce((a, r) => a + r.errors, 0);

  const memRows = [
    ['1 host', f1(MB(one.rss)), f1(MB(one.heapUsed))],
    [`${o.hosts} hosts`, f1(MB(many.rss)), f1(MB(many.heapUsed))],
    ['per host', `${f0(perHost.rss / 1024)} KB`, `${f0(perHost.heap / 1024)} KB`],
  ];
  const loadRows = [
    [`spread over ${o.hosts} hosts`, f0(spreadRps), f0(cpuSpread), f2(spreadRps / oneRps)],
    ['one host', f0(oneRps), f0(cpuOne), '1.00'],
  ];
  const head = `Test lab: ${o.hosts} virtual hosts of the bundled profile in one process; Get of Win32_OperatingSystem with Basic, ${o.connections} keep-alive clients, ${o.seconds} s × ${o.rounds} alternating rounds (medians)${errors ? `; ${errors} errors` : ''}`;
  const mem = table(['lab', 'RSS MB', 'heap MB'], memRows, ['l', 'r', 'r']);
  const spread = table(['load', 'req/s', 'lab CPU µs/req', 'ratio'], loadRows, ['l', 'r', 'r', 'r']);
  return { text: [head, mem.text, '', spread.text].join('\n'), md: [`### ${head}`, '', mem.md, '', spread.md].join('\n') };
}
