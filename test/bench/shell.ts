// The remote shell (WinRS) section of the benchmark, run by run.ts against its own winrmd process
// (serve-winrmd: the built-in shell provider, the bench user mapped to `nobody`, or to the
// current user when not root). The client runs in the bench's parent process over ONE kept-alive
// HTTP connection (an Agent with keepAlive and maxSockets 1; the sockets it opens are counted and
// reported), with Basic on every request, as pywinrm and the Go client do.
//
// 1. Round trip of a trivial command, pywinrm's run_cmd: Create → Command `true` → Receive until
//    CommandState Done → Signal terminate → Delete, against spawning `/bin/sh -c true` with
//    node:child_process and awaiting 'close' — the same count, interleaved in blocks of ten so
//    that drift on a noisy machine hits both alike.
// 2. Streaming: `head -c <BENCH_SHELL_MB MB> /dev/zero` read through Receive until Done (base64
//    decoded, bytes counted and checked to be zeros, the total verified), per MaxEnvelopeSize
//    (153,600, what pywinrm and the Go client send, and 512,000, the server's maximum), against
//    reading the same command's pipe directly with child_process, measured just before each.
// 3. Memory: winrmd's RSS and heap (after a full GC when it runs with --expose-gc) before and
//    after opening 30 shells (MaxShellsPerUser) with no command, then 30 shells each running
//    `sleep 600`, and after deleting them; plus the command processes under winrmd (/proc).
//    Measured first, on the fresh process, after one unmeasured pass of the same shells.
// CPU profiles of winrmd (BENCH_PROFILE=shell-roundtrip,shell-stream) come after, in runs of
// their own, so the sampler does not slow the measured ones.
//
// Timed loops parse replies with string searches, as the load generator does: XPath over a DOM on
// the client would cost CPU on the cores the server uses. The envelopes are test/helpers' (the
// envelope() header, ShellClient's bodies), and one run through ShellClient itself, XPath and
// all, checks the server before anything is timed.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ACTIONS, envelope, type EnvelopeOptions } from '../helpers/envelope.js';
import { RSP, SHELL_URI, SIGNAL, ShellClient } from '../helpers/shell-client.js';
import { summarize, type ProfileSummary } from './profile.js';
import { BENCH_AUTH, BENCH_USER, type Child, type MemorySample } from './protocol.js';
import { f0, f1, f2, MB, table } from './report.js';

export const SHELL_PROFILE_KINDS = ['shell-roundtrip', 'shell-stream'] as const;
export type ShellProfileKind = (typeof SHELL_PROFILE_KINDS)[number];

export interface ShellBenchOptions {
  /** A winrmd started for this section alone (serve-winrmd). */
  winrmd: Child;
  port: number;
  seconds: number;
  warmup: number;
  /** Round trips to time; 0: as many as `seconds` of winrmd round trips allow. */
  trips: number;
  streamBytes: number;
  /** MaxEnvelopeSize of each streaming row. */
  envelopes: number[];
  profile: ShellProfileKind[];
  profileDir: string;
}

const STEPS = ['Create', 'Command', 'Receive until Done', 'Signal terminate', 'Delete'] as const;

export interface Stats { n: number; mean: number; median: number; p95: number; min: number; max: number }

export interface RoundTripResult {
  winrmd: Stats;
  baseline: Stats;
  /** CPU of the winrmd process per round trip, and of the spawning (bench) process per baseline spawn. */
  winrmdCpuMs: number;
  clientCpuMs: number;
  baselineCpuMs: number;
  requestsPerTrip: number;
  receivesPerTrip: number;
  /** Each step of the winrmd round trip, ms (the means add up to the round trip's mean). */
  steps: Record<(typeof STEPS)[number], Stats>;
  errors: number;
  errorSamples: string[];
}

export interface StreamRun {
  path: 'winrmd' | 'pipe';
  maxEnvelopeSize?: number;
  bytes: number;
  seconds: number;
  mbPerSecond: number;
  receives?: number;
  timeouts?: number;
  winrmdCpuS?: number;
  clientCpuS: number;
}

export interface MemoryPoint {
  label: string;
  shells: number;
  sample: MemorySample;
  /** Processes under winrmd (the commands) and their summed RSS, bytes. */
  processes: number;
  processRss: number;
  processPss: number;
  /** Of `processes`, those in a shell's memory cgroup, and its kind. */
  inShellCgroup: number;
  cgroupKind?: string;
  /** The point this one is compared with (the state before its shells were opened). */
  base?: number;
}

export interface ShellProfile { kind: ShellProfileKind; file: string; summary: ProfileSummary; rate: string }

export interface ShellResults {
  validation: string;
  roundTrip: RoundTripResult;
  stream: StreamRun[];
  memory: MemoryPoint[];
  profiles: ShellProfile[];
  /** TCP connections the client opened, and the requests it sent over them. */
  sockets: number;
  requests: number;
}

// ---------------------------------------------------------------------------------------------
// The client: one keep-alive connection, and WinRS over it with string searches.

/** ShellClient's reply shape; the text is decoded only when asked for (Receive replies are scanned as bytes). */
interface Reply { status: number; body: Buffer; readonly text: string }

function reply(status: number, body: Buffer): Reply {
  let text: string | undefined;
  return { status, body, get text() { return (text ??= body.toString('utf8')); } };
}

const SOAP = 'application/soap+xml;charset=UTF-8';

class Connection {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
  private readonly seen = new WeakSet<object>();
  sockets = 0;
  requests = 0;

  constructor(private readonly port: number) {}

  /** ShellClient's `post`: auth undefined → the bench user's Basic, null → no Authorization. */
  readonly post = (xml: string, auth: string | null = BENCH_AUTH): Promise<Reply> => {
    const body = Buffer.from(xml, 'utf8');
    const headers: Record<string, string | number> = { 'Content-Type': SOAP, 'Content-Length': body.length };
    if (auth !== null) headers.Authorization = auth;
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, path: '/wsman', method: 'POST', agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          this.requests++;
          resolve(reply(res.statusCode ?? 0, Buffer.concat(chunks)));
        });
        res.on('error', reject);
      });
      req.on('socket', (s) => {
        if (!this.seen.has(s)) {
          this.seen.add(s);
          this.sockets++;
        }
      });
      req.on('error', reject);
      req.end(body);
    });
  };

  close(): void {
    this.agent.destroy();
  }
}

const SHELL_ID = /Name="ShellId"[^>]*>([^<]+)</;
const COMMAND_ID = /<(?:\w+:)?CommandId>([^<]+)</;
const DONE = `${RSP}/CommandState/Done`;
/** Windows' code for a Receive that timed out (OperationTimeout): clients send it again. */
const TIMED_OUT_CODE = 'Code="2150858793"';
const LT = 0x3c;
const GT = 0x3e;
const attr = (tag: string, name: string) => new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];

/**
 * A ReceiveResponse, tag by tag over its bytes: each rsp:Stream's base64 to `onStream`, and the
 * CommandState. Base64 holds no `<`, so finding the tags costs a byte search, not a parse of the
 * ~150 KB of text a full Receive carries (string regexes over it cost the client more than the
 * server spends on the reply).
 */
function scanReceive(body: Buffer, onStream?: (name: string, base64: string) => void): { done: boolean; exitCode?: number } {
  let done = false;
  let exitCode: number | undefined;
  for (let at = body.indexOf(LT); at >= 0; ) {
    const end = body.indexOf(GT, at);
    if (end < 0) break;
    const tag = body.toString('latin1', at + 1, end);
    const local = /^[\w.-]+:([\w.-]+)|^([\w.-]+)/.exec(tag);
    const name = local?.[1] ?? local?.[2];
    const next = body.indexOf(LT, end + 1);
    if (name === 'Stream' && !tag.endsWith('/') && next > end + 1) {
      onStream?.(attr(tag, 'Name') ?? '', body.toString('latin1', end + 1, next));
    } else if (name === 'CommandState') {
      done = attr(tag, 'State') === DONE;
    } else if (name === 'ExitCode' && next > end) {
      exitCode = Number(body.toString('latin1', end + 1, next));
    }
    at = next;
  }
  return { done, exitCode };
}
/** What pywinrm and the Go client send. */
export const CLIENT_ENVELOPE = 153_600;

function faultText(text: string): string {
  return /<\w+:Text[^>]*>([^<]*)/.exec(text)?.[1] ?? text.slice(0, 300);
}

class WinRS {
  /** For the request bodies: the very strings the shell's integration tests send. */
  private readonly shapes: ShellClient;

  constructor(readonly conn: Connection) {
    this.shapes = new ShellClient(conn.post, BENCH_USER);
  }

  private async ok(o: EnvelopeOptions, what: string): Promise<string> {
    const r = await this.conn.post(envelope({ resourceUri: SHELL_URI, ...o }));
    if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status}: ${faultText(r.text)}`);
    return r.text;
  }

  async create(): Promise<string> {
    // ShellClient.create's request without options.
    const body = `<rsp:Shell xmlns:rsp="${RSP}"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`;
    const text = await this.ok({ action: ACTIONS.create, options: { WINRS_NOPROFILE: 'FALSE', WINRS_CODEPAGE: '65001' }, body }, 'Create');
    const id = SHELL_ID.exec(text)?.[1];
    if (!id) throw new Error(`Create: no ShellId in ${text.slice(0, 300)}`);
    return id;
  }

  async command(shellId: string, line: string): Promise<string> {
    const text = await this.ok({ action: `${RSP}/Command`, selectors: { ShellId: shellId }, options: { WINRS_CONSOLEMODE_STDIN: 'TRUE' }, body: this.shapes.commandBody(line) }, 'Command');
    const id = COMMAND_ID.exec(text)?.[1];
    if (!id) throw new Error(`Command: no CommandId in ${text.slice(0, 300)}`);
    return id;
  }

  /** Receive until Done; a TimedOut fault means "again". `onStream` gets each stream's base64. */
  async receiveAll(shellId: string, commandId: string, maxEnvelopeSize: number, onStream?: (name: string, base64: string) => void): Promise<{ exitCode: number; receives: number; timeouts: number }> {
    const body = this.shapes.receiveBody(commandId);
    let receives = 0;
    let timeouts = 0;
    for (;;) {
      const r = await this.conn.post(envelope({ resourceUri: SHELL_URI, action: `${RSP}/Receive`, selectors: { ShellId: shellId }, operationTimeout: 'PT20S', maxEnvelopeSize, body }));
      receives++;
      if (r.status === 500 && r.text.includes(TIMED_OUT_CODE)) {
        timeouts++;
        continue;
      }
      if (r.status !== 200) throw new Error(`Receive: HTTP ${r.status}: ${faultText(r.text)}`);
      const state = scanReceive(r.body, onStream);
      if (state.done) return { exitCode: state.exitCode ?? NaN, receives, timeouts };
    }
  }

  async signal(shellId: string, commandId: string, code: string): Promise<void> {
    await this.ok({ action: `${RSP}/Signal`, selectors: { ShellId: shellId }, body: this.shapes.signalBody(commandId, code) }, 'Signal');
  }

  async delete(shellId: string): Promise<void> {
    await this.ok({ action: ACTIONS.delete, selectors: { ShellId: shellId } }, 'Delete');
  }

  /** pywinrm's run_cmd; the number of Receives it took. `steps` gets each step's ms, in order. */
  async roundTrip(line: string, onStream?: (name: string, base64: string) => void, steps?: number[][]): Promise<number> {
    let t = performance.now();
    const lap = (i: number) => {
      const now = performance.now();
      steps?.[i]!.push(now - t);
      t = now;
    };
    const shellId = await this.create();
    lap(0);
    let deleted = false;
    try {
      const commandId = await this.command(shellId, line);
      lap(1);
      const r = await this.receiveAll(shellId, commandId, CLIENT_ENVELOPE, onStream);
      lap(2);
      if (r.exitCode !== 0) throw new Error(`${line}: exit code ${r.exitCode}`);
      await this.signal(shellId, commandId, SIGNAL.terminate);
      lap(3);
      await this.delete(shellId);
      lap(4);
      deleted = true;
      return r.receives;
    } finally {
      if (!deleted) await this.delete(shellId).catch(() => undefined);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** The baseline: the same command line given to /bin/sh by child_process, awaited to 'close'. */
function spawnAndWait(line: string, onStdout?: (chunk: Buffer) => void): Promise<void> {
  const child = spawn('/bin/sh', ['-c', line]);
  if (onStdout) child.stdout.on('data', onStdout);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`/bin/sh -c ${line}: exit ${code ?? signal}`))));
  });
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/** The CPU (user + system, ms) a process has used, from /proc/<pid>/stat; its children's excluded. */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

const ownCpuMs = (since?: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};

/**
 * The processes under `pid` (its descendants) and their summed RSS (VmRSS) and PSS (smaps_rollup:
 * shared pages divided among their users, so libc and the like are not counted thirty times).
 */
function descendants(pid: number): { count: number; rss: number; pss: number; inShellCgroup: number; cgroupKind?: string } {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const under = (p: number): boolean => {
    for (let q = parentOf.get(p); q !== undefined && q > 1; q = parentOf.get(q)) if (q === pid) return true;
    return false;
  };
  let count = 0;
  let rss = 0;
  let pss = 0;
  let inShellCgroup = 0;
  let cgroupKind: string | undefined;
  for (const p of parentOf.keys()) {
    if (!under(p)) continue;
    try {
      const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'latin1'))?.[1];
      count++;
      rss += Number(kb ?? 0) * 1024;
      pss += Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'latin1'))?.[1] ?? NaN) * 1024;
      // MaxMemoryPerShellMB: the shell provider puts commands in a memory cgroup per shell where it can.
      const line = readFileSync(`/proc/${p}/cgroup`, 'latin1').split('\n').find((l) => l.includes('/winrmd-shell-'));
      if (line) {
        inShellCgroup++;
        cgroupKind = line.startsWith('0::') ? 'cgroup v2' : 'cgroup v1';
      }
    } catch {
      // exited meanwhile
    }
  }
  return { count, rss, pss, inShellCgroup, cgroupKind };
}

function stats(values: number[]): Stats {
  const s = Float64Array.from(values).sort();
  const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]! : NaN);
  let sum = 0;
  for (const v of s) sum += v;
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { n: s.length, mean: s.length ? sum / s.length : NaN, median: s.length ? median : NaN, p95: at(0.95), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const BLOCK = 10;

async function roundTrips(o: ShellBenchOptions, c: WinRS): Promise<RoundTripResult> {
  const pid = o.winrmd.proc.pid!;
  const warmUntil = performance.now() + o.warmup * 1000;
  do {
    await c.roundTrip('true');
    await spawnAndWait('true');
  } while (performance.now() < warmUntil);

  const w: number[] = [];
  const b: number[] = [];
  let wTotal = 0;
  let receives = 0;
  let winrmdCpu = 0;
  let clientCpu = 0;
  let baselineCpu = 0;
  let errors = 0;
  const samples = new Map<string, number>();
  const requestsBefore = c.conn.requests;
  const steps = STEPS.map(() => [] as number[]);
  const more = () => (o.trips > 0 ? w.length + errors < o.trips : wTotal < o.seconds * 1000);
  while (more()) {
    const n = o.trips > 0 ? Math.min(BLOCK, o.trips - w.length - errors) : BLOCK;
    const cpu0 = processCpuMs(pid);
    const own0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      try {
        receives += await c.roundTrip('true', undefined, steps);
        const dt = performance.now() - t0;
        w.push(dt);
        wTotal += dt;
      } catch (err) {
        errors++;
        const d = String((err as Error).message ?? err);
        samples.set(d, (samples.get(d) ?? 0) + 1);
        if (errors >= 20) throw new Error(`shell round trip: ${errors} errors, e.g. ${d}`);
      }
    }
    winrmdCpu += processCpuMs(pid) - cpu0;
    clientCpu += ownCpuMs(own0);
    const base0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await spawnAndWait('true');
      b.push(performance.now() - t0);
    }
    baselineCpu += ownCpuMs(base0);
  }
  return {
    winrmd: stats(w),
    baseline: stats(b),
    winrmdCpuMs: winrmdCpu / (w.length + errors),
    clientCpuMs: clientCpu / (w.length + errors),
    baselineCpuMs: baselineCpu / b.length,
    requestsPerTrip: (c.conn.requests - requestsBefore) / (w.length + errors),
    receivesPerTrip: receives / w.length,
    steps: Object.fromEntries(STEPS.map((name, i) => [name, stats(steps[i]!)])) as RoundTripResult['steps'],
    errors,
    errorSamples: [...samples].map(([d, n]) => `${n}× ${d}`),
  };
}

const ZEROS = Buffer.alloc(1 << 20);
let scratch = Buffer.alloc(1 << 20);

/** Base64 decoded into a reused buffer (valid until the next call): no allocation per Receive. */
function decodeBase64(b64: string): Buffer {
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  const size = (b64.length / 4) * 3 - pad;
  if (!Number.isInteger(size)) throw new Error(`a stream of ${b64.length} base64 characters`);
  if (size > scratch.length) scratch = Buffer.alloc(size);
  const n = scratch.write(b64, 0, 'base64');
  if (n !== size) throw new Error(`base64 of ${b64.length} characters decoded to ${n} bytes, expected ${size}`);
  return scratch.subarray(0, n);
}

function allZero(buf: Buffer): boolean {
  for (let at = 0; at < buf.length; at += ZEROS.length) {
    const part = buf.subarray(at, Math.min(buf.length, at + ZEROS.length));
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}

function zeroCounter(what: string): { add(buf: Buffer): void; total(): number } {
  let total = 0;
  return {
    add(buf) {
      if (!allZero(buf)) throw new Error(`${what}: a byte that is not zero near offset ${total}`);
      total += buf.length;
    },
    total: () => total,
  };
}

async function streamPipe(bytes: number): Promise<StreamRun> {
  const count = zeroCounter('pipe');
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  await spawnAndWait(`head -c ${bytes} /dev/zero`, (chunk) => count.add(chunk));
  const seconds = (performance.now() - t0) / 1000;
  if (count.total() !== bytes) throw new Error(`pipe: read ${count.total()} bytes, expected ${bytes}`);
  return { path: 'pipe', bytes, seconds, mbPerSecond: MB(bytes) / seconds, clientCpuS: ownCpuMs(own0) / 1000 };
}

/** From the Command request to the Receive that says Done: the spawn is timed on both sides. */
async function streamWinrmd(c: WinRS, pid: number, bytes: number, maxEnvelopeSize: number): Promise<StreamRun> {
  const shellId = await c.create();
  try {
    const count = zeroCounter(`winrmd (MaxEnvelopeSize ${maxEnvelopeSize})`);
    let stderr = '';
    const cpu0 = processCpuMs(pid);
    const own0 = process.cpuUsage();
    const t0 = performance.now();
    const commandId = await c.command(shellId, `head -c ${bytes} /dev/zero`);
    const r = await c.receiveAll(shellId, commandId, maxEnvelopeSize, (name, b64) => {
      if (name === 'stdout') count.add(decodeBase64(b64));
      else stderr += Buffer.from(b64, 'base64').toString('utf8');
    });
    const seconds = (performance.now() - t0) / 1000;
    const winrmdCpuS = (processCpuMs(pid) - cpu0) / 1000;
    const clientCpuS = ownCpuMs(own0) / 1000;
    if (r.exitCode !== 0 || count.total() !== bytes) throw new Error(`winrmd stream: ${count.total()} bytes, exit code ${r.exitCode}, expected ${bytes} and 0${stderr ? `; stderr ${stderr.slice(0, 200)}` : ''}`);
    await c.signal(shellId, commandId, SIGNAL.terminate);
    return { path: 'winrmd', maxEnvelopeSize, bytes, seconds, mbPerSecond: MB(bytes) / seconds, receives: r.receives, timeouts: r.timeouts, winrmdCpuS, clientCpuS };
  } finally {
    await c.delete(shellId);
  }
}

async function memoryPoint(o: ShellBenchOptions, label: string, shells: number, base: number | undefined, log: (line: string) => void): Promise<MemoryPoint> {
  // RSS lags a GC (freed pages go back to the system over a while): sample until it holds
  // still for three samples in a row, 300 ms apart (at most 6 s).
  let sample: MemorySample | undefined;
  for (let i = 0, still = 0; i < 20 && still < 2; i++) {
    await sleep(300);
    const next = (await o.winrmd.ask<{ sample: MemorySample }>({ type: 'memory', gc: true })).sample;
    still = sample !== undefined && Math.abs(next.rss - sample.rss) < 256 * 1024 ? still + 1 : 0;
    sample = next;
  }
  const tree = descendants(o.winrmd.proc.pid!);
  log(`  shell memory  ${label.padEnd(34)} rss ${f1(MB(sample!.rss))} MB  heap ${f1(MB(sample!.heapUsed))} MB  processes under winrmd ${tree.count} (RSS ${f1(MB(tree.rss))} MB, PSS ${f1(MB(tree.pss))} MB)`);
  return { label, shells, sample: sample!, processes: tree.count, processRss: tree.rss, processPss: tree.pss, inShellCgroup: tree.inShellCgroup, cgroupKind: tree.cgroupKind, base };
}

async function memoryPhase(o: ShellBenchOptions, c: WinRS, log: (line: string) => void): Promise<MemoryPoint[]> {
  const pid = o.winrmd.proc.pid!;
  const points: MemoryPoint[] = [];
  const SHELLS = 30; // MaxShellsPerUser's default: the most one user may hold
  const point = async (label: string, shells: number, base?: number) => {
    points.push(await memoryPoint(o, label, shells, base, log));
    return points.length - 1;
  };
  const closeAll = async (ids: string[]) => {
    for (const id of ids.splice(0)) await c.delete(id);
  };
  const ids: string[] = [];
  const openSleeping = async () => {
    for (let i = 0; i < SHELLS; i++) {
      const id = await c.create();
      ids.push(id);
      await c.command(id, 'sleep 600');
    }
  };
  try {
    // One unmeasured pass first: what the first 30 shells allocate once (code, pools) is not per shell.
    for (let i = 0; i < SHELLS; i++) ids.push(await c.create());
    await closeAll(ids);
    await openSleeping();
    await closeAll(ids);
    const before = await point('before', 0);
    for (let i = 0; i < SHELLS; i++) ids.push(await c.create());
    await point(`${SHELLS} shells, no command`, SHELLS, before);
    await closeAll(ids);
    const between = await point('after deleting them', 0);
    await openSleeping();
    await point(`${SHELLS} shells, each running sleep 600`, SHELLS, between);
    await closeAll(ids);
    // Delete returns once the command has ended; give the reaper a moment before counting.
    for (let i = 0; i < 25 && descendants(pid).count > 0; i++) await sleep(200);
    await point('after deleting them', 0);
  } finally {
    await closeAll(ids).catch(() => undefined);
  }
  return points;
}

async function profiled(o: ShellBenchOptions, kind: ShellProfileKind, work: () => Promise<string>): Promise<ShellProfile> {
  mkdirSync(o.profileDir, { recursive: true });
  const file = path.join(o.profileDir, `winrmd-${kind}.cpuprofile`);
  await o.winrmd.ask({ type: 'profile-start' });
  const rate = await work();
  await o.winrmd.ask({ type: 'profile-stop', file });
  return { kind, file, summary: summarize(file), rate };
}

export async function runShellBench(o: ShellBenchOptions, log: (line: string) => void = (l) => console.error(l)): Promise<ShellResults> {
  const conn = new Connection(o.port);
  const c = new WinRS(conn);
  const pid = o.winrmd.proc.pid!;
  try {
    // Correctness first, through the integration tests' own client (XPath over each reply), then
    // through the string-search client the timed loops use.
    const viaXPath = await new ShellClient(conn.post, BENCH_USER).run('printf', ['%s', 'winrmd-bench']);
    if (viaXPath.stdout.toString() !== 'winrmd-bench' || viaXPath.exitCode !== 0) throw new Error(`shell check: stdout ${JSON.stringify(viaXPath.stdout.toString())}, exit code ${viaXPath.exitCode}`);
    let out = '';
    await c.roundTrip('printf %s winrmd-bench; printf %s oops >&2', (name, b64) => (out += `${name}:${Buffer.from(b64, 'base64').toString()} `));
    if (out.trim() !== 'stdout:winrmd-bench stderr:oops') throw new Error(`shell check (string-search client): ${out}`);
    const validation = 'Checked first with test/helpers/shell-client.ts (run: Create, Command, Receive, Signal, Delete) and with the timed client (stdout and stderr both read back)';

    // Memory first, while the process holds little else.
    const memory = await memoryPhase(o, c, log);

    const roundTrip = await roundTrips(o, c);
    const rt = roundTrip;
    log(`  shell round trip  winrmd median ${f2(rt.winrmd.median)} ms (n ${rt.winrmd.n}), baseline median ${f2(rt.baseline.median)} ms  →  ${(rt.winrmd.median / rt.baseline.median).toFixed(2)}×, +${f2(rt.winrmd.median - rt.baseline.median)} ms  errors ${rt.errors}`);

    const stream: StreamRun[] = [];
    for (const env of o.envelopes) {
      const p = await streamPipe(o.streamBytes);
      stream.push(p);
      const w = await streamWinrmd(c, pid, o.streamBytes, env);
      stream.push(w);
      log(`  shell stream  ${f0(MB(o.streamBytes))} MB  pipe ${f0(p.mbPerSecond)} MB/s  winrmd (MaxEnvelopeSize ${env}) ${f1(w.mbPerSecond)} MB/s in ${w.receives} Receives, winrmd CPU ${f2(w.winrmdCpuS!)} s`);
    }
    memory.push(await memoryPoint(o, `after the timed runs (${rt.winrmd.n + rt.errors} round trips, ${o.envelopes.length} × ${f0(MB(o.streamBytes))} MB)`, 0, undefined, log));

    const profiles: ShellProfile[] = [];
    for (const kind of o.profile) {
      if (kind === 'shell-roundtrip') {
        profiles.push(await profiled(o, kind, async () => {
          const until = performance.now() + Math.max(1, o.seconds) * 1000;
          let n = 0;
          const t0 = performance.now();
          while (performance.now() < until) {
            await c.roundTrip('true');
            n++;
          }
          return `${f0(n / ((performance.now() - t0) / 1000))} round trips/s`;
        }));
      } else {
        profiles.push(await profiled(o, kind, async () => `${f1((await streamWinrmd(c, pid, o.streamBytes, o.envelopes[0] ?? CLIENT_ENVELOPE)).mbPerSecond)} MB/s`));
      }
    }
    return { validation, roundTrip, stream, memory, profiles, sockets: conn.sockets, requests: conn.requests };
  } finally {
    conn.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

export function renderShell(r: ShellResults, o: { streamBytes: number; seconds: number; warmup: number; trips: number }): { text: string; md: string; errors: string[] } {
  const rt = r.roundTrip;
  const trip = table(
    ['Path', 'Runs', 'Mean ms', 'Median ms', 'p95 ms', 'CPU ms/run', 'Requests/run', 'Errors'],
    [
      ['winrmd: Create → Command `true` → Receive until Done → Signal terminate → Delete', f0(rt.winrmd.n), f2(rt.winrmd.mean), f2(rt.winrmd.median), f2(rt.winrmd.p95), `${f2(rt.winrmdCpuMs)} (+ client ${f2(rt.clientCpuMs)})`, f2(rt.requestsPerTrip), String(rt.errors)],
      ['baseline: child_process spawn /bin/sh -c true, await close', f0(rt.baseline.n), f2(rt.baseline.mean), f2(rt.baseline.median), f2(rt.baseline.p95), f2(rt.baselineCpuMs), '—', '0'],
    ],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  const ratio = rt.winrmd.median / rt.baseline.median;
  const tripSummary = `winrmd/baseline ${ratio.toFixed(2)}× (medians); overhead ${f2(rt.winrmd.median - rt.baseline.median)} ms per command (median minus median; means: ${f2(rt.winrmd.mean - rt.baseline.mean)} ms). ` +
    `${f2(rt.receivesPerTrip)} Receives per command. Per step, mean (median / p95) ms: ${STEPS.map((n) => `${n} ${f2(rt.steps[n].mean)} (${f2(rt.steps[n].median)} / ${f2(rt.steps[n].p95)})`).join(', ')}. ${o.trips > 0 ? `${o.trips} round trips` : `${o.seconds} s of round trips`} after ${o.warmup} s of warm-up, interleaved with the baseline in blocks of ${BLOCK}. ` +
    `CPU ms/run: the winrmd process's (/proc/<pid>/stat, 10 ms ticks, so a mean over the run; its commands' own CPU is not in it) and the client's; for the baseline, the spawning process's.`;

  const pipes = r.stream.filter((s) => s.path === 'pipe');
  const pipeMedian = stats(pipes.map((p) => p.mbPerSecond)).median;
  const streamRows: string[][] = [
    [`child_process pipe (median of ${pipes.length}, each just before a winrmd row)`, '—', f0(pipeMedian), f2(stats(pipes.map((p) => p.seconds)).median), '—', '—', '—', '—', f2(stats(pipes.map((p) => p.clientCpuS)).median), '1.00'],
    ...r.stream.filter((s) => s.path === 'winrmd').map((s) => [
      'winrmd: Command, Receive until Done', f0(s.maxEnvelopeSize!), f1(s.mbPerSecond), f2(s.seconds), `${f0(s.receives!)}${s.timeouts ? ` (${s.timeouts} timed out)` : ''}`, f0(s.bytes / s.receives! / 1024), f2(s.winrmdCpuS!), f0(MB(s.bytes) / s.winrmdCpuS!), f2(s.clientCpuS), `${(s.mbPerSecond / pipeMedian).toFixed(3)}`,
    ]),
  ];
  const strm = table(['Path', 'MaxEnvelopeSize', 'MB/s', 'Seconds', 'Receives', 'KB/Receive', 'winrmd CPU s', 'MB per winrmd CPU s', 'Client CPU s', 'vs pipe'], streamRows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
  const streamSummary = `${f0(MB(o.streamBytes))} MB (2^20 bytes) of zeros from \`head -c ${o.streamBytes} /dev/zero\`, every byte decoded from base64, counted and compared with zeros on the client. winrmd time runs from the Command request to the Receive reporting Done; the pipe's from spawn to 'close'. Both include starting the process. ` +
    `One request at a time, so the client's CPU adds to the wall time: MB per winrmd CPU second is the server's own cost, the rate it could reach with a free client. ` +
    `A Receive answers as soon as any output is held, so KB/Receive is below what the envelope allows whenever the reply is faster than the command.`;

  const memRows = r.memory.map((p) => {
    const base = p.base !== undefined ? r.memory[p.base]! : undefined;
    const d = base ? p.sample.rss - base.sample.rss : NaN;
    return [p.label, String(p.shells), f1(MB(p.sample.rss)), f1(MB(p.sample.heapUsed)), base ? `${d >= 0 ? '+' : ''}${f1(MB(d))}` : '—', base ? f0(d / p.shells / 1024) : '—',
      base ? f0((p.sample.heapUsed - base.sample.heapUsed) / p.shells / 1024) : '—', String(p.processes), `${f1(MB(p.processRss))} / ${f1(MB(p.processPss))}`];
  });
  const mem = table(['winrmd state', 'Open shells', 'RSS MB', 'Heap used MB', 'Δ RSS MB', 'RSS KB/shell', 'Heap KB/shell', 'Processes under winrmd', 'Their RSS / PSS MB'], memRows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
  const gcNote = r.memory[0]?.sample.gc ? 'each sample after a full GC (--expose-gc)' : 'no forced GC (BENCH_GC=0)';
  const memSummary = `winrmd's own RSS and heap, ${gcNote}, sampled every 300 ms after the last request until RSS holds still (three samples within 256 KB); measured on the section's fresh winrmd before the timed runs, after one unmeasured pass of the same shells; Δ against the state just before those shells were opened. The commands' processes are counted apart: RSS summed from /proc/<pid>/status, and PSS (smaps_rollup), which shares common pages out instead of counting them once per process. ` +
    `Heap differences of a few hundred KB are below what this can resolve: each forced GC also ages and flushes unused bytecode.`;

  const busiest = r.memory.reduce((a, b) => (b.processes > a.processes ? b : a), r.memory[0]!);
  const cgroupNote = busiest.processes === 0 ? 'Per-shell memory cgroups: not seen (no command process was running when sampled).'
    : busiest.inShellCgroup > 0
      ? `Per-shell memory cgroups (MaxMemoryPerShellMB) are in force on this host (${busiest.cgroupKind}): ${busiest.inShellCgroup} of ${busiest.processes} command processes were in a winrmd-shell-… group, so Create makes a group, Command holds each process until it has joined its group, and Delete removes the group.`
      : `Per-shell memory cgroups: not in force on this host (none of ${busiest.processes} command processes was in a winrmd-shell-… group).`;
  const conn = `Client: one keep-alive HTTP connection (Agent keepAlive, maxSockets 1): ${r.sockets} TCP connection${r.sockets === 1 ? '' : 's'} opened for ${f0(r.requests)} requests over the whole section; Basic on every request. ${r.validation}. ${cgroupNote}`;

  const profText: string[] = [];
  const profMd: string[] = [];
  for (const p of r.profiles) {
    const t = table(['#', 'Self ms', '% of busy', 'Function', 'Location'], p.summary.functions.map((f, i) => [String(i + 1), f1(f.ms), f1(f.pct), f.name, f.where]), ['r', 'r', 'r', 'l', 'l']);
    const m = table(['Module', 'Self ms', '% of busy'], p.summary.modules.map((f) => [f.name, f1(f.ms), f1(f.pct)]), ['l', 'r', 'r']);
    const head = `winrmd under ${p.kind === 'shell-roundtrip' ? 'shell round trips of `true`' : `streaming ${f0(MB(o.streamBytes))} MB`} (${p.rate} while profiling, after the measured runs): ${f1(p.summary.busyMs)} ms busy of ${f1(p.summary.totalMs)} ms sampled; profile ${path.relative(process.cwd(), p.file)}`;
    profText.push(`${head}\nTop self time by function:\n${t.text}\nBy module:\n${m.text}`);
    profMd.push(`${head}\n\nTop self time by function:\n\n${t.md}\n\nBy module:\n\n${m.md}`);
  }

  const text = [
    'Remote shell (WinRS): round trip of one trivial command',
    trip.text,
    tripSummary,
    '',
    `Remote shell: streaming ${f0(MB(o.streamBytes))} MB of stdout`,
    strm.text,
    streamSummary,
    '',
    'Remote shell: memory with 30 open idle shells',
    mem.text,
    memSummary,
    '',
    conn,
    ...(profText.length ? ['', 'Remote shell CPU profile', ...profText] : []),
  ].join('\n');
  const md = [
    '## Remote shell (WinRS)',
    '',
    conn,
    '',
    '### Round trip of one trivial command',
    '',
    trip.md,
    '',
    tripSummary,
    '',
    `### Streaming ${f0(MB(o.streamBytes))} MB of stdout`,
    '',
    strm.md,
    '',
    streamSummary,
    '',
    '### Memory with 30 open idle shells',
    '',
    mem.md,
    '',
    memSummary,
    ...(profMd.length ? ['', '### CPU profile', '', ...profMd.flatMap((p) => [p, ''])] : []),
  ].join('\n');
  const errors = rt.errorSamples.map((e) => `shell round trip: ${e}`);
  return { text, md, errors };
}
