// Scripted shells (issue 17 item 3): a virtual host's commands answered by the profile's rules
// instead of run. Each command is a Process (providers/shell/command.ts) fed by its rule, so the
// WinRS protocol around it (Create, Command, Send, Receive with its long poll, Signal, quotas) is
// the real shell provider's. A rule matches the command line, the PowerShell script of
// `-EncodedCommand` (decoded), and stdin (then the command waits for its input to end, as a
// script reading stdin does); the first rule that matches answers: stdout, stderr and an exit
// code, after a delay, or as a stream over time. Nothing matches: `not-found` answers as cmd.exe
// does (exit 9009), `run` runs the command line on this machine (allowRealExecution only).
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import type { Account, CommandRunner, Process, Shell } from '../../providers/shell/index.js';
import { killGroup, SERVER_ENV, serverTag } from '../../providers/common/processes.js';
import { argumentTooLong } from '../../providers/common/system.js';
import type { Caller } from '../provider-api.js';
import type { ShellRule } from './file.js';
import { expand, type Vars } from './profile.js';

/** Input a scripted command keeps to match on; the rest is read and dropped. */
const STDIN_LIMIT = 16 * 1024 * 1024;
/** cmd.exe's exit code for a command it cannot find. */
const NOT_FOUND = 9009;

/** The script of `powershell … -EncodedCommand <base64 of UTF-16LE>` (any abbreviation PowerShell accepts: -e, -ec, -enc, …). */
export function encodedScript(args: string[]): string | undefined {
  for (let i = 0; i < args.length - 1; i++) {
    const flag = args[i]!.toLowerCase().replace(/^[-/]/, '');
    if (flag.length > 0 && 'encodedcommand'.startsWith(flag) && /^-|^\//.test(args[i]!)) return Buffer.from(args[i + 1]!, 'base64').toString('utf16le');
  }
  return undefined;
}

/**
 * The script a command line runs in PowerShell: its -EncodedCommand decoded, and again while that
 * script is itself a PowerShell command line (Ansible encodes its bootstrap, then the command that
 * runs it). Undefined for a command that is not PowerShell's.
 */
export function powershellScript(line: string): string | undefined {
  let script: string | undefined;
  for (let text = line, depth = 0; depth < 4 && /^\s*(powershell|pwsh)(\.exe)?\s/i.test(text); depth++) {
    const inner = encodedScript(text.trim().split(/\s+/).slice(1));
    if (inner === undefined) break;
    script = text = inner;
  }
  return script;
}

interface Compiled {
  rule: ShellRule;
  /** The rule's output with the host's variables, made once (an unknown variable is the lab file's error at start). */
  stdout: string;
  stderr: string;
  stream: { afterMs: number; stdout: string; stderr: string }[];
  command?: RegExp;
  powershell?: RegExp;
  stdin?: RegExp;
}

export interface ScriptOptions {
  rules: ShellRule[];
  fallback: 'not-found' | 'run';
  /** The host's variables, for the rules' output templates. */
  vars: Vars;
  /** For a template's unknown variable: where the rule is. */
  where(ruleIndex: number): string;
  /** Whether the rules' output is a template (false: a recorded profile's text, as it was). */
  templates: boolean;
}

let nextPid = 4000;

/** A command's process as the rules make it: output written to its streams, then its close. */
class ScriptedProcess extends EventEmitter implements Process {
  readonly pid = (nextPid = nextPid >= 65_000 ? 4000 : nextPid + 4);
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly stdin: Writable;
  private input: Buffer[] = [];
  private inputBytes = 0;
  private readonly inputEnded: Promise<string>;
  private timers = new Set<NodeJS.Timeout>();
  private done = false;

  /** `keepInput`: a rule may read the command's stdin; else input is read and dropped. */
  constructor(keepInput: boolean) {
    super();
    let ended!: (s: string) => void;
    this.inputEnded = new Promise((r) => (ended = r));
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (keepInput && !this.done && this.inputBytes < STDIN_LIMIT) this.input.push(chunk);
        this.inputBytes += chunk.length;
        cb();
      },
      final: (cb) => {
        ended(Buffer.concat(this.input).toString('utf8'));
        cb();
      },
    });
  }

  stdinText(): Promise<string> {
    return this.inputEnded;
  }

  after(ms: number, fn: () => void): void {
    if (this.done) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.done) fn();
    }, ms);
    this.timers.add(t);
  }

  write(stream: 'stdout' | 'stderr', text: string): void {
    if (!this.done && text) this[stream].write(Buffer.from(text, 'utf8'));
  }

  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.done) return;
    this.done = true;
    this.input = []; // what a finished command was sent is not kept (a shell keeps its last commands)
    for (const t of this.timers) clearTimeout(t);
    this.stdout.end();
    this.stderr.end();
    // 'close' after both streams have ended, as a child process's.
    let open = 2;
    const closed = () => --open === 0 && this.emit('close', code, signal);
    this.stdout.once('end', closed).resume();
    this.stderr.once('end', closed).resume();
  }

  /** A terminate or Ctrl+C ends a scripted command at once, as the signal would end most programs. */
  signalGroup(sig: NodeJS.Signals): void {
    this.exit(null, sig);
  }
}

/**
 * A command line run on this machine (`fallback: run`), as winrmd's own account: a real process,
 * tagged as this server's (so a sweep after a crash finds it), or a scripted failure when it
 * cannot start (too long, or no process to be had).
 */
function realProcess(line: string): Process {
  const tooLong = argumentTooLong([line]);
  if (tooLong) return failed(`The command line cannot run: ${tooLong}.\r\n`);
  let child;
  try {
    child = spawn('/bin/sh', ['-c', line], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, [SERVER_ENV]: serverTag() } });
  } catch (err) {
    return failed(`The command cannot start: ${(err as Error).message}\r\n`);
  }
  child.stdin.on('error', () => undefined);
  // EAGAIN, EMFILE: the command did not start; 'close' follows with no code.
  child.on('error', () => undefined);
  return Object.assign(child, { session: child.pid, signalGroup: (sig: NodeJS.Signals) => child.pid && killGroup(child.pid, sig) }) as unknown as Process;
}

function failed(message: string): Process {
  const p = new ScriptedProcess(false);
  p.write('stderr', message);
  p.exit(127);
  return p;
}

export function scriptedRunner(o: ScriptOptions): CommandRunner {
  const compiled: Compiled[] = o.rules.map((rule, i) => {
    const text = (s: string | undefined) => (o.templates ? expand(s ?? '', o.vars, o.where(i)) : s ?? '');
    return {
      rule,
      stdout: text(rule.stdout),
      stderr: text(rule.stderr),
      stream: rule.stream.map((part) => ({ afterMs: part.afterMs, stdout: text(part.stdout), stderr: text(part.stderr) })),
      command: rule.command !== undefined ? new RegExp(rule.command, 'i') : undefined,
      powershell: rule.powershell !== undefined ? new RegExp(rule.powershell, 'i') : undefined,
      stdin: rule.stdin !== undefined ? new RegExp(rule.stdin) : undefined,
    };
  });

  // One part after another, each timed from the one before, then the exit: timers of different
  // lengths set at once can fire out of order when the event loop is late (a loaded run exited a
  // stream before its first part, which was then lost).
  const answer = (p: ScriptedProcess, c: Compiled) => {
    const parts = [{ afterMs: c.rule.delayMs, stdout: c.stdout, stderr: c.stderr }, ...c.stream];
    const next = (i: number): void => {
      const part = parts[i];
      if (!part) return p.exit(c.rule.exitCode);
      p.after(part.afterMs, () => {
        p.write('stdout', part.stdout);
        p.write('stderr', part.stderr);
        next(i + 1);
      });
    };
    next(0);
  };

  /** As cmd.exe answers a program it cannot find; as PowerShell answers an unknown command in a script. */
  const notFound = (p: ScriptedProcess, line: string, script: string | undefined) => {
    if (script !== undefined) {
      const name = script.trim().split(/\s+/)[0] ?? '';
      p.write('stderr', `${name} : The term '${name}' is not recognized as the name of a cmdlet, function, script file, or operable program.\r\n`);
      return p.exit(1);
    }
    p.write('stderr', `'${line.split(/\s+/)[0]}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n`);
    p.exit(NOT_FOUND);
  };

  return {
    open(caller: Caller, askedCwd: string | undefined): { account: Account; cwd: string } {
      const name = caller.runAs || caller.user;
      const home = `C:\\Users\\${name}`;
      return { account: { name, uid: -1, gid: -1, home, shell: 'cmd.exe' }, cwd: askedCwd ?? home };
    },

    start({ program, args }, _shell: Shell): Process {
      const line = [program, ...args].join(' ');
      const script = powershellScript(line);
      const without = (c: Compiled) => (!c.command || c.command.test(line)) && (!c.powershell || (script !== undefined && c.powershell.test(script)));
      const first = compiled.find(without);
      if (!first && o.fallback === 'run') return realProcess(line);
      const p = new ScriptedProcess(first?.stdin !== undefined);
      if (!first) {
        notFound(p, line, script);
      } else if (!first.stdin) {
        answer(p, first);
      } else {
        // The first candidate reads stdin: decide once the input has ended. No rule matches it
        // (a command that read what it was sent): not found, since its input is spent.
        void p.stdinText().then((stdin) => {
          const chosen = compiled.find((c) => without(c) && (!c.stdin || c.stdin.test(stdin)));
          if (chosen) answer(p, chosen);
          else notFound(p, line, script);
        });
      }
      return p;
    },
  };
}
