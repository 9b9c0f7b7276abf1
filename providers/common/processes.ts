// Signals to a command's session (the shell's commands, Win32_Process.Create's processes). Every command leads its own session (setsid), and everything it
// starts stays in that session unless it calls setsid itself: the session is what "the command
// and everything it started" means here. While the leader lives, its pid is its process group's
// id and one kill(-pid) reaches the group. What outlives the leader (background jobs, or a shell
// with job control putting jobs in groups of their own) is found in /proc by its session id.
import { readFileSync } from 'node:fs';
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
 * SIGKILL every process whose session is one of `sids`, in one pass over /proc, or over the pids
 * `among` names (none where /proc is not mounted). Called once the sessions' leaders have been reaped. A live member keeps its
 * session's id from being reused; if the id has been reused all the same (the session's members
 * all gone, then a new process given that pid became a session leader), a process whose pid is
 * the session id is there, and that session is not ours: it is left alone.
 */
export async function sweepSessions(sids: ReadonlySet<number>, among?: readonly number[]): Promise<void> {
  if (sids.size === 0) return;
  let entries: string[];
  try {
    // `among`: the only processes that can be in these sessions (a shell's cgroup lists them),
    // instead of every process on the host (a read of each /proc entry: 315 ms with 1,500).
    entries = among ? among.map(String) : await readdir('/proc');
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

/** The variable that marks every command's environment with the server that started it. */
export const SERVER_ENV = 'WINRMD_SERVER';

/** A process's start time in clock ticks since boot (proc(5) stat field 22): with its pid, a name no other process will have. */
function startTimeOf(pid: string): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let tag: string | undefined;
/** This server as SERVER_ENV names it: `pid.starttime`. */
export function serverTag(): string {
  return (tag ??= `${process.pid}.${startTimeOf(String(process.pid)) ?? Date.now()}`);
}

/** Whether the server a tag names still runs (a reused pid has another start time). */
export function isLiveServer(serverTagged: string): boolean {
  const [pid, start] = serverTagged.split('.');
  return /^\d+$/.test(pid ?? '') && startTimeOf(pid!) === start;
}

/**
 * After a winrmd was killed (SIGKILL, a crash, the OOM killer) its commands live on, orphaned to
 * init. At start, SIGKILL every process whose environment names a server that no longer runs;
 * processes of servers that do run (another instance on the host) are left alone. Returns how
 * many were killed. Only processes whose environment winrmd may read are seen: all, as root.
 */
export async function sweepOrphans(): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return 0;
  }
  const marker = `\0${SERVER_ENV}=`;
  let killed = 0;
  await Promise.all(entries.filter((name) => /^\d+$/.test(name)).map(async (name) => {
    let environ: string;
    try {
      environ = '\0' + (await readFile(`/proc/${name}/environ`, 'latin1'));
    } catch {
      return; // exited meanwhile, or not ours to read
    }
    const at = environ.indexOf(marker);
    if (at < 0) return;
    const owner = environ.slice(at + marker.length, environ.indexOf('\0', at + 1) >>> 0);
    if (isLiveServer(owner)) return;
    try {
      process.kill(Number(name), 'SIGKILL');
      killed++;
    } catch {
      // gone already
    }
  }));
  return killed;
}

/**
 * The sessions a provider started for each user (Win32_Process.Create's processes lead their
 * own), so that they end with the user (Provider.endUser). A session is kept after its leader
 * exits, since what it started may live on; each user's list keeps the latest MAX_KEPT.
 */
export class SessionsByUser {
  private static readonly MAX_KEPT = 4096;
  private readonly byUser = new Map<string, Set<number>>();

  add(user: string, sid: number): void {
    let set = this.byUser.get(user);
    if (!set) this.byUser.set(user, (set = new Set()));
    set.add(sid);
    if (set.size > SessionsByUser.MAX_KEPT) set.delete(set.values().next().value!);
  }

  /** SIGKILL everything in the user's sessions; how many sessions there were. */
  async end(user: string): Promise<number> {
    const sids = this.byUser.get(user);
    if (!sids) return 0;
    this.byUser.delete(user);
    for (const sid of sids) killGroup(sid, 'SIGKILL');
    await sweepSessions(sids);
    return sids.size;
  }
}
