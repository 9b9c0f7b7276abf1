// Signals to a command's session. Every command leads its own session (setsid), and everything it
// starts stays in that session unless it calls setsid itself: the session is what "the command
// and everything it started" means here. While the leader lives, its pid is its process group's
// id and one kill(-pid) reaches the group. What outlives the leader (background jobs, or a shell
// with job control putting jobs in groups of their own) is found in /proc by its session id.
import { readdir, readFile } from 'node:fs/promises';

/** Send `sig` to the command's process group, while its leader lives. */
export function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group is gone already
  }
}

/**
 * SIGKILL every process whose session is one of `sids`, in one pass over /proc (none where /proc
 * is not mounted). Called once the sessions' leaders have been reaped. A live member keeps its
 * session's id from being reused; if the id has been reused all the same (the session's members
 * all gone, then a new process given that pid became a session leader), a process whose pid is
 * the session id is there, and that session is not ours: it is left alone.
 */
export async function sweepSessions(sids: ReadonlySet<number>): Promise<void> {
  if (sids.size === 0) return;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return;
  }
  const found = new Map<number, number[]>();
  await Promise.all(entries.filter((name) => /^\d+$/.test(name)).map(async (name) => {
    let stat: string;
    try {
      stat = await readFile(`/proc/${name}/stat`, 'latin1');
    } catch {
      return; // exited meanwhile
    }
    // proc(5): pid (comm) state ppid pgrp session …; comm may hold spaces and parentheses.
    const session = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
    if (sids.has(session)) found.set(session, [...(found.get(session) ?? []), Number(name)]);
  }));
  for (const [sid, pids] of found) {
    if (pids.includes(sid)) continue; // a new session under a reused id
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}
