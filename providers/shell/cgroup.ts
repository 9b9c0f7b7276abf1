// MaxMemoryPerShellMB (winrm/config/winrs) as a memory cgroup per shell, where the host lets
// winrmd make one: cgroup v2 with the memory controller available below winrmd's own cgroup, or
// the v1 memory hierarchy. Everything a shell's commands start is charged to its group, and the
// kernel's OOM killer ends a command that goes past the bound (exit code 137, as SIGKILL).
// Elsewhere (no cgroupfs, no permission) shells run unbounded and the provider says so once.
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const ROOT = '/sys/fs/cgroup';

export interface MemoryCgroups {
  /** 'cgroup v2' or 'cgroup v1'. */
  readonly kind: string;
  /** A new group bounded to `bytes`. */
  create(name: string, bytes: number): Promise<MemoryCgroup>;
  /** Remove the groups named `prefix…` that `orphaned` says no running server owns, killing what they hold; how many. */
  sweep(prefix: string, orphaned: (name: string) => boolean): Promise<number>;
}

export interface MemoryCgroup {
  /** Charge a process (and what it starts from now on) to the group. */
  add(pid: number): Promise<void>;
  /** Kill whatever is still in the group (processes that left their session too), then remove it. */
  remove(): Promise<void>;
}

/** Where this host lets winrmd bound memory, or why not. */
export async function probeMemoryCgroups(): Promise<MemoryCgroups | string> {
  let self: string;
  try {
    self = await readFile('/proc/self/cgroup', 'utf8');
  } catch {
    return 'no /proc/self/cgroup';
  }
  const lines = self.split('\n').map((l) => l.split(':'));
  const v1 = lines.find((l) => l[1]?.split(',').includes('memory'));
  const candidates: [string, string, string][] = [];
  if (v1) candidates.push(['cgroup v1', path.join(ROOT, 'memory', v1[2] ?? '/'), 'memory.limit_in_bytes']);
  const v2 = lines.find((l) => l[0] === '0' && l[1] === '');
  if (v2) candidates.push(['cgroup v2', path.join(ROOT, v2[2] ?? '/'), 'memory.max']);
  const reasons: string[] = [];
  for (const [kind, base, limitFile] of candidates) {
    // Proven by doing: make a probe group and set its bound.
    const probe = path.join(base, `winrmd-probe-${process.pid}`);
    try {
      await mkdir(probe);
      try {
        await writeFile(path.join(probe, limitFile), String(64 * 1024 * 1024));
      } finally {
        await rmdir(probe);
      }
      return groups(kind, base, limitFile);
    } catch (err) {
      reasons.push(`${kind} at ${base}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return reasons.join('; ') || 'no memory cgroup hierarchy';
}

function groups(kind: string, base: string, limitFile: string): MemoryCgroups {
  return {
    kind,
    async create(name, bytes) {
      const dir = path.join(base, name);
      await mkdir(dir);
      await writeFile(path.join(dir, limitFile), String(bytes));
      return {
        add: (pid) => writeFile(path.join(dir, 'cgroup.procs'), String(pid)),
        remove: () => removeGroup(dir),
      };
    },
    async sweep(prefix, orphaned) {
      const names = (await readdir(base).catch(() => [] as string[])).filter((n) => n.startsWith(prefix) && orphaned(n));
      await Promise.all(names.map((n) => removeGroup(path.join(base, n))));
      return names.length;
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
