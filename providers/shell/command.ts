// One running command of a shell: its process, its output waiting for Receive, its stdin.
// The process leads its own session and process group (setsid), so a signal reaches everything
// it started. Output is held in order of arrival, bounded: past the bound the pipes are no
// longer read, and the command blocks on write until a Receive takes some (back-pressure).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { ProviderError } from '../../src/provider-api.js';
import { argumentTooLong } from '../common/system.js';
import type { OutputBudget, Resumable } from './output-budget.js';
import { killGroup } from '../common/processes.js';

export type StreamName = 'stdout' | 'stderr';

export interface Chunk {
  stream: StreamName;
  data: Buffer;
}

export interface Output {
  /** Adjacent chunks of one stream merged, in order. */
  chunks: Chunk[];
  /** Set once the process has exited and every byte of its output has been taken. */
  exitCode?: number;
  /** Output is left that did not fit the budget. */
  full: boolean;
}

/**
 * What a command runs as: a process of this host (its own session and process group), or
 * anything that behaves like one (the lab's scripted commands, src/lab/shell.ts).
 */
export interface Process {
  readonly pid: number;
  /** The session to sweep once the command ends (what it started outside its group); none for a scripted one. */
  readonly session?: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** 'close' comes after the exit and after both output streams have ended. */
  once(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  /** Signal the process and everything in its group. */
  signalGroup(sig: NodeJS.Signals): void;
}

/** How a command's output is held (StartOptions without what starts a process). */
export interface HoldOptions {
  /** Output held before the pipes are paused. */
  bufferBytes: number;
  /** Shared bounds this command's held output also counts against (its user's, the server's). */
  budgets?: OutputBudget[];
}

export interface StartOptions extends HoldOptions {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  uid?: number;
  gid?: number;
  /**
   * Runs with the process started but held before it executes the command (e.g. to charge it to
   * a cgroup before it can fork): the command runs once this settles.
   */
  hold?: { shell: string; until: (pid: number) => Promise<void> };
}

export class Command implements Resumable {
  readonly id = randomUUID().toUpperCase();
  readonly started = Date.now();
  private readonly held: Chunk[] = [];
  private heldBytes = 0;
  private paused = false;
  private stdinEnded = false;
  /** Settles once the last accepted input has been taken by the pipe (or went nowhere). */
  private inputPending?: Promise<boolean>;
  /** Set once a terminate signal has been given: later input is dropped without complaint. */
  private terminated = false;
  private result?: { code: number | null; signal: NodeJS.Signals | null };
  /** Wakes waiting Receives when output arrives or the process ends; replaced after each wake-up. */
  private wake = signalled();
  /** Set by terminate: output is read and dropped so the pipes can close. */
  private discarding = false;
  bytesOut = 0;
  /** Set once what its session left behind has been killed (shells.ts endCommands). */
  swept = false;
  /** Resolves when the process has ended and its pipes have closed. */
  private readonly closed: Promise<void>;

  private constructor(
    private readonly child: Process,
    private readonly bufferBytes: number,
    private readonly budgets: OutputBudget[],
  ) {
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream]!.on('data', (data: Buffer) => this.hold(stream, data));
    }
    // 'close' comes after the exit and after both pipes have ended: no output can follow it.
    this.closed = new Promise((resolve) => child.once('close', (code, signal) => {
      this.result = { code, signal };
      this.notify();
      resolve();
    }));
    // A process that exits without reading its stdin makes writes fail with EPIPE: not an error here.
    child.stdin!.on('error', () => undefined);
  }

  static async start(o: StartOptions): Promise<Command> {
    // Held: a shell waits for a line on fd 3, then becomes the command (exec keeps the pid).
    const [file, args] = o.hold ? [o.hold.shell, ['-c', 'read -r _ <&3; exec 3<&-; exec "$0" "$@"', o.file, ...o.args]] : [o.file, o.args];
    const tooLong = argumentTooLong(args);
    if (tooLong) throw new ProviderError('INVALID_PARAMETER', `The command line cannot run: ${tooLong}.`);
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: o.cwd,
        env: o.env,
        detached: true, // setsid(): its own session and process group, which signals address
        stdio: o.hold ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
        uid: o.uid,
        gid: o.gid,
      });
      await once(child, 'spawn');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ProviderError('INVALID_PARAMETER', `the command cannot start: ${o.file}: ${code ?? 'error'}`);
    }
    const command = Command.attach(Object.assign(child, { session: child.pid, signalGroup: (sig: NodeJS.Signals) => killGroup(child.pid!, sig) }) as unknown as Process, o);
    if (o.hold) {
      const gate = child.stdio[3] as Writable;
      gate.on('error', () => undefined);
      await o.hold.until(child.pid!).finally(() => gate.end('\n'));
    }
    return command;
  }

  /** A command around a process started elsewhere (the lab's scripted commands). */
  static attach(process: Process, o: HoldOptions): Command {
    return new Command(process, o.bufferBytes, o.budgets ?? []);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** The session to sweep when the command ends; none for a command that is not a process of this host. */
  get session(): number | undefined {
    return this.child.session;
  }

  get running(): boolean {
    return this.result === undefined;
  }

  /** The exit code as a shell reports it: 128 + the signal's number for a killed process. */
  get exitCode(): number | undefined {
    if (!this.result) return undefined;
    const { code, signal } = this.result;
    return code ?? 128 + (signal ? os.constants.signals[signal] : 0);
  }

  get exitSignal(): NodeJS.Signals | null {
    return this.result?.signal ?? null;
  }

  /** Resolves when the process has ended and its pipes have closed. */
  get ended(): Promise<void> {
    return this.closed;
  }

  /** Whether Done can be reported: the process has ended and nothing is left to take. */
  get finished(): boolean {
    return this.result !== undefined && this.held.length === 0;
  }

  /**
   * Take held output, oldest first, while its base64 fits `budget` characters (each chunk also
   * costs `perChunk`). Streams the client did not ask for are dropped, not held forever.
   */
  take(budget: number, streams: ReadonlySet<StreamName>, perChunk: number): Output {
    // Runs of one stream, joined once at the end (joining chunk by chunk copied a run's bytes over and over).
    const runs: { stream: StreamName; parts: Buffer[] }[] = [];
    let left = budget;
    while (this.held.length > 0) {
      const head = this.held[0]!;
      if (!streams.has(head.stream)) {
        this.held.shift();
        this.release(head.data.length);
        continue;
      }
      const last = runs[runs.length - 1];
      const cost = last?.stream === head.stream ? 0 : perChunk;
      // Whole base64 quanta: 3 bytes become 4 characters.
      const fits = Math.floor((left - cost) / 4) * 3;
      if (fits <= 0) break;
      const data = head.data.length <= fits ? head.data : head.data.subarray(0, fits);
      if (data.length === head.data.length) this.held.shift();
      else head.data = head.data.subarray(fits);
      this.release(data.length);
      left -= cost + Math.ceil(data.length / 3) * 4;
      if (last?.stream === head.stream) last.parts.push(data);
      else runs.push({ stream: head.stream, parts: [data] });
    }
    this.resume();
    const chunks = runs.map((r) => ({ stream: r.stream, data: r.parts.length === 1 ? r.parts[0]! : Buffer.concat(r.parts) }));
    return { chunks, exitCode: this.finished ? this.exitCode : undefined, full: this.held.length > 0 };
  }

  /** Resolves when output arrives or the process ends, or after `ms`, or when `signal` aborts. */
  async activity(ms: number, signal: AbortSignal): Promise<void> {
    if (this.held.length > 0 || this.result) return;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        this.wake.promise,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, ms);
          onAbort = () => resolve();
          signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Write to stdin (MS-WSMV 3.1.4.13); `end` closes it. At most one Send's data waits for the
   * pipe at a time: a Send that finds earlier input still unread waits for it within its own
   * OperationTimeout and, when that runs out, is refused with TimedOut keeping nothing, so a
   * command that never reads cannot make winrmd queue input without bound. Resolves once the
   * data is accepted (not necessarily read), or false when the input went nowhere: the command
   * was terminated, has exited, or has closed its stdin (EPIPE), as any command may at any time.
   */
  async write(data: Buffer, end: boolean, signal: AbortSignal): Promise<boolean> {
    // The Go client may send End after it has terminated the command (its Command.Close after a Signal).
    if (this.terminated) return false;
    for (let earlier = this.inputPending; earlier; earlier = this.inputPending) {
      await Promise.race([earlier, aborted(signal)]);
      // The reply is already TimedOut (the core answers at the deadline): keep none of this input.
      if (signal.aborted && this.inputPending) throw new ProviderError('TIMED_OUT', `the input of command ${this.id} was not accepted: its earlier input is still unread`);
    }
    if (this.terminated) return false;
    if (this.stdinEnded) throw new ProviderError('INVALID_PARAMETER', `the input of command ${this.id} has already ended`);
    if (end) this.stdinEnded = true;
    const stdin = this.child.stdin!;
    if (!this.running || !stdin.writable) return false;
    if (data.length > 0) {
      // The callback comes once the kernel has the data, or with the write's error (EPIPE).
      const taken = Promise.race([
        new Promise<boolean>((resolve) => stdin.write(data, (err) => resolve(!err))),
        this.closed.then(() => false),
      ]);
      const pending = (this.inputPending = taken.finally(() => {
        if (this.inputPending === pending) this.inputPending = undefined;
      }));
      if (end) stdin.end(); // after the data, once it has been taken
      // Accepted: the reply does not wait for the reader (the next Send does). A pipe with room
      // takes the data at once, and a reader that has gone shows as EPIPE by then.
      return Promise.race([taken, new Promise<boolean>((resolve) => setImmediate(() => resolve(true)))]);
    }
    if (end && stdin.writable) stdin.end();
    return true;
  }

  /** Input accepted but not yet taken by the command's reader. */
  get pendingInputBytes(): number {
    return this.child.stdin?.writableLength ?? 0;
  }

  /** Send a signal to the command's whole process group. */
  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.signalGroup(sig);
  }

  /**
   * End the command: SIGTERM to its process group, SIGKILL after the grace period. Resolves when
   * the process has ended; what it started outside its group is the caller's to sweep
   * (sweepSessions with this pid), once for all the commands it ends.
   */
  async terminate(graceMs: number): Promise<void> {
    this.terminated = true;
    this.discard();
    if (!this.running) return;
    this.child.signalGroup('SIGTERM');
    const timer = setTimeout(() => this.child.signalGroup('SIGKILL'), graceMs);
    await this.closed;
    clearTimeout(timer);
  }

  /** Output no one will read is dropped, and the pipes are drained so they can close. */
  private discard(): void {
    this.discarding = true;
    this.held.length = 0;
    this.release(this.heldBytes);
    for (const b of this.budgets) b.forget(this);
    this.child.stdout!.resume();
    this.child.stderr!.resume();
  }

  private hold(stream: StreamName, data: Buffer): void {
    if (this.discarding) return;
    this.held.push({ stream, data });
    this.heldBytes += data.length;
    for (const b of this.budgets) b.charge(data.length);
    this.bytesOut += data.length;
    if (!this.paused && (this.heldBytes >= this.bufferBytes || this.budgets.some((b) => b.spent))) {
      this.paused = true;
      (this.child.stdout as Readable).pause();
      (this.child.stderr as Readable).pause();
      for (const b of this.budgets) if (b.spent) b.waitFor(this);
    }
    this.notify();
  }

  private release(bytes: number): void {
    this.heldBytes -= bytes;
    for (const b of this.budgets) b.release(bytes);
  }

  /**
   * Read again once half its own bound is free (fewer pause/resume flips than at the bound
   * itself) and no shared budget is spent; else wait for the spent one (OutputBudget.waitFor).
   */
  resume(): void {
    if (!this.paused || this.discarding || this.heldBytes > this.bufferBytes / 2) return;
    const spent = this.budgets.find((b) => b.spent);
    if (spent) {
      spent.waitFor(this);
      return;
    }
    this.paused = false;
    this.child.stdout!.resume();
    this.child.stderr!.resume();
  }

  private notify(): void {
    this.wake.resolve();
    this.wake = signalled();
  }
}

/** Resolves when `signal` aborts (never, if it does not). */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function signalled(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
