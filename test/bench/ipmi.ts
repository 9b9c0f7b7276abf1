// The IPMI provider (issue: "a full sensor sweep (SDR cached) through winrmd against `ipmitool sdr
// elist` on the same simulator in the same run: print the ratio"), against one OpenIPMI ipmi_sim
// on 127.0.0.1 that this section starts and stops (test/helpers/ipmi-sim.ts, 11 sensors).
//
// 1. The sweep: Bmc.refresh() — one full poll with the SDR cached: Get SDR Repository Info, then
//    Get Sensor Reading and Get Sensor Thresholds for every sensor, Get SEL Info, Get Chassis
//    Status — in this process over the native RMCP+ transport (one session, kept open), after one
//    warm-up refresh that reads the SDR; against `ipmitool -I lanplus … -C 3 sdr elist` spawned
//    each time (a new session and the whole SDR read every time). The two take turns, their order
//    swapped every round, so drift in the machine's load hits both alike. A third row: the same
//    refresh through winrmd's ipmitool transport (a process, and a session, per IPMI request), on
//    fewer rounds spread among the others.
// 2. Enumerate NumericSensor answered from the cache: a winrmd child (serve-winrmd, Basic over
//    HTTP) configured with that BMC (pollIntervalMs 1000, so it keeps polling under load), and a
//    closed loop (load.ts, enum-cycle) of complete Enumerate(OptimizeEnumeration, MaxElements 100)
//    cycles at 1 and 16 kept-alive connections. Beside it, in the same child and taking turns in
//    rounds: an Enumerate of the bench provider's Bench_Item with the same instance count (an
//    in-memory class, no BMC behind it) and Identify, the floor of a request.
import { execFile, spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Bmc } from '../../providers/ipmi/bmc.js';
import type { BmcOptions } from '../../providers/ipmi/index.js';
import { IpmitoolTransport } from '../../providers/ipmi/ipmitool.js';
import { LanplusTransport } from '../../providers/ipmi/lanplus/index.js';
import { isThresholdSensor } from '../../providers/ipmi/sdr.js';
import type { IpmiRequest, IpmiTransport } from '../../providers/ipmi/transport.js';
import { ACTIONS, enumerateBody, envelope } from '../helpers/envelope.js';
import { startIpmiSim, type IpmiSim } from '../helpers/ipmi-sim.js';
import { BENCH_RESOURCE_URI } from './bulk-provider.js';
import type { Kind, LoadResult, LoadSpec } from './load.js';
import { BENCH_AUTH, spawnChild, type Child } from './protocol.js';
import { f0, f2, table } from './report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const execFileP = promisify(execFile);

export const NUMERIC_SENSOR_URI = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware/NumericSensor';
/** Polling under load, as the issue's scenario has it. */
const POLL_INTERVAL_MS = 1000;
const MAX_ELEMENTS = 100;
const CONNECTIONS = [1, 16];
/** Rounds in which the load scenarios take turns. */
const ROUNDS = 3;

export interface IpmiBenchOptions {
  seconds: number;
  warmup: number;
  /** Sweeps timed for the native transport and for ipmitool sdr elist. */
  sweeps: number;
  /** Sweeps timed for winrmd's ipmitool transport (0 skips that row). */
  toolSweeps: number;
  /** Starts a winrmd child (serve-winrmd) with extra environment. */
  startWinrmd(env: NodeJS.ProcessEnv): Promise<{ child: Child; port: number }>;
}

type SweepKind = 'native' | 'ipmitool-transport' | 'sdr-elist';
const SWEEP_LABEL: Record<SweepKind, string> = {
  native: 'winrmd Bmc.refresh(), native RMCP+ (one session kept open)',
  'ipmitool-transport': 'winrmd Bmc.refresh(), ipmitool transport (a process per request)',
  'sdr-elist': 'ipmitool sdr elist (a process: new session, SDR read, readings)',
};

interface SweepRow {
  kind: SweepKind;
  /** Wall time of each sweep, ms. */
  times: number[];
  /** IPMI requests per sweep (winrmd's transports only). */
  requests?: number;
  /** Per sweep, the time spent inside transport.request() (winrmd's transports only), ms. */
  inTransport?: number[];
  errors: number;
}

type LoadScenario = 'numeric-sensor' | 'bench-item' | 'identify';
const LOAD_LABEL = (n: number): Record<LoadScenario, string> => ({
  'numeric-sensor': `Enumerate NumericSensor (${n} inst., from the poll cache)`,
  'bench-item': `Enumerate Bench_Item (${n} inst., in memory)`,
  identify: 'Identify',
});

interface LoadRow {
  scenario: LoadScenario;
  connections: number;
  unitsPerSecond: number;
  /** Medians over the rounds of each round's own percentile. */
  p50: number;
  p99: number;
  requestsPerUnit: number;
  errors: number;
  errorSamples: string[];
}

export interface IpmiResults {
  simSensors: number;
  numericSensors: number;
  sweeps: SweepRow[];
  load: LoadRow[];
  errors: string[];
}

/** Fails fast, before an hour of other sections, when the simulator cannot be started. */
export function checkIpmiTools(): void {
  const missing = ['ipmi_sim', 'sdrcomp', 'ipmitool'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length) throw new Error(`the IPMI section needs ${missing.join(', ')} (Debian: openipmi, ipmitool); BENCH_IPMI=0 skips it`);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
};
const median = (xs: number[]) => pct(xs, 0.5);

/** A transport that counts requests and the time spent in them. */
class Metered implements IpmiTransport {
  requests = 0;
  ms = 0;
  constructor(private readonly inner: IpmiTransport) {}
  async request(req: IpmiRequest, signal?: AbortSignal) {
    const t = performance.now();
    try {
      return await this.inner.request(req, signal);
    } finally {
      this.ms += performance.now() - t;
      this.requests++;
    }
  }
  close() {
    return this.inner.close();
  }
}

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

function bmcOptions(sim: IpmiSim, transport: BmcOptions['transport']): BmcOptions {
  return {
    name: 'bmc1', transport, host: '127.0.0.1', port: sim.port, user: 'admin', password: 'password',
    privilege: 'administrator', cipherSuite: 3, timeoutMs: 1000, retries: 3,
  };
}

function makeBmc(sim: IpmiSim, transport: BmcOptions['transport']): { bmc: Bmc; meter: Metered } {
  const o = bmcOptions(sim, transport);
  const meter = new Metered(transport === 'lanplus' ? new LanplusTransport(o) : new IpmitoolTransport(o));
  // An hour: the poll timer that refresh() re-arms never fires during the bench.
  return { bmc: new Bmc(o.name, `${o.host}:${o.port}`, meter, 3_600_000, quiet), meter };
}

async function sweeps(sim: IpmiSim, o: IpmiBenchOptions, errors: string[], log: (l: string) => void): Promise<{ rows: SweepRow[]; simSensors: number; numericSensors: number; elistLines: number }> {
  const native = makeBmc(sim, 'lanplus');
  const tool = o.toolSweeps > 0 ? makeBmc(sim, 'ipmitool') : undefined;
  const elistArgs = ['-I', 'lanplus', '-H', '127.0.0.1', '-p', String(sim.port), '-U', 'admin', '-P', 'password', '-C', '3', 'sdr', 'elist'];
  try {
    // Warm-up: the SDR read (and the session) for both of winrmd's transports; ipmitool's first run.
    const snap = await native.bmc.refresh();
    await tool?.bmc.refresh();
    const elistLines = (await execFileP('ipmitool', elistArgs)).stdout.trim().split('\n').length;
    const simSensors = snap.sensors.length;
    const numericSensors = snap.sensors.filter((s) => isThresholdSensor(s.record) && s.record.type !== 'event-only').length;
    log(`ipmi: simulator on udp/${sim.port}, ${snap.sdr.length} SDR records, ${simSensors} sensors (${numericSensors} NumericSensor), sdr elist prints ${elistLines} lines`);

    const rows: Record<SweepKind, SweepRow> = {
      native: { kind: 'native', times: [], inTransport: [], errors: 0 },
      'ipmitool-transport': { kind: 'ipmitool-transport', times: [], inTransport: [], errors: 0 },
      'sdr-elist': { kind: 'sdr-elist', times: [], errors: 0 },
    };
    const requests: Partial<Record<SweepKind, Set<number>>> = { native: new Set(), 'ipmitool-transport': new Set() };
    const refresh = async (kind: SweepKind, b: { bmc: Bmc; meter: Metered }) => {
      const before = { n: b.meter.requests, ms: b.meter.ms };
      const t = performance.now();
      try {
        const s = await b.bmc.refresh();
        if (s.sensors.length !== simSensors) throw new Error(`a sweep returned ${s.sensors.length} sensors, expected ${simSensors}`);
        rows[kind].times.push(performance.now() - t);
        rows[kind].inTransport!.push(b.meter.ms - before.ms);
        requests[kind]!.add(b.meter.requests - before.n);
      } catch (err) {
        rows[kind].errors++;
        errors.push(`ipmi sweep (${kind}): ${(err as Error).message}`);
      }
    };
    const elist = async () => {
      const t = performance.now();
      try {
        const { stdout } = await execFileP('ipmitool', elistArgs);
        const lines = stdout.trim().split('\n').length;
        if (lines !== elistLines) throw new Error(`sdr elist printed ${lines} lines, expected ${elistLines}`);
        rows['sdr-elist'].times.push(performance.now() - t);
      } catch (err) {
        rows['sdr-elist'].errors++;
        errors.push(`ipmi sweep (sdr elist): ${(err as Error).message}`);
      }
    };
    // The ipmitool transport's sweeps, spread evenly over the rounds.
    const toolEvery = tool ? o.sweeps / Math.min(o.toolSweeps, o.sweeps) : Infinity;
    let nextTool = 0;
    for (let round = 0; round < o.sweeps; round++) {
      if (round % 2 === 0) {
        await refresh('native', native);
        await elist();
      } else {
        await elist();
        await refresh('native', native);
      }
      if (tool && round >= nextTool) {
        await refresh('ipmitool-transport', tool);
        nextTool += toolEvery;
      }
    }
    const out = [rows.native, rows['sdr-elist'], ...(tool ? [rows['ipmitool-transport']] : [])];
    for (const r of out) {
      const n = requests[r.kind];
      if (n) {
        if (n.size > 1) errors.push(`ipmi sweep (${r.kind}): the request count varied between sweeps (${[...n].join(', ')})`);
        r.requests = Math.max(...n);
      }
      log(`ipmi sweep ${r.kind.padEnd(18)} ${String(r.times.length).padStart(3)} runs  median ${f2(median(r.times))} ms  p90 ${f2(pct(r.times, 0.9))} ms${r.requests ? `  ${r.requests} requests` : ''}  errors ${r.errors}`);
    }
    return { rows: out, simSensors, numericSensors, elistLines };
  } finally {
    await native.bmc.close();
    await tool?.bmc.close();
  }
}

function post(port: number, body: string): Promise<{ status: number; text: string }> {
  const buf = Buffer.from(body);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/wsman', method: 'POST', agent: false,
      headers: { 'Content-Type': 'application/soap+xml;charset=UTF-8', Authorization: BENCH_AUTH, 'Content-Length': buf.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(buf);
  });
}

/** Waits for winrmd's first poll of the BMC: an Enumerate that returns every NumericSensor. */
async function awaitFirstPoll(port: number, expect: number): Promise<void> {
  const body = envelope({ action: ACTIONS.enumerate, resourceUri: NUMERIC_SENSOR_URI, body: enumerateBody({ optimize: true, maxElements: MAX_ELEMENTS }) });
  let last = '';
  for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    const r = await post(port, body);
    const items = r.text.split('NumericSensor_Type"').length - 1;
    if (r.status === 200 && items === expect && r.text.includes('EndOfSequence')) return;
    last = `HTTP ${r.status}, ${items} items: ${r.text.slice(0, 300)}`;
  }
  throw new Error(`winrmd did not serve the BMC's ${expect} NumericSensor instances within 30 s (${last})`);
}

async function loadRun(loader: Child, spec: LoadSpec & { warmupMs: number; durationMs: number }): Promise<LoadResult> {
  const r = await loader.ask<{ result?: LoadResult; error?: string }>({ type: 'run', spec }, spec.warmupMs + spec.durationMs + 120_000);
  if (r.error) throw new Error(`load generator: ${r.error}`);
  return r.result!;
}

async function enumerateLoad(o: IpmiBenchOptions, sim: IpmiSim, numericSensors: number, log: (l: string) => void): Promise<LoadRow[]> {
  const bmc = bmcOptions(sim, 'lanplus');
  const { child, port } = await o.startWinrmd({
    BENCH_IPMI_CONFIG: JSON.stringify({ pollIntervalMs: POLL_INTERVAL_MS, bmcs: [bmc] }),
    // The bench provider's class at the same size: an enumeration with no BMC behind it.
    BENCH_ITEMS: String(numericSensors),
  });
  const loader = spawnChild(path.join(here, 'load.js'), { name: 'load generator' });
  try {
    await awaitFirstPoll(port, numericSensors);
    const spec = (scenario: LoadScenario, connections: number): LoadSpec => {
      const base = { port, connections, keepAlive: true, authorization: BENCH_AUTH };
      if (scenario === 'identify') return { ...base, kind: 'identify' satisfies Kind };
      const resourceUri = scenario === 'numeric-sensor' ? NUMERIC_SENSOR_URI : BENCH_RESOURCE_URI;
      return { ...base, kind: 'enum-cycle', resourceUri, expectItems: numericSensors, maxElements: MAX_ELEMENTS };
    };
    const scenarios: LoadScenario[] = ['numeric-sensor', 'bench-item', 'identify'];
    // A fresh server: warm every path first, so the first measured does not pay the JIT for the others.
    for (const s of scenarios) await loadRun(loader, { ...spec(s, 16), warmupMs: 0, durationMs: Math.max(0.5, o.warmup) * 1000 });
    const rows: LoadRow[] = [];
    const label = LOAD_LABEL(numericSensors);
    for (const connections of CONNECTIONS) {
      const results = new Map<LoadScenario, LoadResult[]>(scenarios.map((s) => [s, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const s of scenarios) {
          results.get(s)!.push(await loadRun(loader, { ...spec(s, connections), warmupMs: 200, durationMs: (o.seconds / ROUNDS) * 1000 }));
        }
      }
      for (const s of scenarios) {
        const rs = results.get(s)!;
        const seconds = rs.reduce((n, r) => n + r.seconds, 0);
        const row: LoadRow = {
          scenario: s, connections,
          unitsPerSecond: rs.reduce((n, r) => n + r.units, 0) / seconds,
          p50: median(rs.map((r) => r.p50)),
          p99: median(rs.map((r) => r.p99)),
          requestsPerUnit: rs.reduce((n, r) => n + r.requestsPerUnit, 0) / rs.length,
          errors: rs.reduce((n, r) => n + r.errors, 0),
          errorSamples: rs.flatMap((r) => r.errorSamples).slice(0, 5),
        };
        log(`ipmi load ${label[s].padEnd(48)} c=${String(connections).padEnd(2)} ${f0(row.unitsPerSecond).padStart(7)} /s  p50 ${f2(row.p50)} ms  p99 ${f2(row.p99)} ms  errors ${row.errors}`);
        rows.push(row);
      }
    }
    return rows;
  } finally {
    await loader.stop();
    await child.stop();
  }
}

export async function runIpmiBench(o: IpmiBenchOptions, log: (line: string) => void = (l) => console.error(l)): Promise<IpmiResults> {
  const errors: string[] = [];
  const sim = await startIpmiSim();
  // The simulator is not our child (start.sh leaves it running): kill it however this process ends.
  const onExit = () => void sim.stop();
  process.once('exit', onExit);
  try {
    const s = await sweeps(sim, o, errors, log);
    const load = await enumerateLoad(o, sim, s.numericSensors, log);
    for (const r of load) if (r.errorSamples.length) errors.push(`ipmi load ${r.scenario} c=${r.connections}: ${r.errorSamples.join('; ')}`);
    return { simSensors: s.simSensors, numericSensors: s.numericSensors, sweeps: s.rows, load, errors };
  } finally {
    process.off('exit', onExit);
    await sim.stop();
  }
}

export function renderIpmi(r: IpmiResults, opts: { sweeps: number; toolSweeps: number; seconds: number }): { text: string; md: string; errors: string[] } {
  const row = (k: SweepKind) => r.sweeps.find((x) => x.kind === k);
  const elist = row('sdr-elist')!;
  const native = row('native')!;
  const times = (x: SweepRow) => `${f2(median(x.times))} / ${f2(pct(x.times, 0.9))}`;
  const sweepTable = table(
    ['Full sensor sweep', 'Runs', 'IPMI requests', 'Median ms', 'p90 ms', 'In transport ms (median)', 'sdr elist ÷ this (median / p90)', 'Errors'],
    r.sweeps.map((x) => [
      SWEEP_LABEL[x.kind], String(x.times.length), x.requests ? String(x.requests) : '—',
      f2(median(x.times)), f2(pct(x.times, 0.9)), x.inTransport ? f2(median(x.inTransport)) : '—',
      `${(median(elist.times) / median(x.times)).toFixed(2)}× / ${(pct(elist.times, 0.9) / pct(x.times, 0.9)).toFixed(2)}×`,
      String(x.errors),
    ]),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  const ratio = median(elist.times) / median(native.times);
  const headline = `ipmitool sdr elist / winrmd native sweep: ${ratio.toFixed(1)}× (median ${times(elist)} ms against ${times(native)} ms, median / p90)`;

  const label = LOAD_LABEL(r.numericSensors);
  const idOf = (c: number) => r.load.find((x) => x.scenario === 'identify' && x.connections === c)!;
  const loadTable = table(
    ['Scenario', 'Conns', 'Units/s', 'vs Identify', 'p50 ms', 'p99 ms', 'Req/unit', 'Errors'],
    r.load.map((x) => [label[x.scenario], String(x.connections), f0(x.unitsPerSecond), `${(x.unitsPerSecond / idOf(x.connections).unitsPerSecond).toFixed(2)}×`,
      f2(x.p50), f2(x.p99), f2(x.requestsPerUnit), String(x.errors)]),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  const sweepNote = `${r.simSensors} sensors on ipmi_sim (127.0.0.1, cipher suite 3). A winrmd sweep is Bmc.refresh() in the bench process with the SDR cached (read once by a warm-up refresh): Get SDR Repository Info, Get Sensor Reading and Get Sensor Thresholds per sensor, Get SEL Info, Get Chassis Status. ipmitool sdr elist opens a session and reads the SDR every time, as a script calling it would. Native and sdr elist take turns over ${opts.sweeps} rounds (order swapped each round); the ipmitool transport's ${Math.min(opts.toolSweeps, opts.sweeps)} sweeps are spread among them. "In transport" is the time inside transport.request() per sweep.`;
  const loadNote = `One winrmd child (Basic over HTTP, kept-alive connections) polling the BMC every ${POLL_INTERVAL_MS} ms while under load. A unit is one complete Enumerate (OptimizeEnumeration, MaxElements ${MAX_ELEMENTS}; every instance and EndOfSequence come in the EnumerateResponse); Bench_Item is the bench provider's in-memory class at the same count, Identify the floor of a request. The three take turns in ${ROUNDS} rounds of ${f2(opts.seconds / ROUNDS)} s each per connection count; units/s over all rounds, p50 and p99 the median of the rounds' own.`;
  const head = 'IPMI: a full sensor sweep against ipmitool sdr elist, and Enumerate NumericSensor from the poll cache';
  return {
    text: `${head}\n${sweepTable.text}\n${headline}\n${loadTable.text}`,
    md: `## IPMI\n\n### A full sensor sweep\n\n${sweepNote}\n\n${sweepTable.md}\n\n**${headline}.**\n\n### Enumerate NumericSensor served from the cache\n\n${loadNote}\n\n${loadTable.md}`,
    errors: r.errors,
  };
}
