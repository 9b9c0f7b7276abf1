// Interop with a real client: Debian's pywinrm 0.3.0 (installed for /usr/bin/python3 only) talks to
// a real winrmd listening on 127.0.0.1 over HTTP and HTTPS. The Python side
// (pywinrm_client.py) builds its envelopes as pywinrm does, sends them through
// winrm.protocol.Protocol.send_message, checks RelatesTo/Action and parses the replies with
// ElementTree; this file asserts on what Python parsed.
import { execFile } from 'node:child_process';
import { runJsonClient } from '../helpers/json-client.js';
import * as fsSync from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type Winrmd } from '../../src/server.js';
import { MemoryUserStore } from '../../src/store/users.js';
import { ALICE, BOB, NO_SHEDDING } from '../helpers/server.js';
import { ACTIONS, envelope, identify, URI } from '../helpers/envelope.js';

const PYTHON = '/usr/bin/python3';
const CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pywinrm_client.py');
const OS_URI = `${URI.wmi}/Win32_OperatingSystem`;
const PROCESS_URI = `${URI.wmi}/Win32_Process`;
const execFileP = promisify(execFile);

type Step = string | ({ kind: string } & Record<string, unknown>);
interface StepResult {
  ok: boolean;
  error?: string;
  message?: string;
  code?: number;
  reply?: string;
  relates_to_checked?: number;
  [k: string]: unknown;
}
interface Job {
  endpoint: string;
  transport?: 'plaintext' | 'ssl';
  username: string;
  password: string;
  steps: Step[];
}

/** Runs pywinrm_client.py on one job: JSON in and out. */
function runClient(job: Job, timeoutMs = 20_000): Promise<StepResult[]> {
  // pywinrm 0.3.0 builds its requests session with trust_env: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
  // silently override server_cert_validation='ignore' (transport.build_session applies the merged
  // `verify`), so the self-signed certificate would be rejected.
  return runJsonClient<StepResult>(PYTHON, [CLIENT], job, { timeoutMs, env: { PYTHONDONTWRITEBYTECODE: '1' }, dropEnv: ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'] });
}

/** The one result of a one-step job, with the Python error shown when a success was expected. */
async function one(job: Omit<Job, 'steps'>, step: Step): Promise<StepResult> {
  const [r] = await runClient({ ...job, steps: [step] });
  return r!;
}

function okResult(r: StepResult): StepResult {
  expect(r.ok, `pywinrm step failed: ${r.error}: ${r.message}\n${(r.traceback as string | undefined) ?? ''}`).toBe(true);
  return r;
}

function readProc(pid: number, file: 'stat' | 'cmdline'): string {
  try {
    return fsSync.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** Whether pid is a live process: signal 0 reaches it and it is not a zombie awaiting its reaper. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  return !/^\d+ \(.*\) Z /s.test(readProc(pid, 'stat'));
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('pywinrm 0.3.0 against a real winrmd', () => {
  let server: Winrmd;
  let stateDir: string;
  let http: Omit<Job, 'steps'>;
  let https: Omit<Job, 'steps'>;
  let toolDir: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'winrmd-interop-'));
    // A stand-in pwsh that decodes -EncodedCommand as PowerShell does (UTF-16LE) and prints it, so
    // run_ps is proven end to end without PowerShell on the machine.
    toolDir = await mkdtemp(path.join(os.tmpdir(), 'winrmd-tools-'));
    await chmod(toolDir, 0o755);
    await writeFile(path.join(toolDir, 'pwsh'), '#!/bin/sh\nprintf %s "$4" | base64 -d | iconv -f UTF-16LE -t UTF-8\n', { mode: 0o755 });
    const config = configSchema.parse({
    limits: NO_SHEDDING,
      stateDir,
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } },
      service: { allowUnencrypted: true },
      shell: { pwsh: path.join(toolDir, 'pwsh') },
      logging: { level: 'silent' },
    });
    const users = new MemoryUserStore();
    users.put({ name: ALICE.user, passwordHash: await hashPassword(ALICE.password), runAs: 'nobody' });
    users.put({ name: BOB.user, passwordHash: await hashPassword(BOB.password), runAs: 'nobody' });
    server = await startServer({ config, users });
    http = { endpoint: `http://127.0.0.1:${server.httpPort}/wsman`, transport: 'plaintext', username: ALICE.user, password: ALICE.password };
    https = { endpoint: `https://127.0.0.1:${server.httpsPort}/wsman`, transport: 'ssl', username: ALICE.user, password: ALICE.password };
  });

  afterAll(async () => {
    await server?.close();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
    if (toolDir) await rm(toolDir, { recursive: true, force: true });
  });

  describe('Identify', () => {
    it('answers over HTTP (Basic, plaintext transport) and HTTPS (ssl transport, self-signed certificate)', async () => {
      const [plain, tls] = await Promise.all([one(http, { kind: 'identify' }), one(https, { kind: 'identify' })]);
      for (const r of [okResult(plain), okResult(tls)]) {
        expect(r.ProductVendor).toBe('winrmd');
        expect(r.ProtocolVersion).toBe('http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd');
        expect(r.ProductVersion).toMatch(/^OS: \S+ SP: 0\.0 Stack: 3\.0$/);
      }
      expect(tls.SecurityProfiles).toContain('http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic');
    });

    it('also takes the envelope shapes of test/helpers as raw send_message steps', async () => {
      const [raw, get] = await runClient({
        ...http,
        steps: [identify('env'), envelope({ action: ACTIONS.get, resourceUri: OS_URI })],
      });
      expect(okResult(raw!).reply).toContain('<wsmid:ProductVendor>winrmd</wsmid:ProductVendor>');
      expect(okResult(get!).reply).toContain('Win32_OperatingSystem');
    });
  });

  describe('Get', () => {
    it('Win32_OperatingSystem (no selectors): CSName is this host, over HTTP and HTTPS', async () => {
      const [plain, tls] = await Promise.all([
        one(http, { kind: 'get', resource_uri: OS_URI }),
        one(https, { kind: 'get', resource_uri: OS_URI }),
      ]);
      for (const r of [okResult(plain), okResult(tls)]) {
        expect(r.relates_to_checked).toBe(1);
        expect(r.class).toBe('Win32_OperatingSystem');
        expect(r.namespace).toBe(OS_URI);
        const props = r.properties as Record<string, unknown>;
        expect(props.CSName).toBe(os.hostname());
        expect(typeof props.Caption).toBe('string');
        expect(props.Caption).not.toBe('');
      }
    });

    it('Win32_Process with Handle=<the server pid>: ProcessId is that pid', async () => {
      const r = okResult(await one(http, { kind: 'get', resource_uri: PROCESS_URI, selectors: { Handle: String(process.pid) } }));
      const props = r.properties as Record<string, unknown>;
      expect(r.class).toBe('Win32_Process');
      expect(props.ProcessId).toBe(String(process.pid));
      expect(props.Handle).toBe(String(process.pid));
      expect(props.CSName).toBe(os.hostname());
    });
  });

  describe('Enumerate + Pull', () => {
    const checkItems = (items: Array<{ element: string; properties: Record<string, unknown> }>) => {
      const pids = items.map((i) => i.properties.ProcessId);
      for (const p of pids) expect(p, `ProcessId ${String(p)}`).toMatch(/^\d+$/);
      const numbers = pids.map(Number);
      expect(new Set(numbers).size, 'duplicate ProcessIds').toBe(numbers.length);
      expect(numbers).toContain(process.pid);
      return numbers;
    };

    it('WQL projection with a WHERE on the server pid: one w:XmlFragment with Name and ProcessId', async () => {
      const r = okResult(
        await one(http, {
          kind: 'enumerate_all',
          resource_uri: PROCESS_URI,
          wql: `SELECT Name,ProcessId FROM Win32_Process WHERE ProcessId = ${process.pid}`,
        }),
      );
      const items = r.items as Array<{ element: string; properties: Record<string, unknown> }>;
      expect(items).toHaveLength(1);
      expect(items[0]!.element).toBe('XmlFragment');
      expect(Object.keys(items[0]!.properties).sort()).toEqual(['Name', 'ProcessId']);
      expect(checkItems(items)).toEqual([process.pid]);
      // Enumerate + at least one Pull, RelatesTo checked on each.
      expect(r.pulls).toBeGreaterThanOrEqual(1);
      expect(r.relates_to_checked).toBe(1 + (r.pulls as number));
    });

    it('the whole Win32_Process class, OptimizeEnumeration and MaxElements 5: several Pulls, no duplicates', async () => {
      const r = okResult(
        await one(https, { kind: 'enumerate_all', resource_uri: PROCESS_URI, optimize: true, max_elements: 5 }),
      );
      const items = r.items as Array<{ element: string; properties: Record<string, unknown> }>;
      const pages = r.pages as number[];
      for (const i of items) expect(i.element).toBe('Win32_Process');
      checkItems(items);
      expect(items.length).toBeGreaterThan(5);
      expect(r.pulls).toBeGreaterThanOrEqual(1);
      expect(r.relates_to_checked).toBe(1 + (r.pulls as number));
      // The optimized Enumerate carries the first page; no page exceeds MaxElements.
      expect(pages[0]).toBeGreaterThan(0);
      for (const p of pages) expect(p).toBeLessThanOrEqual(5);
      expect(pages.reduce((a, b) => a + b, 0)).toBe(items.length);
    });

    it('a bad WQL query (SELECT FROM): pywinrm raises WinRMError carrying the fault', async () => {
      const r = await one(http, { kind: 'enumerate_all', resource_uri: PROCESS_URI, wql: 'SELECT FROM' });
      expect(r.ok).toBe(false);
      // pywinrm 0.3.0 turns an HTTP 500 with a SOAP fault into WinRMError('<Reason text> (extended fault data: {...})').
      expect(r.error).toBe('WinRMError');
      expect(r.message).toMatch(/WQL query is not valid/);
      expect(r.message).toContain("'http_status_code': 500");
      expect(r.message).toContain("'wsmanfault_code': '2150858778'");
      expect(r.message).toContain("'fault_subcode': 'n:CannotProcessFilter'");
      expect(r.message).toContain("'fault_code': 's:Sender'");
    });
  });

  describe('Invoke Win32_Process', () => {
    it('Create runs the command line as the mapped account (nobody); Terminate stops it', async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'winrmd-create-'));
      await chmod(dir, 0o777);
      const uidFile = path.join(dir, 'uid');
      const nobodyUid = (await execFileP('id', ['-u', 'nobody'])).stdout.trim();
      let pid: number | undefined;
      try {
        const created = okResult(
          await one(
            { ...http, username: BOB.user, password: BOB.password },
            { kind: 'invoke', resource_uri: PROCESS_URI, method: 'Create', params: { CommandLine: `sh -c 'id -u > ${uidFile}; sleep 30'` } },
          ),
        );
        const out = created.output as Record<string, string | null>;
        expect(created.relates_to_checked).toBe(1);
        expect(out.ReturnValue).toBe('0');
        expect(out.ProcessId).toMatch(/^\d+$/);
        pid = Number(out.ProcessId);
        expect(alive(pid)).toBe(true);
        expect(await waitFor(async () => (await readFile(uidFile, 'utf8').catch(() => '')).trim() !== '', 5000), 'uid file written').toBe(true);
        expect((await readFile(uidFile, 'utf8')).trim()).toBe(nobodyUid);

        const terminated = okResult(
          await one(
            { ...http, username: BOB.user, password: BOB.password },
            { kind: 'invoke', resource_uri: PROCESS_URI, method: 'Terminate', selectors: { Handle: String(pid) } },
          ),
        );
        expect((terminated.output as Record<string, string>).ReturnValue).toBe('0');
        const p = pid;
        expect(await waitFor(() => !alive(p), 5000), `process ${p} still alive after Terminate`).toBe(true);
      } finally {
        // Terminate signals the one process, as TerminateProcess does on Windows: the inner sh and
        // its sleep outlive it. Create starts the command detached, in its own process group, so
        // the group goes; and anything whose command line names this test's directory, in case
        // the group is not what it should be.
        const victims = new Set<number>(pid === undefined ? [] : [-pid, pid]);
        for (const entry of fsSync.readdirSync('/proc')) {
          if (!/^\d+$/.test(entry)) continue;
          const cmdline = readProc(Number(entry), 'cmdline');
          if (cmdline.includes(dir) && Number(entry) !== process.pid) victims.add(Number(entry));
        }
        for (const v of victims) {
          try {
            process.kill(v, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('authentication', () => {
    it('a wrong password: pywinrm raises InvalidCredentialsError', async () => {
      const [plain, tls] = await Promise.all([
        one({ ...http, password: 'not-the-password' }, { kind: 'identify' }),
        one({ ...https, username: BOB.user, password: 'not-the-password' }, { kind: 'identify' }),
      ]);
      for (const r of [plain, tls]) {
        expect(r.ok).toBe(false);
        expect(r.error).toBe('InvalidCredentialsError');
      }
    });

    it('no Authorization header: 401 with a WWW-Authenticate challenge, over HTTP and HTTPS', async () => {
      const [plain, tls] = await Promise.all([one(http, { kind: 'unauthenticated_post' }), one(https, { kind: 'unauthenticated_post' })]);
      for (const r of [okResult(plain), okResult(tls)]) {
        expect(r.status).toBe(401);
        // Issue 4: NTLM is offered first, under both names, as Windows does; Basic last (allowUnencrypted is true here).
        expect(r.www_authenticate).toBe('Negotiate, NTLM, Basic realm="WSMAN"');
      }
    });
  });

  describe('the remote shell (run_cmd, run_ps, the Protocol API)', () => {
    const text = (b64: unknown) => Buffer.from(String(b64 ?? ''), 'base64').toString('utf8');

    it('run_cmd("ls", ["-la", "/"]) returns the real listing and exit code 0', async () => {
      const r = okResult(await one(http, { kind: 'run_cmd', command: 'ls', args: ['-la', '/'] }));
      expect(r.status_code).toBe(0);
      // Entry by entry (modes, owners, names); times and sizes move while other tests run.
      const entries = (listing: string) => listing.split('\n').slice(1).map((l) => { const f = l.split(/\s+/); return [f[0], f[2], f[3], f.slice(8).join(' ')].join(' '); });
      const { stdout } = await execFileP('ls', ['-la', '/']);
      expect(entries(text(r.std_out_b64))).toEqual(entries(stdout));
      expect(text(r.std_err_b64)).toBe('');
    });

    it('stderr only, a non-zero exit code; over HTTPS too', async () => {
      const [plain, tls] = await Promise.all([
        one(http, { kind: 'run_cmd', command: 'echo oops >&2; exit 7' }),
        one(https, { kind: 'run_cmd', command: 'echo oops >&2; exit 7' }),
      ]);
      for (const r of [okResult(plain), okResult(tls)]) {
        expect(r.status_code).toBe(7);
        expect(text(r.std_out_b64)).toBe('');
        expect(text(r.std_err_b64)).toBe('oops\n');
      }
    });

    it('a working directory and an environment variable (pywinrm 0.3.0 sends only the last one)', async () => {
      const r = okResult(await one(http, { kind: 'shell_run', command: 'pwd; echo "$WINRMD_TEST"', working_directory: '/tmp', env_vars: { WINRMD_TEST: 'from pywinrm' } }));
      expect(text(r.std_out_b64)).toBe('/tmp\nfrom pywinrm\n');
    });

    it('50 MB of output arrives whole', async () => {
      const r = okResult(await one(http, { kind: 'run_cmd', command: 'head -c 50000000 /dev/zero | tr "\\0" x' }, ));
      const out = Buffer.from(String(r.std_out_b64), 'base64');
      expect(out.length).toBe(50_000_000);
      expect(out.every((b) => b === 0x78)).toBe(true);
    }, 120_000);

    it('a command that outlives two of pywinrm\'s PT20S Receive timeouts (sleep 45)', async () => {
      const r = okResult((await runClient({ ...http, steps: [{ kind: 'run_cmd', command: 'sleep 45; echo awake' }] }, 90_000))[0]!);
      expect(r.status_code).toBe(0);
      expect(text(r.std_out_b64)).toBe('awake\n');
    }, 100_000);

    it('run_ps: powershell -encodedcommand runs the UTF-16LE script under pwsh', async () => {
      const r = okResult(await one(http, { kind: 'run_ps', script: 'Write-Output "héllo"' }));
      expect(r.status_code).toBe(0);
      expect(text(r.std_out_b64)).toBe('Write-Output "héllo"');
    });

    it('Receive on an unknown shell: WinRMError with the shell-not-found fault; another user\'s shell: AccessDenied', async () => {
      const [unknown] = await runClient({ ...http, steps: [{ kind: 'run_command', shell_id: '11111111-2222-3333-4444-555555555555', command: 'id' }] });
      expect(unknown!.ok).toBe(false);
      expect(unknown!.error).toBe('WinRMError');
      expect(unknown!.fault_data).toMatchObject({ wsmanfault_code: '2150858843', fault_subcode: 'w:InvalidSelectors' });
      const steps = await runClient({ ...http, steps: [
        { kind: 'open_shell' },
        { kind: 'run_command', shell_id: '$0', command: 'id', username: BOB.user, password: BOB.password },
        { kind: 'close_shell', shell_id: '$0' },
      ] });
      expect(steps[1]!.ok).toBe(false);
      expect(steps[1]!.fault_data).toMatchObject({ fault_subcode: 'w:AccessDenied' });
      okResult(steps[2]!);
    });

    it('a raw Enumerate of …/windows/shell lists the shells pywinrm opened', async () => {
      const results = await runClient({ ...http, steps: [
        { kind: 'open_shell' },
        envelope({ action: ACTIONS.enumerate, resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell', body: '<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate>' }),
        { kind: 'close_shell', shell_id: '$0' },
      ] });
      const shellId = String(okResult(results[0]!).shell_id);
      expect(okResult(results[1]!).reply).toContain(`<rsp:ShellId>${shellId}</rsp:ShellId>`);
      okResult(results[2]!);
    });
  });
});
