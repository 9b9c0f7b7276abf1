// Maps an authenticated caller to the Linux account its processes run as (DESIGN.md
// principle 12: processes run as a mapped, unprivileged account).

import { ProviderError, type Caller } from '../../src/provider-api.js';
import { run } from './common.js';

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
  let out: string;
  try {
    out = await run('getent', ['passwd', name], signal);
  } catch (err) {
    if ((err as { code?: unknown }).code === 2) return null; // getent(1): key not found
    throw err;
  }
  const f = out.split('\n')[0]!.split(':');
  if (f.length < 7) return null;
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! };
}

/**
 * The account the caller's processes run as. Refused (ACCESS_DENIED) when the account does not
 * exist, when it is root and the caller is not allowed root, and when winrmd, not being root
 * itself, could only run processes as its own account.
 */
export async function resolveRunAs(caller: Caller, signal?: AbortSignal): Promise<Account> {
  const account = await lookupAccount(caller.runAs, signal);
  if (!account) throw new ProviderError('ACCESS_DENIED', `the account ${caller.runAs} does not exist`);
  if (account.uid === 0 && !caller.allowRoot) {
    throw new ProviderError('ACCESS_DENIED', `${caller.user} is not allowed to run processes as root`);
  }
  if (process.getuid?.() !== 0 && account.uid !== process.getuid?.()) {
    throw new ProviderError(
      'ACCESS_DENIED',
      `winrmd is not running as root and cannot start processes as ${caller.runAs}`,
    );
  }
  return account;
}
