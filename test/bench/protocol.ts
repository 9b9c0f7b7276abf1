// The messages the benchmark's processes exchange over their IPC channels, and the parent side of
// that channel: forking a child that is killed whatever happens to the parent, and asking it
// questions with an id-matched reply.
import { fork, type ChildProcess } from 'node:child_process';

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Peak RSS of the process so far (getrusage ru_maxrss), bytes. */
  maxRss: number;
  /** Open enumeration contexts in the winrmd core (undefined for the baseline). */
  openEnumerations?: number;
  /** Whether a full GC ran before sampling (the child was started with --expose-gc). */
  gc: boolean;
  /** CPU time the process has used so far, user and system, all threads (µs). */
  cpuMicros: number;
}

/** The one account the benchmark uses (Basic on every request; the server caches the verification). */
export const BENCH_USER = { user: 'bench', password: 'bench-Secret-1' };
/** The collector bench's event-source accounts (serve-collector.ts makes them; the forwarders use them). */
export const SOURCE_PASSWORD = 'bench-Source-1';
export const sourceName = (i: number) => `WS${String(i + 1).padStart(5, '0')}$`;
export const BENCH_AUTH = `Basic ${Buffer.from(`${BENCH_USER.user}:${BENCH_USER.password}`).toString('base64')}`;

export type ServerReady = { type: 'ready'; port: number; httpsPort?: number };

/** Every child the parent started; all are killed on exit, signal or failure. */
const children = new Set<ChildProcess>();

function killAll(): void {
  // SIGTERM lets a child remove its temporary state; one that has hung is orphaned, and its
  // IPC channel's close (exitWithParent) ends it as well.
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }
  children.clear();
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

export interface Child {
  proc: ChildProcess;
  /** Send a message and wait for the reply carrying the same id. */
  ask<T>(msg: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Wait for the next message of a type. */
  next<T>(type: string, timeoutMs?: number): Promise<T>;
  /** Ask the child to stop, and kill it if it has not exited within graceMs. */
  stop(graceMs?: number): Promise<void>;
}

let seq = 0;

export function spawnChild(script: string, opts: { execArgv?: string[]; env?: NodeJS.ProcessEnv; name: string }): Child {
  hookExit();
  const proc = fork(script, [], {
    execArgv: opts.execArgv ?? [],
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(proc);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => {
    children.delete(proc);
    resolve();
  }));
  let dead: Error | undefined;
  proc.once('exit', (code, signal) => {
    dead = new Error(`${opts.name} exited (code ${code}, signal ${signal})`);
  });

  const waitFor = <T>(pred: (m: any) => boolean, timeoutMs: number, what: string) =>
    new Promise<T>((resolve, reject) => {
      if (dead) return reject(dead);
      const timer = setTimeout(() => done(new Error(`${opts.name}: no ${what} within ${timeoutMs} ms`)), timeoutMs);
      const onMsg = (m: any) => {
        if (pred(m)) done(undefined, m);
      };
      const onExit = () => done(dead ?? new Error(`${opts.name} exited`));
      const done = (err?: Error, m?: T) => {
        clearTimeout(timer);
        proc.off('message', onMsg);
        proc.off('exit', onExit);
        if (err) reject(err);
        else resolve(m as T);
      };
      proc.on('message', onMsg);
      proc.once('exit', onExit);
    });

  return {
    proc,
    ask<T>(msg: Record<string, unknown>, timeoutMs = 60_000) {
      const id = ++seq;
      const p = waitFor<T>((m) => m && m.id === id, timeoutMs, `reply to ${String(msg.type)}`);
      proc.send({ ...msg, id });
      return p;
    },
    next<T>(type: string, timeoutMs = 30_000) {
      return waitFor<T>((m) => m && m.type === type, timeoutMs, `${type} message`);
    },
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      if (proc.connected) proc.send({ type: 'stop' });
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The child side: exit when the parent goes away, however it goes. */
export function exitWithParent(cleanup?: () => void): void {
  const leave = () => {
    try {
      cleanup?.();
    } finally {
      process.exit(0);
    }
  };
  process.on('disconnect', leave);
  process.on('SIGTERM', leave);
  process.on('SIGINT', leave);
}

export function memorySample(collect: boolean, openEnumerations?: number): MemorySample {
  const gc = collect ? (globalThis as { gc?: () => void }).gc : undefined;
  if (gc) gc();
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    maxRss: process.resourceUsage().maxRSS * 1024,
    openEnumerations,
    gc: Boolean(gc),
    cpuMicros: (({ user, system }) => user + system)(process.cpuUsage()),
  };
}
