// The winrmd benchmark (npm run bench). Three processes: winrmd (serve-winrmd), a bare node:http
// baseline answering the same Identify bytes (serve-baseline), and a closed-loop load generator
// (load). Scenarios: {identify, get-os, enum-cycle of 1,000 instances} × {1, 16 connections} ×
// {keep-alive, new connection per request}, the baseline's identify on the same matrix, winrmd's
// RSS along the way, a memory-flatness run of BENCH_ENUMS enumeration cycles, and a CPU profile
// of winrmd under Identify load; then the remote shell (shell.ts, against a fresh winrmd): the
// round trip of one trivial command (Create → Command `true` → Receive → Signal → Delete over one
// keep-alive connection) against child_process spawning `/bin/sh -c true`, 200 MB of stdout
// through Receive against reading the same command's pipe, and winrmd's RSS with 30 open shells.
// Then authentication (auth.ts, against a fresh winrmd with HTTPS): Identify over HTTP with Basic,
// HTTPS with Basic and HTTP with NTLM message encryption, and the cost of one NTLM handshake.
// Then IPMI (ipmi.ts, against an OpenIPMI ipmi_sim it starts and stops): a full sensor sweep with
// the SDR cached through winrmd's native RMCP+ transport against spawning `ipmitool sdr elist`, in
// alternating rounds (and the same sweep through winrmd's ipmitool transport), and complete
// Enumerates of NumericSensor served from the poll cache by a fresh winrmd polling that BMC every
// second, at 1 and 16 connections, beside Identify and a same-size in-memory enumeration.
// With BENCH_BEFORE set to another build's dist/ (a checkout of the previous commit, built with
// npm run build), that winrmd runs too, and each scenario of the matrix at 16 keep-alive
// connections is measured in BENCH_BEFORE_ROUNDS (6) rounds alternating the two builds (which goes
// first alternates too), so that the machine's drift hits both alike; a table gives the medians
// of this build's CPU per request and throughput against the other's. BENCH_BEFORE_FLAGS: Node
// flags for that other winrmd (with BENCH_BEFORE=dist, the cost of a flag on the same build).
// Results: a table on stdout and dist/bench-results.md.
//
// Environment: BENCH_SECONDS (5) measured seconds per scenario, BENCH_WARMUP (1) warm-up seconds,
// BENCH_ENUMS (20000) cycles in the flatness run (0 skips it), BENCH_FLAT_CONNS (16),
// BENCH_PROFILE (identify; a comma list of kind[:connections[:keep-alive|new-conn]], e.g.
// identify,enum-cycle:1,identify:1:new-conn — 16 keep-alive connections unless given — and
// shell-roundtrip, shell-stream for the shell section's; or 0),
// BENCH_ONLY (a comma list of scenario kinds and sections to run: identify,get-os,enum-cycle and
// shell,auth,ipmi; `none` runs no matrix and no section, e.g. for a long flatness run; sections
// alone, e.g. `shell` or `auth,ipmi`, run those sections only: no flatness run or profile unless
// BENCH_ENUMS / BENCH_PROFILE ask for one),
// BENCH_OUT (dist/bench-results.md; the JSON goes beside it), BENCH_GC (1: start winrmd with
// --expose-gc so flatness and shell memory samples follow a full GC).
// The shell section: BENCH_SHELL (1; 0 skips it), BENCH_SHELL_TRIPS (0: round trips for
// BENCH_SECONDS of winrmd time after BENCH_WARMUP; n: exactly n, and n baseline spawns),
// BENCH_SHELL_MB (200) streamed per run, BENCH_SHELL_ENVELOPES (153600,512000: one streaming run
// per MaxEnvelopeSize). The authentication section: BENCH_AUTH (1; 0 skips it; BENCH_ONLY=auth
// runs it alone), BENCH_HANDSHAKES (200) NTLM handshakes timed. The IPMI section: BENCH_IPMI (1; 0
// skips it; BENCH_ONLY=ipmi runs it alone; it needs ipmi_sim, sdrcomp and ipmitool on PATH),
// BENCH_IPMI_SWEEPS (50) sweeps timed for winrmd's native transport and for sdr elist each,
// BENCH_IPMI_TOOL_SWEEPS (10) for winrmd's ipmitool transport (0 skips that row). The mixed load
// (test/bench/mixed.ts): BENCH_MIXED (1; 0 skips it; BENCH_ONLY=mixed runs it alone),
// The collector section (test/bench/collector.ts): BENCH_COLLECTOR (1; 0 skips it; BENCH_ONLY=collector
// runs it alone), BENCH_COLLECTOR_CELLS (sources×batch[:nosldc], comma-separated), BENCH_COLLECTOR_IDLE
// (2000: sources held connected for the memory figure; 0 skips it). The Kerberos section
// (test/bench/kerberos.ts): BENCH_KERBEROS (1; 0 skips it; BENCH_ONLY=kerberos runs it alone),
// BENCH_KERBEROS_REQUESTS (2000 Identify per client), BENCH_KERBEROS_HANDSHAKES (200 AP-REQs judged).
// The event source section (test/bench/eventing.ts): BENCH_EVENTING (1; 0 skips it; BENCH_ONLY=eventing
// runs it alone), BENCH_EVENTING_EVENTS (20000 journal entries forwarded), BENCH_EVENTING_SUBSCRIPTIONS
// (1000 pull subscriptions held open for the memory figure).
// BENCH_MIXED_SECONDS (30), BENCH_MIXED_CLIENTS (200), BENCH_MIXED_SHELLS (20).
// The test-lab section (test/bench/lab.ts): BENCH_LAB (1; 0 skips it; BENCH_ONLY=lab runs it alone),
// BENCH_LAB_HOSTS (1000 virtual hosts), BENCH_LAB_CONNECTIONS (16), BENCH_LAB_ROUNDS (3).
// WINRMD_BENCH_OPENWSMAN=127.0.0.1:PORT: a running openwsmand measured beside winrmd on Identify
// (test/bench/openwsman.ts), in BENCH_OPENWSMAN_ROUNDS (3) alternating rounds.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { identify } from '../helpers/envelope.js';
import { BENCH_RESOURCE_URI } from './bulk-provider.js';
import type { FlatQuarter, Kind, LoadResult, LoadSpec } from './load.js';
import { summarize, type ProfileSummary } from './profile.js';
import { BENCH_AUTH, spawnChild, type Child, type MemorySample, type ServerReady } from './protocol.js';
import { f0, f1, f2, MB, table } from './report.js';
import { renderAuth, runAuthBench, type AuthResults } from './auth.js';
import { checkIpmiTools, renderIpmi, runIpmiBench, type IpmiResults } from './ipmi.js';
import { renderMixed, runMixedBench, type MixedResults } from './mixed.js';
import { parseCells, runCollectorBench } from './collector.js';
import { runKerberosBench } from './kerberos.js';
import { runEventingBench } from './eventing.js';
import { runLabBench } from './lab.js';
import { openwsmanTarget, renderOpenwsman, runOpenwsmanBench } from './openwsman.js';
import { renderShell, runShellBench, SHELL_PROFILE_KINDS, type ShellProfileKind, type ShellResults } from './shell.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.resolve(here, '../..');
const num = (name: string, dflt: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${v} is not a non-negative number`);
  return n;
};

const ONLY_SPEC = (process.env.BENCH_ONLY ?? '').split(',').filter(Boolean);
/** Sections BENCH_ONLY may name besides the matrix's scenario kinds. */
const SECTION_NAMES = ['shell', 'auth', 'ipmi', 'mixed', 'collector', 'kerberos', 'eventing', 'lab'];
/** BENCH_ONLY=shell, auth and/or ipmi: those sections alone, unless BENCH_ENUMS or BENCH_PROFILE ask for more. */
const SECTIONS_ONLY = ONLY_SPEC.length > 0 && ONLY_SPEC.every((k) => SECTION_NAMES.includes(k));
const SECONDS = num('BENCH_SECONDS', 5);
const WARMUP = num('BENCH_WARMUP', 1);
const ENUMS = Math.round(num('BENCH_ENUMS', SECTIONS_ONLY ? 0 : 20_000));
const FLAT_CONNS = Math.max(1, Math.round(num('BENCH_FLAT_CONNS', 16)));
const ITEMS = 1000;
const GC = process.env.BENCH_GC !== '0';
const KINDS: Kind[] = ['identify', 'get-os', 'enum-cycle'];
const ONLY = ONLY_SPEC.filter((k) => k !== 'none' && !SECTION_NAMES.includes(k)) as Kind[];
const NO_MATRIX = ONLY_SPEC.length > 0 && ONLY.length === 0;
const SHELL = process.env.BENCH_SHELL !== '0' && (ONLY_SPEC.length === 0 || ONLY_SPEC.includes('shell'));
const AUTH = process.env.BENCH_AUTH !== '0' && (ONLY_SPEC.length === 0 || ONLY_SPEC.includes('auth'));
const HANDSHAKES = Math.max(1, Math.round(num('BENCH_HANDSHAKES', 200)));
const IPMI = process.env.BENCH_IPMI !== '0' && (ONLY_SPEC.length === 0 || ONLY_SPEC.includes('ipmi'));
const MIXED = process.env.BENCH_MIXED !== '0' && (ONLY_SPEC.length === 0 || ONLY_SPEC.includes('mixed'));
const MIXED_SECONDS = Math.max(1, num('BENCH_MIXED_SECONDS', 30));
const COLLECTOR = process.env.BENCH_COLLECTOR !== '0' && (ONLY_SPEC.length === 0 || ONLY_SPEC.includes('collector'));
const COLLECTOR_CELLS = parseCells(process.env.BENCH_COLLECTOR_CELLS || '50x1,50x20,50x100,50x20:nosldc,500x20');
const COLLECTOR_IDLE = Math.round(num('BENCH_COLLECTOR_IDLE', 2000));
const KERBEROS = process.env.BENCH_KERBEROS !== '0' && (ONLY_SPEC.length === 0 || ONLY_SPEC.includes('kerberos'));
const KERBEROS_REQUESTS = Math.max(10, Math.round(num('BENCH_KERBEROS_REQUESTS', 2000)));
const KERBEROS_HANDSHAKES = Math.max(1, Math.round(num('BENCH_KERBEROS_HANDSHAKES', 200)));
const EVENTING = process.env.BENCH_EVENTING !== '0' && (ONLY_SPEC.length === 0 || ONLY_SPEC.includes('eventing'));
const EVENTING_EVENTS = Math.max(100, Math.round(num('BENCH_EVENTING_EVENTS', 20_000)));
const EVENTING_SUBSCRIPTIONS = Math.max(1, Math.round(num('BENCH_EVENTING_SUBSCRIPTIONS', 1000)));
const LAB = process.env.BENCH_LAB !== '0' && (ONLY_SPEC.length === 0 || ONLY_SPEC.includes('lab'));
const LAB_HOSTS = Math.max(2, Math.round(num('BENCH_LAB_HOSTS', 1000)));
const LAB_CONNECTIONS = Math.max(1, Math.round(num('BENCH_LAB_CONNECTIONS', 16)));
const LAB_ROUNDS = Math.max(1, Math.round(num('BENCH_LAB_ROUNDS', 3)));
const MIXED_CLIENTS = Math.max(1, Math.round(num('BENCH_MIXED_CLIENTS', 200)));
const MIXED_SHELLS = Math.min(MIXED_CLIENTS, Math.round(num('BENCH_MIXED_SHELLS', 20)));
const IPMI_SWEEPS = Math.max(1, Math.round(num('BENCH_IPMI_SWEEPS', 50)));
const IPMI_TOOL_SWEEPS = Math.round(num('BENCH_IPMI_TOOL_SWEEPS', 10));
const SHELL_TRIPS = Math.round(num('BENCH_SHELL_TRIPS', 0));
const SHELL_BYTES = Math.round(num('BENCH_SHELL_MB', 200) * 1024 * 1024);
const SHELL_ENVELOPES = (process.env.BENCH_SHELL_ENVELOPES || '153600,512000').split(',').filter(Boolean).map(Number);
if (SHELL_ENVELOPES.some((e) => !Number.isInteger(e) || e < 8192)) throw new Error(`BENCH_SHELL_ENVELOPES=${process.env.BENCH_SHELL_ENVELOPES} is not a comma list of envelope sizes in octets`);
interface ProfileTarget { kind: Kind; connections: number; keepAlive: boolean }
const PROFILE_ALL = (process.env.BENCH_PROFILE ?? (SECTIONS_ONLY ? '0' : 'identify')).split(',').filter((k) => k && k !== '0');
const SHELL_PROFILE = PROFILE_ALL.filter((p): p is ShellProfileKind => (SHELL_PROFILE_KINDS as readonly string[]).includes(p));
if (SHELL_PROFILE.length && !SHELL) throw new Error(`BENCH_PROFILE=${SHELL_PROFILE.join(',')} needs the shell section (BENCH_ONLY, BENCH_SHELL)`);
const PROFILE_SPEC = PROFILE_ALL.filter((p) => !SHELL_PROFILE.includes(p as ShellProfileKind));
const PROFILE: ProfileTarget[] = PROFILE_SPEC.map((p) => {
  const [kind, conns = '16', mode = 'keep-alive'] = p.split(':');
  if (!['keep-alive', 'new-conn'].includes(mode) || !(Number(conns) >= 1)) throw new Error(`BENCH_PROFILE: ${p} is not kind[:connections[:keep-alive|new-conn]]`);
  return { kind: kind as Kind, connections: Number(conns), keepAlive: mode === 'keep-alive' };
});
for (const k of [...ONLY, ...PROFILE.map((p) => p.kind)]) if (!KINDS.includes(k)) throw new Error(`unknown scenario kind ${k} (${KINDS.join(', ')})`);
const CONNECTIONS = [1, 16];
const MODES = [{ keepAlive: true, label: 'keep-alive' }, { keepAlive: false, label: 'new conn' }];

const LABEL: Record<Kind, string> = { identify: 'Identify', 'get-os': 'Get Win32_OperatingSystem', 'enum-cycle': `Enumerate+Pull cycle (${ITEMS} inst.)` };

/** Another build of winrmd to measure this one against, cell by cell (its dist/ folder). */
const BEFORE = process.env.BENCH_BEFORE ? path.resolve(process.env.BENCH_BEFORE) : undefined;
const BEFORE_ROUNDS = Math.max(1, Math.round(num('BENCH_BEFORE_ROUNDS', 6)));
/** Node flags for that other winrmd (BENCH_BEFORE=dist with flags measures what a flag costs). */
const BEFORE_FLAGS = (process.env.BENCH_BEFORE_FLAGS ?? '').split(' ').filter(Boolean);
/** A running openwsmand to measure beside winrmd (test/bench/openwsman.ts). */
const OPENWSMAN = openwsmanTarget(process.env.WINRMD_BENCH_OPENWSMAN);
const OPENWSMAN_ROUNDS = Math.max(1, Math.round(num('BENCH_OPENWSMAN_ROUNDS', 3)));

interface Row {
  server: 'winrmd' | 'baseline' | 'before';
  kind: Kind;
  connections: number;
  mode: string;
  result: LoadResult;
  rssAfter?: number;
  /**
   * The server's CPU time per HTTP request over the run (warm-up included), all its threads.
   * Steadier than throughput on a shared machine: time the server waits for a core is not in it.
   */
  cpuPerRequest: number;
}

async function startWinrmd(execArgv: string[], env: NodeJS.ProcessEnv = {}, dist = DIST): Promise<{ child: Child; port: number; httpsPort?: number }> {
  const name = dist === DIST ? 'winrmd' : `winrmd of ${dist}`;
  // As `npm start` and the image run it: glibc arenas bounded (MALLOC_ARENA_MAX, README Memory).
  const child = spawnChild(path.join(dist, 'test/bench/serve-winrmd.js'), { name, execArgv, env: { BENCH_ITEMS: String(ITEMS), MALLOC_ARENA_MAX: '2', ...env } });
  const { port, httpsPort } = await child.next<ServerReady>('ready');
  return { child, port, httpsPort };
}

function fetchIdentify(port: number): Promise<{ body: string; contentType: string }> {
  const body = Buffer.from(identify('s'));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/wsman', method: 'POST', agent: false, headers: { 'Content-Type': 'application/soap+xml;charset=UTF-8', Authorization: BENCH_AUTH, 'Content-Length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200 || !text.includes('IdentifyResponse')) reject(new Error(`Identify failed: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
        else resolve({ body: text, contentType: String(res.headers['content-type']) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const memory = (c: Child, gc = false) => c.ask<{ sample: MemorySample }>({ type: 'memory', gc }).then((r) => r.sample);

async function load(loader: Child, spec: LoadSpec, timing = { warmupMs: WARMUP * 1000, durationMs: SECONDS * 1000 }): Promise<LoadResult> {
  const r = await loader.ask<{ result?: LoadResult; error?: string }>(
    { type: 'run', spec: { ...spec, ...timing } },
    timing.warmupMs + timing.durationMs + 120_000,
  );
  if (r.error) throw new Error(`load generator: ${r.error}`);
  return r.result!;
}

function specFor(kind: Kind, port: number, connections: number, keepAlive: boolean): LoadSpec {
  return {
    kind, port, connections, keepAlive, authorization: BENCH_AUTH,
    ...(kind === 'enum-cycle' ? { resourceUri: BENCH_RESOURCE_URI, expectItems: ITEMS, maxElements: ITEMS } : {}),
  };
}

function progress(row: Row): void {
  const r = row.result;
  const unit = row.kind === 'enum-cycle' ? 'cycles/s' : 'req/s';
  console.error(`  ${row.server.padEnd(8)} ${row.kind.padEnd(10)} c=${String(row.connections).padEnd(2)} ${row.mode.padEnd(10)} ${f0(r.unitsPerSecond).padStart(7)} ${unit}  p50 ${f2(r.p50)} ms  p99 ${f2(r.p99)} ms  cpu ${f0(row.cpuPerRequest)} µs/req  errors ${r.errors}${row.rssAfter ? `  rss ${f1(MB(row.rssAfter))} MB` : ''}`);
}

interface FlatPoint { pct: number; done: number; sample: MemorySample; quarter?: FlatQuarter }

async function flatness(winrmd: Child, loader: Child, port: number): Promise<{ points: FlatPoint[]; errors: number; errorSamples: string[]; seconds: number; requestsPerUnit: number }> {
  const points: FlatPoint[] = [];
  const onCheckpoint = (m: { type: string; pct: number; done: number; quarter?: FlatQuarter }) => {
    if (m?.type !== 'checkpoint') return;
    void memory(winrmd, true).then((sample) => {
      points.push({ pct: m.pct, done: m.done, sample, quarter: m.quarter });
      console.error(`  flatness ${String(m.pct).padStart(3)}%  ${f0(m.done).padStart(7)} cycles  rss ${f1(MB(sample.rss))} MB  heap ${f1(MB(sample.heapUsed))} MB  open enumerations ${sample.openEnumerations}${m.quarter ? `  (${f0(m.quarter.cycles / m.quarter.seconds)} cycles/s)` : ''}`);
      loader.proc.send({ type: 'continue' });
    }, (err) => {
      console.error('flatness: memory sample failed', err);
      loader.proc.kill('SIGKILL');
    });
  };
  loader.proc.on('message', onCheckpoint);
  try {
    const r = await loader.ask<{ result?: { errors: number; errorSamples: string[]; seconds: number; requestsPerUnit: number }; error?: string }>(
      { type: 'flat', spec: { ...specFor('enum-cycle', port, FLAT_CONNS, true), total: ENUMS } },
      60 * 60 * 1000,
    );
    if (r.error) throw new Error(`load generator: ${r.error}`);
    return { points, ...r.result! };
  } finally {
    loader.proc.off('message', onCheckpoint);
  }
}

interface ProfileRun { target: ProfileTarget; file: string; summary: ProfileSummary; result: LoadResult }

async function profile(target: ProfileTarget, loader: Child): Promise<ProfileRun> {
  const { kind, connections, keepAlive } = target;
  const dir = path.join(DIST, 'bench-profile');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `winrmd-${kind}-c${connections}-${keepAlive ? 'keepalive' : 'newconn'}.cpuprofile`);
  const { child, port } = await startWinrmd([]);
  try {
    // Warm up unprofiled, then profile exactly the measured window.
    await load(loader, specFor(kind, port, connections, keepAlive), { warmupMs: 0, durationMs: Math.max(1, WARMUP) * 1000 });
    await child.ask({ type: 'profile-start' });
    const result = await load(loader, specFor(kind, port, connections, keepAlive), { warmupMs: 0, durationMs: SECONDS * 1000 });
    await child.ask({ type: 'profile-stop', file });
    return { target, file, summary: summarize(file), result };
  } finally {
    await child.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

/** The commit measured, marked dirty when src/ or providers/ differ from it. */
function gitCommit(checkout = path.resolve(DIST, '..')): string {
  try {
    const opts = { cwd: checkout, encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'ignore'] as ('ignore' | 'pipe')[] };
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], opts).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'providers'], opts).trim();
    return dirty ? `${head} + uncommitted changes in src/providers` : head;
  } catch {
    return 'unknown commit';
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const commit = gitCommit();
  const cpus = os.cpus();
  const machine = `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${MB(os.totalmem()).toFixed(0)} MB RAM, Linux ${os.release()}`;
  const kinds = NO_MATRIX ? [] : ONLY.length ? ONLY : KINDS;
  const loadBefore = os.loadavg();
  console.error(`winrmd bench: ${SECONDS} s per scenario after ${WARMUP} s warm-up; node ${process.version}; ${machine}`);
  if (IPMI) checkIpmiTools();

  const { child: winrmd, port } = await startWinrmd(GC ? ['--expose-gc'] : []);
  const previous = BEFORE ? await startWinrmd([...(GC ? ['--expose-gc'] : []), ...BEFORE_FLAGS], {}, BEFORE) : undefined;
  const reply = await fetchIdentify(port);
  const baseline = spawnChild(path.join(here, 'serve-baseline.js'), { name: 'baseline' });
  const { port: basePort } = await baseline.ask<ServerReady>({ type: 'init', body: reply.body, headers: { 'Content-Type': reply.contentType } });
  const loader = spawnChild(path.join(here, 'load.js'), { name: 'load generator' });

  const idle = await memory(winrmd);
  const baselineIdle = await memory(baseline);
  const rows: Row[] = [];
  /** One matrix cell against one server, with its RSS after and its CPU per request. */
  const measure = async (server: Row['server'], child: Child, serverPort: number, kind: Kind, c: number, mode: (typeof MODES)[number]) => {
    const before = await memory(child);
    const result = await load(loader, specFor(kind, serverPort, c, mode.keepAlive));
    const after = await memory(child);
    const row: Row = { server, kind, connections: c, mode: mode.label, result, rssAfter: after.rss, cpuPerRequest: (after.cpuMicros - before.cpuMicros) / result.requestsAll };
    rows.push(row);
    progress(row);
  };
  for (const mode of MODES) {
    for (const c of CONNECTIONS) {
      if (kinds.includes('identify')) await measure('baseline', baseline, basePort, 'identify', c, mode);
      for (const kind of kinds) await measure('winrmd', winrmd, port, kind, c, mode);
    }
  }
  /** Alternating rounds against the other build: per kind, each round's [this, before] rows. */
  const rounds = new Map<Kind, [Row, Row][]>();
  if (previous) {
    const keepAlive = MODES[0]!;
    const cell = async (server: Row['server'], child: Child, serverPort: number, kind: Kind) => {
      await measure(server, child, serverPort, kind, 16, keepAlive);
      return rows.pop()!;
    };
    for (const kind of kinds) {
      const pairs: [Row, Row][] = [];
      for (let r = 0; r < BEFORE_ROUNDS; r++) {
        if (r % 2 === 0) {
          const b = await cell('before', previous.child, previous.port, kind);
          pairs.push([await cell('winrmd', winrmd, port, kind), b]);
        } else {
          const w = await cell('winrmd', winrmd, port, kind);
          pairs.push([w, await cell('before', previous.child, previous.port, kind)]);
        }
      }
      rounds.set(kind, pairs);
    }
  }
  const ows = OPENWSMAN ? await runOpenwsmanBench({ target: OPENWSMAN, winrmd, winrmdPort: port, rounds: OPENWSMAN_ROUNDS, load: (spec) => load(loader, spec) }) : undefined;
  const afterMatrix = await memory(winrmd);
  const baselineMem = await memory(baseline);

  const flat = ENUMS > 0 ? await flatness(winrmd, loader, port) : undefined;
  await baseline.stop();
  await winrmd.stop();
  await previous?.child.stop();

  const profiles = [];
  for (const target of PROFILE) profiles.push(await profile(target, loader));
  await loader.stop();

  let shell: ShellResults | undefined;
  if (SHELL) {
    // A fresh winrmd: its memory figures owe nothing to the load matrix.
    const { child, port: shellPort } = await startWinrmd(GC ? ['--expose-gc'] : []);
    try {
      shell = await runShellBench({
        winrmd: child, port: shellPort, seconds: SECONDS, warmup: WARMUP, trips: SHELL_TRIPS,
        streamBytes: SHELL_BYTES, envelopes: SHELL_ENVELOPES, profile: SHELL_PROFILE, profileDir: path.join(DIST, 'bench-profile'),
      });
    } finally {
      await child.stop();
    }
  }
  let auth: AuthResults | undefined;
  if (AUTH) {
    const { child, port: authPort, httpsPort } = await startWinrmd([], { BENCH_HTTPS: '1' });
    try {
      auth = await runAuthBench({ port: authPort, httpsPort: httpsPort!, seconds: SECONDS, warmup: WARMUP, handshakes: HANDSHAKES });
    } finally {
      await child.stop();
    }
  }
  let ipmi: IpmiResults | undefined;
  if (IPMI) {
    ipmi = await runIpmiBench({
      seconds: SECONDS, warmup: WARMUP, sweeps: IPMI_SWEEPS, toolSweeps: IPMI_TOOL_SWEEPS,
      startWinrmd: (env) => startWinrmd([], env),
    });
  }
  let mixed: MixedResults | undefined;
  if (MIXED) {
    const { child, port: mixedPort } = await startWinrmd(GC ? ['--expose-gc'] : []);
    try {
      mixed = await runMixedBench({ here, winrmd: child, port: mixedPort, seconds: MIXED_SECONDS, clients: MIXED_CLIENTS, shells: MIXED_SHELLS });
    } finally {
      await child.stop();
    }
  }
  const collectorReport = COLLECTOR ? await runCollectorBench({ here, seconds: SECONDS, cells: COLLECTOR_CELLS, idleSources: COLLECTOR_IDLE }) : undefined;
  const kerberosReport = KERBEROS ? await runKerberosBench({ here, requests: KERBEROS_REQUESTS, handshakes: KERBEROS_HANDSHAKES }) : undefined;
  const eventingReport = EVENTING ? await runEventingBench({ here, events: EVENTING_EVENTS, subscriptions: EVENTING_SUBSCRIPTIONS }) : undefined;
  const labReport = LAB ? await runLabBench({ here, hosts: LAB_HOSTS, connections: LAB_CONNECTIONS, seconds: SECONDS, rounds: LAB_ROUNDS }) : undefined;
  const owsReport = ows ? renderOpenwsman(ows) : undefined;
  const mixedReport = mixed ? renderMixed(mixed, { clients: MIXED_CLIENTS, shells: MIXED_SHELLS, seconds: MIXED_SECONDS }) : undefined;
  const authReport = auth ? renderAuth(auth) : undefined;
  const ipmiReport = ipmi ? renderIpmi(ipmi, { sweeps: IPMI_SWEEPS, toolSweeps: IPMI_TOOL_SWEEPS, seconds: SECONDS }) : undefined;
  const shellReport = shell ? renderShell(shell, { streamBytes: SHELL_BYTES, seconds: SECONDS, warmup: WARMUP, trips: SHELL_TRIPS }) : undefined;

  // --- the results table
  const find = (server: Row['server'], kind: Kind, c: number, mode: string) => rows.find((r) => r.server === server && r.kind === kind && r.connections === c && r.mode === mode);
  const resultRows: string[][] = [];
  for (const kind of kinds) {
    for (const mode of MODES) {
      for (const c of CONNECTIONS) {
        const row = find('winrmd', kind, c, mode.label);
        if (!row) continue;
        const r = row.result;
        resultRows.push([
          LABEL[kind], String(c), mode.label,
          f0(r.unitsPerSecond), f2(r.p50), f2(r.p99),
          kind === 'enum-cycle' ? `${f2(r.requestsPerUnit)} (${f0(r.requestsPerSecond)} req/s)` : '1',
          f0(row.cpuPerRequest),
          String(r.errors),
          f1(MB(row.rssAfter ?? NaN)),
        ]);
      }
    }
  }
  const results = table(
    ['Scenario', 'Conns', 'Connection', 'Units/s', 'p50 ms', 'p99 ms', 'Req/unit', 'CPU µs/req', 'Errors', 'RSS after MB'],
    resultRows,
    ['l', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );

  const ratioRows: string[][] = [];
  for (const mode of MODES) {
    for (const c of CONNECTIONS) {
      const w = find('winrmd', 'identify', c, mode.label);
      const b = find('baseline', 'identify', c, mode.label);
      if (!w || !b) continue;
      ratioRows.push([String(c), mode.label, f0(w.result.unitsPerSecond), f0(b.result.unitsPerSecond), (w.result.unitsPerSecond / b.result.unitsPerSecond).toFixed(2),
        `${f0(w.cpuPerRequest)} / ${f0(b.cpuPerRequest)}`, `${f2(w.result.p50)} / ${f2(b.result.p50)}`, `${f2(w.result.p99)} / ${f2(b.result.p99)}`, `${w.result.errors} / ${b.result.errors}`]);
    }
  }
  const ratio = table(['Conns', 'Connection', 'winrmd req/s', 'baseline req/s', 'winrmd/baseline', 'CPU µs/req (w / b)', 'p50 ms (w / b)', 'p99 ms (w / b)', 'Errors (w / b)'], ratioRows, ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);

  const median = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  };
  const beforeRows: string[][] = [...rounds].map(([kind, pairs]) => {
    const cpu = pairs.map(([w, b]) => w.cpuPerRequest / b.cpuPerRequest);
    const w = median(pairs.map(([x]) => x.cpuPerRequest));
    const b = median(pairs.map(([, x]) => x.cpuPerRequest));
    return [LABEL[kind], String(pairs.length), f0(w), f0(b), (w / b).toFixed(3), `${Math.min(...cpu).toFixed(3)}–${Math.max(...cpu).toFixed(3)}`,
      f0(median(pairs.map(([x]) => x.result.unitsPerSecond))), f0(median(pairs.map(([, x]) => x.result.unitsPerSecond)))];
  });
  const beforeTable = table(['Scenario (16 keep-alive)', 'Rounds', 'CPU µs/req', 'Before CPU µs/req', 'CPU ratio of medians', 'Per-round ratios', 'Units/s', 'Before units/s'], beforeRows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
  const beforeHead = `This build against ${BEFORE} (${BEFORE ? gitCommit(path.resolve(BEFORE, '..')) : ''}${BEFORE_FLAGS.length ? `, run with ${BEFORE_FLAGS.join(' ')}` : ''}), in ${BEFORE_ROUNDS} alternating rounds of ${SECONDS} s per scenario; a CPU ratio below 1 is this build cheaper.`;

  const memRows: string[][] = [
    ['winrmd idle, before load', f1(MB(idle.rss)), f1(MB(idle.heapUsed)), '—'],
    ...(kinds.length ? [['winrmd after the load matrix', f1(MB(afterMatrix.rss)), f1(MB(afterMatrix.heapUsed)), f1(MB(afterMatrix.maxRss))]] : []),
    ['baseline idle, before load', f1(MB(baselineIdle.rss)), f1(MB(baselineIdle.heapUsed)), '—'],
    ...(kinds.includes('identify') ? [['baseline after its load', f1(MB(baselineMem.rss)), f1(MB(baselineMem.heapUsed)), f1(MB(baselineMem.maxRss))]] : []),
  ];
  const mem = table(['Process', 'RSS MB', 'Heap used MB', 'Peak RSS MB'], memRows, ['l', 'r', 'r', 'r']);

  let flatText = '';
  let flatMd = '';
  if (flat) {
    const gcNote = flat.points[0]?.sample.gc ? 'each sample after a full GC (--expose-gc)' : 'no forced GC (BENCH_GC=0)';
    const t = table(
      ['Progress', 'Cycles', 'RSS MB', 'Heap used MB', 'Heap total MB', 'External MB', 'Open enumerations', 'Cycles/s in quarter', 'Errors in quarter'],
      flat.points.sort((a, b) => a.pct - b.pct).map((p) => [
        `${p.pct}%`, f0(p.done), f1(MB(p.sample.rss)), f1(MB(p.sample.heapUsed)), f1(MB(p.sample.heapTotal)), f1(MB(p.sample.external)), String(p.sample.openEnumerations ?? '—'),
        p.quarter ? f0(p.quarter.cycles / p.quarter.seconds) : '—', p.quarter ? String(p.quarter.errors) : '—',
      ]),
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    );
    const first = flat.points[0]!.sample;
    const last = flat.points[flat.points.length - 1]!.sample;
    const mid = flat.points.find((p) => p.pct === 25)?.sample ?? first;
    const summary = `${f0(ENUMS)} cycles of ${ITEMS} instances at ${FLAT_CONNS} keep-alive connections in ${f1(flat.seconds)} s (${f0(ENUMS / flat.seconds)} cycles/s, ${f2(flat.requestsPerUnit)} requests/cycle), ${gcNote}, ${flat.errors} errors. ` +
      `RSS ${f1(MB(first.rss))} → ${f1(MB(last.rss))} MB (${MB(last.rss - first.rss) >= 0 ? '+' : ''}${f1(MB(last.rss - first.rss))} MB; from 25 % to 100 %: ${MB(last.rss - mid.rss) >= 0 ? '+' : ''}${f1(MB(last.rss - mid.rss))} MB); ` +
      `heap used ${f1(MB(first.heapUsed))} → ${f1(MB(last.heapUsed))} MB.`;
    flatText = `${t.text}\n${summary}${flat.errorSamples.length ? `\nerrors: ${flat.errorSamples.join('; ')}` : ''}`;
    flatMd = `${t.md}\n\n${summary}${flat.errorSamples.length ? `\n\nErrors: ${flat.errorSamples.join('; ')}` : ''}`;
  }

  const errorLines = [
    ...rows.filter((r) => r.result.errors > 0 || r.result.errorSamples.length).map((r) => `${r.server} ${r.kind} c=${r.connections} ${r.mode}: ${r.result.errorSamples.join('; ')}`),
    ...(shellReport?.errors ?? []),
    ...(authReport?.errors ?? []),
    ...(ipmiReport?.errors ?? []),
  ];

  const profText: string[] = [];
  const profMd: string[] = [];
  for (const p of profiles) {
    const t = table(['#', 'Self ms', '% of busy', 'Function', 'Location'], p.summary.functions.map((f, i) => [String(i + 1), f1(f.ms), f1(f.pct), f.name, f.where]), ['r', 'r', 'r', 'l', 'l']);
    const m = table(['Module', 'Self ms', '% of busy'], p.summary.modules.map((f) => [f.name, f1(f.ms), f1(f.pct)]), ['l', 'r', 'r']);
    const head = `winrmd under ${LABEL[p.target.kind]} at ${p.target.connections} ${p.target.keepAlive ? 'keep-alive' : 'new'} connection${p.target.connections > 1 ? 's' : ''} (${f0(p.result.unitsPerSecond)} units/s while profiling; a fresh process, warmed up for ${Math.max(1, WARMUP)} s before the profiled ${SECONDS} s): ${f1(p.summary.busyMs)} ms busy of ${f1(p.summary.totalMs)} ms sampled; profile ${path.relative(process.cwd(), p.file)}`;
    profText.push(`${head}\nTop self time by function:\n${t.text}\nBy module:\n${m.text}`);
    profMd.push(`${head}\n\nTop self time by function:\n\n${t.md}\n\nBy module:\n\n${m.md}`);
  }

  const when = `${started.toISOString().replace('T', ' ').slice(0, 16)} UTC`;
  const load1 = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const env = `winrmd ${commit}; node ${process.version}, ${machine}; load average ${load1(loadBefore)} at the start (other work on the machine skews every figure, the baseline's included). ${SECONDS} s measured per scenario after ${WARMUP} s warm-up; load generator, winrmd and baseline are separate processes sharing the same cores.`;
  const notes = [
    'Units are requests, except for the enumeration cycle, where a unit is one complete Enumerate (OptimizeEnumeration, MaxElements 1000) plus Pulls until EndOfSequence, with the default MaxEnvelopeSize of 153,600 octets; Req/unit is the number of HTTP requests a cycle takes.',
    'CPU µs/req is the server process\'s CPU time (user and system, all threads) over the run, warm-up included, divided by the HTTP requests it answered: unlike throughput it does not count time spent waiting for a core the load generator holds.',
    'Latency is per unit, from the request start to the last byte of the reply, on the client. Errors are transport errors, non-2xx statuses, SOAP faults and wrong answers (a cycle short of its items).',
    '"New conn" opens a TCP connection per HTTP request (`Connection: close`), including each Pull of a cycle.',
    'Compare across servers only within one run (the bare node:http baseline below is measured beside winrmd every time): figures quoted from another machine or day are not a baseline.',
  ];

  const text = [
    '',
    `winrmd benchmark — ${when} — ${env}`,
    ...(resultRows.length ? ['', results.text] : []),
    ...(ratioRows.length ? ['', 'Identify: winrmd against a bare node:http server answering the same bytes', ratio.text] : []),
    ...(beforeRows.length ? ['', beforeHead, beforeTable.text] : []),
    ...(owsReport ? ['', owsReport.text] : []),
    '',
    'Memory',
    mem.text,
    ...(flat ? ['', 'Memory flatness', flatText] : []),
    ...(shellReport ? ['', shellReport.text] : []),
    ...(authReport ? ['', authReport.text] : []),
    ...(ipmiReport ? ['', ipmiReport.text] : []),
    ...(mixedReport ? ['', mixedReport.text] : []),
    ...(collectorReport ? ['', collectorReport.text] : []),
    ...(kerberosReport ? ['', kerberosReport.text] : []),
    ...(eventingReport ? ['', eventingReport.text] : []),
    ...(labReport ? ['', labReport.text] : []),
    ...(errorLines.length ? ['', 'Errors', ...errorLines] : ['', 'Errors: none']),
    ...(profText.length ? ['', 'CPU profile', ...profText] : []),
    '',
  ].join('\n');
  console.log(text);

  const md = [
    '# winrmd benchmark results',
    '',
    `${when}. ${env}`,
    '',
    `Reproduce: \`npm run bench\` (this run: BENCH_SECONDS=${SECONDS} BENCH_WARMUP=${WARMUP} BENCH_ENUMS=${ENUMS} BENCH_FLAT_CONNS=${FLAT_CONNS}${ONLY_SPEC.length ? ` BENCH_ONLY=${ONLY_SPEC.join(',')}` : ''} BENCH_PROFILE=${PROFILE_ALL.join(',') || '0'}${SHELL ? ` BENCH_SHELL_TRIPS=${SHELL_TRIPS} BENCH_SHELL_MB=${SHELL_BYTES / 1024 / 1024} BENCH_SHELL_ENVELOPES=${SHELL_ENVELOPES.join(',')}` : ' BENCH_SHELL=0'}${AUTH ? ` BENCH_HANDSHAKES=${HANDSHAKES}` : ' BENCH_AUTH=0'}${IPMI ? ` BENCH_IPMI_SWEEPS=${IPMI_SWEEPS} BENCH_IPMI_TOOL_SWEEPS=${IPMI_TOOL_SWEEPS}` : ' BENCH_IPMI=0'}${MIXED ? ` BENCH_MIXED_SECONDS=${MIXED_SECONDS} BENCH_MIXED_CLIENTS=${MIXED_CLIENTS} BENCH_MIXED_SHELLS=${MIXED_SHELLS}` : ' BENCH_MIXED=0'}${COLLECTOR ? ` BENCH_COLLECTOR_CELLS=${COLLECTOR_CELLS.map((c) => `${c.sources}x${c.batch}${c.sldc ? '' : ':nosldc'}`).join(',')} BENCH_COLLECTOR_IDLE=${COLLECTOR_IDLE}` : ' BENCH_COLLECTOR=0'}${KERBEROS ? ` BENCH_KERBEROS_REQUESTS=${KERBEROS_REQUESTS} BENCH_KERBEROS_HANDSHAKES=${KERBEROS_HANDSHAKES}` : ' BENCH_KERBEROS=0'}${EVENTING ? ` BENCH_EVENTING_EVENTS=${EVENTING_EVENTS} BENCH_EVENTING_SUBSCRIPTIONS=${EVENTING_SUBSCRIPTIONS}` : ' BENCH_EVENTING=0'}${LAB ? ` BENCH_LAB_HOSTS=${LAB_HOSTS} BENCH_LAB_CONNECTIONS=${LAB_CONNECTIONS} BENCH_LAB_ROUNDS=${LAB_ROUNDS}` : ' BENCH_LAB=0'}); the scenarios are described in test/bench/run.ts.`,
    '',
    ...(resultRows.length ? ['## Throughput and latency', '', results.md, '', ...notes.map((n) => `- ${n}`), ''] : []),
    ...(ratioRows.length ? [
      '## Identify against a bare node:http baseline',
      '',
      'The baseline reads each request and answers with the Identify reply winrmd sent, with the same Content-Type: the ceiling for an HTTP/1.1 server in Node driven by this client on this machine.',
      '',
      ratio.md,
      '',
    ] : []),
    ...(beforeRows.length ? ['## Against the previous build', '', beforeHead, '', beforeTable.md, ''] : []),
    ...(owsReport ? [owsReport.md, ''] : []),
    '## Memory',
    '',
    mem.md,
    ...(flat ? ['', '### Flatness over repeated enumerations', '', flatMd] : []),
    '',
    ...(shellReport ? [shellReport.md, ''] : []),
    ...(authReport ? [authReport.md, ''] : []),
    ...(ipmiReport ? [ipmiReport.md, ''] : []),
    ...(mixedReport ? [mixedReport.md, ''] : []),
    ...(collectorReport ? [collectorReport.md, ''] : []),
    ...(kerberosReport ? [kerberosReport.md, ''] : []),
    ...(eventingReport ? [eventingReport.md, ''] : []),
    ...(labReport ? [labReport.md, ''] : []),
    '## Errors under load',
    '',
    ...(errorLines.length ? errorLines.map((l) => `- ${l}`) : ['None.']),
    ...(profMd.length ? ['', '## CPU profile', '', ...profMd.flatMap((p) => [p, ''])] : []),
    '',
  ].join('\n');
  const out = path.resolve(process.env.BENCH_OUT || path.join(DIST, 'bench-results.md'));
  writeFileSync(out, md);
  writeFileSync(out.replace(/(\.md)?$/, '.json'), JSON.stringify({ started, node: process.version, machine, seconds: SECONDS, warmup: WARMUP, rows, idle, afterMatrix, baselineMem, flat, commit, profiles, shell, auth, ipmi, mixed, openwsman: ows }, null, 2));
  console.error(`wrote ${path.relative(process.cwd(), out)} and its .json`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('bench failed:', err);
    process.exit(1);
  },
);
