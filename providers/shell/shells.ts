// The open shells: who owns each, its quotas (winrm/config/winrs: MaxShellsPerUser,
// MaxConcurrentUsers, MaxProcessesPerShell, IdleTimeout) and how each one ends. A shell is
// closed by Delete, by its idle timeout or by the server's shutdown, and each way kills every
// process its commands started.
import { randomUUID } from 'node:crypto';
import { ProviderError, type Caller, type ProviderLogger } from '../../src/provider-api.js';
import type { Account } from '../common/run-as.js';
import type { ShellCgroup } from './cgroup.js';
import type { Command } from './command.js';
import { sweepSessions } from '../common/processes.js';

/** ERROR_WSMAN_* codes Windows answers with, which clients branch on. */
export const WINDOWS_CODE = {
  shellNotFound: 2150858843, // ERROR_WSMAN_UNEXPECTED_SELECTORS: "the shell was not found"; clients reopen on it
  resourceNotFound: 2150858752, // ERROR_WSMAN_RESOURCE_NOT_FOUND: no plugin serves the resource URI; clients report it once
  maxShells: 2150859173, // ERROR_WSMAN_QUOTA_MAX_SHELLS
  maxShellUsers: 2150859179, // ERROR_WSMAN_QUOTA_MAX_SHELLUSERS
  maxCommandsPerShell: 2150859241, // ERROR_WSMAN_QUOTA_MAX_COMMANDS_PER_SHELL_PPQ
} as const;

export interface ShellLimits {
  maxShellsPerUser: number;
  maxConcurrentUsers: number;
  maxProcessesPerShell: number;
  idleTimeoutMs: number;
  terminateGraceMs: number;
}

export interface ShellSettings {
  name?: string;
  account: Account;
  cwd: string;
  env: Record<string, string>;
  idleTimeoutMs: number;
  inputStreams: string;
  outputStreams: string;
  codepage?: string;
}

export class Shell {
  readonly id = randomUUID().toUpperCase();
  readonly created = Date.now();
  lastActive = Date.now();
  readonly commands = new Map<string, Command>();
  /** Requests in progress: an idle timeout never closes a shell that is being served. */
  busy = 0;
  timer?: NodeJS.Timeout;
  /** MaxMemoryPerShellMB and MaxProcessesPerShell, where the host allows them. */
  cgroup?: ShellCgroup;
  /** Finished commands whose Done was delivered, oldest first (see Shells.delivered). */
  readonly done: Command[] = [];
  /** Sessions of released commands, not yet swept: what they left running ends with the shell. */
  readonly releasedSessions = new Set<number>();

  constructor(
    readonly owner: string,
    readonly clientAddress: string,
    readonly settings: ShellSettings,
  ) {}

  get runningCommands(): number {
    let n = 0;
    for (const c of this.commands.values()) if (c.running) n++;
    return n;
  }
}

/**
 * Terminate commands and then, in one pass, kill whatever their sessions still hold. Each
 * command's session is swept once, however many times it is ended (a terminate, then Delete).
 */
export async function endCommands(commands: Command[], graceMs: number, released: Iterable<number> = [], cgroup?: ShellCgroup): Promise<void> {
  await Promise.all(commands.map((c) => c.terminate(graceMs)));
  const sessions = new Set<number>(released);
  for (const c of commands) {
    if (c.swept) continue;
    c.swept = true;
    if (c.session !== undefined) sessions.add(c.session);
  }
  // With a cgroup, what the sessions still hold is among the shell's own processes.
  await sweepSessions(sessions, sessions.size > 0 ? await cgroup?.pids().catch(() => undefined) : undefined);
}

/** Finished commands a shell keeps after their Done (Shells.delivered). */
export const KEEP_FINISHED = 16;

/**
 * Why a shell closed; `abandoned`: its Create was answered TimedOut before the shell was ready;
 * `user_ended`: its owner was removed or given a new password.
 */
export type CloseReason = 'delete' | 'idle' | 'shutdown' | 'abandoned' | 'user_ended' | 'ended_by_admin';

export class Shells {
  private readonly open = new Map<string, Shell>();
  private closing = false;

  constructor(
    private readonly limits: ShellLimits,
    private readonly log: ProviderLogger,
  ) {}

  /** The caller's shells, oldest first. */
  ownedBy(user: string): Shell[] {
    return [...this.open.values()].filter((s) => s.owner === user);
  }

  /** Every open shell, oldest first (`winrmd session list`). */
  all(): Shell[] {
    return [...this.open.values()];
  }

  /** The open shell of this id, whoever owns it (`winrmd session end`). */
  byId(id: string): Shell | undefined {
    return this.open.get(id.toUpperCase());
  }

  get size(): number {
    return this.open.size;
  }

  add(caller: Caller, settings: ShellSettings): Shell {
    if (this.closing) throw new ProviderError('FAILED', 'the server is shutting down');
    const mine = this.ownedBy(caller.user).length;
    if (mine >= this.limits.maxShellsPerUser) {
      throw new ProviderError('QUOTA_EXCEEDED', `The user ${caller.user} already has ${mine} shells open (MaxShellsPerUser = ${this.limits.maxShellsPerUser}).`, WINDOWS_CODE.maxShells);
    }
    if (mine === 0) {
      const users = new Set([...this.open.values()].map((s) => s.owner)).size;
      if (users >= this.limits.maxConcurrentUsers) {
        throw new ProviderError('QUOTA_EXCEEDED', `${users} users already have shells open (MaxConcurrentUsers = ${this.limits.maxConcurrentUsers}).`, WINDOWS_CODE.maxShellUsers);
      }
    }
    const shell = new Shell(caller.user, caller.clientAddress, settings);
    this.open.set(shell.id, shell);
    this.arm(shell);
    return shell;
  }

  /**
   * The shell a request names, for its owner only, marked busy until `release`. Unknown →
   * InvalidSelectors with Windows' "shell not found" code; another user's → AccessDenied.
   */
  acquire(id: string | undefined, caller: Caller): Shell {
    if (!id) throw new ProviderError('INVALID_SELECTORS', 'The request needs the ShellId selector.', WINDOWS_CODE.shellNotFound);
    const shell = this.open.get(id.toUpperCase());
    if (!shell) {
      throw new ProviderError('INVALID_SELECTORS', `The request for the Windows Remote Shell with ShellId ${id} failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation.`, WINDOWS_CODE.shellNotFound);
    }
    if (shell.owner !== caller.user) throw new ProviderError('ACCESS_DENIED', `The shell ${shell.id} belongs to another user.`);
    shell.busy++;
    shell.lastActive = Date.now();
    return shell;
  }

  release(shell: Shell): void {
    shell.busy--;
    shell.lastActive = Date.now();
  }

  checkCommandQuota(shell: Shell): void {
    const running = shell.runningCommands;
    if (running >= this.limits.maxProcessesPerShell) {
      throw new ProviderError('QUOTA_EXCEEDED', `The shell ${shell.id} already runs ${running} commands (MaxProcessesPerShell = ${this.limits.maxProcessesPerShell}).`, WINDOWS_CODE.maxCommandsPerShell);
    }
  }

  /**
   * A command's Done has reached the client. The last few finished commands stay for a late
   * Receive (Done again) or terminate (pywinrm and the Go client signal right after Done); older
   * ones are released, so that a long-lived shell holds no more than that however many commands
   * it has run. What a released command left running still ends with the shell.
   */
  delivered(shell: Shell, cmd: Command): void {
    if (shell.done.includes(cmd)) return;
    shell.done.push(cmd);
    while (shell.done.length > KEEP_FINISHED) {
      const old = shell.done.shift()!;
      shell.commands.delete(old.id);
      if (!old.swept && old.session !== undefined) shell.releasedSessions.add(old.session);
    }
  }

  /** Remove the shell and end every process its commands started. */
  async close(shell: Shell, reason: CloseReason): Promise<void> {
    if (!this.open.delete(shell.id)) return;
    clearTimeout(shell.timer);
    const commands = [...shell.commands.values()];
    const grace = reason === 'shutdown' ? Math.min(this.limits.terminateGraceMs, 500) : this.limits.terminateGraceMs;
    await endCommands(commands, grace, shell.releasedSessions, shell.cgroup);
    shell.commands.clear();
    shell.done.length = 0;
    await shell.cgroup?.remove().catch((err: Error) => this.log.warn({ event: 'cgroup_not_removed', shellId: shell.id, reason: err.message }));
    this.log.info({ event: 'shell_closed', shellId: shell.id, user: shell.owner, client: shell.clientAddress, reason, commands: commands.length, ms: Date.now() - shell.created });
  }

  /** Server shutdown: close every shell and refuse new ones. */
  async closeAll(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.open.values()].map((s) => this.close(s, 'shutdown')));
  }

  /** The idle timer: re-armed from the last activity; a busy shell is never idle. */
  private arm(shell: Shell): void {
    const due = shell.lastActive + shell.settings.idleTimeoutMs - Date.now();
    shell.timer = setTimeout(() => {
      if (!this.open.has(shell.id)) return;
      if (shell.busy > 0 || Date.now() - shell.lastActive < shell.settings.idleTimeoutMs) this.arm(shell);
      else void this.close(shell, 'idle');
    }, Math.max(due, 0));
    shell.timer.unref();
  }
}
