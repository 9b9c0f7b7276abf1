// The event collector's section (BENCH_ONLY=collector): simulated Windows forwarders deliver
// rendered 4624 events (about 2.2 KB each in UTF-16) over NTLM with message encryption, one batch
// in flight per source, to a fresh winrmd whose one subscription writes JSON lines, fsynced before
// each Ack. Per cell: events durably acknowledged per second, the Ack's latency, the server's CPU
// per event and its RSS. The ceiling, measured in the same run for the same shape: the same JSON
// lines appended and fsynced by winrmd's own file appender, from as many writers as sources, with
// no HTTP, no NTLM, no parsing. Then memory with many sources connected and idle.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eventToJson } from '../../src/eventing/event-json.js';
import { FileAppender } from '../../src/eventing/outputs.js';
import { spawnChild, type Child, type MemorySample } from './protocol.js';
import { f0, f1, f2, MB, table } from './report.js';
import { renderedEvent } from './wef-events.js';
import type { WefLoadResult, WefLoadSpec } from './wef-load.js';

export interface CollectorCell { sources: number; batch: number; sldc: boolean }

export interface CollectorBenchOptions {
  here: string;
  seconds: number;
  cells: CollectorCell[];
  idleSources: number;
}

/** Parse BENCH_COLLECTOR_CELLS: `sources×batch[:nosldc]`, comma-separated. */
export function parseCells(spec: string): CollectorCell[] {
  return spec.split(',').filter(Boolean).map((c) => {
    const m = /^(\d+)x(\d+)(:nosldc)?$/.exec(c.trim());
    if (!m) throw new Error(`BENCH_COLLECTOR_CELLS: ${c} is not SOURCESxBATCH[:nosldc]`);
    return { sources: Number(m[1]), batch: Number(m[2]), sldc: !m[3] };
  });
}

/** The same JSON lines the collector writes, appended and fsynced from `writers` at once, for `seconds`. */
async function ceiling(cell: CollectorCell, seconds: number): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-bench-ceiling-'));
  const origin = { source: 'WS00001$', address: '127.0.0.1', subscription: { name: 'bench', id: 'x', version: 'y' }, receivedAt: new Date().toISOString() };
  const appender = new FileAppender();
  let lines = 0;
  const end = Date.now() + seconds * 1000;
  const start = Date.now();
  try {
    await Promise.all(Array.from({ length: cell.sources }, async (_, w) => {
      const file = path.join(dir, `w${w}.jsonl`);
      while (Date.now() < end) {
        // Rendered as the collector renders each batch it receives.
        const text = Array.from({ length: cell.batch }, (_, i) => `${JSON.stringify(eventToJson(renderedEvent(i + 1), origin))}\n`).join('');
        await appender.append(file, text);
        lines += cell.batch;
      }
    }));
  } finally {
    await appender.reopen();
    rmSync(dir, { recursive: true, force: true });
  }
  return lines / ((Date.now() - start) / 1000);
}

export async function runCollectorBench(o: CollectorBenchOptions): Promise<{ text: string; md: string }> {
  const accounts = Math.max(o.idleSources, ...o.cells.map((c) => c.sources));
  const server: Child = spawnChild(path.join(o.here, 'serve-collector.js'), { name: 'winrmd (collector)', env: { BENCH_COLLECTOR_ACCOUNTS: String(accounts), MALLOC_ARENA_MAX: '2' }, execArgv: ['--expose-gc'] });
  const loader = spawnChild(path.join(o.here, 'wef-load.js'), { name: 'forwarder load generator' });
  const memory = async (gc = false) => (await server.ask<{ sample: MemorySample }>({ type: 'memory', gc })).sample;
  const rows: string[][] = [];
  const notes: string[] = [];
  try {
    const { port } = await server.next<{ port: number }>('ready', 120_000);
    const idleBefore = await memory(true);
    for (const cell of o.cells) {
      const before = await memory();
      let peak = before.rss;
      const timer = setInterval(() => void memory().then((m) => (peak = Math.max(peak, m.rss)), () => undefined), 500);
      const spec: WefLoadSpec = { port, sources: cell.sources, batch: cell.batch, sldc: cell.sldc, seconds: o.seconds };
      const r = await loader.ask<{ result?: WefLoadResult; error?: string }>({ type: 'run', spec }, o.seconds * 1000 + 300_000).finally(() => clearInterval(timer));
      if (r.error) throw new Error(`forwarder load generator: ${r.error}`);
      const res = r.result!;
      const after = await memory();
      const ceil = await ceiling(cell, o.seconds);
      const rate = res.events / res.seconds;
      rows.push([
        String(cell.sources), String(cell.batch), cell.sldc ? 'on' : 'off', f0(res.batchBytes / 1024), f0(rate), f0(res.batches / res.seconds),
        f2(res.p50), f2(res.p99), f1((after.cpuMicros - before.cpuMicros) / Math.max(1, res.events)), f1(res.clientCpuMicros / Math.max(1, res.events)),
        f1(MB(peak)), f0(ceil), f2(rate / ceil), String(res.errors),
      ]);
      for (const e of res.errorSamples) notes.push(`${cell.sources}x${cell.batch}: ${e}`);
    }
    let idleLine = '';
    if (o.idleSources > 0) {
      const r = await loader.ask<{ result?: WefLoadResult; error?: string }>({ type: 'run', spec: { port, sources: o.idleSources, batch: 1, sldc: true, seconds: 0, idle: true } }, 600_000);
      if (r.error) throw new Error(`forwarder load generator: ${r.error}`);
      const held = await memory(true);
      idleLine = `${o.idleSources} sources connected (each enumerated, sent a heartbeat and holds its delivery connection open, NTLM context and all): winrmd RSS ${f1(MB(held.rss))} MB after a full GC (heap used ${f1(MB(held.heapUsed))} MB), against ${f1(MB(idleBefore.rss))} MB at start; ${r.result!.errors} heartbeats refused.`;
      await loader.ask({ type: 'release' });
    }
    const t = table(
      ['Sources', 'Batch', 'SLDC', 'KB/batch', 'Events/s acked', 'Batches/s', 'Ack p50 ms', 'Ack p99 ms', 'Server CPU µs/event', 'Client CPU µs/event', 'Server RSS peak MB', 'Ceiling events/s', 'of ceiling', 'Errors'],
      rows, ['r', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
    const head = `Collector: forwarders over NTLM with message encryption on loopback, one batch in flight each, ${o.seconds} s per cell; every Ack after the batch's JSON lines were fsynced and its bookmark committed (synchronous=FULL). The ceiling: the same lines through winrmd's file appender alone, as many writers as sources, in the same run. Server and load generator share the machine's two cores.`;
    return {
      text: ['Event collector', head, t.text, idleLine, ...notes].filter(Boolean).join('\n'),
      md: ['## Event collector', '', head, '', t.md, '', idleLine, ...notes.map((n) => `- ${n}`)].filter((l, i, a) => l !== '' || a[i - 1] !== '').join('\n'),
    };
  } finally {
    await loader.stop();
    await server.stop();
  }
}
