// Test-lab mode (issue 17): lab files refused at their line with the reason; virtual hosts each
// answering as itself (identity, CIM data through Get, Enumerate and WQL, scripted shells); every
// kind of fault seen by a client as the fault it is, repeatable by seed; `lab ctl` at run time.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabFileError, readLab, startLab, type RunningLab } from '../../src/lab/index.js';
import { startRecorder } from '../../src/lab/record.js';
import { configSchema } from '../../src/config/schema.js';
import { createShellProvider } from '../../providers/shell/index.js';
import type { AddressInfo } from 'node:net';
import { ACTIONS, enumerateBody, envelope, identify, URI } from '../helpers/envelope.js';
import { ALICE, basic, testServer } from '../helpers/server.js';
import { eventually, ShellClient } from '../helpers/shell-client.js';
import { instancesIn, enumerateAll } from '../helpers/wsman-instances.js';
import { xp } from '../helpers/xpath.js';

const ADMIN = { user: 'vagrant', password: 'vagrant-Lab-1' };
const silent = pino({ level: 'silent' });

/** The line (from 1) of the first line of a text that contains a string: where a lab's problem must be reported. */
const lineOf = (text: string, part: string) => text.split('\n').findIndex((l) => l.includes(part)) + 1;

/** A lab from text, as `winrmd lab --config` reads a file. */
function labOf(yaml: string) {
  return readLab('lab.yaml', () => yaml);
}

const PROFILE = `
users:
  - { name: vagrant, password: vagrant-Lab-1, roles: [administrator] }
  - { name: auditor, password: auditor-Lab-2, roles: [viewer] }
profiles:
  win:
    productVersion: 'OS: 10.0.17763 SP: 0.0 Stack: 3.0'
    classes:
      Win32_OperatingSystem:
        - { Name: 'Windows|C:\\Windows', Caption: Microsoft Windows Server 2019 Standard, CSName: '{{name}}', Version: 10.0.17763, LastBootUpTime: '2026-12-01T06:00:00Z', TotalVisibleMemorySize: 4194304 }
      Win32_Service:
        - { Name: WinRM, State: Running, StartMode: Auto, Started: true, SystemName: '{{name}}' }
        - { Name: W32Time, State: Running, StartMode: Manual, Started: true, SystemName: '{{name}}' }
        - { Name: Spooler, State: Stopped, StartMode: Disabled, Started: false, SystemName: '{{name}}' }
    shell:
      rules:
        - { command: '^hostname$', stdout: "{{name}}\\r\\n" }
        - { command: '^whoami$', stdout: "{{domain}}\\\\vagrant\\r\\n" }
        - { command: '^exit-with', stdout: '', stderr: "failing on purpose\\r\\n", exitCode: 42 }
        - command: '^progress$'
          stream: [{ afterMs: 50, stdout: "one\\r\\n" }, { afterMs: 50, stdout: "two\\r\\n" }]
        - { command: '^read-input$', stdin: 'secret', stdout: "got it\\r\\n" }
        - { command: '^read-input$', stdout: "nothing I know\\r\\n", exitCode: 1 }
        - { powershell: 'Get-Date', stdout: "Monday, December 7, 2026 9:00:00 AM\\r\\n" }
`;

// The profile with a class winrmd does not declare (Windows' hotfixes), and two of its instances.
const QFE = PROFILE.replace('    classes:\n', `    declare:
      Win32_QuickFixEngineering:
        superclass: CIM_LogicalElement
        keys: [HotFixID]
        properties: { HotFixID: string, Description: string, InstalledOn: string, InstallDate: datetime, Size: uint32, Tags: 'string[]', toString: string }
    classes:
      Win32_QuickFixEngineering:
        - { HotFixID: KB5005039, Description: Update, InstalledOn: 12/1/2026, InstallDate: '2026-12-01T00:00:00Z', Size: 1200, Tags: [security, '{{name}}'] }
        - { HotFixID: KB5012170, Description: Security Update, InstalledOn: 11/2/2026, InstallDate: null, Size: 80, Tags: [] }
`);

const GROUP_QUOTA = `${PROFILE}hosts:\n  - { name: a, profile: win }\n  - name: b\n    profile: win\n    shell: { maxShellsPerUser: 0 }\n`;

describe('lab files are refused at their line, with the reason', () => {
  const cases: [string, string, RegExp][] = [
    ['broken YAML', 'users: [unclosed\n', /^lab\.yaml:\d+:\d+: not valid YAML: /],
    ['a missing section', 'users: [{name: a, password: b}]\nprofiles: {}\n', /lab\.yaml:\d+: hosts: /],
    ['an unknown key', `${PROFILE}hosts: [{ name: h, profile: win, colour: blue }]\n`, /lab\.yaml:\d+: hosts\.0: Unrecognized key\(s\) in object: 'colour'/],
    ['an unknown profile', `${PROFILE}hosts:\n  - { name: h, profile: linux }\n`, /lab\.yaml:\d+: hosts\.0\.profile: no profile is named linux/],
    ['a bad regular expression', `${PROFILE.replace("'^hostname$'", "'^(host'")}hosts: [{ name: h, profile: win }]\n`, new RegExp(`lab\\.yaml:${lineOf(PROFILE, "'^hostname$'")}: profiles\\.win\\.shell\\.rules\\.0\\.command: Invalid regular expression`)],
    ['an injected fault that is not in the catalogue', `${PROFILE}hosts: [{ name: h, profile: win }]\nfaults: [{ kind: fault, fault: Oops }]\n`, /fault needs fault: the id of a fault of the catalogue/],
    ['a transport fault narrowed to actions', `${PROFILE}hosts: [{ name: h, profile: win }]\nfaults: [{ kind: reset, actions: [Get] }]\n`, /cannot be narrowed to actions/],
    ['real execution not allowed', `${PROFILE.replace('    shell:\n', '    shell:\n      fallback: run\n')}hosts: [{ name: h, profile: win }]\n`, /profiles\.win\.shell\.fallback: run needs allowRealExecution: true/],
    ['a profile named like a property of every object', `${PROFILE}hosts: [{ name: h, profile: toString }]\n`, /hosts\.0\.profile: no profile is named toString/],
    ['a limit out of range (the configuration\'s own schema)', `${PROFILE}hosts: [{ name: h, profile: win }]\nlimits:\n  maxEnvelopeSizeKb: 1\n`, /lab\.yaml:\d+: limits\.maxEnvelopeSizeKb: /],
    ['a group\'s quota out of range, at the group\'s line', GROUP_QUOTA, new RegExp(`lab\\.yaml:${lineOf(GROUP_QUOTA, 'maxShellsPerUser: 0')}: hosts\\.1\\.shell\\.maxShellsPerUser: `)],
    ['a group\'s limit winrmd does not have', `${PROFILE}hosts: [{ name: h, profile: win, limits: { maxShells: 3 } }]\n`, /hosts\.0\.limits: Unrecognized key\(s\) in object: 'maxShells'/],
    ['client certificates, which lab hosts do not take', `${PROFILE}hosts: [{ name: h, profile: win }]\nservice:\n  allowUnencrypted: true\n  auth: { certificate: true }\n`, /lab\.yaml:\d+: service\.auth\.certificate: lab hosts take Basic and NTLM, not client certificates/],
    ['hosts with no accounts', `${PROFILE.replace(/^users:\n(?: {2}- .*\n)+/m, '')}hosts: [{ name: h, profile: win }]\n`, /hosts\.0: no accounts: give the lab users, or this group its own/],
  ];
  it('a role that exists nowhere, at its line (the lab\'s users, and a group\'s own)', async () => {
    const text = `${PROFILE.replace('roles: [viewer]', 'roles: [viewers]')}hosts:\n  - { name: a, profile: win, port: 0 }\n  - { name: b, profile: win, port: 0, users: [{ name: x, password: y, roles: [helper, admin] }] }\n`;
    const err = await startLab(labOf(text), silent).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(LabFileError);
    expect(err!.message).toContain(`lab.yaml:${lineOf(text, 'roles: [viewers]')}: users.1.roles: no role is named viewers`);
    expect(err!.message).toContain(`lab.yaml:${lineOf(text, 'name: b')}: hosts.1.users.0.roles: no role is named admin`);
  });
  it('the bundled example (config/lab.yaml) serves the hosts the README names, its declared class too', async () => {
    const text = readFileSync(fileURLToPath(new URL('../../config/lab.yaml', import.meta.url)), 'utf8');
    const example = readLab('lab.yaml', () => text.replace(/port: 5985/g, 'port: 0').replace(/^stateDir: .*$/m, ''));
    expect(example.file.hosts.map((g) => [g.name, g.count, g.users?.map((u) => u.name)])).toEqual([['web{{n:02}}', 3, undefined], ['dc01', 1, ['Administrator']]]);
    expect(example.groupConfigs.map((c) => c.shell.maxShellsPerUser)).toEqual([30, 2]);
    const lab = await startLab(example, silent);
    try {
      const hotfix = envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_QuickFixEngineering`, selectors: { HotFixID: 'KB5012170' } });
      expect((await poster(lab, 0)(hotfix)).status).toBe(200);
      expect((await poster(lab, 3)(hotfix)).status).toBe(401); // dc01 knows only its own Administrator
      const dc01 = posterAt(`http://${lab.hosts[3]!.spec.address}:${lab.hosts[3]!.port}`, { user: 'Administrator', password: 'Dc01-Lab-4' });
      expect((await enumerateAll(dc01, `${URI.wmi}/Win32_QuickFixEngineering`)).map((i) => [i.props.HotFixID, i.props.CSName])).toEqual([['KB5012170', 'dc01'], ['KB5046540', 'dc01']]);
    } finally {
      await lab.close();
    }
  });
  for (const [what, text, message] of cases) {
    it(what, () => {
      expect(() => labOf(text)).toThrow(LabFileError);
      expect(() => labOf(text)).toThrow(message);
    });
  }

  it('profile data that winrmd\'s classes do not have, or of the wrong type, at its line; a template\'s unknown variable at its line', async () => {
    const bad = PROFILE.replace('TotalVisibleMemorySize: 4194304', 'TotalVisibleMemorySize: lots, Colour: blue') + 'hosts: [{ name: h, profile: win, port: 0 }]\n';
    const at = lineOf(bad, 'Colour');
    await expect(startLab(labOf(bad), silent)).rejects.toThrow(new RegExp(`lab\\.yaml:${at}: profiles\\.win\\.classes\\.Win32_OperatingSystem\\.0\\.TotalVisibleMemorySize: needs an integer \\(uint64\\)\nlab\\.yaml:${at}: .*Win32_OperatingSystem has no property Colour`));
    const noClass = PROFILE.replace('Win32_Service:', 'Win32_Printer:') + 'hosts: [{ name: h, profile: win, port: 0 }]\n';
    await expect(startLab(labOf(noClass), silent)).rejects.toThrow(new RegExp(`lab\\.yaml:${lineOf(noClass, 'Win32_Printer')}: profiles\\.win\\.classes\\.Win32_Printer: winrmd declares no class Win32_Printer in root/cimv2`));
    // {{domain}} is not among the host's variables (no vars given): refused before any host listens.
    await expect(startLab(labOf(`${PROFILE}hosts: [{ name: h, profile: win, address: 127.0.31.1, port: 0 }]\n`), silent)).rejects.toThrow(new RegExp(`lab\\.yaml:${lineOf(PROFILE, '^whoami$')}: \\{\\{domain\\}\\} is not a variable here \\(there are: n, address, port, name\\)`));
  });
});

/** A command in a new shell, its input sent and ended when given: its output as text, and its exit code. */
async function run(post: ReturnType<typeof poster>, command: string, args: string[] = [], stdin?: string) {
  const shell = new ShellClient(post, ADMIN);
  const id = await shell.create();
  try {
    const cmd = await shell.command(id, command, args);
    if (stdin !== undefined) await shell.send(id, cmd, stdin, true);
    const out = await shell.receiveAll(id, cmd);
    return { stdout: out.stdout.toString('utf8'), stderr: out.stderr.toString('utf8'), exitCode: out.exitCode };
  } finally {
    await shell.delete(id);
  }
}

/** Posts to one host of a running lab, as the helpers' clients post. */
function poster(lab: RunningLab, i: number) {
  const h = lab.hosts[i]!;
  return posterAt(`http://${h.spec.address}:${h.port}`);
}

function posterAt(url: string, who = ADMIN) {
  return async (xml: string, auth: string | null = basic(who)) => {
    let r = request(url).post('/wsman').set('Content-Type', 'application/soap+xml;charset=UTF-8');
    if (auth) r = r.set('Authorization', auth);
    const res = await r.send(xml).buffer(true).parse((res, cb) => {
      let t = '';
      res.on('data', (c: Buffer) => (t += c.toString('utf8')));
      res.on('end', () => cb(null, t));
    });
    return { status: res.status, text: res.body as string };
  };
}

describe('classes a profile declares (a Windows host has many more than winrmd serves)', () => {
  let lab: RunningLab;
  beforeAll(async () => {
    lab = await startLab(labOf(`${QFE}hosts:\n  - { name: qfe, profile: win, address: 127.0.35.1, port: 0, vars: { domain: LAB } }\n`), silent);
  });
  afterAll(() => lab.close());

  it('are served through Get, Enumerate and WQL with their types, and polymorphically under their superclass', async () => {
    const post = poster(lab, 0);
    const one = await post(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_QuickFixEngineering`, selectors: { HotFixID: 'KB5005039' } }));
    expect(one.status).toBe(200);
    // With what it inherits from CIM_LogicalElement (DSP0004), in WMI's order; what a row leaves out is nil.
    expect(instancesIn(one.text, 'Body')[0]).toEqual({ className: 'Win32_QuickFixEngineering', props: { Caption: null, Description: 'Update', HotFixID: 'KB5005039', InstallDate: '2026-12-01T00:00:00.000Z', InstalledOn: '12/1/2026', Name: null, Size: '1200', Status: null, Tags: ['security', 'qfe'], toString: null } });
    expect(Object.keys(instancesIn(one.text, 'Body')[0]!.props)).toEqual(['Caption', 'Description', 'HotFixID', 'InstallDate', 'InstalledOn', 'Name', 'Size', 'Status', 'Tags', 'toString']);
    expect((await enumerateAll(post, `${URI.wmi}/Win32_QuickFixEngineering`)).map((i) => i.props.HotFixID)).toEqual(['KB5005039', 'KB5012170']);
    // Size is a uint32: compared as a number (as text, '80' > '100').
    const big = await enumerateAll(post, `${URI.wmi}/*`, { wql: 'SELECT HotFixID FROM Win32_QuickFixEngineering WHERE Size > 100' });
    expect(big.map((i) => i.props.HotFixID)).toEqual(['KB5005039']);
    const elements = await enumerateAll(post, `${URI.wmi}/CIM_LogicalElement`);
    expect(elements.filter((i) => i.className === 'Win32_QuickFixEngineering').map((i) => i.props.Description)).toEqual(['Update', 'Security Update']);
    expect(elements.some((i) => i.className === 'Win32_OperatingSystem')).toBe(true);
  });

  it('a bad declaration is refused at its line', async () => {
    const bad = async (declare: string, part: string, message: RegExp) => {
      const text = `${PROFILE.replace('    classes:\n', `    declare:\n${declare}    classes:\n`)}hosts: [{ name: h, profile: win }]\n`;
      const err = await startLab(labOf(text), silent).then(() => undefined, (e: Error) => e);
      expect(err).toBeInstanceOf(LabFileError);
      expect(err!.message).toMatch(new RegExp(`lab\\.yaml:${lineOf(text, part)}: `));
      expect(err!.message).toMatch(message);
    };
    await bad('      Win32_Service: { keys: [Name], properties: { Name: string } }\n', 'Win32_Service: { keys', /winrmd declares Win32_Service: give its instances under classes/);
    await bad('      Win32_Thing: { keys: [Id], properties: { Name: string } }\n', 'Win32_Thing', /the key Id is not one of its properties/);
    await bad('      Win32_Thing:\n        keys: [Name]\n        superclass: CIM_Nothing\n        properties: { Name: string }\n', 'superclass: CIM_Nothing', /there is no class CIM_Nothing/);
    await bad('      A_One: { superclass: A_Two, keys: [N], properties: { N: string } }\n      A_Two: { superclass: A_Three, keys: [N], properties: { N: string } }\n      A_Three: { superclass: A_Two, keys: [N], properties: { N: string } }\n', 'A_Two:', /A_Two is its own superclass, through A_Three/);
    await bad('      Win32_Thing: { superclass: CIM_LogicalElement, keys: [Id], properties: { Id: string, Name: uint32 } }\n', 'Win32_Thing', /properties\.Name: CIM_LogicalElement has Name as string/);
    await bad('      Win32_Thing: { keys: [Tags], properties: { Tags: \'string[]\' } }\n', 'Win32_Thing', /the key Tags is a list/);
    await bad('      Win32_Thing: { keys: [Id], properties: { Id: string, ID: uint32 } }\n', 'Win32_Thing', /properties\.ID: ID is declared already, as Id/);
    await bad('      Win32_Thing: { keys: [Id], properties: { Id: string } }\n      win32_thing: { keys: [Id], properties: { Id: string } }\n', 'win32_thing', /win32_thing is declared already, as Win32_Thing/);
    expect(() => labOf(`${PROFILE.replace('    classes:\n', '    declare:\n      Win32_Thing: { keys: [N], properties: { N: text } }\n    classes:\n')}hosts: [{ name: h, profile: win }]\n`)).toThrow(/declare\.Win32_Thing\.properties\.N: a CIM type: string/);
    // Instances of a class neither winrmd nor the profile declares.
    const undeclared = `${PROFILE.replace('      Win32_Service:\n', '      Win32_BootConfiguration:\n        - { Name: BootConfiguration }\n      Win32_Service:\n')}hosts: [{ name: h, profile: win }]\n`;
    await expect(startLab(labOf(undeclared), silent)).rejects.toThrow(/winrmd declares no class Win32_BootConfiguration in root\/cimv2: declare it \(profiles\.win\.declare\)/);
    // One class's instances, or one instance's property, given twice under two spellings.
    const twice = `${PROFILE.replace('      Win32_Service:\n', '      win32_service:\n        - { Name: Extra }\n      Win32_Service:\n')}hosts: [{ name: h, profile: win }]\n`;
    await expect(startLab(labOf(twice), silent)).rejects.toThrow(/classes\.Win32_Service: the instances of Win32_Service are given already, as win32_service/);
    const propertyTwice = `${PROFILE.replace('- { Name: WinRM, ', '- { Name: WinRM, NAME: WinRM2, ')}hosts: [{ name: h, profile: win }]\n`;
    await expect(startLab(labOf(propertyTwice), silent)).rejects.toThrow(/classes\.Win32_Service\.0\.NAME: NAME is given already, as Name/);
  });
});

describe('templates', () => {
  it('{{n:03}} pads to three digits; a template that is not one, or names no variable of the host, is refused at its line', async () => {
    const ok = await startLab(labOf(`${PROFILE}hosts: [{ name: 'x{{n:03}}', profile: win, address: 127.0.37.1, port: 0, vars: { domain: D } }]\n`), silent);
    expect(ok.hosts[0]!.spec.name).toBe('x001');
    await ok.close();
    await expect(startLab(labOf(`${PROFILE}hosts: [{ name: 'x{{n:3}}', profile: win, address: 127.0.37.1, port: 0 }]\n`), silent)).rejects.toThrow(/lab\.yaml:\d+: \{\{n:3\}\} is not a template: \{\{name\}\} or \{\{name:0N\}\}/);
    await expect(startLab(labOf(`${PROFILE}hosts: [{ name: 'x{{constructor}}', profile: win, address: 127.0.37.1, port: 0 }]\n`), silent)).rejects.toThrow(/\{\{constructor\}\} is not a variable here/);
  });
});

describe('virtual hosts, each answering as itself', () => {
  let lab: RunningLab;
  beforeAll(async () => {
    lab = await startLab(labOf(`${PROFILE}hosts:\n  - { name: 'srv{{n:02}}', count: 3, profile: win, address: 127.0.32.1, port: 0, vars: { domain: LAB } }\n`), silent);
  });
  afterAll(() => lab.close());

  it('three hosts on three addresses; Identify gives the profile\'s product version', async () => {
    expect(lab.hosts.map((h) => [h.spec.name, h.spec.address])).toEqual([['srv01', '127.0.32.1'], ['srv02', '127.0.32.2'], ['srv03', '127.0.32.3']]);
    const r = await poster(lab, 1)(identify());
    expect(r.status).toBe(200);
    expect(xp(r.text, 'string(//*[local-name()="ProductVersion"])')).toBe('OS: 10.0.17763 SP: 0.0 Stack: 3.0');
  });

  it('Get, Enumerate and WQL serve the profile\'s instances with the host\'s variables', async () => {
    for (const i of [0, 2]) {
      const os = await poster(lab, i)(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_OperatingSystem` }));
      expect(os.status).toBe(200);
      const [inst] = instancesIn(os.text, 'Body');
      expect(inst!.props.CSName).toBe(lab.hosts[i]!.spec.name);
      expect(inst!.props.TotalVisibleMemorySize).toBe('4194304');
      expect(inst!.props.LastBootUpTime).toBe('2026-12-01T06:00:00.000Z');
    }
    const running = await enumerateAll(poster(lab, 1), `${URI.wmi}/Win32_Service`, { wql: "SELECT Name FROM Win32_Service WHERE State = 'Running'" });
    expect(running.map((s) => s.props.Name)).toEqual(['WinRM', 'W32Time']);
    const one = await poster(lab, 1)(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_Service`, selectors: { Name: 'spooler' } }));
    expect(instancesIn(one.text, 'Body')[0]!.props.SystemName).toBe('srv02');
    // A class the profile has no data for is declared, and empty.
    expect(await enumerateAll(poster(lab, 1), `${URI.wmi}/Win32_Process`)).toEqual([]);
  });

  it('a method (Invoke) is not run by a lab host: ActionNotSupported, saying so', async () => {
    const proc = `${URI.wmi}/Win32_Process`;
    const r = await poster(lab, 0)(envelope({ action: `${proc}/Create`, resourceUri: proc, body: `<p:Create_INPUT xmlns:p="${proc}"><p:CommandLine>hostname</p:CommandLine></p:Create_INPUT>` }));
    expect(r.status).toBe(500);
    expect(xp(r.text, 'string(//*[local-name()="Subcode"]/*[local-name()="Value"])')).toBe('a:ActionNotSupported');
    expect(xp(r.text, 'string(//*[local-name()="Reason"])')).toContain('Win32_Process.Create is not served here');
  });

  it('a viewer reads, and may not open a shell (the roles of winrmd)', async () => {
    const viewer = { user: 'auditor', password: 'auditor-Lab-2' };
    expect((await poster(lab, 0)(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_OperatingSystem` }), basic(viewer))).status).toBe(200);
    await expect(new ShellClient(poster(lab, 0), viewer).create()).rejects.toThrow(/AccessDenied|may not shell/);
  });

  it('scripted shells: output, exit codes, streams over time, stdin, PowerShell, and cmd.exe\'s not found', async () => {
    const post = poster(lab, 2);
    const shell = { run: (command: string, args: string[] = [], stdin?: string) => run(post, command, args, stdin) };
    expect(await shell.run('hostname')).toMatchObject({ stdout: 'srv03\r\n', exitCode: 0 });
    expect(await shell.run('whoami')).toMatchObject({ stdout: 'LAB\\vagrant\r\n' });
    expect(await shell.run('exit-with', ['42'])).toMatchObject({ stderr: 'failing on purpose\r\n', exitCode: 42 });
    expect(await shell.run('progress')).toMatchObject({ stdout: 'one\r\ntwo\r\n', exitCode: 0 });
    expect(await shell.run('read-input', [], 'the secret word')).toMatchObject({ stdout: 'got it\r\n', exitCode: 0 });
    expect(await shell.run('read-input', [], 'something else')).toMatchObject({ stdout: 'nothing I know\r\n', exitCode: 1 });
    const ps = Buffer.from('Get-Date -Format F', 'utf16le').toString('base64');
    expect(await shell.run('powershell', ['-NoProfile', '-EncodedCommand', ps])).toMatchObject({ stdout: 'Monday, December 7, 2026 9:00:00 AM\r\n', exitCode: 0 });
    expect(await shell.run('ipconfig', ['/all'])).toMatchObject({ stderr: "'ipconfig' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", exitCode: 9009 });
    const unknownPs = Buffer.from('Get-Thing', 'utf16le').toString('base64');
    expect(await shell.run('powershell', ['-encodedcommand', unknownPs])).toMatchObject({ exitCode: 1, stderr: expect.stringContaining("The term 'Get-Thing' is not recognized") });
  });
});

describe('host groups with their own accounts and quotas', () => {
  // Group 0 has the lab's users and quotas; group 1 its own administrator, one shell per user and 16 KB envelopes.
  const OWN = { user: 'Administrator', password: 'Own-Lab-3' };
  let lab: RunningLab;
  beforeAll(async () => {
    lab = await startLab(labOf(`${PROFILE}hosts:
  - { name: shared, profile: win, address: 127.0.34.1, port: 0, vars: { domain: LAB } }
  - name: own
    profile: win
    address: 127.0.34.2
    port: 0
    vars: { domain: LAB }
    users: [{ name: ${OWN.user}, password: ${OWN.password}, roles: [administrator] }]
    shell: { maxShellsPerUser: 1 }
    limits: { maxEnvelopeSizeKb: 16 }
`), silent);
  });
  afterAll(() => lab.close());
  const get = envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_OperatingSystem` });

  it('each group\'s hosts know only their own accounts', async () => {
    expect((await poster(lab, 0)(get, basic(ADMIN))).status).toBe(200);
    expect((await poster(lab, 0)(get, basic(OWN))).status).toBe(401);
    expect((await poster(lab, 1)(get, basic(OWN))).status).toBe(200);
    expect((await poster(lab, 1)(get, basic(ADMIN))).status).toBe(401);
  });

  it('each group\'s quotas: one shell per user and 16 KB envelopes on its hosts, the lab\'s on the others', async () => {
    const own = new ShellClient(poster(lab, 1), OWN);
    await own.create();
    await expect(own.create()).rejects.toThrow(/MaxShellsPerUser = 1/);
    const shared = new ShellClient(poster(lab, 0), ADMIN);
    await shared.create();
    await shared.create();
    const padded = get.replace('</env:Header>', `<!-- ${'x'.repeat(20 * 1024)} --></env:Header>`);
    expect(padded.length).toBeGreaterThan(20 * 1024);
    expect((await poster(lab, 1)(padded, basic(OWN))).status).toBe(413);
    expect((await poster(lab, 0)(padded, basic(ADMIN))).status).toBe(200);
  });

  it('winrm/config says each host\'s own: its quotas and its one listener', async () => {
    const config = async (i: number, who: typeof ADMIN) => {
      const r = await poster(lab, i)(envelope({ action: ACTIONS.get, resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/config' }), basic(who));
      expect(r.status).toBe(200);
      return (name: string) => xp(r.text, `string(//*[local-name()="${name}"])`);
    };
    const [shared, own] = [await config(0, ADMIN), await config(1, OWN)];
    expect([shared('MaxEnvelopeSizekb'), shared('MaxShellsPerUser')]).toEqual(['500', '30']);
    expect([own('MaxEnvelopeSizekb'), own('MaxShellsPerUser')]).toEqual(['16', '1']);
    const listeners = await enumerateAll(posterAt(`http://127.0.34.2:${lab.hosts[1]!.port}`, OWN), 'http://schemas.microsoft.com/wbem/wsman/1/config/listener');
    expect(listeners.map((l) => [l.props.Address, l.props.Transport, l.props.Port, l.props.ListeningOn])).toEqual([['IP:127.0.34.2', 'HTTP', String(lab.hosts[1]!.port), '127.0.34.2']]);
  });
});

describe('faults, each seen by a client as the fault it is', () => {
  const faulty = (faults: string, extra = '') => labOf(`${PROFILE}hosts:\n  - { name: 'f{{n}}', count: 2, profile: win, address: 127.0.33.1, port: 0, vars: { domain: LAB } }\nfaults:\n${faults}${extra}`);
  const get = envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_OperatingSystem` });

  it('fault: the catalogue\'s fault, only for its actions and its hosts', async () => {
    const lab = await startLab(faulty("  - { hosts: ['f2'], kind: fault, fault: QuotaLimit, actions: [Get] }\n"), silent);
    try {
      const r = await poster(lab, 1)(get);
      expect(r.status).toBe(500);
      expect(xp(r.text, 'string(//s:Subcode/s:Value)')).toBe('w:QuotaLimit');
      expect((await poster(lab, 1)(envelope({ action: ACTIONS.enumerate, resourceUri: `${URI.wmi}/Win32_Service`, body: enumerateBody() }))).status).toBe(200);
      expect((await poster(lab, 0)(get)).status).toBe(200);
    } finally {
      await lab.close();
    }
  });

  it('http, auth and reset: a bare 503 with Retry-After, a 401 for the right password, a connection cut', async () => {
    const lab = await startLab(faulty("  - { hosts: ['f1'], kind: http, status: 503 }\n  - { hosts: ['f2'], kind: auth }\n"), silent);
    try {
      const unavailable = await request(`http://127.0.33.1:${lab.hosts[0]!.port}`).post('/wsman').set('Authorization', basic(ADMIN)).send(get);
      expect([unavailable.status, unavailable.headers['retry-after']]).toEqual([503, '1']);
      const refused = await request(`http://127.0.33.2:${lab.hosts[1]!.port}`).post('/wsman').set('Authorization', basic(ADMIN)).send(get);
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toContain('Basic realm="WSMAN"');
    } finally {
      await lab.close();
    }
    const reset = await startLab(faulty("  - { kind: reset }\n"), silent);
    try {
      await expect(request(`http://127.0.33.1:${reset.hosts[0]!.port}`).post('/wsman').set('Authorization', basic(ADMIN)).send(get)).rejects.toThrow(/ECONNRESET|socket hang up/);
    } finally {
      await reset.close();
    }
  });

  it('hang: no reply ever comes, until the client gives up; latency: the reply comes, no sooner than the delay', async () => {
    const lab = await startLab(faulty("  - { hosts: ['f1'], kind: hang }\n  - { hosts: ['f2'], kind: latency, ms: 300, actions: [Get] }\n"), silent);
    try {
      const hung = await new Promise<string>((resolve) => {
        const req = http.request({ host: '127.0.33.1', port: lab.hosts[0]!.port, path: '/wsman', method: 'POST', headers: { Authorization: basic(ADMIN), 'Content-Type': 'application/soap+xml' } }, () => resolve('answered'));
        req.setTimeout(1000, () => {
          req.destroy();
          resolve('no reply');
        });
        req.on('error', () => undefined);
        req.end(get);
      });
      expect(hung).toBe('no reply');
      const started = Date.now();
      expect((await poster(lab, 1)(get)).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    } finally {
      await lab.close();
    }
  });

  it('receive-timeout: every Receive is TimedOut at its OperationTimeout, while the other actions work', async () => {
    const lab = await startLab(faulty("  - { kind: receive-timeout }\n"), silent);
    try {
      const shell = new ShellClient(poster(lab, 0), ADMIN);
      const id = await shell.create();
      const cmd = await shell.command(id, 'hostname');
      const r = await shell.request({ action: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive', selectors: { ShellId: id }, operationTimeout: 'PT1S', body: `<rsp:Receive xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><rsp:DesiredStream CommandId="${cmd}">stdout stderr</rsp:DesiredStream></rsp:Receive>` });
      expect(r.status).toBe(500);
      expect(xp(r.text, 'string(//s:Subcode/s:Value)')).toBe('w:TimedOut');
    } finally {
      await lab.close();
    }
  });

  it('by probability with a seed: the same requests fail in every run with that seed, other ones with another', async () => {
    const fates = async (seed: number) => {
      const lab = await startLab(faulty('  - { kind: http, status: 500, probability: 0.5 }\n', `seed: ${seed}\n`), silent);
      try {
        const out: number[] = [];
        for (let i = 0; i < 24; i++) out.push((await poster(lab, 0)(get)).status);
        return out.join(',');
      } finally {
        await lab.close();
      }
    };
    const first = await fates(7);
    expect(first).toMatch(/500/);
    expect(first).toMatch(/200/);
    expect(await fates(7)).toBe(first);
    expect(await fates(8)).not.toBe(first);
  });

  it('expired-certificate: an HTTPS host presents a certificate that expired yesterday; the others a valid one', async () => {
    const lab = await startLab(labOf(`${PROFILE}hosts:\n  - { name: 's{{n}}', count: 2, profile: win, address: 127.0.36.1, port: 0, https: true, vars: { domain: LAB } }\nfaults:\n  - { hosts: [s2], kind: expired-certificate }\n`), silent);
    try {
      const presented = (h: (typeof lab.hosts)[number]) => new Promise<{ validTo: number; reply: number }>((resolve, reject) => {
        const req = https.request({ host: h.spec.address, port: h.port, path: '/wsman', method: 'POST', rejectUnauthorized: false, headers: { Authorization: basic(ADMIN), 'Content-Type': 'application/soap+xml' } }, (res) => {
          res.resume();
          resolve({ validTo: Date.parse((res.socket as import('node:tls').TLSSocket).getPeerCertificate().valid_to), reply: res.statusCode! });
        });
        req.on('error', reject);
        req.end(get);
      });
      const [valid, expired] = [await presented(lab.hosts[0]!), await presented(lab.hosts[1]!)];
      expect(valid.validTo).toBeGreaterThan(Date.now());
      expect(valid.reply).toBe(200);
      expect(expired.validTo).toBeLessThan(Date.now());
      // A client that checks dates refuses it (the lab's certificate is self-signed: trusted here as its own CA).
      await expect(new Promise((resolve, reject) => {
        const h = lab.hosts[1]!;
        const socket = tls.connect({ host: h.spec.address, port: h.port, rejectUnauthorized: false }, () => {
          const cert = socket.getPeerCertificate(true);
          socket.end();
          const check = tls.connect({ host: h.spec.address, port: h.port, ca: `-----BEGIN CERTIFICATE-----\n${cert.raw.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`, checkServerIdentity: () => undefined }, () => resolve('accepted'));
          check.on('error', reject);
        });
        socket.on('error', reject);
      })).rejects.toMatchObject({ code: 'CERT_HAS_EXPIRED' });
    } finally {
      await lab.close();
    }
    await expect(startLab(labOf(`${PROFILE}hosts:\n  - { name: p, profile: win, address: 127.0.36.9, port: 0, vars: { domain: LAB } }\nfaults:\n  - { kind: expired-certificate }\n`), silent)).rejects.toThrow(/host p: an expired-certificate fault needs an https host/);
  });

  it('reset on an https host (a TLS socket cannot send a TCP reset alone): the connection is cut, and the lab goes on', async () => {
    const lab = await startLab(labOf(`${PROFILE}hosts:\n  - { name: r, profile: win, address: 127.0.36.20, port: 0, https: true, vars: { domain: LAB } }\nfaults:\n  - { kind: reset }\n`), silent);
    try {
      const h = lab.hosts[0]!;
      for (let i = 0; i < 2; i++) {
        await expect(new Promise((resolve, reject) => {
          const req = https.request({ host: h.spec.address, port: h.port, path: '/wsman', method: 'POST', rejectUnauthorized: false, headers: { Authorization: basic(ADMIN) } }, resolve);
          req.on('error', reject);
          req.end(get);
        })).rejects.toThrow(/socket hang up|ECONNRESET/);
      }
      expect(await lab.control({ cmd: 'list' })).toEqual({ hosts: [expect.objectContaining({ name: 'r', up: true })] });
    } finally {
      await lab.close();
    }
  });

  it('a schedule: the fault applies from fromSeconds until untilSeconds', async () => {
    const lab = await startLab(faulty('  - { kind: http, status: 503, untilSeconds: 0.5 }\n'), silent);
    try {
      expect((await poster(lab, 0)(get)).status).toBe(503);
      await new Promise((r) => setTimeout(r, 600));
      expect((await poster(lab, 0)(get)).status).toBe(200);
    } finally {
      await lab.close();
    }
  });
});

describe('lab ctl: a host taken down, slowed and restored while the lab runs', () => {
  it('down refuses connections, up serves again, slow delays every request, restore undoes it', async () => {
    const lab = await startLab(labOf(`${PROFILE}hosts:\n  - { name: 'c{{n}}', count: 2, profile: win, address: 127.0.34.1, port: 0, vars: { domain: LAB } }\n`), silent);
    const get = envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_OperatingSystem` });
    try {
      expect(await lab.control({ cmd: 'down', host: 'c2' })).toEqual({ hosts: [expect.objectContaining({ name: 'c2', up: false })] });
      await expect(poster(lab, 1)(get)).rejects.toThrow(/ECONNREFUSED/);
      expect((await poster(lab, 0)(get)).status).toBe(200);
      await lab.control({ cmd: 'up', host: 'c2' });
      expect((await poster(lab, 1)(get)).status).toBe(200);
      await lab.control({ cmd: 'slow', host: 'all', ms: 250 });
      const started = Date.now();
      expect((await poster(lab, 0)(get)).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      await lab.control({ cmd: 'down', host: 'c1' });
      const restored = (await lab.control({ cmd: 'restore', host: 'all' })) as { hosts: { up: boolean; slowMs: number }[] };
      expect(restored.hosts.map((h) => [h.up, h.slowMs])).toEqual([[true, 0], [true, 0]]);
      expect(await lab.control({ cmd: 'down', host: 'nope' })).toEqual({ error: 'no host is named nope' });
    } finally {
      await lab.close();
    }
  });
});

describe('winrmd lab and winrmd lab ctl (the built command line)', () => {
  const main = path.resolve('dist/src/main.js');
  const cli = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('node', [main, ...args], (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });

  it('serves the file\'s hosts, prints them and writes an Ansible inventory; lab ctl lists, takes down and restores; a bad file is exit 2 at its line', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-labcli-'));
    try {
      const file = path.join(dir, 'lab.yaml');
      writeFileSync(file, `${PROFILE}hosts:\n  - { name: 'k{{n}}', count: 2, profile: win, address: 127.0.35.1, port: 0, vars: { domain: LAB } }\nstateDir: state\n`);
      const inventory = path.join(dir, 'inventory.ini');
      const lab = spawn('node', [main, 'lab', '--config', file, '--inventory', inventory], { stdio: ['ignore', 'pipe', 'pipe'] });
      let printed = '';
      lab.stdout.setEncoding('utf8').on('data', (d: string) => (printed += d));
      try {
        await eventually(async () => printed, (p) => p.split('\n').filter((l) => /^k\d\t/.test(l)).length === 2, 15_000);
        const rows = printed.split('\n').filter((l) => /^k\d\t/.test(l)).map((l) => l.split('\t'));
        expect(rows.map((r) => [r[0], r[1]!.split(':')[0], r[2]])).toEqual([['k1', '127.0.35.1', 'win'], ['k2', '127.0.35.2', 'win']]);
        expect(readFileSync(inventory, 'utf8')).toContain(`k2 ansible_host=127.0.35.2 ansible_port=${rows[1]![1]!.split(':')[1]}`);
        expect(statSync(path.join(dir, 'state')).mode & 0o777).toBe(0o700);
        expect((await cli(['lab', 'ctl', '--config', file, 'down', 'k2'])).stdout).toBe(`k2\t${rows[1]![1]}\tdown\n`);
        expect((await cli(['lab', 'ctl', '--config', file, 'list'])).stdout).toBe(`k1\t${rows[0]![1]}\tup\nk2\t${rows[1]![1]}\tdown\n`);
        expect((await cli(['lab', 'ctl', '--config', file, 'restore', 'all'])).stdout).toMatch(/k2\t\S+\tup\n$/);
        expect(await cli(['lab', 'ctl', '--config', file, 'down', 'k9'])).toMatchObject({ code: 1, stderr: 'winrmd: no host is named k9\n' });
      } finally {
        lab.kill('SIGTERM');
        await once(lab, 'close');
      }
      expect(await cli(['lab', 'ctl', '--config', file, 'list'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/no lab is running with/) });
      writeFileSync(file, `${PROFILE}hosts:\n  - { name: k, profile: nowhere }\n`);
      const bad = await cli(['lab', '--config', file]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toBe(`winrmd: invalid lab file:\n${file}:${lineOf(readFileSync(file, 'utf8'), 'nowhere')}: hosts.0.profile: no profile is named nowhere\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('record and replay: a recording made against a live winrmd, served back by the lab', () => {
  it('Identify, Get, Enumerate and shell commands replay as recorded: the same bodies byte for byte, the same output and exit codes; no credential is in the recording', async () => {
    const live = await testServer({ service: { allowUnencrypted: true } }, [createShellProvider(configSchema.parse({}).shell)]);
    const liveHttp = http.createServer(live.server.app.callback());
    await new Promise<void>((r) => liveHttp.listen(0, '127.0.0.1', r));
    const target = `http://127.0.0.1:${(liveHttp.address() as AddressInfo).port}/wsman`;
    // Towards the live host with NTLM and message encryption; clients reach the recorder with Basic.
    const recorder = await startRecorder({ target, credentials: { ntlm: { user: ALICE.user, password: ALICE.password } }, listen: { host: '127.0.0.1', port: 0 }, user: { name: ALICE.user, password: ALICE.password }, redact: [/recorded-secret-\w+/], log: silent });
    const via = (url: string, who: { user: string; password: string }) => async (xml: string) => {
      const res = await request(url).post('/wsman').set('Content-Type', 'application/soap+xml;charset=UTF-8').set('Authorization', basic(who)).send(xml).buffer(true).parse((r, cb) => {
        let t = '';
        r.on('data', (c: Buffer) => (t += c.toString('utf8')));
        r.on('end', () => cb(null, t));
      });
      return { status: res.status, text: res.body as string };
    };
    const body = (xml: string) => xml.slice(xml.indexOf('<s:Body>'));
    const session = async (post: ReturnType<typeof via>, who: { user: string; password: string }) => {
      const shell = new ShellClient(post, who);
      const id = await shell.create();
      const out: { stdout: string; stderr: string; exitCode: number }[] = [];
      for (const [command, args, stdin] of [['echo', ['recorded-output'], undefined], ['cat', [], 'typed input {"become_password": "hunter2-secret", "name": "kept"}\n'], ['sh', ['-c', '"echo to-stderr >&2; exit 3"'], undefined], ['echo', ['recorded-secret-abc'], undefined]] as const) {
        const cmd = await shell.command(id, command, [...args]);
        if (stdin !== undefined) await shell.send(id, cmd, stdin, true);
        const r = await shell.receiveAll(id, cmd);
        out.push({ stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), exitCode: r.exitCode });
      }
      await shell.delete(id);
      return {
        identify: xp((await post(identify())).text, 'string(//*[local-name()="ProductVersion"])'),
        os: body((await post(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_OperatingSystem` }))).text),
        system: body((await post(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_ComputerSystem` }))).text),
        services: [...(await enumerateAll(post, `${URI.wmi}/Win32_LogicalDisk`)), ...(await enumerateAll(post, `${URI.wmi}/Win32_Process`))].map((s) => s.props),
        out,
      };
    };
    let recorded;
    let text;
    try {
      recorded = await session(via(`http://127.0.0.1:${recorder.port}`, ALICE), ALICE);
      text = recorder.labFile();
    } finally {
      await recorder.close();
      await new Promise<void>((r) => liveHttp.close(() => r()));
      await live.server.close();
    }
    expect(recorded.out.map((o) => o.exitCode)).toEqual([0, 0, 3, 0]);
    expect(recorded.services.length).toBeGreaterThan(0);
    // Nothing of the credentials, and the redacted pattern gone.
    expect(text).not.toContain(ALICE.password);
    expect(text).not.toMatch(/Authorization|NTLM|TlRMTVNT/);
    expect(text).not.toContain('recorded-secret-abc');
    // A secret-named JSON value on stdin (Ansible's module arguments) is cut; the rest is kept.
    expect(text).not.toContain('hunter2-secret');
    expect(text).toMatch(/"name": "kept"/);
    expect(text).toContain('templates: false');

    const recording = readLab('recorded.yaml', () => text.replace(/port: 5985/, 'port: 0'));
    const lab = await startLab(recording, silent);
    try {
      // Read as YAML: a generated password may be written quoted.
      const labUser = { user: ALICE.user, password: recording.file.users[0]!.password };
      const h = lab.hosts[0]!;
      const replayed = await session(via(`http://${h.spec.address}:${h.port}`, labUser), labUser);
      expect(replayed.identify).toBe(recorded.identify);
      expect(replayed.os).toBe(recorded.os);
      expect(replayed.system).toBe(recorded.system);
      expect(replayed.services).toEqual(recorded.services);
      expect(replayed.out[0]).toEqual(recorded.out[0]);
      expect(replayed.out[2]).toEqual(recorded.out[2]);
      // The input the recording redacted is not what this client sends: no rule matches it.
      expect(replayed.out[1]!.exitCode).toBe(9009);
      // The redacted command line no longer matches what the client sends: not found, as the lab says.
      expect(replayed.out[3]!.exitCode).toBe(9009);
    } finally {
      await lab.close();
    }
  }, 120_000);
});

describe('record and replay of classes winrmd does not declare', () => {
  it('are declared in the recording as the target showed them (keys from the selectors it answered, datetimes, lists) and replay with the same bodies', async () => {
    const target = await startLab(labOf(`${QFE}hosts:\n  - { name: patched, profile: win, address: 127.0.36.1, port: 0, vars: { domain: LAB } }\n`), silent);
    const record = async (session: (post: ReturnType<typeof posterAt>) => Promise<unknown>) => {
      const recorder = await startRecorder({ target: `http://127.0.36.1:${target.hosts[0]!.port}/wsman`, credentials: { ntlm: { user: ADMIN.user, password: ADMIN.password } }, listen: { host: '127.0.0.1', port: 0 }, user: { name: ADMIN.user, password: ADMIN.password }, log: silent });
      try {
        return { seen: await session(posterAt(`http://127.0.0.1:${recorder.port}`)), text: recorder.labFile() };
      } finally {
        await recorder.close();
      }
    };
    const replay = async <T>(text: string, session: (post: ReturnType<typeof posterAt>) => Promise<T>) => {
      const recording = readLab('recorded.yaml', () => text.replace(/port: 5985/, 'port: 0'));
      const lab = await startLab(recording, silent);
      try {
        return await session(posterAt(`http://127.0.0.1:${lab.hosts[0]!.port}`, { user: ADMIN.user, password: recording.file.users[0]!.password }));
      } finally {
        await lab.close();
      }
    };
    const declared = (text: string) => readLab('recorded.yaml', () => text).file.profiles.recorded!;
    // A client asks in its own case (CIM names are case-insensitive), is refused once for a selector that is no key, and enumerates.
    const session = async (post: ReturnType<typeof posterAt>) => {
      const refused = await post(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_QuickFixEngineering`, selectors: { Name: 'nothing' } }));
      return {
        refused: refused.status,
        one: (await post(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/win32_quickfixengineering`, selectors: { hotfixid: 'KB5005039' } }))).text.replace(/^[\s\S]*<s:Body>/, ''),
        all: (await enumerateAll(post, `${URI.wmi}/Win32_QuickFixEngineering`)).map((i) => i.props),
      };
    };
    try {
      const { seen, text } = await record(session);
      const recorded = seen as Awaited<ReturnType<typeof session>>;
      expect(recorded.refused).toBe(500);
      expect(recorded.all).toHaveLength(2);
      expect(declared(text).declare).toEqual({ Win32_QuickFixEngineering: { keys: ['HotFixID'], properties: { Caption: 'string', Description: 'string', HotFixID: 'string', InstallDate: 'datetime', InstalledOn: 'string', Name: 'string', Size: 'string', Status: 'string', Tags: 'string[]', toString: 'string' } } });
      const replayed = await replay(text, session);
      expect(replayed.one).toBe(recorded.one);
      expect(replayed.all).toEqual(recorded.all);

      // Enumerated only: no selector says the keys. Name is nil in every row (as Windows writes
      // this class), so it cannot be one; no row is lost to a key that does not tell them apart.
      const enumerated = await record(async (post) => (await enumerateAll(post, `${URI.wmi}/Win32_QuickFixEngineering`)).map((i) => i.props));
      const keys = declared(enumerated.text).declare.Win32_QuickFixEngineering!.keys;
      expect(keys).not.toContain('Name');
      expect(await replay(enumerated.text, async (post) => (await enumerateAll(post, `${URI.wmi}/Win32_QuickFixEngineering`)).map((i) => i.props))).toEqual(enumerated.seen);
    } finally {
      await target.close();
    }
  }, 60_000);
});

describe('the recorder listens where only this machine reaches it', () => {
  it('refuses an address that is not loopback: its clients send it the target\'s password', async () => {
    await expect(startRecorder({ target: 'http://127.0.0.1:1/wsman', credentials: {}, listen: { host: '0.0.0.0', port: 0 }, user: { name: 'a', password: 'b' }, log: silent })).rejects.toThrow(/loopback address only \(not 0\.0\.0\.0\)/);
    await expect(startRecorder({ target: 'http://127.0.0.1:1/wsman', credentials: {}, listen: { host: '', port: 0 }, user: { name: 'a', password: 'b' }, log: silent })).rejects.toThrow(/not every address/);
  });
});
