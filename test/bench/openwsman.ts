// winrmd beside openwsman's server in the same run (issue 12): only where WINRMD_BENCH_OPENWSMAN
// names a running openwsmand on loopback (`127.0.0.1:PORT`) that accepts the bench user with Basic
// (its basic_password_file). openwsman is not in Debian: build it outside this repository, never
// into it. Identify only (the one operation both serve without a provider), over 1 and 16
// connections, kept alive where the server keeps them (openwsmand closes every connection), in
// alternating rounds so that the machine's drift hits both alike. The server's CPU per request
// comes from /proc/<pid>/stat for openwsmand, found by its listening port, and from winrmd itself.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Kind, LoadResult, LoadSpec } from './load.js';
import { BENCH_AUTH, type Child, type MemorySample } from './protocol.js';
import { f0, f2, table } from './report.js';

export interface OpenwsmanTarget {
  port: number;
  pid: number;
}

/** The openwsmand the variable names, or undefined when it is not set. Throws when it names nothing running. */
export function openwsmanTarget(value: string | undefined): OpenwsmanTarget | undefined {
  if (!value) return undefined;
  const m = /^(?:127\.0\.0\.1:)?(\d{1,5})$/.exec(value);
  if (!m) throw new Error(`WINRMD_BENCH_OPENWSMAN=${value}: expected 127.0.0.1:PORT (loopback only)`);
  const port = Number(m[1]);
  const listing = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
  const pid = Number(/pid=(\d+)/.exec(listing)?.[1]);
  if (!pid) throw new Error(`WINRMD_BENCH_OPENWSMAN=${value}: nothing is listening on 127.0.0.1:${port} (or its process cannot be seen)`);
  return { port, pid };
}

const TICK_MICROS = 10_000; // USER_HZ is 100 on Linux

/** CPU so far and RSS of a process that is not a child of the bench (proc(5) stat fields 14, 15; status VmRSS). */
function probe(pid: number): { cpuMicros: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const rssKb = Number(/VmRSS:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? NaN);
  return { cpuMicros: (Number(f[11]) + Number(f[12])) * TICK_MICROS, rss: rssKb * 1024 };
}

interface Cell { server: 'winrmd' | 'openwsman'; connections: number; keepAlive: boolean; result: LoadResult; cpuPerRequest: number }
export interface OpenwsmanResults { rounds: number; cells: Cell[]; rss: { winrmd: number; openwsman: number } }

export async function runOpenwsmanBench(o: {
  target: OpenwsmanTarget;
  winrmd: Child;
  winrmdPort: number;
  rounds: number;
  load: (spec: LoadSpec) => Promise<LoadResult>;
}): Promise<OpenwsmanResults> {
  const cells: Cell[] = [];
  const winrmdCpu = async () => (await o.winrmd.ask<{ sample: MemorySample }>({ type: 'memory', gc: false })).sample.cpuMicros;
  const cell = async (server: Cell['server'], connections: number, keepAlive: boolean) => {
    const cpu = server === 'winrmd' ? winrmdCpu : async () => probe(o.target.pid).cpuMicros;
    const before = await cpu();
    const spec: LoadSpec = { kind: 'identify' as Kind, port: server === 'winrmd' ? o.winrmdPort : o.target.port, connections, keepAlive, authorization: BENCH_AUTH };
    const result = await o.load(spec);
    cells.push({ server, connections, keepAlive, result, cpuPerRequest: ((await cpu()) - before) / result.requestsAll });
  };
  for (let r = 0; r < o.rounds; r++) {
    for (const keepAlive of [true, false]) {
      for (const connections of [1, 16]) {
        // Which server goes first alternates with the round.
        const order: Cell['server'][] = r % 2 === 0 ? ['openwsman', 'winrmd'] : ['winrmd', 'openwsman'];
        for (const server of order) await cell(server, connections, keepAlive);
      }
    }
  }
  const winrmdRss = (await o.winrmd.ask<{ sample: MemorySample }>({ type: 'memory', gc: false })).sample.rss;
  return { rounds: o.rounds, cells, rss: { winrmd: winrmdRss, openwsman: probe(o.target.pid).rss } };
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

export function renderOpenwsman(r: OpenwsmanResults): { text: string; md: string } {
  const rows: string[][] = [];
  for (const keepAlive of [true, false]) {
    for (const connections of [1, 16]) {
      const of = (server: Cell['server']) => r.cells.filter((c) => c.server === server && c.keepAlive === keepAlive && c.connections === connections);
      const w = of('winrmd');
      const ows = of('openwsman');
      const wRate = median(w.map((c) => c.result.unitsPerSecond));
      const oRate = median(ows.map((c) => c.result.unitsPerSecond));
      rows.push([
        `Identify, ${keepAlive ? 'kept alive where the server allows' : 'a new connection per request'}`, String(connections),
        `${f0(oRate)} [${f0(median(ows.map((c) => c.cpuPerRequest)))}]`, `${f0(wRate)} [${f0(median(w.map((c) => c.cpuPerRequest)))}]`,
        `${(wRate / oRate).toFixed(2)}×`, `${Math.min(...w.map((c, i) => c.result.unitsPerSecond / (ows[i]?.result.unitsPerSecond ?? NaN))).toFixed(2)}–${Math.max(...w.map((c, i) => c.result.unitsPerSecond / (ows[i]?.result.unitsPerSecond ?? NaN))).toFixed(2)}`,
        String(w.reduce((n, c) => n + c.result.errors, 0) + ows.reduce((n, c) => n + c.result.errors, 0)),
      ]);
    }
  }
  const t = table(['Scenario', 'Conns', 'openwsmand req/s [CPU µs/req]', 'winrmd req/s [CPU µs/req]', 'winrmd ÷ openwsmand (medians)', 'Per round', 'Errors'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']);
  const head = `Against openwsmand in the same run: ${r.rounds} alternating rounds per cell; medians. RSS after: winrmd ${f2(r.rss.winrmd / 1048576)} MB, openwsmand ${f2(r.rss.openwsman / 1048576)} MB.`;
  return { text: ['openwsman', head, t.text].join('\n'), md: ['## Against openwsman', '', head, '', t.md].join('\n') };
}
