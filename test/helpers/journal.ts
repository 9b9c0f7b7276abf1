// Journal files for the tests, made by Debian's systemd-journal-remote from the journal export
// format (each entry's fields, a blank line between entries), then read with journalctl as the
// host's journal would be.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The (made-up) boot began at this time, in microseconds: monotonic = realtime − it. */
const EPOCH_OF_BOOT = 1_700_000_000_000_000;
const REMOTE = ['/lib/systemd/systemd-journal-remote', '/usr/lib/systemd/systemd-journal-remote'].find((p) => existsSync(p));

/** Write `entries` (field → value) into a new journal file in `dir`; returns its path. */
export function writeJournal(dir: string, name: string, entries: Record<string, string>[]): string {
  if (!REMOTE) throw new Error('systemd-journal-remote is missing (test/setup.sh installs it)');
  const file = path.join(dir, `${name}.journal`);
  const boot = '0123456789abcdef0123456789abcdef';
  // One boot, its clocks moving on from file to file as a real journal's do (journalctl orders
  // entries of one boot across files by their monotonic time).
  const now = Date.now() * 1000;
  const text = entries.map((e, i) => Object.entries({ __REALTIME_TIMESTAMP: String(now + i), __MONOTONIC_TIMESTAMP: String(now - EPOCH_OF_BOOT + i), _BOOT_ID: boot, ...e })
    .map(([k, v]) => `${k}=${v}`).join('\n')).join('\n\n') + '\n\n';
  execFileSync(REMOTE, ['-o', file, '-'], { input: text, stdio: ['pipe', 'ignore', 'pipe'] });
  return file;
}
