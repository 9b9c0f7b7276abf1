// Interop with the Go client Packer and Terraform use: Debian's github.com/masterzen/winrm
// (0.0~git20200615), driven by test/interop/go/winrm-client against a real winrmd on 127.0.0.1.
// This client ignores HTTP status codes, retries a Receive only when the fault text names
// OperationTimeout, sends stdin in 152600-byte chunks and End only after the command is Done, and
// runs its Receive loop on one connection while Send and Signal use others (winrm-wire.md).
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type Winrmd } from '../../src/server.js';
import { MemoryUserStore } from '../../src/store/users.js';
import { decode, decodeBytes, runGoClient, type Job, type StepResult } from '../helpers/go-client.js';
import { ALICE, NO_SHEDDING } from '../helpers/server.js';
import { eventually, processesWith } from '../helpers/shell-client.js';

describe('the Go winrm client against a real winrmd', () => {
  let server: Winrmd;
  let stateDir: string;
  let http: Omit<Job, 'steps'>;
  let https: Omit<Job, 'steps'>;

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'winrmd-go-'));
    const config = configSchema.parse({
    limits: NO_SHEDDING,
      stateDir,
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } },
      service: { allowUnencrypted: true },
      // Room for the concurrency test's 100 shells at once; the default is WinRM's 30.
      shell: { maxShellsPerUser: 120, pwsh: 'winrmd-test-no-pwsh' },
      logging: { level: 'silent' },
    });
    const users = new MemoryUserStore();
    users.put({ name: ALICE.user, passwordHash: await hashPassword(ALICE.password), runAs: 'nobody' });
    server = await startServer({ config, users });
    const base = { host: '127.0.0.1', user: ALICE.user, password: ALICE.password, timeoutSeconds: 60 };
    http = { ...base, port: server.httpPort! };
    https = { ...base, port: server.httpsPort!, https: true, insecure: true };
  });

  afterAll(async () => {
    await server?.close();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  function ok(r: StepResult | undefined): StepResult {
    expect(r, 'no result').toBeDefined();
    expect(r!.error, 'the Go client failed').toBe('');
    return r!;
  }

  it('Run: stdout, stderr and the exit code, over HTTP and HTTPS', async () => {
    for (const job of [http, https]) {
      const [r] = await runGoClient({ ...job, steps: [{ kind: 'run', command: 'echo out; echo err >&2; exit 4' }] });
      expect(decode(ok(r).stdout)).toBe('out\n');
      expect(decode(r!.stderr)).toBe('err\n');
      expect(r!.exitCode).toBe(4);
    }
  });

  it('exit codes 0, 1 and 255', async () => {
    const results = await runGoClient({ ...http, steps: [0, 1, 255].map((n) => ({ kind: 'run' as const, command: `exit ${n}` })) });
    expect(results.map((r) => ok(r).exitCode)).toEqual([0, 1, 255]);
  });

  it('RunWithString: stdin through Send, in the client\'s 152600-byte chunks, byte for byte', async () => {
    const input = Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n') + '\n'; // ~190 KB: two Sends
    const [small, big] = await runGoClient({ ...http, steps: [
      { kind: 'runWithString', command: 'head -n 1 | tr a-z A-Z', stdin: 'abc\nrest\n' },
      // The client sends End only after Done: the command reads exactly what it expects.
      { kind: 'runWithString', command: `head -c ${Buffer.byteLength(input)} | sha256sum`, stdin: input },
    ] });
    expect(decode(ok(small).stdout)).toBe('ABC\n');
    expect(decode(ok(big).stdout).split(' ')[0]).toBe(createHash('sha256').update(input).digest('hex'));
  });

  it('Execute with one rsp:Arguments per argument; binary output round-trips', async () => {
    const [args, binary] = await runGoClient({ ...http, steps: [
      { kind: 'execute', command: 'printf', args: ['[%s]', 'x', 'y'] },
      { kind: 'execute', command: "printf '\\000\\001\\377\\200end'" },
    ] });
    expect(decode(ok(args).stdout)).toBe('[x][y]');
    expect(decodeBytes(ok(binary).stdout)).toEqual(Buffer.from([0, 1, 0xff, 0x80, ...Buffer.from('end')]));
  });

  it('a Receive that outlives the OperationTimeout is retried on the TimedOut fault', async () => {
    const [r] = await runGoClient({ ...http, operationTimeout: 'PT2S', steps: [{ kind: 'run', command: 'sleep 5; echo awake' }] });
    expect(decode(ok(r).stdout)).toBe('awake\n');
  });

  it('cancelled midway: the terminate Signal arrives while a Receive is pending, and the command\'s processes end', async () => {
    // The command would run 310 s, the pending Receive's OperationTimeout is 60 s: both beyond
    // vitest's testTimeout (30 s), so the step only returns at all if the Signal and the Delete
    // after it are answered without waiting for either.
    const [r] = await runGoClient({ ...http, steps: [{ kind: 'runCancel', command: 'sleep 309 & sleep 310', cancelAfterMs: 700 }] });
    expect(r!.cancelled).toBe(true);
    expect(r!.signalError ?? '').toBe('');
    expect(r!.deleteError ?? '').toBe('');
    const left = async () => [...(await processesWith('sleep 309')), ...(await processesWith('sleep 310'))];
    expect(await eventually(left, (p) => p.length === 0)).toEqual([]);
  });

  it('powershell -EncodedCommand without pwsh: the error on stderr and exit code 127', async () => {
    // What the client's winrm.Powershell helper produces for an ASCII script.
    const encoded = Buffer.from('Get-Date', 'utf16le').toString('base64');
    const [r] = await runGoClient({ ...http, steps: [{ kind: 'run', command: `powershell.exe -EncodedCommand ${encoded}` }] });
    expect(ok(r).exitCode).toBe(127);
    expect(decode(r!.stderr)).toMatch(/no PowerShell/);
  });

  it('20 clients × 5 commands at once: every output is its own, complete', async () => {
    const jobs = Array.from({ length: 20 }, (_, c) => runGoClient({ ...http, steps: [{ kind: 'parallel', steps: Array.from({ length: 5 }, (_, k) => ({
      kind: 'run' as const,
      command: `echo client-${c}-command-${k}; head -c ${10_000 * (k + 1)} /dev/zero | tr '\\0' ${String.fromCharCode(97 + k)}; exit ${k}`,
    })) }] }, 120_000));
    const results = await Promise.all(jobs);
    results.forEach(([parallel], c) => {
      parallel!.results!.forEach((r, k) => {
        expect(ok(r).exitCode).toBe(k);
        expect(decode(r.stdout)).toBe(`client-${c}-command-${k}\n${String.fromCharCode(97 + k).repeat(10_000 * (k + 1))}`);
      });
    });
  }, 150_000);
});
