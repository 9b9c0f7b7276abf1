// Signals to a command's session. Every command leads its own session (setsid), and everything it
// starts stays in that session unless it calls setsid itself: the session is what "the command
// and everything it started" means here. Most members share the leader's process group; a shell
// with job control puts jobs in groups of their own, which /proc tells apart.
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Send `sig` to every process of the session `sid` (the command's pid). While the leader lives its
 * pid is its group's id; once it has been reaped, only groups seen in /proc are signalled: a
 * session id stays unused by new processes only while a member of the session lives.
 */
export function killSession(sid: number, sig: NodeJS.Signals, leaderAlive: boolean): void {
  const groups = new Set(leaderAlive ? [sid] : []);
  for (const p of sessionMembers(sid)) groups.add(p.pgid);
  for (const pgid of groups) {
    try {
      process.kill(-pgid, sig);
    } catch {
      // ESRCH: the group is gone already
    }
  }
}

/** The processes whose session is `sid`, from /proc (empty where /proc is not mounted). */
export function sessionMembers(sid: number): { pid: number; pgid: number }[] {
  const members: { pid: number; pgid: number }[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return members;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    // proc(5): pid (comm) state ppid pgrp session …; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[3]) === sid) members.push({ pid: Number(name), pgid: Number(fields[2]) });
  }
  return members;
}
