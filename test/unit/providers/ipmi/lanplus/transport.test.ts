// LanplusTransport over real UDP against the fake BMC: the suite 17 and Kg handshakes, and the
// behaviour ipmi_sim cannot be made to show on cue (stale and replayed answers, lost sessions).
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LanplusTransport, type LanplusOptions } from '../../../../../providers/ipmi/lanplus/index.js';
import { IpmiError } from '../../../../../providers/ipmi/transport.js';
import { startUdpRelay, type Relayed, type UdpRelay } from '../../../../helpers/udp-relay.js';
import { FakeBmc, type FakeBmcOptions } from './fake-bmc.js';

const ADMIN = { name: 'admin', password: 'password', privilege: 4 };
const OPER = { name: 'oper', password: 'operpass', privilege: 3 };
const DEVICE_ID = { netFn: 0x06, cmd: 0x01 };

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(bmc: Partial<FakeBmcOptions> = {}, transport: Partial<LanplusOptions> = {}) {
  const fake = new FakeBmc({ suite: 17, users: [ADMIN, OPER], ...bmc });
  await fake.start();
  cleanup.push(() => fake.close());
  const t = new LanplusTransport({ host: '127.0.0.1', port: fake.port, user: 'admin', password: 'password', cipherSuite: 17, timeoutMs: 150, retries: 2, ...transport });
  cleanup.push(() => t.close());
  return { fake, t };
}

/** A UDP relay to `port` on 127.0.0.1 that records every datagram, whether anything answers there or not. */
async function relayTo(port: number): Promise<UdpRelay> {
  const via = await startUdpRelay({ host: '127.0.0.1', port });
  cleanup.push(() => via.close());
  return via;
}

/** What a datagram the transport sent is: a session-less IPMI 1.5 message, or the RMCP+ payload type and whether it is in a session. */
const kindOf = (p: Relayed) => (p.data[4] !== 0x06 ? 'ipmi15' : `${p.data.readUInt32LE(6) === 0 ? 'setup' : 'session'} ${p.data[5] & 0x3f}`);
const sent = (via: UdpRelay, from = 0) => via.packets.slice(from).filter((p) => p.direction === 'up').map(kindOf);

/** A UDP port that was free a moment ago: nothing answers there. */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const rejection = async (p: Promise<unknown>) => {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(IpmiError);
  return e as IpmiError;
};

describe('LanplusTransport against a fake BMC', () => {
  it('opens a cipher suite 17 session, asks for admin, and closes it with Close Session', async () => {
    const { fake, t } = await setup();
    const r = await t.request(DEVICE_ID);
    expect(r.cc).toBe(0);
    expect(r.data.toString('hex')).toBe('200181020002bf57010001020304');
    expect(fake.seen.map((s) => s.kind).slice(0, 4)).toEqual(['gcac', 'open', 'rakp1', 'rakp3']);
    expect(fake.seen[0].data).toEqual(Buffer.from([0x8e, 0x04]));
    const setPriv = fake.seen.find((s) => s.cmd === 0x3b)!;
    expect([...setPriv.data!]).toEqual([4]);
    expect(setPriv.sequence).toBe(1); // the first packet of a session carries sequence 1
    expect(fake.activeSessions).toBe(1);
    await t.close();
    expect(fake.count('ipmi', 0x3c)).toBe(1);
    expect(fake.activeSessions).toBe(0);
    await t.close(); // idempotent
    expect(fake.count('ipmi', 0x3c)).toBe(1);
    expect((await rejection(t.request(DEVICE_ID))).kind).toBe('closed');
  });

  it('speaks cipher suite 3 to the same fake', async () => {
    const { t } = await setup({ suite: 3 }, { cipherSuite: 3 });
    expect((await t.request(DEVICE_ID)).cc).toBe(0);
  });

  it('refuses a cipher suite the BMC does not offer, with the RMCP+ status', async () => {
    const { t } = await setup({ suite: 3 }, { cipherSuite: 17 });
    const e = await rejection(t.request(DEVICE_ID));
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(/cipher suite 17.*0x11/);
  });

  it('keys the SIK with Kg when the BMC has one; without it the RAKP 4 check fails and says why', async () => {
    const kg = Buffer.from('kg-secret-0123456789', 'latin1');
    const ok = await setup({ kg }, { kg });
    expect((await ok.t.request(DEVICE_ID)).cc).toBe(0);
    const hex = await setup({ kg }, { kg: `0x${kg.toString('hex')}` });
    expect((await hex.t.request(DEVICE_ID)).cc).toBe(0);
    const missing = await setup({ kg });
    const e = await rejection(missing.t.request(DEVICE_ID));
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(/RAKP 4.*BMC key \(Kg\)/);
    expect(e.message).not.toContain('kg-secret');
  });

  it('a wrong password is one RAKP exchange and an auth error naming the user, never the password', async () => {
    const { fake, t } = await setup({}, { password: 'hunter2' });
    const e = await rejection(t.request(DEVICE_ID));
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(/refused user "admin".*wrong password/);
    expect(e.message).not.toContain('hunter2');
    expect(fake.count('open')).toBe(1);
    expect(fake.count('rakp1')).toBe(1);
    // RAKP 3 with status 0Fh tells the BMC to drop the half-open session (sent without waiting).
    await vi.waitFor(() => expect(fake.count('rakp3')).toBe(1));
    expect(fake.seen.filter((s) => s.kind === 'rakp3').map((s) => s.status)).toEqual([0x0f]);
    expect(fake.activeSessions).toBe(0);
    // The next request tries once more, once.
    await rejection(t.request(DEVICE_ID));
    expect(fake.count('rakp1')).toBe(2);
  });

  it('an unknown user is refused by the BMC at RAKP 2', async () => {
    const { t } = await setup({}, { user: 'ghost' });
    const e = await rejection(t.request(DEVICE_ID));
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(/refused user "ghost".*0x0d/);
  });

  it('a privilege the user lacks is refused: operator asking for administrator', async () => {
    const { t } = await setup({}, { user: 'oper', password: 'operpass' });
    expect((await rejection(t.request(DEVICE_ID))).kind).toBe('auth');
    const { t: op, fake } = await setup({}, { user: 'oper', password: 'operpass', privilege: 'operator' });
    expect((await op.request(DEVICE_ID)).cc).toBe(0);
    expect([...fake.seen.find((s) => s.cmd === 0x3b)!.data!]).toEqual([3]);
  });

  it('user privilege skips Set Session Privilege Level: sessions start there', async () => {
    const { fake, t } = await setup({}, { privilege: 'user' });
    expect((await t.request(DEVICE_ID)).cc).toBe(0);
    expect(fake.count('ipmi', 0x3b)).toBe(0);
  });

  it('retransmits a lost request with the next session sequence number and the same rqSeq', async () => {
    const { fake, t } = await setup();
    await t.request(DEVICE_ID);
    let dropped = 0;
    fake.onRequest = (m) => m.cmd === 0x01 && dropped++ < 2;
    expect((await t.request(DEVICE_ID)).cc).toBe(0);
    const sent = fake.seen.filter((s) => s.kind === 'ipmi' && s.cmd === 0x01).slice(1);
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((s) => s.rqSeq)).size).toBe(1);
    expect(sent.map((s) => s.sequence! - sent[0].sequence!)).toEqual([0, 1, 2]);
  });

  it('ignores a late answer to an earlier request (another rqSeq) and takes the right one', async () => {
    const { fake, t } = await setup();
    await t.request(DEVICE_ID);
    fake.onRequest = (m) => {
      if (m.cmd !== 0x01) return false;
      m.send(m.build(0, [0xba, 0xd0], { rqSeq: (m.rqSeq - 1) & 0x3f }));
      m.send(m.build(0, [0x60, 0x0d]));
      return true;
    };
    expect([...(await t.request(DEVICE_ID)).data]).toEqual([0x60, 0x0d]);
  });

  it('drops a replayed session sequence number (sliding window) even when the rest is valid', async () => {
    const { fake, t } = await setup();
    await t.request(DEVICE_ID);
    let replay = 0;
    fake.onRequest = (m) => {
      if (m.cmd !== 0x01) return false;
      m.send(m.build(0, [0xba, 0xd0], { sequence: 1 })); // sequence 1 was the Set Session Privilege answer
      replay = 1;
      m.send(m.build(0, [0x60, 0x0d]));
      return true;
    };
    expect([...(await t.request(DEVICE_ID)).data]).toEqual([0x60, 0x0d]);
    expect(replay).toBe(1);
  });

  it('an answer with a broken integrity code is not taken; if nothing else comes, the error says so', async () => {
    const { fake, t } = await setup();
    await t.request(DEVICE_ID);
    fake.onRequest = (m) => {
      const p = m.build(0, [1]);
      p[p.length - 1] ^= 0xff;
      m.send(p);
      return true;
    };
    const e = await rejection(t.request(DEVICE_ID));
    expect(e.kind).toBe('protocol');
    expect(e.message).toMatch(/integrity check value does not verify/);
  });

  it('opens a new session once when the BMC forgot ours, and resends', async () => {
    const { fake, t } = await setup();
    await t.request(DEVICE_ID);
    fake.forgetSessions();
    expect((await t.request(DEVICE_ID)).cc).toBe(0);
    expect(fake.count('stray')).toBe(4); // 3 attempts in the forgotten session, then Close Session for it
    expect(fake.count('open')).toBe(2);
    expect(fake.count('gcac')).toBe(2);
    expect(fake.activeSessions).toBe(1);
  });

  it('after 30 s idle a lost session costs one attempt, not retries + 1, before the new one', async () => {
    const { fake, t } = await setup();
    await t.request(DEVICE_ID);
    fake.forgetSessions();
    const now = Date.now();
    vi.spyOn(Date, 'now').mockImplementation(() => now + 31_000);
    try {
      expect((await t.request(DEVICE_ID)).cc).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    // One attempt in the forgotten session, then Close Session for it (both dropped), then the new session.
    expect(fake.count('stray')).toBe(2);
    expect(fake.count('open')).toBe(2);
    expect(fake.count('ipmi', 0x01)).toBe(2);
  });

  it('a BMC gone for good after the session: a timeout, one probe, no second session', async () => {
    const fake = new FakeBmc({ suite: 17, users: [ADMIN] });
    await fake.start();
    cleanup.push(() => fake.close());
    // Through a relay that records what the transport sends, also once nothing answers behind it.
    const via = await relayTo(fake.port);
    const t = new LanplusTransport({ host: '127.0.0.1', port: via.port, user: 'admin', password: 'password', cipherSuite: 17, timeoutMs: 150, retries: 2 });
    cleanup.push(() => t.close());
    await t.request(DEVICE_ID);
    await fake.close();
    const gone = via.packets.length;
    const started = Date.now();
    const e = await rejection(t.request(DEVICE_ID));
    expect(e.kind).toBe('timeout');
    expect(e.message).toMatch(/BMC 127\.0\.0\.1:\d+ did not answer Get Channel Authentication Capabilities/);
    // 3 attempts in the session, 3 for Get Channel Authentication Capabilities, 150 ms each.
    expect(Date.now() - started).toBeGreaterThanOrEqual(850);
    // And nothing more: the 3 attempts in the session (payload type 0), the Close Session left for
    // it, the 3 probes, and no Open Session (type 16) after a probe nobody answered.
    expect(sent(via, gone)).toEqual([...Array<string>(4).fill('session 0'), 'ipmi15', 'ipmi15', 'ipmi15']);
  });

  it('queues concurrent requests: one in flight at a time, each answered', async () => {
    const { fake, t } = await setup();
    let inFlight = 0;
    let most = 0;
    fake.onRequest = (m) => {
      if (m.cmd !== 0x01) return false;
      inFlight++;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight--;
        m.send(m.build(0, [m.rqSeq]));
      }, 10);
      return true;
    };
    const rs = await Promise.all(Array.from({ length: 8 }, () => t.request(DEVICE_ID)));
    expect(rs.every((r) => r.cc === 0)).toBe(true);
    expect(most).toBe(1);
    expect(new Set(rs.map((r) => r.data[0])).size).toBe(8);
  });

  it('an aborted queued request leaves the queue; an aborted running one stops waiting', async () => {
    const { fake, t } = await setup();
    await t.request(DEVICE_ID);
    fake.onRequest = (m) => m.cmd === 0x01; // never answer Get Device ID
    const running = new AbortController();
    const queued = new AbortController();
    const first = t.request(DEVICE_ID, running.signal);
    const second = t.request(DEVICE_ID, queued.signal);
    const third = t.request({ netFn: 0x06, cmd: 0x3b, data: Uint8Array.of(4) });
    queued.abort();
    expect((await rejection(second)).kind).toBe('closed');
    // Stops waiting at once: the rejection follows from abort() itself, before the event loop turns
    // again, so no timer (the 150 ms wait, a retransmission) can have been what ended it.
    const order: string[] = [];
    const aborted = rejection(first).then((e) => {
      order.push('rejected');
      return e;
    });
    running.abort();
    await new Promise((r) => setImmediate(r));
    order.push('next turn of the event loop');
    expect((await aborted).kind).toBe('closed');
    expect(order).toEqual(['rejected', 'next turn of the event loop']);
    expect((await third).cc).toBe(0);
    // Get Device ID went out for the initial request and the aborted running one, never for the aborted queued one.
    expect(new Set(fake.seen.filter((s) => s.cmd === 0x01).map((s) => s.rqSeq)).size).toBe(2);
  });

  it('close() rejects what is queued and in flight with closed', async () => {
    const { fake, t } = await setup();
    await t.request(DEVICE_ID);
    fake.onRequest = (m) => m.cmd === 0x01;
    const a = rejection(t.request(DEVICE_ID));
    const b = rejection(t.request(DEVICE_ID));
    await new Promise((r) => setTimeout(r, 20));
    await t.close();
    expect(await a).toMatchObject({ kind: 'closed', message: expect.stringMatching(/was closed/) });
    expect(await b).toMatchObject({ kind: 'closed', message: expect.stringMatching(/was closed/) });
    expect(fake.count('ipmi', 0x3c)).toBe(1);
  });

  it('nothing listening: timeout after timeoutMs × (retries + 1), one probe per attempt', async () => {
    // The relay forwards to a port nothing listens on, and counts what the transport sent.
    const via = await relayTo(await freePort());
    const t = new LanplusTransport({ host: '127.0.0.1', port: via.port, user: 'admin', password: 'password', timeoutMs: 100, retries: 3 });
    cleanup.push(() => t.close());
    const started = Date.now();
    const e = await rejection(t.request(DEVICE_ID));
    expect(e.kind).toBe('timeout');
    expect(e.message).toBe(`BMC 127.0.0.1:${via.port} did not answer Get Channel Authentication Capabilities (4 attempts, 100 ms each)`);
    // Each attempt waited its full timeoutMs, and there were exactly retries + 1 of them.
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(sent(via)).toEqual(['ipmi15', 'ipmi15', 'ipmi15', 'ipmi15']);
  });

  it('rejects bad options without echoing secrets', () => {
    expect(() => new LanplusTransport({ host: 'h', user: 'u', password: 'x'.repeat(21) })).toThrow(/at most 20 bytes/);
    expect(() => new LanplusTransport({ host: 'h', user: 'u'.repeat(17), password: 'p' })).toThrow(/at most 16 bytes/);
    expect(() => new LanplusTransport({ host: 'h', user: 'u', password: 'p', cipherSuite: 2 as 3 })).toThrow(/cipher suite 2/);
    expect(() => new LanplusTransport({ host: 'h', user: 'u', password: 'p', kg: 'not-hex-secret' })).toThrow(/^(?!.*not-hex-secret).*hex digits/);
    expect(() => new LanplusTransport({ host: 'h', user: 'u', password: 'p', kg: 'ab'.repeat(21) })).toThrow(/at most 20 bytes/);
  });

  it('an idle transport does not keep Node alive, an in-flight request does', async () => {
    const { fake } = await setup();
    const script = fileURLToPath(new URL('./idle-exit.fixture.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../../../../../node_modules/.bin/tsx', import.meta.url));
    // The script never calls close(): it exits because nothing is left to wait for. One that did
    // not exit would be killed at execFile's timeout (a hang guard only), which rejects here.
    const { stdout } = await promisify(execFile)(tsx, [script, String(fake.port), String(await freePort())], { timeout: 15_000 });
    expect(stdout.trim().split('\n')).toEqual(['timeout', 'cc 0']);
  });
});
