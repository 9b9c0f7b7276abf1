// Maps an authenticated caller to the Linux account its processes run as (DESIGN.md
// principle 12: processes run as a mapped, unprivileged account). Shared by the providers that
// start processes: the OS provider (Win32_Process.Create) and the shell.

import path from 'node:path';
import { ProviderError, type Caller } from '../../src/provider-api.js';
import { isDirectory, run, sharedReadings } from './system.js';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/**
 * Looks an account up through NSS with getent (so LDAP or SSSD accounts resolve as they do for
 * login), without a shell. Null when the account does not exist.
 */
export async function lookupAccount(name: string, signal?: AbortSignal): Promise<Account | null> {
  // A leading '-' would read as an option to getent; passwd names hold no ':' or whitespace.
  if (!/^[^-:\s][^:\s]*$/.test(name)) return null;
  return accounts(name, signal);
}

/**
 * getent's answers, each shared by the requests that ask within ten seconds: a burst of shell
 * Creates costs one getent (a fork on the event loop's thread each), and an account changed in
 * NSS is seen within ten seconds.
 */
const accounts = sharedReadings(async (name: string): Promise<Account | null> => {
  let out: string;
  try {
    out = await run('getent', ['passwd', name]);
  } catch (err) {
    if ((err as { code?: unknown }).code === 2) return null; // getent(1): key not found
    throw err;
  }
  const f = out.split('\n')[0]!.split(':');
  if (f.length < 7) return null;
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! };
}, 10_000);

/**
 * The account the caller's processes run as. Refused (ACCESS_DENIED) when the account does not
 * exist, and when winrmd, not being root itself, could only run processes as its own account.
 * Whether the caller may use a root account at all is the access policy's decision, taken before
 * the provider is called: operations that use the account declare the `runsAsAccount` effect.
 */
export async function resolveRunAs(caller: Caller, signal?: AbortSignal): Promise<Account> {
  const account = await lookupAccount(caller.runAs, signal);
  if (!account) throw new ProviderError('ACCESS_DENIED', `the account ${caller.runAs} does not exist`);
  if (process.getuid?.() !== 0 && account.uid !== process.getuid?.()) {
    throw new ProviderError(
      'ACCESS_DENIED',
      `winrmd is not running as root and cannot start processes as ${caller.runAs}`,
    );
  }
  return account;
}

/**
 * The environment a caller's process starts with: the account's own, as a login would set it,
 * and nothing of winrmd's (its configuration and secrets stay out of reach).
 */
export function childEnvironment(account: Account): Record<string, string> {
  return {
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: account.shell,
    PATH: account.uid === 0 ? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' : '/usr/local/bin:/usr/bin:/bin',
    LANG: process.env.LANG ?? 'C.UTF-8',
  };
}

/** The ids to spawn with: only root can switch accounts (resolveRunAs refused any other case). */
export function spawnIds(account: Account): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? { uid: account.uid, gid: account.gid } : {};
}

/**
 * Where the account's processes start: the directory asked for when it is an absolute path to a
 * directory (undefined when it is not), else the account's home, else `/`.
 */
export async function workingDirectory(account: Account, asked?: string | null): Promise<string | undefined> {
  if (!asked) return (await isDirectory(account.home)) ? account.home : '/';
  return path.isAbsolute(asked) && (await isDirectory(asked)) ? asked : undefined;
}
