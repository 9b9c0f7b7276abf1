// A cgroup per shell, where the host lets winrmd make one, for two bounds on a shell
// (winrm/config/winrs): MaxMemoryPerShellMB through the memory controller (the kernel's OOM killer
// ends a command that goes past it: exit code 137, as SIGKILL), and everything a shell's commands
// start through the pids controller (shell.maxTasksPerShell: a fork past it fails with EAGAIN), each on cgroup v2 below winrmd's own group or
// on its v1 hierarchy. Everything a shell's commands start is charged to its group, and what is left
// in it is killed when the shell closes. Where a controller cannot be used the provider says so once.
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const ROOT = '/sys/fs/cgroup';

/** One controller's place: where groups are made, and the file that bounds them. */
interface Controller {
  kind: string;
  base: string;
  limitFile: string;
}

export interface ShellCgroups {
  /** How memory is bounded ('cgroup v1', 'cgroup v2'), or undefined. */
  readonly memory?: string;
  /** How processes are bounded ('cgroup v1 pids', 'cgroup v2 pids'), or undefined. */
  readonly pids?: string;
  /** A new group with the bounds its host allows. */
  create(name: string, bounds: { memoryBytes: number; maxTasks: number }): Promise<ShellCgroup>;
  /** Remove the groups named `prefix…` that `orphaned` says no running server owns, killing what they hold; how many. */
  sweep(prefix: string, orphaned: (name: string) => boolean): Promise<number>;
}

export interface ShellCgroup {
  /** Charge a process (and what it starts from now on) to the group. */
  add(pid: number): Promise<void>;
  /** Kill whatever is still in the group (processes that left their session too), then remove it. */
  remove(): Promise<void>;
  /** The processes in the group now. */
  pids(): Promise<number[]>;
}

/** Where this host lets winrmd bound each controller, and why not where it does not. */
export async function probeCgroups(): Promise<{ groups?: ShellCgroups; unbounded: { memory?: string; pids?: string } }> {
  let self: string;
  try {
    self = await readFile('/proc/self/cgroup', 'utf8');
  } catch {
    return { unbounded: { memory: 'no /proc/self/cgroup', pids: 'no /proc/self/cgroup' } };
  }
  const lines = self.split('\n').map((l) => l.split(':'));
  const v2 = lines.find((l) => l[0] === '0' && l[1] === '');
  const candidates = (controller: string, v2Limit: string, v1Limit: string): Controller[] => {
    const v1 = lines.find((l) => l[1]?.split(',').includes(controller));
    return [
      ...(v1 ? [{ kind: 'cgroup v1', base: path.join(ROOT, controller, v1[2] ?? '/'), limitFile: v1Limit }] : []),
      ...(v2 ? [{ kind: 'cgroup v2', base: path.join(ROOT, v2[2] ?? '/'), limitFile: v2Limit }] : []),
    ];
  };
  const memory = await usable(candidates('memory', 'memory.max', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
  const pids = await usable(candidates('pids', 'pids.max', 'pids.max'), '64');
  const found = { memory: typeof memory === 'string' ? undefined : memory, pids: typeof pids === 'string' ? undefined : pids };
  return {
    groups: found.memory || found.pids ? groups(found) : undefined,
    unbounded: { memory: typeof memory === 'string' ? memory : undefined, pids: typeof pids === 'string' ? pids : undefined },
  };
}

/** The first candidate where a probe group can be made and bounded (proven by doing), or why none. */
async function usable(candidates: Controller[], value: string): Promise<Controller | string> {
  const reasons: string[] = [];
  for (const c of candidates) {
    const probe = path.join(c.base, `winrmd-probe-${process.pid}`);
    try {
      await mkdir(probe);
      try {
        await writeFile(path.join(probe, c.limitFile), value);
      } finally {
        await rmdir(probe);
      }
      return c;
    } catch (err) {
      reasons.push(`${c.kind} at ${c.base}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return reasons.join('; ') || 'no such cgroup hierarchy';
}

function groups(found: { memory?: Controller; pids?: Controller }): ShellCgroups {
  // On cgroup v2 both controllers live in one group; on v1 each in its own hierarchy.
  const bases = [...new Set([found.memory?.base, found.pids?.base].filter((b): b is string => b !== undefined))];
  return {
    memory: found.memory?.kind,
    pids: found.pids && `${found.pids.kind} pids`,
    async create(name, bounds) {
      const dirs = bases.map((b) => path.join(b, name));
      const made: string[] = [];
      try {
        for (const dir of dirs) {
          await mkdir(dir);
          made.push(dir);
        }
        if (found.memory) await writeFile(path.join(found.memory.base, name, found.memory.limitFile), String(bounds.memoryBytes));
        if (found.pids) await writeFile(path.join(found.pids.base, name, found.pids.limitFile), String(bounds.maxTasks));
      } catch (err) {
        await Promise.all(made.map((d) => rmdir(d).catch(() => undefined)));
        throw err;
      }
      return {
        // Each hierarchy's move (or removal) waits on the kernel by itself: do them side by side.
        add: async (pid) => {
          await Promise.all(dirs.map((dir) => writeFile(path.join(dir, 'cgroup.procs'), String(pid))));
        },
        remove: async () => {
          await Promise.all(dirs.map((dir) => removeGroup(dir)));
        },
        pids: async () => (await readFile(path.join(dirs[0]!, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number),
      };
    },
    async sweep(prefix, orphaned) {
      let n = 0;
      for (const base of bases) {
        const names = (await readdir(base).catch(() => [] as string[])).filter((name) => name.startsWith(prefix) && orphaned(name));
        await Promise.all(names.map((name) => removeGroup(path.join(base, name))));
        n += names.length;
      }
      return n;
    },
  };
}

/** Kill whatever is still in the group, then remove it. */
async function removeGroup(dir: string): Promise<void> {
  const procs = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  for (const pid of procs.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
  // A group empties when its last process has been reaped: allow a moment for that.
  for (let i = 0; ; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (i >= 20) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
