// The WinRS shell in process (MS-WSMV 3.1.4.11-14, winrm-wire.md "The remote shell"): real
// commands as the caller's account, long-poll Receive, streams, signals, quotas, ownership, and
// no process left behind however a shell ends. Interop with the real clients is in test/interop.
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShellProvider } from '../../providers/shell/index.js';
import { KEEP_FINISHED } from '../../providers/shell/shells.js';
import { configSchema } from '../../src/config/schema.js';
import { ACTIONS, enumerateBody, envelope, pullBody, URI } from '../helpers/envelope.js';
import { ALICE, BOB, testServer } from '../helpers/server.js';
import { eventually, processesWith, RSP, SHELL_ACTION, SHELL_URI, ShellClient, SIGNAL } from '../helpers/shell-client.js';
import { xp, xpAll } from '../helpers/xpath.js';

type Server = Awaited<ReturnType<typeof testServer>>;

async function shellServer(shell: Record<string, unknown> = {}) {
  const provider = createShellProvider(configSchema.parse({ shell }).shell);
  const s = await testServer({}, [provider]);
  const post = async (xml: string, auth?: string | null) => {
    const r = await s.post(xml, auth);
    return { status: r.status, text: r.body as string };
  };
  return { s, provider, alice: new ShellClient(post, ALICE), bob: new ShellClient(post, BOB) };
}

function fault(r: { status: number; text: string }) {
  return { status: r.status, subcode: xp(r.text, '//s:Subcode/s:Value'), code: xp(r.text, '//f:WSManFault/@Code'), text: xp(r.text, '//s:Reason/s:Text') };
}

describe('the cmd shell', () => {
  let s: Server;
  let alice: ShellClient;
  let bob: ShellClient;
  let tmp: string;

  beforeAll(async () => {
    ({ s, alice, bob } = await shellServer({ logCommandLines: false }));
    tmp = await mkdtemp(path.join(os.tmpdir(), 'winrmd-shell-'));
    await chmod(tmp, 0o755);
  });
  afterAll(async () => {
    await s.server.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('Create answers ResourceCreated with the ShellId selector and the shell beside it (MS-WSMV 3.1.4.11)', async () => {
    const r = await alice.request({ action: ACTIONS.create, options: { WINRS_CODEPAGE: '437' }, body: `<rsp:Shell xmlns:rsp="${RSP}"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>` });
    expect(r.status).toBe(200);
    expect(xp(r.text, '/s:Envelope/s:Header/a:Action')).toBe(`${ACTIONS.create}Response`);
    const id = xp(r.text, '//x:ResourceCreated/a:ReferenceParameters/w:SelectorSet/w:Selector[@Name="ShellId"]');
    expect(id).toMatch(/^[0-9A-F-]{36}$/);
    expect(xp(r.text, '//x:ResourceCreated/a:ReferenceParameters/w:ResourceURI')).toBe(SHELL_URI);
    expect(xp(r.text, '/s:Envelope/s:Body/rsp:Shell/rsp:ShellId')).toBe(id);
    expect(xp(r.text, '//rsp:Shell/rsp:Owner')).toBe('alice');
    await alice.delete(id);
  });

  it('runs a command line in a POSIX shell: stdout, stderr and the exit code', async () => {
    const out = await alice.run('echo out; echo err >&2; exit 3');
    expect(out.stdout.toString()).toBe('out\n');
    expect(out.stderr.toString()).toBe('err\n');
    expect(out.exitCode).toBe(3);
  });

  it('runs as the caller\'s mapped account, in its working directory, with its environment', async () => {
    const out = await alice.run('id -un; pwd; echo "$GREETING"', [], { workingDirectory: tmp, env: { GREETING: 'hello there' } });
    expect(out.stdout.toString()).toBe(`nobody\n${tmp}\nhello there\n`);
  });

  it('joins the arguments to the command as cmd.exe does, and `cmd /c X` runs X', async () => {
    expect((await alice.run('printf', ["'%s-%s|'", 'a', 'b'])).stdout.toString()).toBe('a-b|');
    expect((await alice.run('cmd /c echo via cmd')).stdout.toString()).toBe('via cmd\n');
    expect((await alice.run('CMD.EXE /C echo upper')).stdout.toString()).toBe('upper\n');
  });

  it('WINRS_SKIP_CMD_SHELL runs the program itself with its arguments, nothing expanded', async () => {
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, '/bin/echo', ['a  b', '$HOME'], { WINRS_SKIP_CMD_SHELL: 'TRUE' });
    expect((await alice.receiveAll(shellId, commandId)).stdout.toString()).toBe('a  b $HOME\n');
    const missing = fault(await alice.request({ action: SHELL_ACTION.command, selectors: { ShellId: shellId }, options: { WINRS_SKIP_CMD_SHELL: 'TRUE' }, body: alice.commandBody('winrmd-no-such-program') }));
    expect(missing).toMatchObject({ status: 500, subcode: 'w:InvalidParameter' });
    expect(missing.text).toMatch(/winrmd-no-such-program was not found/);
    await alice.delete(shellId);
  });

  it('binary output round-trips exactly, in order, across many Receives', async () => {
    // 3 MB of random bytes on stdout, their SHA-256 on stderr; 16 KB envelopes force many Receives.
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, 'f=$(mktemp); head -c 3000000 /dev/urandom >"$f"; cat "$f"; sha256sum <"$f" >&2; rm "$f"');
    const out = await alice.receiveAll(shellId, commandId, 'PT20S', 16384);
    expect(out.receives).toBeGreaterThan(100);
    expect(out.stdout.length).toBe(3_000_000);
    expect(out.stderr.toString().split(' ')[0]).toBe(createHash('sha256').update(out.stdout).digest('hex'));
    await alice.delete(shellId);
  });

  it('Receive long-polls, then answers TimedOut (2150858793, OperationTimeout in its text) before the deadline; nothing is lost', async () => {
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, 'sleep 1.5; echo late');
    const first = fault(await alice.receiveOnce(shellId, commandId, 'PT0.5S'));
    expect(first).toMatchObject({ status: 500, subcode: 'w:TimedOut', code: '2150858793' });
    expect(first.text).toContain('OperationTimeout');
    const out = await alice.receiveAll(shellId, commandId, 'PT0.5S');
    expect(out.timeouts).toBeGreaterThan(0);
    expect(out.stdout.toString()).toBe('late\n');
    await alice.delete(shellId);
  });

  it('stdin through Send, then End; a Send after End is refused', async () => {
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, 'tr a-z A-Z');
    await alice.send(shellId, commandId, 'hello ');
    await alice.send(shellId, commandId, 'world', true);
    expect((await alice.receiveAll(shellId, commandId)).stdout.toString()).toBe('HELLO WORLD');
    const again = fault(await alice.request({ action: SHELL_ACTION.send, selectors: { ShellId: shellId }, body: alice.sendBody(commandId, 'more') }));
    expect(again).toMatchObject({ status: 500, subcode: 'w:InvalidParameter' });
    await alice.delete(shellId);
  });

  it('a Receive pending on one connection does not hold back Send on another (the Go client\'s pattern)', async () => {
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, 'head -c 4');
    const pending = alice.receiveAll(shellId, commandId);
    await new Promise((r) => setTimeout(r, 100));
    await alice.send(shellId, commandId, 'ping', true);
    expect((await pending).stdout.toString()).toBe('ping');
    await alice.delete(shellId);
  });

  it('ctrl_c is SIGINT and ctrl_break SIGQUIT; codes compare without case', async () => {
    const shellId = await alice.create();
    for (const [code, trap, exit] of [[SIGNAL.ctrlC, 'INT', 5], [SIGNAL.ctrlBreak.toUpperCase().replace('HTTP://', 'http://'), 'QUIT', 6]] as const) {
      const commandId = await alice.command(shellId, `trap 'echo got ${trap}; exit ${exit}' ${trap}; echo ready; while :; do sleep 0.05; done`);
      const ready = await alice.receiveOnce(shellId, commandId);
      expect(Buffer.from(xp(ready.text, '//rsp:Stream[@Name="stdout"]'), 'base64').toString()).toBe('ready\n');
      await alice.signal(shellId, commandId, code);
      const out = await alice.receiveAll(shellId, commandId);
      expect(out.stdout.toString()).toBe(`got ${trap}\n`);
      expect(out.exitCode).toBe(exit);
    }
    await alice.delete(shellId);
  });

  it('terminate ends the command\'s whole process group, and a pending Receive gets Done', async () => {
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, 'sleep 301 & sleep 302 & wait');
    const sleeping = async () => [...(await processesWith('sleep 301')), ...(await processesWith('sleep 302'))];
    expect(await eventually(sleeping, (p) => p.length === 2)).toHaveLength(2);
    const pending = alice.receiveAll(shellId, commandId);
    await alice.signal(shellId, commandId, `${RSP}/signal/Terminate`);
    expect((await pending).exitCode).toBe(143); // 128 + SIGTERM
    expect(await eventually(sleeping, (p) => p.length === 0)).toEqual([]);
    // The Go client sends End after terminating: ignored quietly.
    await alice.send(shellId, commandId, '', true);
    await alice.delete(shellId);
  });

  it('terminate after Done (pywinrm\'s cleanup) ends what the command left running in its session', async () => {
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, 'sleep 314 >/dev/null 2>&1 & echo started');
    expect((await alice.receiveAll(shellId, commandId)).stdout.toString()).toBe('started\n');
    expect(await eventually(() => processesWith('sleep 314'), (p) => p.length === 1)).toHaveLength(1);
    await alice.signal(shellId, commandId, SIGNAL.terminate);
    expect(await eventually(() => processesWith('sleep 314'), (p) => p.length === 0)).toEqual([]);
    await alice.delete(shellId);
  });

  it('terminate escalates to SIGKILL after the grace period', async () => {
    const { s: s2, alice: a2 } = await shellServer({ terminateGraceMs: 200 });
    const shellId = await a2.create();
    const commandId = await a2.command(shellId, "trap '' TERM; echo ready; sleep 303");
    await a2.receiveOnce(shellId, commandId);
    await a2.signal(shellId, commandId, SIGNAL.terminate);
    expect((await a2.receiveAll(shellId, commandId)).exitCode).toBe(137); // 128 + SIGKILL
    expect(await eventually(() => processesWith('sleep 303'), (p) => p.length === 0)).toEqual([]);
    await s2.server.close();
  });

  it('back-pressure: a command that writes faster than the client reads is paused at the buffer bound', async () => {
    const { s: s2, alice: a2, provider: p2 } = await shellServer({ outputBufferKb: 64 });
    const shellId = await a2.create();
    const commandId = await a2.command(shellId, 'head -c 100000000 /dev/zero');
    await a2.receiveOnce(shellId, commandId);
    await new Promise((r) => setTimeout(r, 500));
    const cmd = p2.shells.ownedBy('alice')[0]!.commands.get(commandId)!;
    // The bound, plus what sits in the pipe and one read: nowhere near the 100 MB written.
    expect(cmd.bytesOut).toBeLessThan(1024 * 1024);
    expect(cmd.running).toBe(true);
    await a2.delete(shellId);
    await s2.server.close();
  });

  it('powershell -EncodedCommand runs under pwsh -NoProfile -NonInteractive when pwsh is there', async () => {
    // A stand-in pwsh that decodes its -EncodedCommand argument as PowerShell would (UTF-16LE).
    const fake = path.join(tmp, 'pwsh');
    await writeFile(fake, '#!/bin/sh\necho "$1 $2 $3"\nprintf %s "$4" | base64 -d | iconv -f UTF-16LE -t UTF-8\n');
    await chmod(fake, 0o755);
    const { s: s2, alice: a2 } = await shellServer({ pwsh: fake });
    const script = Buffer.from('Write-Output "hi"', 'utf16le').toString('base64');
    const out = await a2.run(`powershell -encodedcommand ${script}`);
    expect(out.stdout.toString()).toBe('-NoProfile -NonInteractive -EncodedCommand\nWrite-Output "hi"');
    expect((await a2.run(`PowerShell.exe -NoProfile -ExecutionPolicy Bypass -EncodedCommand ${script}`)).exitCode).toBe(0);
    await s2.server.close();
  });

  it('powershell without pwsh on the PATH: a clear error on stderr and exit code 127, no hang', async () => {
    const { s: s2, alice: a2 } = await shellServer({ pwsh: 'winrmd-no-such-pwsh' });
    const out = await a2.run(`powershell -encodedcommand ${Buffer.from('1', 'utf16le').toString('base64')}`);
    expect(out.exitCode).toBe(127);
    expect(out.stderr.toString()).toMatch(/no PowerShell: "winrmd-no-such-pwsh" is not on the PATH/);
    await s2.server.close();
  });

  it('enumerates the caller\'s shells only, with Windows\' fields; Get one; Delete closes it', async () => {
    const mine = [await alice.create(), await alice.create()];
    const theirs = await bob.create();
    const r = await alice.request({ action: ACTIONS.enumerate, resourceUri: RSP, body: enumerateBody({ optimize: true, maxElements: 50 }) });
    expect(r.status, r.text).toBe(200);
    expect(xpAll(r.text, '//w:Items/rsp:Shell/rsp:ShellId').sort()).toEqual([...mine].sort());
    for (const field of ['ShellId', 'ResourceUri', 'Owner', 'ClientIP', 'ProcessId', 'IdleTimeOut', 'InputStreams', 'OutputStreams', 'State', 'ShellRunTime', 'ShellInactivity']) {
      expect(xp(r.text, `count(//w:Items/rsp:Shell[1]/rsp:${field})`), field).toBe('1');
    }
    expect(xp(r.text, '//w:Items/rsp:Shell[1]/rsp:IdleTimeOut')).toBe('PT180.000S');
    expect(xp(r.text, '//w:Items/rsp:Shell[1]/rsp:ShellRunTime')).toMatch(/^P0DT0H0M\d+S$/);
    // The EPR form, paged through Pull.
    const eprs = await alice.request({ action: ACTIONS.enumerate, resourceUri: RSP, body: enumerateBody({ mode: 'EnumerateEPR' }) });
    const pulled = await alice.request({ action: ACTIONS.pull, resourceUri: RSP, body: pullBody(xp(eprs.text, '//n:EnumerationContext'), 10) });
    expect(xpAll(pulled.text, '//w:Selector[@Name="ShellId"]').sort()).toEqual([...mine].sort());

    const got = await alice.request({ action: ACTIONS.get, selectors: { ShellId: mine[0]! } });
    expect(xp(got.text, '/s:Envelope/s:Body/rsp:Shell/rsp:ShellId')).toBe(mine[0]);
    for (const id of mine) await alice.delete(id);
    expect(fault(await alice.request({ action: ACTIONS.get, selectors: { ShellId: mine[0]! } }))).toMatchObject({ subcode: 'w:InvalidSelectors', code: '2150858843' });
    await bob.delete(theirs);
  });

  it('another user\'s shell: every operation is AccessDenied and the shell is untouched', async () => {
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, 'sleep 304');
    const attempts = [
      { action: ACTIONS.get, selectors: { ShellId: shellId } },
      { action: SHELL_ACTION.command, selectors: { ShellId: shellId }, body: bob.commandBody('id') },
      { action: SHELL_ACTION.send, selectors: { ShellId: shellId }, body: bob.sendBody(commandId, 'x') },
      { action: SHELL_ACTION.receive, selectors: { ShellId: shellId }, body: bob.receiveBody(commandId) },
      { action: SHELL_ACTION.signal, selectors: { ShellId: shellId }, body: bob.signalBody(commandId, SIGNAL.terminate) },
      { action: ACTIONS.delete, selectors: { ShellId: shellId } },
    ];
    for (const a of attempts) expect(fault(await bob.request(a)), a.action).toMatchObject({ status: 500, subcode: 'w:AccessDenied' });
    expect(await eventually(() => processesWith('sleep 304'), (p) => p.length === 1)).toHaveLength(1);
    await alice.delete(shellId);
    expect(await eventually(() => processesWith('sleep 304'), (p) => p.length === 0)).toEqual([]);
  });

  it('faults: unknown ShellId, unknown CommandId, a bad signal code, an unknown action, a missing working directory', async () => {
    const shellId = await alice.create();
    const unknownShell = fault(await alice.request({ action: SHELL_ACTION.receive, selectors: { ShellId: '00000000-0000-0000-0000-000000000000' }, body: alice.receiveBody('X') }));
    expect(unknownShell).toMatchObject({ status: 500, subcode: 'w:InvalidSelectors', code: '2150858843' });
    expect(unknownShell.text).toMatch(/shell was not found/);
    expect(fault(await alice.request({ action: SHELL_ACTION.receive, body: alice.receiveBody('X') }))).toMatchObject({ subcode: 'w:InvalidSelectors' });
    expect(fault(await alice.request({ action: SHELL_ACTION.receive, selectors: { ShellId: shellId }, body: alice.receiveBody('NOPE') }))).toMatchObject({ subcode: 'w:InvalidParameter' });
    const commandId = await alice.command(shellId, 'true');
    expect(fault(await alice.request({ action: SHELL_ACTION.signal, selectors: { ShellId: shellId }, body: alice.signalBody(commandId, `${RSP}/signal/bogus`) }))).toMatchObject({ subcode: 'w:InvalidParameter' });
    expect(fault(await alice.request({ action: `${RSP}/Disconnect`, selectors: { ShellId: shellId }, body: '<x/>' }))).toMatchObject({ subcode: 'a:ActionNotSupported' });
    expect(fault(await alice.request({ action: SHELL_ACTION.command, selectors: { ShellId: shellId }, body: '<rsp:CommandLine xmlns:rsp="' + RSP + '"/>' }))).toMatchObject({ subcode: 'w:InvalidParameter' });
    expect(fault(await alice.request({ action: ACTIONS.create, body: `<rsp:Shell xmlns:rsp="${RSP}"><rsp:WorkingDirectory>/no/such/dir</rsp:WorkingDirectory></rsp:Shell>` }))).toMatchObject({ subcode: 'w:InvalidParameter' });
    expect(fault(await alice.request({ action: ACTIONS.enumerate, resourceUri: RSP, body: enumerateBody({ wql: 'SELECT * FROM Shell' }) }))).toMatchObject({ subcode: 'n:CannotProcessFilter' });
    await alice.delete(shellId);
  });

  it('logs every shell and command with user, client, exit code and duration, and no command line by default', async () => {
    await alice.run('echo secret-token-123; exit 4');
    const events = s.logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const exited = events.find((e) => e.event === 'command_exited' && e.exitCode === 4);
    expect(exited).toMatchObject({ user: 'alice', client: expect.any(String), exitCode: 4, ms: expect.any(Number) });
    expect(events.some((e) => e.event === 'shell_created' && e.user === 'alice')).toBe(true);
    expect(events.some((e) => e.event === 'shell_closed' && e.reason === 'delete')).toBe(true);
    expect(s.logLines.join('\n')).not.toContain('secret-token-123');

    const { s: s2, alice: a2 } = await shellServer({ logCommandLines: true });
    await a2.run('echo logged-line; exit 0');
    expect(s2.logLines.some((l) => l.includes('"commandLine":"echo logged-line; exit 0"'))).toBe(true);
    await s2.server.close();
  });
});

describe('shell quotas and endings', () => {
  it('MaxShellsPerUser, MaxConcurrentUsers and MaxProcessesPerShell are QuotaLimit faults naming the limit', async () => {
    const { s, alice, bob } = await shellServer({ maxShellsPerUser: 2, maxConcurrentUsers: 1, maxProcessesPerShell: 1 });
    const a = await alice.create();
    await alice.create();
    const shells = fault(await alice.request({ action: ACTIONS.create, body: `<rsp:Shell xmlns:rsp="${RSP}"/>` }));
    expect(shells).toMatchObject({ status: 500, subcode: 'w:QuotaLimit', code: '2150859173' });
    expect(shells.text).toMatch(/MaxShellsPerUser = 2/);
    const users = fault(await bob.request({ action: ACTIONS.create, body: `<rsp:Shell xmlns:rsp="${RSP}"/>` }));
    expect(users).toMatchObject({ subcode: 'w:QuotaLimit', code: '2150859179' });
    expect(users.text).toMatch(/MaxConcurrentUsers = 1/);
    await alice.command(a, 'sleep 305');
    const procs = fault(await alice.request({ action: SHELL_ACTION.command, selectors: { ShellId: a }, body: alice.commandBody('true') }));
    expect(procs).toMatchObject({ subcode: 'w:QuotaLimit' });
    expect(procs.text).toMatch(/MaxProcessesPerShell = 1/);
    await s.server.close();
    expect(await eventually(() => processesWith('sleep 305'), (p) => p.length === 0)).toEqual([]);
  });

  it('an idle shell is closed and its processes killed; a shell being served is not idle', async () => {
    const { s, alice, provider } = await shellServer({ idleTimeoutMs: 400 });
    const idle = await alice.create();
    await alice.command(idle, 'sleep 306');
    const served = await alice.create();
    const commandId = await alice.command(served, 'sleep 1; echo done');
    // A Receive long-polling past the idle timeout keeps its shell.
    expect((await alice.receiveAll(served, commandId, 'PT0.3S')).stdout.toString()).toBe('done\n');
    expect(await eventually(() => processesWith('sleep 306'), (p) => p.length === 0)).toEqual([]);
    expect(provider.shells.ownedBy('alice').map((x) => x.id)).not.toContain(idle);
    expect(s.logLines.some((l) => l.includes('"reason":"idle"'))).toBe(true);
    await s.server.close();
  });

  it('a client that hangs up mid-Receive leaves a working shell, closed later by its idle timeout', async () => {
    const { s, alice } = await shellServer({ idleTimeoutMs: 300 });
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, 'sleep 307');
    const { default: request } = await import('supertest');
    const { envelope } = await import('../helpers/envelope.js');
    const { basic } = await import('../helpers/server.js');
    const xml = envelope({ action: SHELL_ACTION.receive, resourceUri: SHELL_URI, selectors: { ShellId: shellId }, body: alice.receiveBody(commandId) });
    await expect(request(s.http).post('/wsman').set('Authorization', basic(ALICE)).set('Content-Type', 'application/soap+xml').timeout(100).send(xml)).rejects.toThrow();
    expect(await eventually(() => processesWith('sleep 307'), (p) => p.length === 0)).toEqual([]);
    await s.server.close();
  });

  it('MaxMemoryPerShellMB: past the bound a command is killed, and a process that left its session still ends with the shell', async () => {
    const { s, alice, provider } = await shellServer({ maxMemoryPerShellMb: 32 });
    if (provider.memoryBound) {
      expect((await alice.run("python3 -c 'b = bytearray(8 * 1024 * 1024); print(len(b))'")).stdout.toString()).toBe('8388608\n');
      expect((await alice.run("python3 -c 'b = bytearray(200 * 1024 * 1024)'")).exitCode).toBe(137); // the OOM killer's SIGKILL
      const shellId = await alice.create();
      await alice.receiveAll(shellId, await alice.command(shellId, 'setsid sleep 313 </dev/null >/dev/null 2>&1 &'));
      expect(await eventually(() => processesWith('sleep 313'), (p) => p.length === 1)).toHaveLength(1);
      await alice.delete(shellId);
      expect(await processesWith('sleep 313')).toEqual([]);
    } else {
      // Where the host has no usable memory cgroup, the operator is told once, at start.
      expect(s.logLines.some((l) => l.includes('"event":"shell_memory_unbounded"'))).toBe(true);
    }
    await s.server.close();
  });

  it('server shutdown ends every command of every shell', async () => {
    const { s, alice, bob } = await shellServer();
    await alice.command(await alice.create(), 'sleep 308 & sleep 308');
    await bob.command(await bob.create(), 'sleep 308');
    expect(await eventually(() => processesWith('sleep 308'), (p) => p.length === 3)).toHaveLength(3);
    await s.server.close();
    expect(await processesWith('sleep 308')).toEqual([]);
  });
});

describe('bounds a hostile client meets (issue 12, part B)', () => {
  it('without cgroups (shell.cgroups false, or a host without the pids controller), RLIMIT_NPROC bounds what a command forks', async () => {
    const { s, alice, provider } = await shellServer({ cgroups: false, maxTasksPerShell: 5, maxShellsPerUser: 1 });
    try {
      expect(provider.processBound).toBe('rlimit nproc');
      expect(s.logLines.some((l) => l.includes('"event":"shell_processes_bounded"') && l.includes('"max":5'))).toBe(true);
      const shellId = await alice.create();
      const out = await alice.receiveAll(shellId, await alice.command(shellId, 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 324 >/dev/null 2>&1 & done; echo forked'));
      expect(out.stderr.toString()).toMatch(/fork/i);
      expect((await processesWith('sleep 324')).length).toBeLessThanOrEqual(4);
      await alice.delete(shellId);
      expect(await eventually(() => processesWith('sleep 324'), (p) => p.length === 0)).toEqual([]);
    } finally {
      await s.server.close();
    }
  });

  it('shell.maxTasksPerShell bounds everything a shell\'s commands start (a fork bomb), where the pids controller can be used', async () => {
    const { s, alice, provider } = await shellServer({ maxTasksPerShell: 5 });
    try {
      if (provider.processBound) {
        const shellId = await alice.create();
        const out = await alice.receiveAll(shellId, await alice.command(shellId, 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 323 >/dev/null 2>&1 & done; echo forked'));
        // The shell's sh gets its fork refused (EAGAIN) and stops there.
        expect(out.stderr.toString()).toMatch(/fork/i);
        expect(out.exitCode).not.toBe(0);
        // The shell's sh and its sleeps: five processes at most.
        expect((await processesWith('sleep 323')).length).toBeLessThanOrEqual(4);
        expect(s.logLines.some((l) => l.includes('"event":"shell_processes_bounded"'))).toBe(true);
        await alice.delete(shellId);
        expect(await eventually(() => processesWith('sleep 323'), (p) => p.length === 0)).toEqual([]);
      } else {
        // Where the host has no pids controller, the operator is told once, at start.
        expect(s.logLines.some((l) => l.includes('"event":"shell_processes_unbounded"'))).toBe(true);
      }
    } finally {
      await s.server.close();
    }
  });

  it('output nobody Receives is bounded per user (shell.maxOutputBufferPerUserMb); the commands wait and lose nothing', async () => {
    const { s, alice, provider } = await shellServer({ maxOutputBufferPerUserMb: 1, outputBufferKb: 1024 });
    try {
      const shellId = await alice.create();
      const ids = [];
      for (let i = 0; i < 6; i++) ids.push(await alice.command(shellId, 'head -c 3000000 /dev/zero'));
      const [mine] = provider.budgets.of(ALICE.user);
      await eventually(async () => mine!.heldBytes, (n) => n >= 1024 * 1024);
      await new Promise((r) => setTimeout(r, 300));
      // Each command may read one pipe's worth (64 KiB) past the bound before it pauses.
      expect(mine!.heldBytes).toBeLessThanOrEqual(1024 * 1024 + ids.length * 64 * 1024);
      for (const id of ids) expect((await alice.receiveAll(shellId, id)).stdout.length).toBe(3_000_000);
      expect(mine!.heldBytes).toBe(0);
    } finally {
      await s.server.close();
    }
  });

  it('a command line too long for execve(2) is InvalidParameter in a shell and ReturnValue 21 from Win32_Process.Create, not InternalError', async () => {
    const { s, alice } = await shellServer();
    try {
      const line = `echo ${'x'.repeat(140 * 1024)}`;
      const shellId = await alice.create();
      const r = fault(await alice.request({ action: SHELL_ACTION.command, selectors: { ShellId: shellId }, body: alice.commandBody(line) }));
      expect(r).toMatchObject({ status: 500, subcode: 'w:InvalidParameter' });
      expect(r.text).toMatch(/MAX_ARG_STRLEN/);
      const proc = `${URI.wmi}/Win32_Process`;
      const created = await s.post(envelope({ action: `${proc}/Create`, resourceUri: proc, body: `<p:Create_INPUT xmlns:p="${proc}"><p:CommandLine>${line}</p:CommandLine></p:Create_INPUT>` }));
      expect(created.status).toBe(200);
      expect(xp(created.body, 'string(//*[local-name()="ReturnValue"])')).toBe('21');
      expect(s.logLines.some((l) => l.includes('"event":"internal_error"'))).toBe(false);
    } finally {
      await s.server.close();
    }
  });

  it('Send to a command that never reads stdin: one Send waits for the pipe, later ones are TimedOut and keep nothing', async () => {
    const { s, alice, provider } = await shellServer();
    try {
      const shellId = await alice.create();
      const commandId = await alice.command(shellId, 'sleep 314');
      const input = Buffer.alloc(300 * 1024, 0x61);
      const send = () => alice.request({ action: SHELL_ACTION.send, selectors: { ShellId: shellId }, operationTimeout: 'PT1S', body: alice.sendBody(commandId, input) });
      // Accepted: the kernel's pipe takes 64 KiB of it, winrmd holds the rest for the reader.
      expect((await send()).status).toBe(200);
      const refused = [];
      for (let i = 0; i < 5; i++) refused.push(fault(await send()));
      for (const r of refused) expect(r).toMatchObject({ status: 500, subcode: 'w:TimedOut', code: '2150858793' });
      const cmd = provider.shells.ownedBy(ALICE.user)[0]!.commands.get(commandId)!;
      expect(cmd.pendingInputBytes).toBeGreaterThan(0);
      expect(cmd.pendingInputBytes).toBeLessThanOrEqual(input.length);
    } finally {
      await s.server.close();
    }
  });
});

describe('a long-lived shell', () => {
  it('releases finished commands once their Done is taken, keeping the last few; what they left running still ends with the shell', async () => {
    const { s, alice, provider } = await shellServer();
    try {
      const shellId = await alice.create();
      const first = await alice.command(shellId, 'sleep 315 >/dev/null 2>&1 & echo started');
      expect((await alice.receiveAll(shellId, first)).stdout.toString()).toBe('started\n');
      for (let i = 0; i < 40; i++) {
        const id = await alice.command(shellId, `echo ${i}`);
        expect((await alice.receiveAll(shellId, id)).stdout.toString()).toBe(`${i}\n`);
      }
      const shell = provider.shells.ownedBy(ALICE.user)[0]!;
      expect(shell.commands.size).toBe(KEEP_FINISHED);
      // A released command is unknown; a recent one still answers Done, and takes pywinrm's terminate.
      expect(fault(await alice.receiveOnce(shellId, first))).toMatchObject({ subcode: 'w:InvalidParameter' });
      const last = [...shell.commands.keys()].at(-1)!;
      expect(xp((await alice.receiveOnce(shellId, last)).text, '//rsp:CommandState/@State')).toBe(`${RSP}/CommandState/Done`);
      await alice.signal(shellId, last, SIGNAL.terminate);
      expect(await processesWith('sleep 315')).toHaveLength(1);
      await alice.delete(shellId);
      expect(await eventually(() => processesWith('sleep 315'), (p) => p.length === 0)).toEqual([]);
    } finally {
      await s.server.close();
    }
  });
});

describe('a Create answered TimedOut', () => {
  it('leaves no shell behind: every open shell is one a client was told about', async () => {
    const { s, alice, provider } = await shellServer({ maxShellsPerUser: 200 });
    try {
      const body = `<rsp:Shell xmlns:rsp="${RSP}"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`;
      const told: string[] = [];
      let timedOut = 0;
      // Deadlines of 1-8 ms land at every step of a Create: the account lookup, the working directory, the cgroup.
      for (let i = 0; i < 60; i++) {
        const r = await alice.request({ action: ACTIONS.create, operationTimeout: `PT0.00${1 + (i % 8)}S`, body });
        if (r.status === 200) told.push(xp(r.text, '//x:ResourceCreated//w:Selector[@Name="ShellId"]'));
        else if (fault(r).subcode === 'w:TimedOut') timedOut++;
        else throw new Error(`unexpected reply ${r.status}: ${r.text}`);
      }
      expect(timedOut).toBeGreaterThan(0);
      // Late Creates finish in the background; give them time, then count.
      await new Promise((r) => setTimeout(r, 500));
      expect(provider.shells.ownedBy(ALICE.user).map((sh) => sh.id).sort()).toEqual(told.sort());
    } finally {
      await s.server.close();
    }
  });
});
