// The command line as an operator uses it: `winrmd user add` from stdin, then `winrmd serve
// --config FILE` with an environment override, queried over a real socket, stopped by SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ntHash } from '../../src/auth/ntlm/crypto.js';
import { identify } from '../helpers/envelope.js';
import { NtlmTestClient } from '../helpers/ntlm-client.js';
import { basic } from '../helpers/server.js';
import { freePort } from '../helpers/ports.js';
import { eventually, processesWith, ShellClient } from '../helpers/shell-client.js';
import { xp } from '../helpers/xpath.js';

const root = new URL('../..', import.meta.url).pathname;
const cli = [path.join(root, 'node_modules/tsx/dist/cli.mjs'), path.join(root, 'src/main.ts')];

function winrmd(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) {
  const child = spawn(process.execPath, [...cli, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  if (opts.input !== undefined) child.stdin.end(opts.input);
  const done = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return { child, done, output: () => out };
}

describe('winrmd command line', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-cli-'));
  const config = path.join(dir, 'winrmd.yaml');
  writeFileSync(config, [
    'stateDir: ./state',
    'listeners:',
    '  http: { host: 127.0.0.1, port: 1 }', // overridden from the environment below
    '  https: { host: 127.0.0.1, port: 0 }',
    'service: { allowUnencrypted: true }',
  ].join('\n'));
  let server: ChildProcess | undefined;
  afterAll(() => server?.kill('SIGKILL'));

  it('adds a user from stdin, storing a salted hash and the NT hash, never the password', async () => {
    const run = winrmd(['user', 'add', 'carol', '--run-as', 'nobody', '--config', config], { input: 'carol-Pw-1\n' });
    expect(await run.done).toBe(0);
    expect(run.output()).toContain('user carol saved (runs as nobody; roles helper)');
    const db = readFileSync(path.join(dir, 'state', 'winrmd.db'));
    expect(db.includes(Buffer.from('carol-Pw-1'))).toBe(false);
    expect(db.includes(Buffer.from('carol-Pw-1', 'utf16le'))).toBe(false);
    expect(db.includes(Buffer.from(ntHash('carol-Pw-1').toString('hex')))).toBe(true);
    const list = winrmd(['user', 'list', '--config', config]);
    expect(await list.done).toBe(0);
    expect(list.output()).toContain('carol\trunAs=nobody\troles=helper\tntlm=yes');
  });

  it('cert generate writes a self-signed pair to stateDir, and replaces it only with --force', async () => {
    const certDir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-cert-'));
    const certConfig = path.join(certDir, 'winrmd.yaml');
    writeFileSync(certConfig, 'stateDir: ./state\n');
    const first = winrmd(['cert', 'generate', '--host', 'winrmd.example.test', '--config', certConfig]);
    expect(await first.done).toBe(0);
    const certFile = path.join(certDir, 'state', 'https-cert.pem');
    const cert = new X509Certificate(readFileSync(certFile));
    expect(cert.subjectAltName).toContain('DNS:winrmd.example.test');
    expect(first.output()).toContain(cert.fingerprint.replace(/:/g, ''));
    expect(statSync(path.join(certDir, 'state', 'https-key.pem')).mode & 0o077).toBe(0);
    const again = winrmd(['cert', 'generate', '--config', certConfig]);
    expect(await again.done).toBe(1);
    expect(again.output()).toContain('--force');
    const forced = winrmd(['cert', 'generate', '--force', '--config', certConfig]);
    expect(await forced.done).toBe(0);
    expect(new X509Certificate(readFileSync(certFile)).fingerprint).not.toBe(cert.fingerprint);
  }, 60_000);

  it('manages collector subscriptions: add, edit, show, export, import, status; mistakes in one line', async () => {
    const sub = (args: string[]) => winrmd(['subscription', ...args, '--config', config]);
    const source = winrmd(['user', 'add', 'WS01$', '--event-source', '--config', config], { input: 'ws01-Pw-1\n' });
    expect(await source.done).toBe(0);
    expect(source.output()).toContain('event source WS01$ saved');
    const users = winrmd(['user', 'list', '--config', config]);
    await users.done;
    expect(users.output()).toContain('WS01$\tevent source');
    const add = sub(['add', 'logons', '--channel', 'Security', '--event-id', '4624,4625', '--output', `json:${dir}/events/{source}.jsonl`, '--allow', 'ws*', '--enable']);
    expect(await add.done).toBe(0);
    expect(add.output()).toMatch(/subscription logons added \(enabled\), id [0-9a-f-]{36}, version [0-9a-f-]{36}/);
    const version = /version ([0-9a-f-]{36})/.exec(add.output())![1]!;
    const edit = sub(['edit', 'logons', '--format', 'RenderedText', '--heartbeat', '900']);
    expect(await edit.done).toBe(0);
    expect(edit.output()).not.toContain(version);
    const show = sub(['show', 'logons']);
    await show.done;
    expect(show.output()).toContain('contentFormat: RenderedText');
    expect(show.output()).toContain('heartbeatIntervalS: 900');
    expect(show.output()).toContain('(EventID=4624 or EventID=4625)');
    const exported = sub(['export']);
    expect(await exported.done).toBe(0);
    const file = path.join(dir, 'subscriptions.yaml');
    writeFileSync(file, exported.output().replaceAll('name: logons', 'name: logons-copy'));
    const imported = sub(['import', file]);
    expect(await imported.done).toBe(0);
    const list = sub(['list']);
    await list.done;
    expect(list.output()).toMatch(/logons\tenabled/);
    expect(list.output()).toMatch(/logons-copy\tenabled/);
    const status = sub(['status', 'logons']);
    expect(await status.done).toBe(0);
    expect(status.output()).toContain('logons (enabled): 0 source(s)');
    for (const [args, message] of [
      [['add', 'logons', '--channel', 'X'], 'exists; use edit'],
      [['add', 'bad', '--query', path.join(dir, 'missing.xml')], 'ENOENT'],
      [['add', 'bad', '--channel', 'X', '--output', 'kafka://x'], 'unknown kind kafka:'],
      [['add', 'bad', '--channel', 'X', '--output', 'nonsense'], 'give json:PATH'],
      [['show', 'nothing'], 'no subscription nothing'],
    ] as const) {
      const r = sub([...args]);
      expect(await r.done).toBe(2);
      expect(r.output()).toContain(message);
      expect(r.output()).not.toMatch(/\n\s+at /); // no stack trace
    }
  }, 120_000); // about twenty processes of the command line, one after another, on a loaded machine

  it('refuses an empty password', async () => {
    const run = winrmd(['user', 'add', 'dave', '--config', config], { input: '\n' });
    expect(await run.done).toBe(2);
  });

  it('serves with --config and an environment override, generates its certificate, stops on SIGTERM', async () => {
    const port = await freePort();
    const run = winrmd(['serve', '--config', config], { env: { WINRMD_LISTENERS__HTTP__PORT: String(port) } });
    server = run.child;
    // Start-up compiles TypeScript and generates an RSA key: allow for a loaded machine.
    const deadline = Date.now() + 60_000;
    while (!/"scheme":"https"/.test(run.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(run.output()).toContain(`"port":${port}`);
    expect(run.output()).toContain('certificate_generated');
    const res = await fetch(`http://127.0.0.1:${port}/wsman`, {
      method: 'POST',
      headers: { Authorization: basic({ user: 'carol', password: 'carol-Pw-1' }), 'Content-Type': 'application/soap+xml;charset=UTF-8' },
      body: identify(),
    });
    expect(res.status).toBe(200);
    expect(xp(await res.text(), '//wsmid:ProductVendor')).toBe('winrmd');
    const bad = await fetch(`http://127.0.0.1:${port}/wsman`, { method: 'POST', body: identify() });
    expect(bad.status).toBe(401);
    expect(run.output()).not.toContain('carol-Pw-1');
    // The user the command line added authenticates with NTLM too, sealed over HTTP.
    const ntlm = new NtlmTestClient(`http://127.0.0.1:${port}/wsman`);
    expect((await ntlm.handshake({ user: 'carol', password: 'carol-Pw-1' })).status).toBe(200);
    expect(xp((await ntlm.post(identify())).text, '//wsmid:ProductVendor')).toBe('winrmd');
    ntlm.close();
    // A shell with a running command: SIGTERM to winrmd ends it too.
    const post = async (xml: string, auth?: string | null) => {
      const r = await fetch(`http://127.0.0.1:${port}/wsman`, { method: 'POST', headers: { Authorization: auth ?? '', 'Content-Type': 'application/soap+xml;charset=UTF-8' }, body: xml });
      return { status: r.status, text: await r.text() };
    };
    const carol = new ShellClient(post, { user: 'carol', password: 'carol-Pw-1' });
    await carol.command(await carol.create(), 'sleep 312');
    expect(await eventually(() => processesWith('sleep 312'), (p) => p.length === 1)).toHaveLength(1);
    run.child.kill('SIGTERM');
    expect(await run.done).toBe(0);
    expect(await processesWith('sleep 312')).toEqual([]);
    expect(readFileSync(path.join(dir, 'state', 'https-key.pem'), 'utf8')).toContain('PRIVATE KEY');
  }, 90_000);

  it('after kill -9 a shell\'s processes live on; the next start kills them, and leaves those of a server that runs', async () => {
    const serve = async () => {
      const port = await freePort();
      const run = winrmd(['serve', '--config', config], { env: { WINRMD_LISTENERS__HTTP__PORT: String(port) } });
      server = run.child;
      const deadline = Date.now() + 60_000;
      while (!/"scheme":"https"/.test(run.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const post = async (xml: string, auth?: string | null) => {
        const r = await fetch(`http://127.0.0.1:${port}/wsman`, { method: 'POST', headers: { Authorization: auth ?? '', 'Content-Type': 'application/soap+xml;charset=UTF-8' }, body: xml });
        return { status: r.status, text: await r.text() };
      };
      return { run, carol: new ShellClient(post, { user: 'carol', password: 'carol-Pw-1' }) };
    };
    const first = await serve();
    await first.carol.command(await first.carol.create(), 'sleep 316 & sleep 316');
    expect(await eventually(() => processesWith('sleep 316'), (p) => p.length === 2)).toHaveLength(2);
    // The server's own pid from its log (tsx runs it as a child of the process spawned here).
    process.kill(Number(/"pid":(\d+)/.exec(first.run.output())![1]), 'SIGKILL');
    await first.run.done;
    // Orphaned to init, still running: looked at at once, since any winrmd another suite starts
    // meanwhile sweeps them (a stress run once lost this race while the test waited 300 ms).
    expect(await processesWith('sleep 316')).toHaveLength(2);

    const second = await serve();
    // Gone once a server has started again. The sweep takes every dead server's orphans on the
    // host, so the one that did it may be another suite's server started meanwhile (their shell
    // providers sweep at load too): which one swept is not asserted, only that they went.
    expect(await eventually(() => processesWith('sleep 316'), (p) => p.length === 0)).toEqual([]);
    // A third server sweeps too, but the second still runs: its commands are left alone.
    await second.carol.command(await second.carol.create(), 'sleep 317');
    const third = await serve();
    await new Promise((r) => setTimeout(r, 300));
    expect(await processesWith('sleep 317')).toHaveLength(1);
    expect(third.run.output()).not.toContain('orphans_swept');
    third.run.child.kill('SIGTERM');
    second.run.child.kill('SIGTERM');
    await Promise.all([second.run.done, third.run.done]);
    expect(await processesWith('sleep 317')).toEqual([]);
  }, 120_000);

  it('a bad configuration is a clear error, not a stack trace', async () => {
    const run = winrmd(['serve', '--config', config], { env: { WINRMD_LIMITS__MAX_ENVELOPE_SIZE_KB: 'lots' } });
    expect(await run.done).toBe(1);
    expect(run.output()).toMatch(/invalid configuration:\n\S+: limits\.maxEnvelopeSizeKb: /);
    expect(run.output()).not.toContain('    at ');
  });
});
