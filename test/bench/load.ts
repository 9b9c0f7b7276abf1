// The load generator, in its own process: a closed loop of C concurrent workers, either on
// keep-alive connections (at most C, reused) or with a new connection per request
// (`Connection: close`). Each worker issues its next unit as soon as the previous one finished.
// A unit is one request (Identify, Get) or one complete enumeration cycle (Enumerate with
// OptimizeEnumeration, then Pulls until EndOfSequence).
//
// The client is a minimal HTTP/1.1 client over node:net: one write per request, a response read
// by its Content-Length. It shares the machine's two cores with the server, and node:http's
// client spent about 125 µs of CPU per new-connection request to this one's 70 (measured against
// a bare node:http server), CPU the server under test then did not get. The baseline server is
// driven by the same client, so the ratio stays like for like.
//
// Timing: the loop runs warm-up + measured window; units completing inside the window count,
// with their latency (start to last byte, hrtime). Errors are transport errors, non-2xx statuses,
// SOAP faults and replies that are not what was asked for (e.g. a cycle short of its items).
import net from 'node:net';
import { ACTIONS, envelope, enumerateBody, identify, pullBody, URI } from '../helpers/envelope.js';
import { exitWithParent } from './protocol.js';

export type Kind = 'identify' | 'get-os' | 'enum-cycle';

export interface LoadSpec {
  kind: Kind;
  port: number;
  connections: number;
  keepAlive: boolean;
  authorization: string;
  /** enum-cycle only. */
  resourceUri?: string;
  expectItems?: number;
  maxElements?: number;
}

export interface TimedSpec extends LoadSpec {
  warmupMs: number;
  durationMs: number;
}

export interface LoadResult {
  /** Units (requests or cycles) completed in the window. */
  units: number;
  /** HTTP requests completed in the window. */
  requests: number;
  seconds: number;
  unitsPerSecond: number;
  requestsPerSecond: number;
  /** Latency of a unit, ms. */
  p50: number;
  p99: number;
  mean: number;
  max: number;
  /** HTTP requests per unit over the whole run (1 but for enumeration cycles). */
  requestsPerUnit: number;
  /** HTTP requests over the whole run, warm-up included. */
  requestsAll: number;
  errors: number;
  errorSamples: string[];
}

export interface FlatSpec extends LoadSpec {
  total: number;
}

export interface FlatQuarter {
  cycles: number;
  seconds: number;
  errors: number;
}

const SOAP = 'application/soap+xml;charset=UTF-8';

// MessageIDs unique per request without the cost of randomUUID on the client's half of the CPU.
const idPrefix = `uuid:${Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0')}-0000-4000-8000-`;
let idCounter = 0;
const messageId = () => `${idPrefix}${(++idCounter).toString(16).padStart(12, '0')}`;

/** A template split around placeholders, filled by concatenation. */
function template(text: string, ...marks: string[]): (...values: string[]) => string {
  const parts: string[] = [];
  let rest = text;
  for (const m of marks) {
    const at = rest.indexOf(m);
    if (at < 0) throw new Error(`template: ${m} not found`);
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + m.length);
  }
  parts.push(rest);
  return (...values) => {
    let out = parts[0]!;
    for (let i = 0; i < values.length; i++) out += values[i] + parts[i + 1]!;
    return out;
  };
}

interface Reply { status: number; text: string }

const HEAD_END = Buffer.from('\r\n\r\n');

/** One connection: sends a request, reads one response by its Content-Length. */
class Connection {
  private readonly socket: net.Socket;
  /** What has arrived of the response so far. */
  private buffered: Buffer = Buffer.alloc(0);
  private pending?: { resolve: (r: Reply & { keep: boolean }) => void; reject: (e: Error) => void };
  closed = false;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => this.fail(new Error('the server closed the connection before its response ended')));
  }

  exchange(message: Buffer): Promise<Reply & { keep: boolean }> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(message);
    });
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private fail(e: Error): void {
    this.closed = true;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
  }

  private onData(d: Buffer): void {
    const all = (this.buffered = this.buffered.length ? Buffer.concat([this.buffered, d]) : d);
    const headEnd = all.indexOf(HEAD_END);
    if (headEnd < 0) return;
    const head = all.toString('latin1', 0, headEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) return this.fail(new Error(`a response without Content-Length: ${head.slice(0, 200)}`));
    const end = headEnd + HEAD_END.length + Number(length[1]);
    if (all.length < end) return;
    if (all.length > end) return this.fail(new Error('bytes after the response (nothing was pipelined)'));
    this.buffered = Buffer.alloc(0);
    const p = this.pending;
    this.pending = undefined;
    p?.resolve({
      status: Number(head.slice(9, 12)),
      text: all.toString('utf8', headEnd + HEAD_END.length, end),
      keep: !/\r\nconnection:\s*close/i.test(head),
    });
  }
}

class Client {
  private readonly idle: Connection[] = [];
  /** The request head up to the Content-Length value. */
  private readonly head: string;
  requests = 0;
  /** Requests completed inside [windowFrom, windowTo] (performance.now()). */
  inWindow = 0;
  windowFrom = Infinity;
  windowTo = -Infinity;

  constructor(private readonly spec: LoadSpec) {
    this.head = `POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:${spec.port}\r\nContent-Type: ${SOAP}\r\nAuthorization: ${spec.authorization}\r\n${spec.keepAlive ? '' : 'Connection: close\r\n'}Content-Length: `;
  }

  async post(body: string): Promise<Reply> {
    const bytes = Buffer.from(body, 'utf8');
    const message = Buffer.concat([Buffer.from(`${this.head}${bytes.length}\r\n\r\n`, 'latin1'), bytes]);
    let conn: Connection | undefined;
    // A kept-alive connection the server closed while idle is dropped, not reused.
    while (this.spec.keepAlive && (conn = this.idle.pop()) && conn.closed);
    if (!conn || conn.closed) conn = new Connection(this.spec.port);
    let reply: Reply & { keep: boolean };
    try {
      reply = await conn.exchange(message);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    if (this.spec.keepAlive && reply.keep && !conn.closed) this.idle.push(conn);
    else conn.destroy();
    this.requests++;
    const now = performance.now();
    if (now >= this.windowFrom && now <= this.windowTo) this.inWindow++;
    return reply;
  }

  close(): void {
    for (const c of this.idle.splice(0)) c.destroy();
  }
}

class LoadError extends Error {}

function check(r: Reply, expect: string): void {
  const fault = r.text.includes(':Fault>') ? `SOAP fault ${/<\w+:Subcode>\s*<\w+:Value>([^<]*)/.exec(r.text)?.[1] ?? ''}: ${/<\w+:Text[^>]*>([^<]*)/.exec(r.text)?.[1] ?? r.text.slice(0, 300)}` : undefined;
  if (r.status < 200 || r.status > 299) throw new LoadError(`HTTP ${r.status}${fault ? `, ${fault}` : `: ${r.text.slice(0, 200)}`}`);
  if (fault) throw new LoadError(fault);
  if (!r.text.includes(expect)) throw new LoadError(`unexpected reply (no ${expect}): ${r.text.slice(0, 300)}`);
}

function count(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) n++;
  return n;
}

const CONTEXT = /<(?:\w+:)?EnumerationContext>([^<]+)<\/(?:\w+:)?EnumerationContext>/;

/** The unit of work for a spec: resolves when done, throws LoadError on a wrong answer. */
function unitOf(spec: LoadSpec, client: Client): () => Promise<void> {
  switch (spec.kind) {
    case 'identify': {
      const body = identify('s');
      return async () => check(await client.post(body), 'IdentifyResponse');
    }
    case 'get-os': {
      const get = template(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_OperatingSystem`, messageId: '@@ID@@' }), '@@ID@@');
      return async () => check(await client.post(get(messageId())), 'Win32_OperatingSystem_Type');
    }
    case 'enum-cycle': {
      const uri = spec.resourceUri!;
      const max = spec.maxElements ?? spec.expectItems ?? 1000;
      const className = uri.slice(uri.lastIndexOf('/') + 1);
      const itemMark = `${className}_Type"`;
      const enumerate = template(envelope({ action: ACTIONS.enumerate, resourceUri: uri, messageId: '@@ID@@', body: enumerateBody({ optimize: true, maxElements: max }) }), '@@ID@@');
      const pull = template(envelope({ action: ACTIONS.pull, resourceUri: uri, messageId: '@@ID@@', body: pullBody('@@CTX@@', max) }), '@@ID@@', '@@CTX@@');
      return async () => {
        let r = await client.post(enumerate(messageId()));
        check(r, 'EnumerateResponse');
        let items = count(r.text, itemMark);
        for (let pulls = 0; !r.text.includes('EndOfSequence'); pulls++) {
          const ctx = CONTEXT.exec(r.text)?.[1];
          if (!ctx) throw new LoadError('no EnumerationContext and no EndOfSequence');
          if (pulls > 100_000) throw new LoadError('more than 100000 Pulls in one cycle');
          r = await client.post(pull(messageId(), ctx));
          check(r, 'PullResponse');
          items += count(r.text, itemMark);
        }
        if (spec.expectItems !== undefined && items !== spec.expectItems) throw new LoadError(`cycle returned ${items} items, expected ${spec.expectItems}`);
      };
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof LoadError) return err.message;
  const e = err as NodeJS.ErrnoException;
  return `${e.code ?? e.name ?? 'Error'}: ${e.message}`;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export async function runTimed(spec: TimedSpec): Promise<LoadResult> {
  const client = new Client(spec);
  const unit = unitOf(spec, client);
  const start = performance.now();
  const t0 = start + spec.warmupMs;
  const tEnd = t0 + spec.durationMs;
  client.windowFrom = t0;
  client.windowTo = tEnd;
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  let units = 0;
  let unitsAll = 0;
  let errors = 0;
  const samples = new Map<string, number>();

  const worker = async () => {
    while (performance.now() < tEnd) {
      const began = performance.now();
      let failed = false;
      try {
        await unit();
      } catch (err) {
        failed = true;
        const d = describe(err);
        samples.set(d, (samples.get(d) ?? 0) + 1);
      }
      const ended = performance.now();
      unitsAll++;
      if (ended < t0 || ended > tEnd) continue;
      if (failed) {
        errors++;
        continue;
      }
      units++;
      if (n === latencies.length) {
        const bigger = new Float64Array(n * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = ended - began;
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, worker));
  client.close();

  const window = latencies.subarray(0, n).sort();
  let sum = 0;
  for (const v of window) sum += v;
  const seconds = spec.durationMs / 1000;
  const requests = client.inWindow;
  return {
    units,
    requests,
    seconds,
    unitsPerSecond: units / seconds,
    requestsPerSecond: requests / seconds,
    p50: percentile(window, 0.5),
    p99: percentile(window, 0.99),
    mean: n ? sum / n : NaN,
    max: n ? window[n - 1]! : NaN,
    requestsPerUnit: unitsAll ? client.requests / unitsAll : NaN,
    requestsAll: client.requests,
    errors,
    errorSamples: [...samples].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([d, c]) => `${c}× ${d}`),
  };
}

/**
 * The flatness run: `total` units in four equal quarters; before the first and after each
 * quarter the loop stops and `checkpoint` is awaited (the parent samples the server's memory).
 */
export async function runFlat(spec: FlatSpec, checkpoint: (pct: number, done: number, quarter?: FlatQuarter) => Promise<void>): Promise<{ errors: number; errorSamples: string[]; seconds: number; requestsPerUnit: number }> {
  const client = new Client(spec);
  const unit = unitOf(spec, client);
  const samples = new Map<string, number>();
  let errors = 0;
  let done = 0;
  let seconds = 0;
  await checkpoint(0, 0);
  for (let q = 1; q <= 4; q++) {
    const target = Math.round((spec.total * q) / 4);
    const began = performance.now();
    let qErrors = 0;
    const startDone = done;
    let issued = done;
    const worker = async () => {
      while (issued < target) {
        issued++;
        try {
          await unit();
        } catch (err) {
          errors++;
          qErrors++;
          const d = describe(err);
          samples.set(d, (samples.get(d) ?? 0) + 1);
        }
        done++;
      }
    };
    await Promise.all(Array.from({ length: spec.connections }, worker));
    const s = (performance.now() - began) / 1000;
    seconds += s;
    await checkpoint(q * 25, done, { cycles: done - startDone, seconds: s, errors: qErrors });
  }
  client.close();
  return {
    errors,
    errorSamples: [...samples].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([d, c]) => `${c}× ${d}`),
    seconds,
    requestsPerUnit: done ? client.requests / done : NaN,
  };
}

/** The mixed load (issue 12, part B 12): many clients at once, each kind of work a real fleet sends. */
export interface MixedSpec {
  port: number;
  authorization: string;
  /** Clients issuing requests, half on kept-alive connections and half on a new one each time. */
  clients: number;
  /** Of them, clients running shell round trips (Create, Command, Receive until Done, Signal, Delete). */
  shellClients: number;
  durationMs: number;
}

export type MixedKind = 'identify' | 'get-os' | 'get-process' | 'enum-processes' | 'shell-roundtrip';

export interface MixedResult {
  seconds: number;
  kinds: Record<MixedKind, { units: number; p50: number; p99: number; max: number; errors: number; shed: number; errorSamples: string[] }>;
}

const RSP = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell';

/** A mixed unit: Gets of Win32_Process by Handle and whole enumerations of it, besides Identify and Get of the OS, and the shell. */
function mixedUnit(kind: MixedKind, client: Client): () => Promise<void> {
  if (kind === 'identify' || kind === 'get-os') return unitOf({ kind, port: 0, connections: 1, keepAlive: true, authorization: '' }, client);
  const proc = `${URI.wmi}/Win32_Process`;
  if (kind === 'get-process') {
    const get = template(envelope({ action: ACTIONS.get, resourceUri: proc, selectors: { Handle: '1' }, messageId: '@@ID@@' }), '@@ID@@');
    return async () => check(await client.post(get(messageId())), 'Win32_Process_Type');
  }
  if (kind === 'enum-processes') {
    return unitOf({ kind: 'enum-cycle', port: 0, connections: 1, keepAlive: true, authorization: '', resourceUri: proc, maxElements: 1000 }, client);
  }
  const shellUri = `${RSP}/cmd`;
  const create = template(envelope({ action: ACTIONS.create, resourceUri: shellUri, messageId: '@@ID@@', body: `<rsp:Shell xmlns:rsp="${RSP}"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>` }), '@@ID@@');
  // Marks in the order envelope() writes them: the MessageID, the ShellId selector, the body.
  const onShell = (action: string, body = '') => template(envelope({ action, resourceUri: shellUri, selectors: { ShellId: '@@SHELL@@' }, messageId: '@@ID@@', body }), '@@ID@@', '@@SHELL@@');
  const command = onShell(`${RSP}/Command`, `<rsp:CommandLine xmlns:rsp="${RSP}"><rsp:Command>echo mixed</rsp:Command></rsp:CommandLine>`);
  const receive = template(envelope({ action: `${RSP}/Receive`, resourceUri: shellUri, selectors: { ShellId: '@@SHELL@@' }, messageId: '@@ID@@', body: `<rsp:Receive xmlns:rsp="${RSP}"><rsp:DesiredStream CommandId="@@CMD@@">stdout stderr</rsp:DesiredStream></rsp:Receive>` }), '@@ID@@', '@@SHELL@@', '@@CMD@@');
  const signal = template(envelope({ action: `${RSP}/Signal`, resourceUri: shellUri, selectors: { ShellId: '@@SHELL@@' }, messageId: '@@ID@@', body: `<rsp:Signal xmlns:rsp="${RSP}" CommandId="@@CMD@@"><rsp:Code>${RSP}/signal/terminate</rsp:Code></rsp:Signal>` }), '@@ID@@', '@@SHELL@@', '@@CMD@@');
  const remove = onShell(ACTIONS.delete);
  return async () => {
    const created = await client.post(create(messageId()));
    check(created, 'ResourceCreated');
    const shellId = /Name="ShellId">([^<]+)</.exec(created.text)![1]!;
    try {
      const started = await client.post(command(messageId(), shellId));
      check(started, 'CommandId');
      const commandId = /CommandId>([^<]+)</.exec(started.text)![1]!;
      for (let r = await client.post(receive(messageId(), shellId, commandId)); ; r = await client.post(receive(messageId(), shellId, commandId))) {
        check(r, 'ReceiveResponse');
        if (r.text.includes('CommandState/Done')) break;
      }
      check(await client.post(signal(messageId(), shellId, commandId)), 'SignalResponse');
    } finally {
      check(await client.post(remove(messageId(), shellId)), 'DeleteResponse');
    }
  };
}

export async function runMixed(spec: MixedSpec): Promise<MixedResult> {
  const plain: MixedKind[] = ['identify', 'get-os', 'get-process', 'identify', 'get-os', 'get-process', 'enum-processes'];
  const tEnd = performance.now() + spec.durationMs;
  const stats = new Map<MixedKind, { latencies: number[]; errors: number; shed: number; samples: Map<string, number> }>();
  const clients: Client[] = [];
  const worker = async (i: number) => {
    const shell = i < spec.shellClients;
    const client = new Client({ kind: 'identify', port: spec.port, connections: 1, keepAlive: shell || i % 2 === 0, authorization: spec.authorization });
    clients.push(client);
    const units = new Map<MixedKind, () => Promise<void>>();
    for (let n = i; performance.now() < tEnd; n++) {
      const kind: MixedKind = shell ? 'shell-roundtrip' : plain[n % plain.length]!;
      let unit = units.get(kind);
      if (!unit) units.set(kind, (unit = mixedUnit(kind, client)));
      let s = stats.get(kind);
      if (!s) stats.set(kind, (s = { latencies: [], errors: 0, shed: 0, samples: new Map() }));
      const began = performance.now();
      try {
        await unit();
        s.latencies.push(performance.now() - began);
      } catch (err) {
        const d = describe(err);
        if (d.startsWith('HTTP 503')) {
          s.shed++;
          await new Promise((r) => setTimeout(r, 1000)); // Retry-After: 1
        } else {
          s.errors++;
          s.samples.set(d, (s.samples.get(d) ?? 0) + 1);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: spec.clients }, (_, i) => worker(i)));
  for (const c of clients) c.close();
  const kinds = {} as MixedResult['kinds'];
  for (const [kind, s] of stats) {
    const sorted = Float64Array.from(s.latencies).sort();
    kinds[kind] = {
      units: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.length ? sorted[sorted.length - 1]! : NaN,
      errors: s.errors, shed: s.shed, errorSamples: [...s.samples].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([d, c]) => `${c}× ${d}`),
    };
  }
  return { seconds: spec.durationMs / 1000, kinds };
}

// As a child process: run what the parent asks, one job at a time.
if (process.send) {
  exitWithParent();
  let resume: (() => void) | undefined;
  process.on('message', (m: { type: string; id: number; spec: TimedSpec & FlatSpec }) => {
    if (m.type === 'run') {
      runTimed(m.spec).then(
        (result) => process.send!({ type: 'result', id: m.id, result }),
        (err) => process.send!({ type: 'result', id: m.id, error: String(err?.stack ?? err) }),
      );
    } else if (m.type === 'flat') {
      runFlat(m.spec, (pct, done, quarter) => new Promise<void>((r) => {
        resume = r;
        process.send!({ type: 'checkpoint', pct, done, quarter });
      })).then(
        (result) => process.send!({ type: 'result', id: m.id, result }),
        (err) => process.send!({ type: 'result', id: m.id, error: String(err?.stack ?? err) }),
      );
    } else if (m.type === 'mixed') {
      runMixed(m.spec as unknown as MixedSpec).then(
        (result) => process.send!({ type: 'result', id: m.id, result }),
        (err) => process.send!({ type: 'result', id: m.id, error: String(err?.stack ?? err) }),
      );
    } else if (m.type === 'continue') {
      const r = resume;
      resume = undefined;
      r?.();
    } else if (m.type === 'stop') {
      process.exit(0);
    }
  });
}
