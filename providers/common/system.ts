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
