// How Windows command lines become Linux processes (providers/shell/command-line.ts).
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmdQuotes, interpret, windowsArgv, type InterpretOptions } from '../../../../providers/shell/command-line.js';
import { ProviderError } from '../../../../src/provider-api.js';

describe('interpret', () => {
  let dir: string;
  let o: InterpretOptions;
  const script = Buffer.from('Get-Date', 'utf16le').toString('base64');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'winrmd-cl-'));
    for (const name of ['pwsh', 'my tool']) {
      await writeFile(path.join(dir, name), '#!/bin/sh\n');
      await chmod(path.join(dir, name), 0o755);
    }
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

  // powershell.exe reads every argument after -Command as the script, joined by spaces.
  it.each([
    ['powershell -Command Get-Date', 'Get-Date'],
    ['powershell -command "Get-Date; echo hi"', 'Get-Date; echo hi'],
    ['PowerShell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command "& { Get-Process }"', '& { Get-Process }'],
    ['powershell -c Write-Output "a b" c', 'Write-Output a b c'],
    ['powershell -COM "Write-Output \\"quoted\\""', 'Write-Output "quoted"'],
    ['powershell -Command -', '-'],
    ['cmd /c powershell -NoProfile -Command "$x = 1; $x"', '$x = 1; $x'],
    ['"powershell -Command "Get-Date""', 'Get-Date'],
  ])('%s runs pwsh -NoProfile -NonInteractive -Command with the script as one argument', async (line, script) => {
    const launch = await interpret(line, [], o);
    expect(launch.file).toBe(path.join(dir, 'pwsh'));
    expect(launch.args).toEqual(['-NoProfile', '-NonInteractive', '-Command', script]);
    expect(launch.display).toBe(`powershell -Command <${script.length} characters>`);
  });

  it('powershell with neither -Command nor -EncodedCommand is an ordinary command line', async () => {
    expect((await interpret('powershell -NoProfile', [], o)).args).toEqual(['-c', 'powershell -NoProfile']);
    expect((await interpret('powershell -co x', [], o)).args).toEqual(['-c', 'powershell -co x']); // -co is ambiguous
  });

  it('WINRS_SKIP_CMD_SHELL: the program found on the PATH, its arguments as given', async () => {
    expect(await interpret('pwsh', ['a b', '$X'], { ...o, skipCmdShell: true })).toMatchObject({ file: path.join(dir, 'pwsh'), args: ['a b', '$X'] });
    await expect(interpret('no-such-program', [], { ...o, skipCmdShell: true })).rejects.toThrow(ProviderError);
  });
});

// cmd /? ("If /C or /K is specified, then the remainder of the command line after the switch is
// processed as a command line, where the following logic is used to process quote characters"):
// quotes are kept when there is no /S, exactly two quotes, no &<>()@^| between them, whitespace
// between them, and the quoted text names an executable; otherwise, if the first character is a
// quote, it and the last quote on the line are removed and the text after that quote is kept.
describe('cmdQuotes, cmd.exe\'s /c quote rule', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'winrmd-q-'));
    await writeFile(path.join(dir, 'my tool'), '#!/bin/sh\n');
    await chmod(path.join(dir, 'my tool'), 0o755);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each([
    // [line, /S, result, why]
    ['uname -a; id', false, 'uname -a; id', 'no leading quote: untouched'],
    ['"uname -a; id"', false, 'uname -a; id', 'the Ruby WinRM gem: the text does not name an executable'],
    ['"ls" -la', false, 'ls -la', 'no whitespace between the quotes'],
    ['"echo a" && "echo b"', false, 'echo a" && "echo b', 'four quotes: the first and the last go'],
    ['"echo (x)"', false, 'echo (x)', 'a special character between the quotes'],
    ['"my tool"', false, '"my tool"', 'exactly two quotes, whitespace, names an executable on the PATH: kept'],
    ['"my tool" --flag', false, '"my tool" --flag', 'text after the closing quote does not matter'],
    ['"my tool"', true, 'my tool', '/S: always stripped'],
    ['"my tool" | cat', false, '"my tool" | cat', 'special characters outside the quotes do not matter'],
    ['"echo hi" tail', false, 'echo hi tail', 'text after the last quote is kept'],
    ['"unterminated', false, 'unterminated', 'a single quote: the leading one goes'],
    ['""', false, '', 'an empty pair'],
  ])('%s (/S %s) → %s: %s', async (line, s, result) => {
    expect(await cmdQuotes(line, dir, s)).toBe(result);
  });

  it('an absolute path with a space names an executable too', async () => {
    const quoted = `"${path.join(dir, 'my tool')}"`;
    expect(await cmdQuotes(quoted, '/nonexistent')).toBe(quoted);
  });

  it('is applied to the joined line, then to X of `cmd /c X` (with its /S), before the translations', async () => {
    const o = { interpreter: '/bin/sh', pwsh: 'pwsh', searchPath: dir, skipCmdShell: false };
    expect((await interpret('"uname -a; id"', [], o)).args).toEqual(['-c', 'uname -a; id']);
    expect((await interpret('"cmd /c echo hi"', [], o)).args).toEqual(['-c', 'echo hi']);
    expect((await interpret('cmd /c "echo one & echo two"', [], o)).args).toEqual(['-c', 'echo one & echo two']);
    expect((await interpret('cmd /s /c "my tool"', [], o)).args).toEqual(['-c', 'my tool']);
    expect((await interpret('cmd /c "my tool"', [], o)).args).toEqual(['-c', '"my tool"']);
    expect((await interpret('"ls"', ['-la', '/'], o)).args).toEqual(['-c', 'ls -la /']);
  });
});

describe('windowsArgv, the C runtime\'s argument rules', () => {
  it.each([
    ['a b  c', ['a', 'b', 'c']],
    ['"a b" c', ['a b', 'c']],
    ['a"b c"d', ['ab cd']],
    ['\\"a\\"', ['"a"']],
    ['\\\\"a b"', ['\\a b']],
    ['a\\\\b', ['a\\\\b']],
    ['"a""b"', ['a"b']],
    ['""', ['']],
  ])('%s → %j', (line, argv) => {
    expect(windowsArgv(line)).toEqual(argv);
  });
});
