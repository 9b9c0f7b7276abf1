// Win32_Process against the test's own process, and Create / Terminate for real: as `nobody`
// when the tests run as root (the branch this machine takes), as the current user otherwise.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Caller } from '../../../../src/provider-api.js';
import { enumerate, get, makeInvoke, provider } from './helpers.js';

const isRoot = process.getuid!() === 0;
const self = os.userInfo().username;
/** The account Create runs as in these tests: nobody under root, else ourselves. */
const runAs = isRoot ? 'nobody' : self;
const caller = (over: Partial<Caller> = {}): Caller => ({
  user: 'alice',
  runAs,
  clientAddress: '127.0.0.1',
  ...over,
});

function uidOf(name: string): number {
  return Number(execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':')[2]);
}

function create(input: Record<string, string | null>, over: Partial<Caller> = {}) {
  return provider.invoke!(makeInvoke('Win32_Process', 'Create', input, { caller: caller(over) }));
}

function terminate(handle: string, over: Partial<Caller> = {}) {
  return provider.invoke!(makeInvoke('Win32_Process', 'Terminate', {}, { caller: caller(over), selectors: { Handle: handle } }));
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A file's text once a child process has written its line, trimmed. */
function lineWritten(file: string): Promise<string> {
  return waitFor(path.basename(file), () => {
    try {
      const t = readFileSync(file, 'utf8');
      return t.endsWith('\n') ? t.trim() : undefined;
    } catch {
      return undefined;
    }
  });
}

// A directory every account may write to, so a process running as nobody can leave files.
const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-os-'));
chmodSync(dir, 0o777);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Win32_Process enumerate and get', () => {
  it('lists this process with its real parent, executable and start', async () => {
    const procs = await enumerate('Win32_Process');
    const me = procs.find((p) => p.properties.ProcessId === process.pid);
    expect(me).toBeDefined();
    const p = me!.properties;
    expect(p.Handle).toBe(String(process.pid));
    expect(p.ParentProcessId).toBe(process.ppid);
    expect(p.ExecutablePath).toBe(realpathSync(process.execPath));
    expect(p.CSName).toBe(os.hostname());
    expect(p.ThreadCount as number).toBeGreaterThanOrEqual(1);
    expect(p.WorkingSetSize as number).toBeGreaterThan(0);
    const started = Date.now() - process.uptime() * 1000;
    expect(Math.abs((p.CreationDate as Date).getTime() - started)).toBeLessThan(3000);
    // Every listed parent is itself a real process id (or 0, the kernel).
    expect(procs.every((q) => Number.isInteger(q.properties.ParentProcessId))).toBe(true);
  });

  it('gets one process by Handle, the selector name in any case', async () => {
    const inst = await get('Win32_Process', { handle: String(process.pid) });
    expect(inst.properties.ProcessId).toBe(process.pid);
    expect(inst.properties.ParentProcessId).toBe(process.ppid);
  });

  it('answers NOT_FOUND for a pid that does not exist or is not a pid', async () => {
    await expect(get('Win32_Process', { Handle: '999999999' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(get('Win32_Process', { Handle: 'abc' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(get('Win32_Process', { Handle: ` ${process.pid}` })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(get('Win32_Process', {})).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
  });
});

describe('Win32_Process.Create', () => {
  it.runIf(isRoot)('runs the command line as nobody in CurrentDirectory', async () => {
    const out = await create({ CommandLine: 'id -u > uid.txt; pwd > cwd.txt', CurrentDirectory: dir });
    expect(out.ReturnValue).toBe(0);
    expect(out.ProcessId).toEqual(expect.any(Number));
    const file = path.join(dir, 'cwd.txt');
    expect(await lineWritten(file)).toBe(dir);
    expect(statSync(file).uid).toBe(uidOf('nobody'));
    expect(await lineWritten(path.join(dir, 'uid.txt'))).toBe(String(uidOf('nobody')));
  }, 10_000);

  it('starts in the account home, or / when it has none', async () => {
    const out = await create({ CommandLine: `pwd > ${dir}/home-${runAs}.txt` });
    expect(out.ReturnValue).toBe(0);
    const text = await lineWritten(path.join(dir, `home-${runAs}.txt`));
    const home = execFileSync('getent', ['passwd', runAs], { encoding: 'utf8' }).trim().split(':')[5]!;
    expect(text).toBe(statSync(home, { throwIfNoEntry: false })?.isDirectory() ? home : '/');
  });

  it('runs detached, in its own process group, with a clean environment', async () => {
    const out = await create({ CommandLine: `env > ${dir}/env.txt; ps -o pgid= -p $$ > ${dir}/pgid.txt` });
    const pid = out.ProcessId as number;
    expect(Number(await lineWritten(path.join(dir, 'pgid.txt')))).toBe(pid);
    const env = readFileSync(path.join(dir, 'env.txt'), 'utf8');
    expect(env).toContain(`USER=${runAs}`);
    expect(env).not.toContain('VITEST');
  });

  it('returns 9 for a CurrentDirectory that does not exist, and 21 for an empty CommandLine', async () => {
    expect(await create({ CommandLine: 'true', CurrentDirectory: path.join(dir, 'missing') })).toEqual({
      ProcessId: null,
      ReturnValue: 9,
    });
    expect(await create({ CommandLine: 'true', CurrentDirectory: 'relative/dir' })).toMatchObject({ ReturnValue: 9 });
    expect(await create({ CommandLine: '' })).toEqual({ ProcessId: null, ReturnValue: 21 });
    expect(await create({ CommandLine: null })).toMatchObject({ ReturnValue: 21 });
  });

  it('refuses an account that does not exist, or a name getent would read as an option', async () => {
    await expect(create({ CommandLine: 'true' }, { runAs: 'no-such-user-winrmd' })).rejects.toMatchObject({
      code: 'ACCESS_DENIED',
    });
    await expect(create({ CommandLine: 'true' }, { runAs: '--help' })).rejects.toMatchObject({ code: 'ACCESS_DENIED' });
  });

  it('refuses another account when winrmd is not root (as root: switches to it)', async () => {
    if (isRoot) {
      // The root branch of the same rule: another account is switched to, not refused.
      const out = await create({ CommandLine: `id -u > ${dir}/switch.txt` }, { runAs: 'nobody' });
      expect(out.ReturnValue).toBe(0);
      expect(await lineWritten(path.join(dir, 'switch.txt'))).toBe(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
      return;
    }
    const other = execFileSync('getent', ['passwd'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f.length >= 7 && f[2] !== '0' && f[0] !== self)![0]!;
    await expect(create({ CommandLine: 'true' }, { runAs: other })).rejects.toMatchObject({
      code: 'ACCESS_DENIED',
      message: `winrmd is not running as root and cannot start processes as ${other}`,
    });
  });

  // Whether a caller may use root is the access policy's (test/integration/policy.test.ts).
  it.runIf(isRoot)('runs as root when the caller\'s account is root', async () => {
    const out = await create({ CommandLine: `id -u > ${dir}/root.txt` }, { runAs: 'root' });
    expect(out.ReturnValue).toBe(0);
    expect(await lineWritten(path.join(dir, 'root.txt'))).toBe('0');
  });
});

describe('Win32_Process.Terminate', () => {
  it('terminates a process it created', async () => {
    const out = await create({ CommandLine: 'exec sleep 60' });
    const handle = String(out.ProcessId);
    const p = (await get('Win32_Process', { Handle: handle })).properties;
    expect(p.ParentProcessId).toBe(process.pid);
    expect(await terminate(handle)).toEqual({ ReturnValue: 0 });
    // Gone once reaped: Node reaps its children.
    await waitFor('the process to go', () =>
      get('Win32_Process', { Handle: handle }).then(
        () => undefined,
        (err: { code?: string }) => (err.code === 'NOT_FOUND' ? true : undefined),
      ),
    );
  });

  it.runIf(isRoot)("returns 2 for another account's process", async () => {
    // This test process runs as root; the caller's account is nobody.
    expect(await terminate(String(process.pid))).toEqual({ ReturnValue: 2 });
  });

  it('answers NOT_FOUND for a missing pid, and needs the Handle selector', async () => {
    await expect(terminate('999999999')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      provider.invoke!(makeInvoke('Win32_Process', 'Terminate', {}, { caller: caller() })),
    ).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
  });
});
