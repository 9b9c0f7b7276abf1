// The event source section (BENCH_ONLY=eventing). Two figures:
// 1. Forwarding: a journal of BENCH_EVENTING_EVENTS entries (written by systemd-journal-remote)
//    forwarded by winrmd (this process, as a Windows forwarder over NTLM with message encryption,
//    one connection) to a winrmd collector in its own process (serve-collector.ts: every Ack after
//    the batch's JSON lines are fsynced and its bookmark committed), from the first entry to the
//    last line on disk; against reading the same journal with `journalctl -o export` (the
//    journal's own export, the fastest way out of it) in the same run, and with `journalctl -o
//    json`, which the forwarder reads.
// 2. Memory: BENCH_EVENTING_SUBSCRIPTIONS pull subscriptions to the EventLog resource held open
//    on a fresh winrmd (serve-winrmd.ts) reading the same journal: its RSS and heap after a full
//    GC, against the same server before.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startServer } from '../../src/server.js';
import { subscribe, EVT } from '../helpers/event-sink.js';
import { writeJournal } from '../helpers/journal.js';
import { BENCH_AUTH, SOURCE_PASSWORD, sourceName, spawnChild, type MemorySample } from './protocol.js';
import { f0, f1, f2, MB, table } from './report.js';


export interface EventingBenchOptions { here: string; events: number; subscriptions: number }

/** Seconds one run of a command takes, its output thrown away. */
function timed(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - start) / 1e9) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU of this process and of its waited-for children (journalctl), in microseconds (/proc/self/stat, clock ticks of 10 ms). */
function cpuMicros(): { self: number; children: number } {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  const { user, system } = process.cpuUsage();
  return { self: user + system, children: (Number(f[13]) + Number(f[14])) * 10_000 };
}

/** Lines in a growing file, counted incrementally. */
function lineCounter(file: string) {
  let offset = 0;
  let lines = 0;
  const buf = Buffer.alloc(1 << 20);
  return () => {
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return lines;
    }
    const fd = openSync(file, 'r');
    try {
      while (offset < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - offset), offset);
        for (let i = 0; i < n; i++) if (buf[i] === 10) lines++;
        offset += n;
      }
    } finally {
      closeSync(fd);
    }
    return lines;
  };
}

export async function runEventingBench(o: EventingBenchOptions): Promise<{ text: string; md: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-bench-eventing-'));
  const journalDir = path.join(dir, 'journal');
  try {
    // Security-channel entries (authpriv), as the collector's `bench` subscription selects.
    mkdirSync(journalDir);
    writeJournal(journalDir, 'bench', Array.from({ length: o.events }, (_, i) => ({
      MESSAGE: `Accepted publickey for user${i % 97} from 10.0.${i % 250}.${i % 200} port ${1024 + (i % 60000)} ssh2`,
      PRIORITY: '6', SYSLOG_FACILITY: '10', SYSLOG_IDENTIFIER: 'sshd', _PID: String(1000 + (i % 30000)), _HOSTNAME: 'web01',
    })));

    const exports: number[] = [];
    const jsons: number[] = [];
    for (let i = 0; i < 3; i++) {
      exports.push(await timed('journalctl', ['-o', 'export', '--no-pager', '--all', '--directory', journalDir]));
      jsons.push(await timed('journalctl', ['-o', 'json', '--no-pager', '--all', '--directory', journalDir]));
    }

    // The collector in its own process; this process forwards.
    const collector = spawnChild(path.join(o.here, 'serve-collector.js'), { name: 'winrmd (collector)', env: { BENCH_COLLECTOR_ACCOUNTS: '1', BENCH_COLLECTOR_EXISTING: '1', MALLOC_ARENA_MAX: '2' } });
    let forwardSeconds = 0;
    let collectorCpu = 0;
    let forwarderCpu = { self: 0, children: 0 };
    try {
      const { port, dir: collectorDir } = await collector.next<{ port: number; dir: string }>('ready', 120_000);
      const memory = async () => (await collector.ask<{ sample: MemorySample }>({ type: 'memory' })).sample;
      writeFileSync(path.join(dir, 'secret'), `${SOURCE_PASSWORD}\n`);
      const config = configSchema.parse({
        stateDir: path.join(dir, 'forwarder'),
        listeners: { http: { enabled: false }, https: { enabled: false } },
        collector: { enabled: false },
        journal: { directory: journalDir },
        forwarder: { targets: [{ server: `http://127.0.0.1:${port}/wsman/`, refreshSeconds: 3600, user: sourceName(0), passwordFile: path.join(dir, 'secret') }] },
        logging: { level: 'silent' },
      });
      const count = lineCounter(path.join(collectorDir, 'out', `${sourceName(0)}.jsonl`));
      const cpu0 = cpuMicros();
      const c0 = (await memory()).cpuMicros;
      const start = process.hrtime.bigint();
      const forwarder = await startServer({ config, providers: [], log: pino({ level: 'silent' }) });
      try {
        for (const until = Date.now() + 600_000; count() < o.events && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
        forwardSeconds = Number(process.hrtime.bigint() - start) / 1e9;
      } finally {
        await forwarder.close();
      }
      if (count() < o.events) throw new Error(`only ${count()} of ${o.events} events reached the collector`);
      const cpu1 = cpuMicros();
      collectorCpu = (await memory()).cpuMicros - c0;
      forwarderCpu = { self: cpu1.self - cpu0.self, children: cpu1.children - cpu0.children };
    } finally {
      await collector.stop();
    }

    // Memory with many open subscriptions.
    const server = spawnChild(path.join(o.here, 'serve-winrmd.js'), {
      name: 'winrmd (event source)', execArgv: ['--expose-gc'],
      env: { BENCH_JOURNAL_DIR: journalDir, BENCH_SUBSCRIPTIONS: String(o.subscriptions), MALLOC_ARENA_MAX: '2', BENCH_ITEMS: '10' },
    });
    let memBefore: MemorySample;
    let memAfter: MemorySample;
    let subscribeSeconds = 0;
    try {
      const { port } = await server.next<{ port: number }>('ready', 120_000);
      const memory = async () => (await server.ask<{ sample: MemorySample }>({ type: 'memory', gc: true })).sample;
      memBefore = await memory();
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      const post = (xml: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: '/wsman', method: 'POST', agent, headers: { Authorization: BENCH_AUTH, 'Content-Type': 'application/soap+xml;charset=UTF-8' } }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end(xml);
      });
      const query = '<QueryList><Query Id="0"><Select Path="Security">*[System[(Level&lt;=3)]]</Select></Query></QueryList>';
      const xml = subscribe({ resourceUri: EVT.eventLog, mode: EVT.pull, filter: { dialect: EVT.eventQuery, text: query }, heartbeats: 'PT3600S' });
      const start = process.hrtime.bigint();
      for (let done = 0; done < o.subscriptions;) {
        const batch = Math.min(8, o.subscriptions - done);
        const replies = await Promise.all(Array.from({ length: batch }, () => post(xml)));
        for (const r of replies) if (r.status !== 200) throw new Error(`Subscribe answered ${r.status}: ${r.body.slice(0, 300)}`);
        done += batch;
      }
      subscribeSeconds = Number(process.hrtime.bigint() - start) / 1e9;
      await new Promise((r) => setTimeout(r, 3000)); // every subscription has polled the journal
      memAfter = await memory();
      agent.destroy();
    } finally {
      await server.stop();
    }

    const exportRate = o.events / median(exports);
    const jsonRate = o.events / median(jsons);
    const forwardRate = o.events / forwardSeconds;
    const rows = [
      ['journalctl -o export (the journal\'s own export)', f0(exportRate), '1.00', '—'],
      ['journalctl -o json (what the forwarder reads)', f0(jsonRate), f2(jsonRate / exportRate), '—'],
      ['winrmd forwarder → winrmd collector, durable, acked', f0(forwardRate), f2(forwardRate / exportRate),
        `${f1(forwarderCpu.self / o.events)} forwarder + ${f1(forwarderCpu.children / o.events)} journalctl + ${f1(collectorCpu / o.events)} collector`],
    ];
    const t = table(['Path', 'Events/s', 'of export', 'CPU µs/event'], rows, ['l', 'r', 'r', 'l']);
    const perSub = (memAfter!.rss - memBefore!.rss) / o.subscriptions;
    const memLine = `${o.subscriptions} open pull subscriptions to the EventLog resource (one journal, read once per second for all): winrmd RSS ${f1(MB(memAfter!.rss))} MB after a full GC against ${f1(MB(memBefore!.rss))} MB before (${f1(perSub / 1024)} KB each; heap used ${f1(MB(memBefore!.heapUsed))} → ${f1(MB(memAfter!.heapUsed))} MB); ${f0(o.subscriptions / subscribeSeconds)} Subscribes/s over 8 connections.`;
    const head = `Event source: ${o.events} journal entries forwarded over one NTLM-sealed connection to a collector in its own process (fsync and bookmark commit before each Ack), from the first entry read to the last line on disk, against journalctl reading the same journal in the same run (median of 3).`;
    return { text: `${head}\n${t.text}\n${memLine}`, md: `### Event source\n\n${head}\n\n${t.md}\n\n${memLine}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
