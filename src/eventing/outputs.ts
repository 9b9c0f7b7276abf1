// Where collected events go. An output's write resolves only once the events are durable (a file
// is fsynced), because the collector acknowledges a batch only after every output of its
// subscription has it: a failing output holds the acknowledgement back and the source keeps the
// events and sends them again (MS-WSMV 3.1.4.1.30: at-least-once).
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
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
}

/** Path templates: nothing a source controls may climb out of the folder the template names. */
const safePart = (s: string) => s.replace(/[^A-Za-z0-9._@$-]/g, '_').replace(/^\.+/, '_') || '_';

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

export class Outputs {
  private readonly files = new FileAppender();

  constructor(private readonly log: Logger) {}

  private output(spec: OutputSpec): Output {
    switch (spec.type) {
      case 'file':
        return { write: (batch) => this.files.append(expandPath(spec.path, batch), lines(batch, spec.format)) };
    }
  }

  /** Every output of the batch's subscription has it, durably; rejects if any fails. */
  async write(batch: Batch): Promise<void> {
    const results = await Promise.allSettled(batch.subscription.outputs.map((spec) => this.output(spec).write(batch)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ output: batch.subscription.outputs[i]!.type, reason: (r.reason as Error).message }] : []));
    if (failed.length > 0) {
      this.log.error({ event: 'output_failed', subscription: batch.subscription.name, source: batch.origin.source, failed });
      throw new Error(`${failed.length} output(s) failed: ${failed.map((f) => `${f.output}: ${f.reason}`).join('; ')}`);
    }
  }

  reopen(): Promise<void> {
    return this.files.reopen();
  }

  close(): Promise<void> {
    return this.files.reopen();
  }
}
