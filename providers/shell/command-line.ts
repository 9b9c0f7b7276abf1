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

/**
 * `cmd /c X`, `cmd.exe /S /C X` and `cmd /k X`: X is the command line. The switches before /c
 * (/s, /q, /d, /a, /u, /e:on, /v:off, …) are kept apart: /S changes the quote rule.
 */
const CMD_C = /^cmd(?:\.exe)?((?:\s+\/(?![ck]\b)[a-z](?::\w+)?)*)\s+\/[ck](?=\s|"|$)\s*([\s\S]*)$/i;
/** `powershell[.exe] …`: Windows PowerShell's executable, which pywinrm's run_ps and Ansible use. */
const POWERSHELL = /^powershell(?:\.exe)?(?:\s+([\s\S]*))?$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** cmd /? : the characters that make cmd.exe strip a quoted command line's quotes. */
const CMD_SPECIAL = /[&<>()@^|]/;

export async function interpret(command: string, args: string[], o: InterpretOptions): Promise<Launch> {
  if (o.skipCmdShell) {
    // As CreateProcess would, refuse a program that is not there (a fault, not an exit code).
    const file = await findProgram(command, o.searchPath);
    if (!file) throw new ProviderError('INVALID_PARAMETER', `The program ${command} was not found on the PATH (${o.searchPath}).`);
    return { file, args, display: [command, ...args].join(' ') };
  }
  // WinRS runs `cmd.exe /c <command> <arguments>` (MS-WSMV 3.1.4.11), so cmd's quote rule applies
  // to the joined line first (the Ruby WinRM gem sends `"uname -a; id"`), then again to X in `cmd /c X`.
  let line = await cmdQuotes([command, ...args].join(' ').trim(), o.searchPath);
  const cmd = CMD_C.exec(line);
  if (cmd) line = await cmdQuotes(cmd[2]!.trim(), o.searchPath, /\/s\b/i.test(cmd[1]!));
  const ps = POWERSHELL.exec(line);
  if (ps) {
    const script = powershellScript(windowsArgv(ps[1] ?? ''));
    if (script) return powershell(script, line, o);
  }
  return { file: o.interpreter, args: ['-c', line], display: line };
}

/**
 * cmd.exe's rule for the quotes of a `/c` command line (cmd /? , "If /C or /K is specified"):
 * the quotes are kept when there is no /S switch, exactly two quote characters, no special
 * character (&<>()@^|) between them, whitespace between them, and the text between them names
 * an executable file; otherwise, if the first character is a quote, it is removed together with
 * the last quote on the line, and any text after that quote is kept.
 */
export async function cmdQuotes(line: string, searchPath: string, sSwitch = false): Promise<string> {
  if (!line.startsWith('"')) return line;
  const last = line.lastIndexOf('"');
  if (last === 0) return line.slice(1);
  const quoted = line.slice(1, last);
  const keep = !sSwitch
    && !quoted.includes('"')
    && !CMD_SPECIAL.test(quoted)
    && /\s/.test(quoted)
    && (await findProgram(quoted, searchPath)) !== undefined;
  return keep ? line : quoted + line.slice(last + 1);
}

/**
 * The arguments of a Windows command line as the Microsoft C runtime splits them (the rules of
 * "Parsing C command-line arguments"): whitespace separates arguments outside quotes; before a
 * quote, 2n backslashes are n backslashes and the quote opens or closes quoting, 2n+1 are n and a
 * literal quote; other backslashes are literal; `""` inside quotes is a literal quote.
 */
export function windowsArgv(line: string): string[] {
  const argv: string[] = [];
  let arg: string | undefined;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\') {
      let n = 1;
      while (line[i + n] === '\\') n++;
      const odd = line[i + n] === '"' && n % 2 === 1;
      arg = (arg ?? '') + '\\'.repeat(line[i + n] === '"' ? n >> 1 : n) + (odd ? '"' : '');
      i += odd ? n : n - 1; // an even run leaves its quote to be read as one
    } else if (c === '"') {
      if (quoted && line[i + 1] === '"') {
        arg = (arg ?? '') + '"';
        i++;
      } else {
        quoted = !quoted;
        arg ??= '';
      }
    } else if (!quoted && /\s/.test(c)) {
      if (arg !== undefined) argv.push(arg);
      arg = undefined;
    } else {
      arg = (arg ?? '') + c;
    }
  }
  if (arg !== undefined) argv.push(arg);
  return argv;
}

type Script = { encoded: string } | { command: string };

/**
 * What PowerShell is asked to run: `-EncodedCommand <base64 of UTF-16LE>` (also `-enc`, `-e`,
 * `-ec`, any prefix PowerShell accepts), or `-Command <script>` (also `-c`, `-com`…), whose
 * script is every argument after it joined by spaces, as powershell.exe reads it. The first of
 * them wins; undefined when the line has neither (other flags, -NoProfile and the like, before).
 */
function powershellScript(argv: string[]): Script | undefined {
  for (let i = 0; i < argv.length - 1; i++) {
    const word = argv[i]!;
    const flag = word.replace(/^[-/]+/, '').toLowerCase();
    if (!word.startsWith('-') || flag.length === 0) continue;
    if (flag === 'ec' || 'encodedcommand'.startsWith(flag)) return { encoded: argv[i + 1]! };
    if (flag === 'c' || (flag.length >= 3 && 'command'.startsWith(flag))) return { command: argv.slice(i + 1).join(' ') };
  }
  return undefined;
}

async function powershell(script: Script, line: string, o: InterpretOptions): Promise<Launch> {
  const display = 'encoded' in script
    ? `powershell -EncodedCommand <${script.encoded.length} base64 characters>`
    : `powershell -Command <${script.command.length} characters>`;
  if ('encoded' in script && (!BASE64.test(script.encoded) || script.encoded.length % 4 !== 0)) {
    return failing(o, `winrmd: the -EncodedCommand argument is not base64 (${line.length} characters)`, display);
  }
  const pwsh = await findProgram(o.pwsh, o.searchPath);
  if (!pwsh) {
    return failing(o, `winrmd: this host has no PowerShell: "${o.pwsh}" is not on the PATH (${o.searchPath}). Install PowerShell (pwsh) to run PowerShell scripts.`, display);
  }
  // pwsh decodes -EncodedCommand itself (UTF-16LE), and gets a -Command script as one argument:
  // the script is never re-quoted for a shell.
  const run = 'encoded' in script ? ['-EncodedCommand', script.encoded] : ['-Command', script.command];
  return { file: pwsh, args: ['-NoProfile', '-NonInteractive', ...run], display };
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
