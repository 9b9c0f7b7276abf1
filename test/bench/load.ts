// The load generator, in its own process: a closed loop of C concurrent workers over node:http,
// either on keep-alive connections (an Agent with keepAlive and maxSockets C) or with a new
// connection per request (no agent, `Connection: close`). Each worker issues its next unit as
// soon as the previous one finished. A unit is one request (Identify, Get) or one complete
// enumeration cycle (Enumerate with OptimizeEnumeration, then Pulls until EndOfSequence).
//
// Timing: the loop runs warm-up + measured window; units completing inside the window count,
// with their latency (start to last byte, hrtime). Errors are transport errors, non-2xx statuses,
// SOAP faults and replies that are not what was asked for (e.g. a cycle short of its items).
import http from 'node:http';
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

class Client {
  private readonly agent?: http.Agent;
  private readonly headers: Record<string, string>;
  requests = 0;
  /** Requests completed inside [windowFrom, windowTo] (performance.now()). */
  inWindow = 0;
  windowFrom = Infinity;
  windowTo = -Infinity;

  constructor(private readonly spec: LoadSpec) {
    this.agent = spec.keepAlive ? new http.Agent({ keepAlive: true, maxSockets: spec.connections, maxFreeSockets: spec.connections }) : undefined;
    this.headers = { 'Content-Type': SOAP, Authorization: spec.authorization };
    if (!spec.keepAlive) this.headers.Connection = 'close';
  }

  post(body: string): Promise<Reply> {
    const buf = Buffer.from(body, 'utf8');
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.spec.port,
          path: '/wsman',
          method: 'POST',
          agent: this.agent ?? false,
          headers: { ...this.headers, 'Content-Length': buf.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            this.requests++;
            const now = performance.now();
            if (now >= this.windowFrom && now <= this.windowTo) this.inWindow++;
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(buf);
    });
  }

  close(): void {
    this.agent?.destroy();
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
    } else if (m.type === 'continue') {
      const r = resume;
      resume = undefined;
      r?.();
    } else if (m.type === 'stop') {
      process.exit(0);
    }
  });
}
