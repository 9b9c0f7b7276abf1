// How a WinRS command line becomes a Linux process. Clients send Windows command lines: a command
// and arguments that cmd.exe would join and interpret. winrmd gives the joined line to a POSIX
// shell instead, with two Windows forms translated, and runs the program directly when the client
// asks for no command shell (MS-WSMV 2.2.4.39, WINRS_SKIP_CMD_SHELL).
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { ProviderError } from '../../src/provider-api.js';

export interface Launch {
  file: string;
  args: string[];
  /** What the log shows, when command lines are logged at all. */
  display: string;
}

export interface InterpretOptions {
  /** The POSIX shell, run as `<interpreter> -c <line>`. */
  interpreter: string;
  /** The program that runs PowerShell scripts, looked up on `searchPath`. */
  pwsh: string;
  /** The PATH of the environment the command starts with. */
  searchPath: string;
  skipCmdShell: boolean;
}

/** `cmd /c X` and `cmd.exe /C X`: X is the command line. */
const CMD_C = /^cmd(?:\.exe)?\s+\/[ck]\s+([\s\S]*)$/i;
/** `powershell[.exe] …`: Windows PowerShell's executable, which pywinrm's run_ps and Ansible use. */
const POWERSHELL = /^powershell(?:\.exe)?(?:\s+([\s\S]*))?$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export async function interpret(command: string, args: string[], o: InterpretOptions): Promise<Launch> {
  if (o.skipCmdShell) {
    // As CreateProcess would, refuse a program that is not there (a fault, not an exit code).
    const file = await findProgram(command, o.searchPath);
    if (!file) throw new ProviderError('INVALID_PARAMETER', `The program ${command} was not found on the PATH (${o.searchPath}).`);
    return { file, args, display: [command, ...args].join(' ') };
  }
  let line = [command, ...args].join(' ').trim();
  const cmd = CMD_C.exec(line);
  if (cmd) line = cmd[1]!.trim();
  const ps = POWERSHELL.exec(line);
  if (ps) {
    const encoded = encodedCommand(ps[1] ?? '');
    if (encoded !== undefined) return powershell(encoded, line, o);
  }
  return { file: o.interpreter, args: ['-c', line], display: line };
}

/**
 * The script of `-EncodedCommand <base64 of UTF-16LE>` (also `-enc`, `-e`, `-ec`, any prefix
 * PowerShell accepts), or undefined when the line has none.
 */
function encodedCommand(rest: string): string | undefined {
  const words = rest.split(/\s+/).filter(Boolean);
  for (let i = 0; i < words.length - 1; i++) {
    const flag = words[i]!.replace(/^[-/]+/, '').toLowerCase();
    if (flag === 'ec' || (flag.length > 0 && 'encodedcommand'.startsWith(flag) && words[i]!.startsWith('-'))) return words[i + 1];
  }
  return undefined;
}

async function powershell(encoded: string, line: string, o: InterpretOptions): Promise<Launch> {
  const display = `powershell -EncodedCommand <${encoded.length} base64 characters>`;
  if (!BASE64.test(encoded) || encoded.length % 4 !== 0) {
    return failing(o, `winrmd: the -EncodedCommand argument is not base64 (${line.length} characters)`, display);
  }
  const pwsh = await findProgram(o.pwsh, o.searchPath);
  if (!pwsh) {
    return failing(o, `winrmd: this host has no PowerShell: "${o.pwsh}" is not on the PATH (${o.searchPath}). Install PowerShell (pwsh) to run PowerShell scripts.`, display);
  }
  // pwsh decodes -EncodedCommand itself (UTF-16LE): the script is never re-quoted.
  return { file: pwsh, args: ['-NoProfile', '-NonInteractive', '-EncodedCommand', encoded], display };
}

/** A command that prints why it cannot run on stderr and exits 127, as a shell does for "not found". */
function failing(o: InterpretOptions, message: string, display: string): Launch {
  return { file: o.interpreter, args: ['-c', 'printf "%s\\n" "$1" >&2; exit 127', 'winrmd', message], display };
}

/** The program's absolute path: itself when it has a slash, else the first executable on PATH. */
export async function findProgram(name: string, searchPath: string): Promise<string | undefined> {
  const candidates = name.includes('/') ? [name] : searchPath.split(':').filter(Boolean).map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
