// Where collected events go. An output's write resolves only once the events are durable (a file
// is fsynced) or handed over (a TCP or syslog peer's socket has taken them, Redis has answered),
// because the collector acknowledges a batch only after every output of its subscription has it:
// a failing output holds the acknowledgement back and the source keeps the events and sends them
// again (MS-WSMV 3.1.4.1.30: at-least-once).
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { eventToJson, type EventOrigin } from './event-json.js';
import type { OutputSpec, Subscription } from './subscription.js';

/** One batch as an output sees it. */
export interface Batch {
  subscription: Subscription;
  origin: EventOrigin;
  /** Each event's XML, as the source sent it. */
  events: string[];
}

export interface Output {
  write(batch: Batch): Promise<void>;
  close(): Promise<void>;
}

/** Path templates: nothing a source controls may climb out of the folder the template names. */
const safePart = (s: string) => s.replace(/[^A-Za-z0-9._@$-]/g, '_').replace(/^\.+/, '_') || '_';

/** A file path or stream name template: {subscription}, {source}, {date} (UTC). */
export function expandPath(template: string, batch: Batch): string {
  return template
    .replaceAll('{subscription}', safePart(batch.subscription.name))
    .replaceAll('{source}', safePart(batch.origin.source))
    .replaceAll('{date}', batch.origin.receivedAt.slice(0, 10));
}

/** How each format writes a batch's events: one line each. */
function lines(batch: Batch, format: 'json' | 'raw'): string {
  if (format === 'raw') return batch.events.map((e) => `${e}\n`).join('');
  return batch.events.map((e) => `${JSON.stringify(eventToJson(e, batch.origin))}\n`).join('');
}

/**
 * Open a file to append lines to. A line cut short at its end (the server was killed while it
 * wrote) belonged to a batch that was never acknowledged, so the source sends it again: it is cut
 * off, and what follows starts on a line of its own.
 */
async function openForAppend(file: string): Promise<FileHandle> {
  await mkdir(path.dirname(file), { recursive: true });
  const handle = await open(file, 'a+', 0o640);
  try {
    let end = (await handle.stat()).size;
    const size = end;
    const chunk = Buffer.alloc(65_536);
    while (end > 0) {
      const from = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - from, from);
      const last = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (last !== -1) {
        end = from + last + 1;
        break;
      }
      end = from;
    }
    if (end < size) await handle.truncate(end);
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * Appends to files, grouping writes: what arrives for one file while it is being written and
 * synced goes in its next write, under one fsync. Handles stay open (at most MAX_OPEN) until
 * `reopen` (SIGHUP, after logrotate has moved the files away).
 */
export class FileAppender {
  private readonly files = new Map<string, { handle: Promise<FileHandle>; queue: { text: string; done: (err?: Error) => void }[]; busy: boolean }>();
  private static readonly MAX_OPEN = 256;

  append(file: string, text: string): Promise<void> {
    let f = this.files.get(file);
    if (!f) {
      if (this.files.size >= FileAppender.MAX_OPEN) this.closeIdle();
      f = { handle: openForAppend(file), queue: [], busy: false };
      // A file that cannot be opened is tried again by the next write, not remembered broken.
      f.handle.catch(() => this.files.delete(file));
      this.files.set(file, f);
    }
    const entry = f;
    return new Promise((resolve, reject) => {
      entry.queue.push({ text, done: (err) => (err ? reject(err) : resolve()) });
      if (!entry.busy) void this.flush(entry);
    });
  }

  private async flush(f: { handle: Promise<FileHandle>; queue: { text: string; done: (err?: Error) => void }[]; busy: boolean }): Promise<void> {
    f.busy = true;
    while (f.queue.length > 0) {
      const group = f.queue.splice(0);
      try {
        const handle = await f.handle;
        await handle.appendFile(group.map((g) => g.text).join(''));
        await handle.sync();
        for (const g of group) g.done();
      } catch (err) {
        for (const g of group) g.done(err as Error);
      }
    }
    f.busy = false;
  }

  private closeIdle(): void {
    for (const [file, f] of this.files) {
      if (f.busy) continue;
      this.files.delete(file);
      void f.handle.then((h) => h.close(), () => undefined);
    }
  }

  /** Close every file; the next write opens it again (by name, so a rotated file is left alone). */
  async reopen(): Promise<void> {
    const all = [...this.files.values()];
    this.files.clear();
    await Promise.all(all.map(async (f) => {
      while (f.busy) await new Promise((r) => setImmediate(r));
      await f.handle.then((h) => h.close(), () => undefined);
    }));
  }
}

/** How long a network output may take to connect or to take a batch before it counts as failed. */
const NETWORK_TIMEOUT_MS = 10_000;

/**
 * One connection to a peer, made when first needed and again after it breaks: a batch that finds
 * it broken fails (no Ack) and the next batch reconnects.
 */
class Connection {
  private socket?: net.Socket;
  private connecting?: Promise<net.Socket>;

  constructor(private readonly open: () => net.Socket) {}

  private connected(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const socket = this.open();
      const fail = (err: Error) => {
        socket.destroy();
        reject(err);
      };
      socket.setTimeout(NETWORK_TIMEOUT_MS, () => fail(new Error('timed out')));
      socket.once('error', fail);
      socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
        socket.off('error', fail);
        socket.setTimeout(0);
        // A peer that goes away is noticed at the next write: until then nothing is lost.
        socket.on('error', () => socket.destroy());
        socket.on('data', () => undefined);
        resolve(socket);
      });
    }).then((socket) => (this.socket = socket)).finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  async write(data: string): Promise<void> {
    const socket = await this.connected();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('the peer did not take the batch in time'));
      }, NETWORK_TIMEOUT_MS);
      socket.write(data, (err) => {
        clearTimeout(timer);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.socket?.end();
    this.socket = undefined;
  }
}

const tlsOptions = (caFile: string | undefined) => (caFile ? { ca: readFileSync(caFile, 'utf8') } : {});

function connection(host: string, port: number, secure: boolean, caFile?: string): Connection {
  return new Connection(() => (secure ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...tlsOptions(caFile) }) : net.connect({ host, port })));
}

/** Windows event levels (1 critical … 5 verbose, 0 always) as syslog severities (RFC 5424 §6.2.1). */
const SEVERITY: Record<number, number> = { 0: 6, 1: 2, 2: 3, 3: 4, 4: 6, 5: 7 };

/** RFC 5424 PRINTUSASCII, no spaces, bounded: what HOSTNAME, APP-NAME and MSGID may hold. */
const token = (s: string | undefined, max: number) => (s ? s.replace(/[^\x21-\x7e]/g, '_').slice(0, max) : '') || '-';
const sdValue = (s: string) => s.replace(/["\\\]]/g, (c) => `\\${c}`);

/** One event as an RFC 5424 message: the event's time, machine, provider and id in the header, the JSON as MSG. */
export function syslogMessage(event: Record<string, any>, facility: number): string {
  const system = (event.System ?? {}) as Record<string, any>;
  const level = typeof system.Level === 'number' ? system.Level : 4;
  const pri = facility * 8 + (SEVERITY[level] ?? 6);
  const created = Date.parse(String(system.TimeCreated ?? ''));
  const time = new Date(Number.isNaN(created) ? Date.parse(event.winrmd.receivedAt) : created).toISOString();
  const id = typeof system.EventID === 'object' ? system.EventID['#text'] : system.EventID;
  const origin = event.winrmd as EventOrigin;
  const sd = `[winrmd@32473 source="${sdValue(origin.source)}" subscription="${sdValue(origin.subscription.name)}"]`;
  return `<${pri}>1 ${time} ${token(system.Computer ?? origin.source, 255)} ${token(system.Provider?.Name, 48)} - ${token(id === undefined ? undefined : String(id), 32)} ${sd} ${JSON.stringify(event)}`;
}

function syslogOutput(spec: Extract<OutputSpec, { type: 'syslog' }>): Output {
  const port = spec.port ?? (spec.transport === 'tls' ? 6514 : 514);
  const messages = (batch: Batch) => batch.events.map((e) => syslogMessage(eventToJson(e, batch.origin), spec.facility));
  if (spec.transport === 'udp') {
    const socket = createSocket(net.isIPv6(spec.host) ? 'udp6' : 'udp4');
    socket.unref();
    const send = (m: string) => new Promise<void>((resolve, reject) => socket.send(m, port, spec.host, (err) => (err ? reject(err) : resolve())));
    return {
      // UDP takes a datagram and promises nothing more: handed over is all it can be.
      write: async (batch) => {
        for (const m of messages(batch)) await send(m);
      },
      close: async () => {
        socket.close();
      },
    };
  }
  const peer = connection(spec.host, port, spec.transport === 'tls', spec.caFile);
  return {
    // RFC 6587 §3.4.1 octet counting: the length in bytes, a space, the message.
    write: (batch) => peer.write(messages(batch).map((m) => `${Buffer.byteLength(m)} ${m}`).join('')),
    close: () => peer.close(),
  };
}

async function redisOutput(spec: Extract<OutputSpec, { type: 'redis' }>, log: Logger): Promise<Output> {
  // Loaded only when a subscription names Redis.
  const { createClient } = await import('@redis/client');
  // No offline queue: a batch that finds Redis away fails at once (no Ack) instead of waiting.
  const client = createClient({ url: spec.url, disableOfflineQueue: true, socket: { connectTimeout: NETWORK_TIMEOUT_MS, reconnectStrategy: (retries: number) => Math.min(retries * 200, 5000) } });
  client.on('error', (err: Error) => log.warn({ event: 'output_redis_error', reason: err.message }));
  const ready = client.connect().catch(() => undefined);
  return {
    write: async (batch) => {
      await ready;
      const key = expandPath(spec.stream, batch);
      const trim = spec.maxLen > 0 ? { TRIM: { strategy: 'MAXLEN' as const, strategyModifier: '~' as const, threshold: spec.maxLen } } : undefined;
      // One round trip: commands issued together are pipelined.
      await Promise.all(batch.events.map((e) => client.xAdd(key, '*', { event: JSON.stringify(eventToJson(e, batch.origin)) }, trim)));
    },
    close: async () => {
      await client.close().catch(() => undefined);
    },
  };
}

export class Outputs {
  private readonly files = new FileAppender();
  /** Network outputs by their definition: one connection however many subscriptions name the same peer. */
  private readonly network = new Map<string, Promise<Output>>();

  constructor(private readonly log: Logger) {}

  private output(spec: OutputSpec): Promise<Output> {
    if (spec.type === 'file') {
      return Promise.resolve({ write: (batch) => this.files.append(expandPath(spec.path, batch), lines(batch, spec.format)), close: async () => undefined });
    }
    const key = JSON.stringify(spec);
    let out = this.network.get(key);
    if (!out) {
      out = spec.type === 'redis' ? redisOutput(spec, this.log)
        : spec.type === 'syslog' ? Promise.resolve(syslogOutput(spec))
        : Promise.resolve(tcpOutput(spec));
      this.network.set(key, out);
    }
    return out;
  }

  /** Every output of the batch's subscription has it; rejects if any fails. */
  async write(batch: Batch): Promise<void> {
    const results = await Promise.allSettled(batch.subscription.outputs.map(async (spec) => (await this.output(spec)).write(batch)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ output: batch.subscription.outputs[i]!.type, reason: (r.reason as Error).message }] : []));
    if (failed.length > 0) {
      this.log.error({ event: 'output_failed', subscription: batch.subscription.name, source: batch.origin.source, failed });
      throw new Error(`${failed.length} output(s) failed: ${failed.map((f) => `${f.output}: ${f.reason}`).join('; ')}`);
    }
  }

  /** SIGHUP: files are opened again by name (after logrotate). */
  reopen(): Promise<void> {
    return this.files.reopen();
  }

  async close(): Promise<void> {
    const network = [...this.network.values()];
    this.network.clear();
    await Promise.all(network.map(async (o) => (await o).close()));
    await this.files.reopen();
  }
}

function tcpOutput(spec: Extract<OutputSpec, { type: 'tcp' }>): Output {
  const peer = connection(spec.host, spec.port, spec.tls, spec.caFile);
  return {
    write: (batch) => peer.write(lines(batch, 'json')),
    close: () => peer.close(),
  };
}
