// How Windows command lines become Linux processes (providers/shell/command-line.ts).
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interpret, type InterpretOptions } from '../../../../providers/shell/command-line.js';
import { ProviderError } from '../../../../src/provider-api.js';

describe('interpret', () => {
  let dir: string;
  let o: InterpretOptions;
  const script = Buffer.from('Get-Date', 'utf16le').toString('base64');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'winrmd-cl-'));
    await writeFile(path.join(dir, 'pwsh'), '#!/bin/sh\n');
    await chmod(path.join(dir, 'pwsh'), 0o755);
    o = { interpreter: '/bin/sh', pwsh: 'pwsh', searchPath: `/nonexistent:${dir}`, skipCmdShell: false };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('joins command and arguments with spaces and gives the line to the POSIX shell', async () => {
    expect(await interpret('ls', ['-la', '/'], o)).toEqual({ file: '/bin/sh', args: ['-c', 'ls -la /'], display: 'ls -la /' });
  });

  it('`cmd /c X` and `cmd.exe /C X` run X', async () => {
    expect((await interpret('cmd /c echo hi', [], o)).args).toEqual(['-c', 'echo hi']);
    expect((await interpret('CMD.EXE', ['/C', 'dir'], o)).args).toEqual(['-c', 'dir']);
  });

  it.each([
    `powershell -encodedcommand ${script}`,
    `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand ${script}`,
    `PowerShell -enc ${script}`,
    `powershell -e ${script}`,
    `powershell -ec ${script}`,
    `cmd /c powershell -EncodedCommand ${script}`,
  ])('%s runs pwsh -NoProfile -NonInteractive -EncodedCommand, the script never re-quoted', async (line) => {
    const launch = await interpret(line, [], o);
    expect(launch.file).toBe(path.join(dir, 'pwsh'));
    expect(launch.args).toEqual(['-NoProfile', '-NonInteractive', '-EncodedCommand', script]);
    expect(launch.display).not.toContain(script); // scripts can be long, and carry secrets
  });

  it('without pwsh on the PATH: a command that says so on stderr and exits 127', async () => {
    const launch = await interpret(`powershell -encodedcommand ${script}`, [], { ...o, searchPath: '/nonexistent' });
    expect(launch.file).toBe('/bin/sh');
    expect(launch.args[1]).toBe('printf "%s\\n" "$1" >&2; exit 127');
    expect(launch.args[3]).toMatch(/no PowerShell: "pwsh" is not on the PATH/);
  });

  it('an -EncodedCommand that is not base64 is reported the same way', async () => {
    expect((await interpret('powershell -encodedcommand not*base64', [], o)).args[3]).toMatch(/not base64/);
  });

  it('powershell without -EncodedCommand is an ordinary command line', async () => {
    expect((await interpret('powershell -Command Get-Date', [], o)).args).toEqual(['-c', 'powershell -Command Get-Date']);
  });

  it('WINRS_SKIP_CMD_SHELL: the program found on the PATH, its arguments as given', async () => {
    expect(await interpret('pwsh', ['a b', '$X'], { ...o, skipCmdShell: true })).toMatchObject({ file: path.join(dir, 'pwsh'), args: ['a b', '$X'] });
    await expect(interpret('no-such-program', [], { ...o, skipCmdShell: true })).rejects.toThrow(ProviderError);
  });
});
