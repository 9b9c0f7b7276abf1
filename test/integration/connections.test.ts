// Connection slots under hostile clients (issue 12, part B 2): a client that does not
// authenticate must not hold any of maxConnections for long, and one address must not take them
// all. Real sockets on loopback; other addresses of 127.0.0.0/8 stand in for other clients.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type Winrmd } from '../../src/server.js';
import { identify } from '../helpers/envelope.js';
import { ALICE, basic, NO_LOCKOUT, testUsers } from '../helpers/server.js';
import { negotiateMessage } from '../helpers/ntlm-client.js';

const PER_ADDRESS = 8;
const IDLE_MS = 600;

/** A raw HTTP/1.1 connection from `from`, keeping everything the server sends and when it closed. */
function connect(port: number, from: string) {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
  const state = { text: '', closed: false };
  socket.on('data', (d) => (state.text += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => { state.closed = true; resolve(); }));
  const connected = new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  return { socket, state, closed, connected };
}

const post = (headers: Record<string, string>, body: string, sendBody = body) =>
  `POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${sendBody}`;

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))]);

describe('connection slots', () => {
  let server: Winrmd;
  let port: number;
  let httpsPort: number;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-conns-'));

  beforeAll(async () => {
    const config = configSchema.parse({
      stateDir,
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } },
      service: { allowUnencrypted: true },
      security: NO_LOCKOUT,
      logging: { level: 'silent' },
      limits: { maxConnections: 3 * PER_ADDRESS, maxUnauthenticatedConnectionsPerAddress: PER_ADDRESS, unauthenticatedIdleMs: IDLE_MS },
    });
    server = await startServer({ config, users: await testUsers() });
    port = server.httpPort!;
    httpsPort = server.httpsPort!;
  });
  afterAll(async () => {
    await server.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('a 401 that is not a handshake leg closes the connection, without reading the rest of the body', async () => {
    const c = connect(port, '127.0.0.2');
    await c.connected;
    const body = identify();
    // Half the body, then silence: before, the 401 came and the body was still awaited for requestTimeoutMs.
    c.socket.write(post({ Authorization: basic({ user: 'alice', password: 'wrong' }) }, body + ' '.repeat(10_000), body));
    await within(c.closed, 2_000, 'the server closing the connection');
    expect(c.state.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(c.state.text).toMatch(/\r\nConnection: close\r\n/i);
  });

  it('a connection left after an NTLM challenge is closed after unauthenticatedIdleMs', async () => {
    const c = connect(port, '127.0.0.2');
    await c.connected;
    const started = Date.now();
    c.socket.write(post({ Authorization: `Negotiate ${negotiateMessage().toString('base64')}` }, identify()));
    await within(c.closed, IDLE_MS + 3_000, 'the idle handshake being closed');
    expect(c.state.text).toMatch(/^HTTP\/1\.1 401 [^]*WWW-Authenticate: Negotiate TlRMTVNTUAAC/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_MS - 50);
  });

  it('a request with no credential keeps its connection for the handshake that follows, but only for unauthenticatedIdleMs', async () => {
    const c = connect(port, '127.0.0.2');
    await c.connected;
    const started = Date.now();
    c.socket.write(post({}, identify()));
    await within(c.closed, IDLE_MS + 3_000, 'the silent connection being closed');
    expect(c.state.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(c.state.text).not.toMatch(/\r\nConnection: close\r\n/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_MS - 50);
  });

  it('one address cannot take every slot with connections that do not authenticate: past the bound they are closed at once, and others still get in', async () => {
    const silent = Array.from({ length: PER_ADDRESS + 4 }, () => connect(port, '127.0.0.3'));
    await Promise.all(silent.map((c) => c.connected.catch(() => undefined)));
    // The extra ones are closed at once; the first PER_ADDRESS wait for their headers.
    await within(Promise.all(silent.slice(PER_ADDRESS).map((c) => c.closed)), 2_000, 'the extra connections being closed');
    await new Promise((r) => setTimeout(r, 100));
    expect(silent.filter((c) => !c.state.closed)).toHaveLength(PER_ADDRESS);

    const other = connect(port, '127.0.0.4');
    await other.connected;
    other.socket.write(post({ Authorization: basic(ALICE) }, identify()));
    await within(new Promise<void>((resolve) => { const t = setInterval(() => { if (/<\/s:Envelope>/.test(other.state.text)) { clearInterval(t); resolve(); } }, 10); }), 5_000, 'an Identify from another address');
    expect(other.state.text).toMatch(/^HTTP\/1\.1 200 /);
    other.socket.destroy();
    for (const c of silent) c.socket.destroy();
  });

  it('over HTTPS too: authenticated connections no longer count against the address', async () => {
    const many: tls.TLSSocket[] = [];
    try {
      for (let i = 0; i < PER_ADDRESS + 4; i++) {
        const socket = tls.connect({ socket: net.connect({ host: '127.0.0.1', port: httpsPort, localAddress: '127.0.0.6' }), rejectUnauthorized: false });
        many.push(socket);
        let text = '';
        socket.on('data', (d) => (text += d.toString('latin1')));
        await within(new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); }), 5_000, 'a TLS handshake');
        socket.write(post({ Authorization: basic(ALICE) }, identify()));
        await within(new Promise<void>((resolve) => { const t = setInterval(() => { if (/<\/s:Envelope>/.test(text)) { clearInterval(t); resolve(); } }, 5); }), 5_000, 'an authenticated Identify over TLS');
        expect(text).toMatch(/^HTTP\/1\.1 200 /);
      }
    } finally {
      for (const socket of many) socket.destroy();
    }
  });

  it('connections that authenticated no longer count: one address may hold more of them than the bound', async () => {
    const many: ReturnType<typeof connect>[] = [];
    for (let i = 0; i < PER_ADDRESS + 4; i++) {
      const c = connect(port, '127.0.0.5');
      many.push(c);
      await c.connected;
      c.socket.write(post({ Authorization: basic(ALICE) }, identify()));
      await within(new Promise<void>((resolve) => { const t = setInterval(() => { if (/<\/s:Envelope>/.test(c.state.text)) { clearInterval(t); resolve(); } }, 5); }), 5_000, 'an authenticated Identify');
    }
    expect(many.filter((c) => c.state.closed)).toHaveLength(0);
    expect(many.every((c) => /^HTTP\/1\.1 200 /.test(c.state.text))).toBe(true);
    for (const c of many) c.socket.destroy();
  });
});
