// Test-lab mode with real clients (issue 17): pywinrm and the Go client (masterzen/winrm) against
// 200 virtual hosts at once, each answering as itself; Ansible (Debian's ansible-core, its winrm
// connection over pywinrm) running ad-hoc commands against a lab inventory written by the lab:
// win_ping through the PowerShell exec wrapper and its module on stdin, raw through a scripted
// PowerShell rule, and a host taken down reported UNREACHABLE while the others answer; Packer
// (Debian's packer) building with the null builder and its WinRM communicator against a lab host:
// its connection probe, its file uploads (winrmcp) and its powershell and windows-shell provisioners.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLab, startLab, type RunningLab } from '../../src/lab/index.js';
import { decode, runGoClient } from '../helpers/go-client.js';
import { runJsonClient } from '../helpers/json-client.js';

const execFileP = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const FLEET = path.join(HERE, 'lab_fleet.py');
const USER = { user: 'vagrant', password: 'vagrant-Lab-1' };
const HOSTS = 200;

// The bundled example's profile (config/lab.yaml), with 200 hosts from 127.0.40.1 on free ports.
const BUNDLED = readFileSync(path.resolve(HERE, '../../config/lab.yaml'), 'utf8');
const labText = (hosts: string) => BUNDLED.replace(/^hosts:\n(?: {2}- .*\n)+/m, `hosts:\n${hosts}`).replace(/^faults:\n(?: {2}.*\n)+/m, 'faults: []\n').replace(/^stateDir: .*$/m, '');

let dir: string;
let lab: RunningLab;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-lab-'));
  const text = labText(`  - { name: 'vm{{n:03}}', count: ${HOSTS}, profile: server2022, address: 127.0.40.1, port: 0, vars: { domain: FLEET } }\n`);
  lab = await startLab(readLab(path.join(dir, 'lab.yaml'), () => text), pino({ level: process.env.TEST_LOG ?? 'silent' }));
}, 120_000);
afterAll(async () => {
  await lab?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe(`${HOSTS} virtual hosts`, () => {
  it('pywinrm, one session per host from 50 threads: every host runs hostname and reads Win32_OperatingSystem as itself', async () => {
    const job = { hosts: lab.hosts.map((h) => ({ endpoint: `http://${h.spec.address}:${h.port}/wsman` })), username: USER.user, password: USER.password, threads: 50 };
    const results = await runJsonClient<{ ok: boolean; status_code?: number; std_out?: string; caption?: string; message?: string }>('/usr/bin/python3', [FLEET], job, { timeoutMs: 240_000 });
    expect(results).toHaveLength(HOSTS);
    const wrong = results.map((r, i) => ({ r, name: lab.hosts[i]!.spec.name })).filter(({ r, name }) => !r.ok || r.status_code !== 0 || r.std_out !== `${name}\r\n` || r.caption !== name);
    expect(wrong).toEqual([]);
  }, 300_000);

  it('the Go client, 25 at a time: every host answers hostname as itself (Run) and the scripted stream in order (Execute)', async () => {
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < HOSTS; i = next++) {
        const h = lab.hosts[i]!;
        const [run, stream] = await runGoClient({ host: h.spec.address, port: h.port, user: USER.user, password: USER.password, steps: [{ kind: 'run', command: 'hostname' }, { kind: 'execute', command: 'install-updates' }] });
        if (!run!.ok || decode(run!.stdout) !== `${h.spec.name}\r\n`) failures.push(`${h.spec.name}: ${run!.error || decode(run!.stdout)}`);
        if (!stream!.ok || decode(stream!.stdout) !== 'Downloading 1 of 2\r\nInstalling 2 of 2\r\n' || stream!.exitCode !== 3010) failures.push(`${h.spec.name}: ${stream!.error} ${stream!.exitCode} ${JSON.stringify(decode(stream!.stdout))}`);
      }
    };
    await Promise.all(Array.from({ length: 25 }, worker));
    expect(failures).toEqual([]);
  }, 300_000);
});

describe('Ansible ad-hoc commands against a lab inventory', () => {
  const ansible = async (inventory: string, ...args: string[]) => {
    const { stdout } = await execFileP('/usr/bin/ansible', ['all', '-i', inventory, '-e', `ansible_user=${USER.user}`, '-e', `ansible_password=${USER.password}`, '-e', 'ansible_winrm_transport=basic', '--one-line', ...args], {
      cwd: dir, timeout: 120_000, env: { ...process.env, ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCAL_TEMP: path.join(dir, 'ansible-tmp'), NO_PROXY: '*' },
    }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    return Object.fromEntries(stdout.trim().split('\n').map((l) => [l.split(' | ')[0], l]));
  };
  let small: RunningLab;
  let inventory: string;
  beforeAll(async () => {
    const text = labText("  - { name: 'web{{n:02}}', count: 3, profile: server2022, address: 127.0.41.1, port: 0, vars: { domain: CORP } }\n");
    small = await startLab(readLab(path.join(dir, 'small.yaml'), () => text), pino({ level: 'silent' }));
    inventory = path.join(dir, 'inventory.ini');
    // As `winrmd lab --inventory` writes it.
    writeFileSync(inventory, `[lab]\n${small.hosts.map((h) => `${h.spec.name} ansible_host=${h.spec.address} ansible_port=${h.port}`).join('\n')}\n\n[lab:vars]\nansible_connection=winrm\nansible_winrm_scheme=http\n`);
  });
  afterAll(() => small?.close());

  it('win_ping: every host answers pong through the exec wrapper with its module on stdin', async () => {
    const out = await ansible(inventory, '-m', 'win_ping');
    expect(Object.keys(out).sort()).toEqual(['web01', 'web02', 'web03']);
    for (const line of Object.values(out)) expect(line).toMatch(/\| SUCCESS => \{"changed": false, ?"ping": "pong"\}/);
  }, 180_000);

  it('raw: a scripted PowerShell rule answers each host as itself; a command no rule knows fails as PowerShell does', async () => {
    const out = await ansible(inventory, '-m', 'raw', '-a', 'hostname');
    for (const name of ['web01', 'web02', 'web03']) expect(out[name]).toMatch(new RegExp(`^${name} \\| CHANGED \\| rc=0 \\| \\(stdout\\) ${name}`));
    const unknown = await ansible(inventory, '--limit', 'web02', '-m', 'raw', '-a', 'Get-Thing');
    expect(unknown.web02).toMatch(/^web02 \| FAILED! => .*"rc": 1,.*"stderr": "Get-Thing : The term 'Get-Thing' is not recognized/);
  }, 180_000);

  it('a host taken down with lab ctl is UNREACHABLE; the others answer; restored, it answers again', async () => {
    await small.control({ cmd: 'down', host: 'web03' });
    const out = await ansible(inventory, '-m', 'win_ping');
    expect(out.web03).toMatch(/UNREACHABLE/);
    expect(out.web01).toMatch(/SUCCESS/);
    await small.control({ cmd: 'restore', host: 'all' });
    expect((await ansible(inventory, '--limit', 'web03', '-m', 'win_ping')).web03).toMatch(/SUCCESS/);
  }, 240_000);
});

describe('Packer against a lab host', () => {
  it('a null build connects over WinRM, uploads its scripts and runs its powershell and windows-shell provisioners', async () => {
    const h = lab.hosts[7]!;
    const template = path.join(dir, 'build.pkr.hcl');
    writeFileSync(template, `source "null" "lab" {
  communicator   = "winrm"
  winrm_host     = "${h.spec.address}"
  winrm_port     = ${h.port}
  winrm_username = "${USER.user}"
  winrm_password = "${USER.password}"
  winrm_timeout  = "60s"
}
build {
  sources = ["source.null.lab"]
  provisioner "powershell" { inline = ["Write-Output provisioned"] }
  provisioner "windows-shell" { inline = ["hostname"] }
}
`);
    const { stdout } = await execFileP('/usr/bin/packer', ['build', '-machine-readable', template], {
      cwd: dir, timeout: 150_000, env: { ...process.env, CHECKPOINT_DISABLE: '1', HOME: dir, PACKER_CACHE_DIR: path.join(dir, 'packer-cache'), NO_PROXY: '*' },
    }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: `${err.stdout ?? ''}${err.stderr ?? ''}` }));
    const messages = stdout.split('\n').filter((l) => l.includes(',ui,message,')).map((l) => l.split(',ui,message,')[1]!.trim());
    expect(messages).toEqual([`null.lab: WinRM connected.`, `null.lab: provisioned by ${h.spec.name}`, `null.lab: ${h.spec.name}`]);
    expect(stdout).toMatch(/Build 'null\.lab' finished/);
  }, 180_000);
});
