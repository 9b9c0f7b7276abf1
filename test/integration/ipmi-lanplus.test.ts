// The native RMCP+ transport against a real BMC implementation: OpenIPMI's ipmi_sim on 127.0.0.1
// (test/fixtures/ipmi-sim), with ipmitool as the reference client and a lossy UDP relay between.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LanplusTransport, type LanplusOptions } from '../../providers/ipmi/lanplus/index.js';
import { IpmiError } from '../../providers/ipmi/transport.js';
import { everyNth, startUdpRelay, type Relayed, type UdpRelay } from '../helpers/udp-relay.js';

const run = promisify(execFile);
const START = new URL('../fixtures/ipmi-sim/start.sh', import.meta.url).pathname;
const DEVICE_ID = { netFn: 0x06, cmd: 0x01 };

const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-ipmi-sim-'));
let port = 0;
let consolePort = 0;
let pid = 0;

/** Free ports of the kind asked for, as the OS hands them out (bind to 0, read, release). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}
async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function startSim(): Promise<void> {
  const { stdout } = await run('sh', [START, path.join(dir, 'state'), String(port), String(consolePort)]);
  pid = Number(stdout.trim().split('\n').pop());
}

async function stopSim(): Promise<void> {
  if (!pid) return;
  const gone = () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  if (!gone()) process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && !gone(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!gone()) process.kill(pid, 'SIGKILL');
  pid = 0;
}

const ipmitool = async (...args: string[]) =>
  (await run('ipmitool', ['-I', 'lanplus', '-H', '127.0.0.1', '-p', String(port), '-U', 'admin', '-P', 'password', '-C', '3', ...args])).stdout;
const hexBytes = (out: string) => Buffer.from(out.trim().split(/\s+/).join(''), 'hex');
const activeSessions = async () => Number(/active sessions\s*:\s*(\d+)/.exec(await ipmitool('session', 'info', 'active'))![1]);

/** RMCP+ payload type of a relayed datagram, or 'ipmi15' for the session-less ones. */
const payloadType = (p: Relayed) => (p.data[4] === 0x06 ? p.data[5] & 0x3f : 'ipmi15');
const count = (relay: UdpRelay, direction: Relayed['direction'], type: number | 'ipmi15') =>
  relay.packets.filter((p) => p.direction === direction && payloadType(p) === type).length;

const closers: (() => Promise<unknown>)[] = [];
function transport(o: Partial<LanplusOptions> = {}) {
  const t = new LanplusTransport({ host: '127.0.0.1', port, user: 'admin', password: 'password', cipherSuite: 3, timeoutMs: 200, retries: 3, ...o });
  closers.push(() => t.close());
  return t;
}
async function relay(drop?: Parameters<typeof startUdpRelay>[1]) {
  const r = await startUdpRelay({ host: '127.0.0.1', port }, drop);
  closers.push(() => r.close());
  return r;
}

beforeAll(async () => {
  port = await freeUdpPort();
  consolePort = await freeTcpPort();
  await startSim();
});
afterEach(async () => {
  for (const f of closers.splice(0).reverse()) await f();
});
afterAll(async () => {
  await stopSim();
  rmSync(dir, { recursive: true, force: true });
});

describe('lanplus transport against ipmi_sim', () => {
  it('Get Device ID answers what ipmitool -I lanplus -C 3 raw 6 1 prints', async () => {
    const r = await transport().request(DEVICE_ID);
    expect(r.cc).toBe(0);
    expect(r.data).toEqual(hexBytes(await ipmitool('raw', '6', '1')));
  });

  it('Get Sensor Reading of sensor 1 (CPU Temp)', async () => {
    const r = await transport().request({ netFn: 0x04, cmd: 0x2d, data: Uint8Array.of(1) });
    expect(r.cc).toBe(0);
    expect(r.data).toEqual(hexBytes(await ipmitool('raw', '4', '0x2d', '1')));
  });

  it('50 sequential requests in one session', async () => {
    const via = await relay();
    const t = transport({ port: via.port });
    const expected = (await t.request(DEVICE_ID)).data;
    for (let i = 0; i < 50; i++) expect((await t.request(DEVICE_ID)).data).toEqual(expected);
    expect(count(via, 'up', 0x10)).toBe(1);
  });

  it('concurrent requests are queued: never two in flight, all answered', async () => {
    const via = await relay();
    const t = transport({ port: via.port });
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => t.request(i % 2 ? DEVICE_ID : { netFn: 0x04, cmd: 0x2d, data: Uint8Array.of(1 + (i % 5)) })));
    expect(rs.every((r) => r.cc === 0)).toBe(true);
    const inSession = via.packets.filter((p) => payloadType(p) === 0x00).map((p) => p.direction);
    expect(inSession.join(',')).toBe(Array(inSession.length / 2).fill('up,down').join(','));
  });

  it('the operator user works at operator privilege', async () => {
    const r = await transport({ user: 'oper', password: 'operpass', privilege: 'operator' }).request({ netFn: 0x00, cmd: 0x01 });
    expect(r.cc).toBe(0);
  });

  it('a wrong password rejects with auth promptly, after exactly one RAKP exchange', async () => {
    const via = await relay();
    const t = transport({ port: via.port, password: 'not-the-password' });
    const e = await t.request(DEVICE_ID).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(IpmiError);
    expect(e).toMatchObject({ kind: 'auth', message: expect.stringMatching(/refused user "admin".*wrong password/) });
    expect((e as Error).message).not.toContain('not-the-password');
    // RAKP 3 carrying status 0Fh, so ipmi_sim drops the half-open session; sent without waiting for an answer.
    await vi.waitFor(() => expect(count(via, 'up', 0x14)).toBe(1));
    // Promptly: the error came from the one RAKP 2 that was answered, not from the timeout path,
    // which would have resent Open Session or RAKP 1 (up to retries + 1 = 4 of each) before giving up.
    expect(count(via, 'down', 0x13)).toBe(1);
    expect(count(via, 'up', 0x10)).toBe(1);
    expect(count(via, 'up', 0x12)).toBe(1);
    expect(count(via, 'up', 'ipmi15')).toBe(1); // one Get Channel Authentication Capabilities
  });

  it('nothing listening: timeout after timeoutMs × (retries + 1), one probe per attempt', async () => {
    // The relay forwards to a port nothing listens on, and counts what the transport sent.
    const via = await startUdpRelay({ host: '127.0.0.1', port: await freeUdpPort() });
    closers.push(() => via.close());
    const t = transport({ port: via.port, timeoutMs: 150, retries: 2 });
    const started = Date.now();
    const e = await t.request(DEVICE_ID).catch((err: unknown) => err);
    expect(e).toMatchObject({ kind: 'timeout', message: expect.stringMatching(/^BMC 127\.0\.0\.1:\d+ did not answer Get Channel Authentication Capabilities \(3 attempts, 150 ms each\)/) });
    // Each attempt waited its full timeoutMs ...
    expect(Date.now() - started).toBeGreaterThanOrEqual(440);
    // ... and there were exactly retries + 1 of them: the capabilities probe went out 3 times, and
    // nothing else did (no Open Session without an answer to the probe).
    expect(via.packets.filter((p) => p.direction === 'up').map(payloadType)).toEqual(['ipmi15', 'ipmi15', 'ipmi15']);
  });

  it('every 3rd datagram lost, in both directions: 30 requests still all answered correctly', async () => {
    const expected = hexBytes(await ipmitool('raw', '6', '1'));
    const via = await relay(everyNth(3));
    const t = transport({ port: via.port, timeoutMs: 100 });
    for (let i = 0; i < 30; i++) {
      const r = await t.request(DEVICE_ID);
      expect(r.cc).toBe(0);
      expect(r.data).toEqual(expected);
    }
    expect(via.packets.filter((p) => p.dropped).length).toBeGreaterThan(20);
  });

  it('three losses of the same packet in a row, in the handshake and in the session', async () => {
    const lose = new Set(['up:1', 'up:2', 'up:3', 'down:7', 'down:8', 'down:9']); // Open Session thrice; answers later on
    const via = await relay((p) => lose.has(`${p.direction}:${p.index}`));
    const t = transport({ port: via.port });
    for (let i = 0; i < 5; i++) expect((await t.request(DEVICE_ID)).cc).toBe(0);
    expect(via.packets.filter((p) => p.dropped)).toHaveLength(6);
  });

  it('the BMC closes our session (Close Session from another admin): the next request opens a new one', async () => {
    const via = await relay();
    const t = transport({ port: via.port });
    expect((await t.request(DEVICE_ID)).cc).toBe(0);
    // Our BMC session id, from the Open Session response that crossed the relay (payload offset 8).
    const open = via.packets.find((p) => p.direction === 'down' && payloadType(p) === 0x11)!;
    const sid = open.data.subarray(16 + 8, 16 + 12);
    await ipmitool('raw', '6', '0x3c', ...[...sid].map((b) => `0x${b.toString(16)}`));
    expect((await t.request(DEVICE_ID)).cc).toBe(0);
    expect(count(via, 'up', 0x10)).toBe(2);
  });

  it('close() sends Close Session: ipmi_sim counts one session fewer', async () => {
    const t = transport();
    await t.request(DEVICE_ID);
    const open = await activeSessions();
    await t.close();
    expect(await activeSessions()).toBe(open - 1);
  });

  it('ipmi_sim restarted on the same port: the next request succeeds over a new session', async () => {
    const via = await relay();
    const t = transport({ port: via.port });
    expect((await t.request(DEVICE_ID)).cc).toBe(0);
    await stopSim();
    await startSim();
    expect((await t.request(DEVICE_ID)).cc).toBe(0);
    expect(count(via, 'up', 0x10)).toBe(2);
  });
});
