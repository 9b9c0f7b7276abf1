// The collector's network outputs against real peers on loopback, started here and stopped after:
// Debian's redis-server (a stream per subscription), rsyslogd (RFC 5424 over UDP and TCP, parsed
// by rsyslog itself), and TCP and TLS receivers for JSON lines and syslog over TLS. A peer that is
// down holds the acknowledgement back; once it is back, the batch sent again gets through.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createClient } from '@redis/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outputs, syslogMessage, type Batch } from '../../src/eventing/outputs.js';
import { eventToJson } from '../../src/eventing/event-json.js';
import { parseSpec, type OutputSpec, type Subscription } from '../../src/eventing/subscription.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { windowsEvent } from '../helpers/wef-source.js';
import { specNamed } from '../unit/store/contracts/collector-store.js';
import { freePort } from '../helpers/ports.js';
import { eventually } from '../helpers/shell-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const subscription = (outputs: OutputSpec[]): Subscription => ({ ...parseSpec({ ...specNamed('net'), outputs }), id: 'id-1', version: 'v-1', enabled: true, updatedAt: '' });
const batch = (outputs: OutputSpec[], ids: number[]): Batch => ({
  subscription: subscription(outputs),
  origin: { source: 'ws01.example.test', address: '192.0.2.7', subscription: { name: 'net', id: 'id-1', version: 'v-1' }, receivedAt: '2026-12-07T10:00:01.000Z' },
  events: ids.map((id) => windowsEvent({ id: 4624, recordId: id, data: { TargetUserName: `user${id}` } })),
});

let dir: string;
let pki: TestPki;
const children: ChildProcess[] = [];
const log = pino({ level: 'silent' });

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-outputs-'));
  pki = makeTestPki(path.join(dir, 'pki'));
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve(child);
    });
    child.once('exit', () => reject(new Error(`redis-server exited: ${out}`)));
  });
}

describe('Redis streams', () => {
  it('XADDs each event as JSON to the stream its template names; Redis away means no Ack, and the resend gets through', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    const outputs = new Outputs(log);
    const spec: OutputSpec = { type: 'redis', url: `redis://127.0.0.1:${port}`, stream: 'wef:{subscription}:{source}', maxLen: 0 };
    await outputs.write(batch([spec], [1, 2, 3]));
    const reader = createClient({ url: `redis://127.0.0.1:${port}` });
    await reader.connect();
    const entries = (await reader.xRange('wef:net:ws01.example.test', '-', '+'))!;
    expect(entries).toHaveLength(3);
    const first = JSON.parse(String(entries[0]!.message.event));
    expect(first.System.EventRecordID).toBe(1);
    expect(first.winrmd.source).toBe('ws01.example.test');
    await reader.close();

    redis.kill('SIGKILL');
    await new Promise((r) => redis.once('exit', r));
    await expect(outputs.write(batch([spec], [4]))).rejects.toThrow(/redis/);
    redis = await startRedis(port);
    // The client reconnects on its own; the source's resend is accepted once it has.
    for (let i = 0; ; i++) {
      try {
        await outputs.write(batch([spec], [4]));
        break;
      } catch (err) {
        if (i > 100) throw err;
        await sleep(100);
      }
    }
    const again = createClient({ url: `redis://127.0.0.1:${port}` });
    await again.connect();
    expect((await again.xRange('wef:net:ws01.example.test', '-', '+'))!.map((e) => JSON.parse(String(e.message.event)).System.EventRecordID)).toEqual([4]);
    await again.close();
    await outputs.close();
  }, 30_000);
});

describe('syslog (RFC 5424)', () => {
  let rsyslog: ChildProcess;
  let udp: number;
  let tcp: number;
  const received = () => path.join(dir, 'syslog.log');

  beforeAll(async () => {
    udp = await freePort();
    tcp = await freePort();
    const conf = path.join(dir, 'rsyslog.conf');
    writeFileSync(conf, [
      `global(workDirectory="${dir}")`,
      'module(load="imudp")',
      'module(load="imtcp")',
      `input(type="imudp" port="${udp}" address="127.0.0.1")`,
      `input(type="imtcp" port="${tcp}" address="127.0.0.1")`,
      // What rsyslog parsed out of each message: the proof that it is RFC 5424 as a receiver reads it.
      'template(name="fields" type="string" string="%hostname%|%app-name%|%msgid%|%pri%|%structured-data%|%msg%\\n")',
      `*.* action(type="omfile" file="${received()}" template="fields")`,
    ].join('\n'));
    rsyslog = spawn('rsyslogd', ['-n', '-f', conf, '-i', path.join(dir, 'rsyslog.pid')], { stdio: 'ignore' });
    children.push(rsyslog);
    // Ready once its TCP input accepts.
    for (let i = 0; i < 100; i++) {
      const up = await new Promise<boolean>((resolve) => net.connect(tcp, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false)));
      if (up) break;
      await sleep(50);
    }
  });

  const lines = () => {
    try {
      return readFileSync(received(), 'utf8').trim().split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };

  it('over UDP and over TCP (octet counting): rsyslog reads host, app, event id, priority and structured data', async () => {
    const outputs = new Outputs(log);
    await outputs.write(batch([{ type: 'syslog', transport: 'udp', host: '127.0.0.1', port: udp, facility: 16 }], [10]));
    await outputs.write(batch([{ type: 'syslog', transport: 'tcp', host: '127.0.0.1', port: tcp, facility: 4 }], [11, 12]));
    const got = await eventually(async () => lines(), (l) => l.length >= 3);
    const byRecord = (id: number) => got.find((l) => l.includes(`"EventRecordID":${id}`))!.split('|');
    const [host, app, msgid, pri, sd, msg] = byRecord(10);
    expect(host).toBe('ws01.example.test');
    expect(app).toBe('Microsoft-Windows-Security-Auditing');
    expect(msgid).toBe('4624');
    expect(pri).toBe(String(16 * 8 + 6)); // local0, informational (Level 0)
    expect(sd).toBe('[winrmd@32473 source="ws01.example.test" subscription="net"]');
    expect(JSON.parse(msg!).EventData.TargetUserName).toBe('user10');
    expect(byRecord(11)[3]).toBe(String(4 * 8 + 6));
    expect(byRecord(12)[2]).toBe('4624');
    await outputs.close();
  });

  it('a TCP peer that is down fails the batch (no Ack); the next batch connects again', async () => {
    const port = await freePort();
    const outputs = new Outputs(log);
    const spec: OutputSpec = { type: 'syslog', transport: 'tcp', host: '127.0.0.1', port, facility: 16 };
    await expect(outputs.write(batch([spec], [20]))).rejects.toThrow(/ECONNREFUSED/);
    const got: string[] = [];
    const server = net.createServer((s) => s.on('data', (d) => got.push(d.toString()))).listen(port, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    await outputs.write(batch([spec], [20]));
    expect(await eventually(async () => got.join('').includes('"EventRecordID":20'), (seen) => seen)).toBe(true);
    const framed = got.join('');
    const length = Number(framed.slice(0, framed.indexOf(' ')));
    expect(Buffer.byteLength(framed.slice(framed.indexOf(' ') + 1))).toBe(length);
    await outputs.close();
    server.close();
  });

  it('a syslog message for a verbose event, an error, and a name with spaces and quotes', () => {
    const event = (level: number) => ({ ...eventToJson(windowsEvent({ id: 1, recordId: 1 }), { source: 'a "b"]', address: 'x', subscription: { name: 's', id: 'i' }, receivedAt: '2026-12-07T10:00:00.000Z' }), System: { Level: level, Computer: 'host with space', Provider: { Name: 'P' }, EventID: 9, TimeCreated: 'not a time' } });
    expect(syslogMessage(event(5), 16)).toMatch(/^<135>1 2026-12-07T10:00:00.000Z host_with_space P - 9 \[winrmd@32473 source="a \\"b\\"\\]" subscription="s"\] \{/);
    expect(syslogMessage(event(2), 16)).toMatch(/^<131>1 /);
  });
});

describe('JSON lines over TCP and TLS', () => {
  it('delivers one JSON object per line; over TLS the server is verified against the CA given', async () => {
    const got: string[] = [];
    const plain = net.createServer((s) => s.on('data', (d) => got.push(d.toString()))).listen(0, '127.0.0.1');
    await new Promise((r) => plain.once('listening', r));
    const secureGot: string[] = [];
    const secure = tls.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (s) => s.on('data', (d) => secureGot.push(d.toString()))).listen(0, '127.0.0.1');
    await new Promise((r) => secure.once('listening', r));
    const outputs = new Outputs(log);
    const tcpSpec: OutputSpec = { type: 'tcp', host: '127.0.0.1', port: (plain.address() as net.AddressInfo).port, tls: false };
    const tlsSpec: OutputSpec = { type: 'tcp', host: '127.0.0.1', port: (secure.address() as net.AddressInfo).port, tls: true, caFile: pki.ca.cert };
    await outputs.write(batch([tcpSpec, tlsSpec], [30, 31]));
    // Whole lines only: a line still arriving is not parsed.
    const read = (chunks: string[]) => eventually(async () => chunks.join('').split('\n').slice(0, -1).map((l) => JSON.parse(l) as Record<string, any>), (l) => l.length >= 2);
    expect((await read(got)).map((e) => e.System.EventRecordID)).toEqual([30, 31]);
    expect((await read(secureGot)).map((e) => e.System.EventRecordID)).toEqual([30, 31]);
    // A server the CA did not issue is refused: the batch fails rather than going to an impostor.
    const untrusted: OutputSpec = { ...tlsSpec, caFile: path.join(pki.dir, 'rogue-ca.pem') };
    await expect(outputs.write(batch([untrusted], [32]))).rejects.toThrow();
    await outputs.close();
    plain.close();
    secure.close();
  });
});
