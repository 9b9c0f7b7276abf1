// What the providers that touch the Linux host share: running a program without a shell, and
// checking a directory. Nothing here knows a class or a resource.
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ProviderError } from '../../src/provider-api.js';

const execFileP = promisify(execFile);

/**
 * Runs a program without a shell, bounded by the request's signal and a hard timeout, in the
 * C locale and UTC so its output parses the same everywhere. Rejects with the execFile error
 * (its `code` is the exit status) or a TIMED_OUT ProviderError when cancelled.
 */
export async function run(file: string, args: string[], signal?: AbortSignal): Promise<string> {
  try {
    const { stdout } = await execFileP(file, args, {
      signal,
      timeout: 10_000,
      maxBuffer: 32 * 1024 * 1024,
      env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' },
    });
    return stdout;
  } catch (err) {
    if (signal?.aborted) throw new ProviderError('TIMED_OUT', `${file} was cancelled`);
    throw err;
  }
}

export async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

/** Linux's MAX_ARG_STRLEN: no one argument of execve(2) may be longer, its terminating NUL included. */
export const MAX_ARGUMENT_BYTES = 128 * 1024;

/** The first argument execve(2) would refuse with E2BIG, said in words; undefined when all fit. */
export function argumentTooLong(args: readonly string[]): string | undefined {
  for (const a of args) {
    const n = Buffer.byteLength(a);
    if (n >= MAX_ARGUMENT_BYTES) return `an argument of ${n} bytes is longer than this host allows one to be (${MAX_ARGUMENT_BYTES - 1} bytes, Linux's MAX_ARG_STRLEN)`;
  }
  return undefined;
}

/**
 * One reading per key shared by every caller that asks for it while it runs (a burst of 280
 * concurrent requests costs one `ps`, not 560), and by those that ask within `freshMs` after it
 * settled (0: none; the next caller reads afresh). The reading itself is not tied to any one
 * caller's signal, so one caller giving up does not fail the others; each still stops waiting
 * when its own signal aborts. A failed reading is not kept.
 */
export function sharedReadings<K, T>(read: (key: K) => Promise<T>, freshMs = 0): (key: K, signal?: AbortSignal) => Promise<T> {
  const inFlight = new Map<K, { reading: Promise<T>; at: number }>();
  return (key, signal) => {
    if (signal?.aborted) return Promise.reject(new ProviderError('TIMED_OUT', 'the request was cancelled'));
    const now = Date.now();
    let entry = inFlight.get(key);
    if (!entry || (entry.at >= 0 && now - entry.at > freshMs)) {
      // `at` is -1 while the reading runs, then when it settled; a failed reading is not kept.
      const fresh: { reading: Promise<T>; at: number } = { reading: read(key), at: -1 };
      fresh.reading.then(
        () => {
          if (freshMs > 0) fresh.at = Date.now();
          else inFlight.delete(key);
        },
        () => inFlight.delete(key),
      );
      inFlight.set(key, (entry = fresh));
      if (inFlight.size > 1000) for (const [k, e] of inFlight) if (e.at >= 0 && now - e.at > freshMs) inFlight.delete(k);
    }
    const reading = entry.reading;
    if (!signal) return reading;
    const shared = reading;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new ProviderError('TIMED_OUT', 'the request was cancelled'));
      signal.addEventListener('abort', onAbort, { once: true });
      shared.then(
        (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
        (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
      );
    });
  };
}
