// The WinRS remote shell (MS-WSMV 3.1.4.11-14) as a provider:
// Create and Delete are WS-Transfer operations on `…/windows/shell/cmd`, Command, Send, Receive
// and Signal are custom actions on it, and `…/windows/shell` enumerates the caller's shells.
// Commands are real Linux processes run as the caller's mapped account.
import {
  child,
  children,
  element,
  NAMES,
  parseDuration,
  PROVIDER_API_VERSION,
  ProviderError,
  textOf,
  type DocumentRequest,
  type Caller,
  type DocumentResource,
  type Element,
  type Provider,
  type ProviderLogger,
} from '../../src/provider-api.js';

const { SHELL, ACTION, POWERSHELL } = NAMES;
import { childEnvironment, resolveRunAs, spawnIds, workingDirectory, type Account } from '../common/run-as.js';
import { run } from '../common/system.js';
import { interpret } from './command-line.js';
import { Command, type Chunk, type Process, type StreamName } from './command.js';
import { probeCgroups, type ShellCgroups } from './cgroup.js';
import { OutputBudgets } from './output-budget.js';
import { isLiveServer, SERVER_ENV, serverTag, sweepOrphans } from '../common/processes.js';
import { endCommands, Shells, WINDOWS_CODE, type Shell, type ShellLimits } from './shells.js';
export type { Process } from './command.js';
export type { Account } from '../common/run-as.js';
export type { Shell } from './shells.js';

/** A shell's cgroup is `<prefix><server tag>-<ShellId>`: the sweep at start knows its server. */
const CGROUP_PREFIX = 'winrmd-shell-';

/**
 * Where a shell's commands run when not as processes of this host: the lab's virtual hosts
 * answer from scripts (src/lab/shell.ts). Nothing is looked up on the host, no cgroup is made and
 * nothing is swept.
 */
export interface CommandRunner {
  /** The account a new shell runs as, and its working directory. */
  open(caller: Caller, askedCwd: string | undefined): { account: Account; cwd: string };
  /** Starts one command of a shell. */
  start(command: { program: string; args: string[]; options: Record<string, string> }, shell: Shell): Process;
}

export interface ShellOptions extends ShellLimits {
  /** Commands run here instead of as processes of this host. */
  runner?: CommandRunner;
  maxMemoryPerShellMb: number;
  interpreter: string;
  pwsh: string;
  outputBufferKb: number;
  maxOutputBufferPerUserMb: number;
  maxOutputBufferMb: number;
  maxTasksPerShell: number;
  cgroups: boolean;
  logCommandLines: boolean;
}

const rsp = (name: string, attrs: Record<string, string> = {}, ...content: (Element | string | undefined)[]) => element(SHELL.ns, name, attrs, ...content);

/** Room for the envelope around a ReceiveResponse's streams, and for each Stream element's tag. */
const RECEIVE_OVERHEAD = 4096;
const STREAM_TAG = 200;
/**
 * How long a Receive that has output waits for more, or for the command's end, before it answers:
 * Windows sends the last output together with CommandState Done, which the Ruby WinRM gem needs
 * (it reads ExitCode only from a reply with stream text) and single-Receive clients expect.
 */
const COALESCE_MS = 250;

export interface ShellProvider extends Provider {
  readonly shells: Shells;
  /** Output held for Receive, per user and in all (shell.maxOutputBufferPerUserMb, maxOutputBufferMb). */
  readonly budgets: OutputBudgets;
  /** How shells' memory is bounded ('cgroup v1', 'cgroup v2'), or undefined where it cannot be. */
  readonly memoryBound?: string;
  /** How the tasks of a shell are bounded ('cgroup v1 pids', 'cgroup v2 pids'), or undefined where they cannot be. */
  readonly processBound?: string;
}

export function createShellProvider(o: ShellOptions): ShellProvider {
  let log: ProviderLogger = { info() {}, warn() {}, error() {}, debug() {} };
  // The server's logger arrives at load; the shells log through whichever is current.
  const current: ProviderLogger = {
    info: (obj, msg) => log.info(obj, msg),
    warn: (obj, msg) => log.warn(obj, msg),
    error: (obj, msg) => log.error(obj, msg),
    debug: (obj, msg) => log.debug(obj, msg),
  };
  const shells = new Shells(o, current);
  const budgets = new OutputBudgets(o.maxOutputBufferPerUserMb * 1024 * 1024, o.maxOutputBufferMb * 1024 * 1024);
  let cgroups: ShellCgroups | undefined;
  /** RLIMIT_NPROC for every command, where cgroups cannot bound a shell's processes. */
  let nproc: number | undefined;

  /** Run `fn` on the shell the request names, keeping it from idling out meanwhile. */
  async function withShell<T>(req: DocumentRequest, fn: (shell: Shell) => Promise<T>): Promise<T> {
    const shell = shells.acquire(selector(req, 'ShellId'), req.caller);
    try {
      return await fn(shell);
    } finally {
      shells.release(shell);
    }
  }

  async function create(req: DocumentRequest): Promise<{ selectors: Record<string, string>; body: Element }> {
    const body = req.body?.ns === SHELL.ns && req.body.name === 'Shell' ? req.body : undefined;
    const asked = textOf(child(body, SHELL.ns, 'WorkingDirectory'));
    const virtual = o.runner?.open(req.caller, asked);
    const account = virtual?.account ?? (await resolveRunAs(req.caller, req.signal));
    const env = childEnvironment(account);
    for (const v of children(child(body, SHELL.ns, 'Environment'), SHELL.ns, 'Variable')) {
      if (v.attrs.Name) env[v.attrs.Name] = textOf(v) ?? '';
    }
    // Last, so no client can change it: marks what this server starts for the sweep after an unclean end.
    env[SERVER_ENV] = serverTag();
    const cwd = virtual ? virtual.cwd : await workingDirectory(account, asked);
    if (cwd === undefined) throw new ProviderError('INVALID_PARAMETER', `The working directory ${asked} does not exist on this host.`);
    // A client may ask for a shorter idle timeout than the configured one, never a longer one.
    const idle = parseDuration(textOf(child(body, SHELL.ns, 'IdleTimeOut')) ?? '');
    const shell = shells.add(req.caller, {
      name: body?.attrs.Name,
      account,
      cwd,
      env,
      idleTimeoutMs: idle && idle > 0 ? Math.min(idle, o.idleTimeoutMs) : o.idleTimeoutMs,
      inputStreams: textOf(child(body, SHELL.ns, 'InputStreams')) ?? 'stdin',
      outputStreams: textOf(child(body, SHELL.ns, 'OutputStreams')) ?? 'stdout stderr',
      codepage: req.options.WINRS_CODEPAGE,
    });
    if (cgroups) {
      try {
        shell.cgroup = await cgroups.create(`${CGROUP_PREFIX}${serverTag()}-${shell.id}`, { memoryBytes: o.maxMemoryPerShellMb * 1024 * 1024, maxTasks: o.maxTasksPerShell });
      } catch (err) {
        log.warn({ event: 'shell_memory_unbounded', shellId: shell.id, reason: (err as Error).message });
      }
    }
    // The caller was answered TimedOut (or went away) meanwhile: it will never learn this ShellId,
    // so the shell must not outlive the request and count against its quota.
    if (req.signal.aborted) {
      await shells.close(shell, 'abandoned');
      throw new ProviderError('TIMED_OUT', 'The shell was not created within the OperationTimeout.');
    }
    log.info({ event: 'shell_created', shellId: shell.id, user: shell.owner, client: shell.clientAddress, runAs: account.name, cwd });
    return { selectors: { ShellId: shell.id }, body: shellElement(shell) };
  }

  async function command(req: DocumentRequest, shell: Shell): Promise<Element> {
    const line = req.body?.ns === SHELL.ns && req.body.name === 'CommandLine' ? req.body : undefined;
    const program = textOf(child(line, SHELL.ns, 'Command'))?.trim();
    if (!program) throw new ProviderError('INVALID_PARAMETER', 'The body must be an rsp:CommandLine with an rsp:Command.');
    const args = children(line, SHELL.ns, 'Arguments').map((a) => textOf(a) ?? '');
    shells.checkCommandQuota(shell);
    const { cmd, display } = o.runner
      ? { cmd: Command.attach(o.runner.start({ program, args, options: req.options }, shell), { bufferBytes: o.outputBufferKb * 1024, budgets: budgets.of(shell.owner) }), display: [program, ...args].join(' ') }
      : await startProcess(shell, program, args, req.options);
    shell.commands.set(cmd.id, cmd);
    const who = { shellId: shell.id, commandId: cmd.id, user: shell.owner, client: shell.clientAddress, pid: cmd.pid };
    log.info({ event: 'command_started', ...who, runAs: shell.settings.account.name, ...(o.logCommandLines ? { commandLine: display } : {}) });
    void cmd.ended.then(() => log.info({ event: 'command_exited', ...who, exitCode: cmd.exitCode, signal: cmd.exitSignal ?? undefined, bytesOut: cmd.bytesOut, ms: Date.now() - cmd.started }));
    return rsp('CommandResponse', {}, rsp('CommandId', {}, cmd.id));
  }

  /** A command as a process of this host, run as the shell's account (in its cgroup where there is one). */
  async function startProcess(shell: Shell, program: string, args: string[], options: Record<string, string>): Promise<{ cmd: Command; display: string }> {
    const { account, cwd, env } = shell.settings;
    const launch = await interpret(program, args, {
      interpreter: o.interpreter,
      pwsh: o.pwsh,
      searchPath: env.PATH ?? '',
      skipCmdShell: isTrue(options.WINRS_SKIP_CMD_SHELL),
    });
    const { cgroup } = shell;
    // Without the pids controller, RLIMIT_NPROC bounds what the command may fork (prlimit(1) sets it, then execs it).
    const [file, argv] = nproc ? ['prlimit', [`--nproc=${nproc}`, '--', launch.file, ...launch.args]] : [launch.file, launch.args];
    const cmd = await Command.start({
      file,
      args: argv,
      cwd,
      env,
      ...spawnIds(account),
      bufferBytes: o.outputBufferKb * 1024,
      budgets: budgets.of(shell.owner),
      // MaxMemoryPerShellMB and maxTasksPerShell: the process joins the shell's cgroup before it runs the command.
      hold: cgroup && {
        shell: o.interpreter,
        until: (pid) => cgroup.add(pid).catch((err: Error) => log.warn({ event: 'shell_memory_unbounded', shellId: shell.id, reason: err.message })),
      },
    });
    return { cmd, display: launch.display };
  }

  async function send(req: DocumentRequest, shell: Shell): Promise<Element> {
    for (const stream of children(req.body, SHELL.ns, 'Stream')) {
      if (stream.attrs.Name !== 'stdin') throw new ProviderError('INVALID_PARAMETER', `The shell has no input stream ${stream.attrs.Name ?? '(unnamed)'}.`);
      const cmd = commandOf(shell, stream.attrs.CommandId);
      const data = Buffer.from(textOf(stream) ?? '', 'base64');
      // Input for a command that no longer reads it (exited, or closed its stdin) is dropped, as a
      // pipe's reader going away drops it; the Send still succeeds. Windows answers such a Send
      // with "The pipe has been ended" (w:InternalError, code 109), which Ansible only warns on.
      if (!(await cmd.write(data, isTrue(stream.attrs.End), req.signal)) && data.length > 0) {
        log.debug({ event: 'stdin_dropped', shellId: shell.id, commandId: cmd.id, bytes: data.length, running: cmd.running });
      }
    }
    return rsp('SendResponse');
  }

  /**
   * Long poll (MS-WSMV 3.1.4.14): answer once there is output or the command has ended,
   * else a little before the caller's OperationTimeout with TimedOut, which clients retry. Output
   * is gathered for up to COALESCE_MS more (never past that point, never past a full envelope),
   * so that a command's last output and its Done with ExitCode come in one reply.
   */
  async function receive(req: DocumentRequest, shell: Shell): Promise<Element> {
    const desired = child(req.body, SHELL.ns, 'DesiredStream');
    const cmd = commandOf(shell, desired?.attrs.CommandId);
    const streams = new Set((textOf(desired) ?? 'stdout stderr').split(/\s+/).filter((s): s is StreamName => s === 'stdout' || s === 'stderr'));
    const total = req.deadline - Date.now();
    const answerBy = req.deadline - Math.min(2000, total / 10);
    const chunks: Chunk[] = [];
    let budget = req.maxEnvelopeSize - RECEIVE_OVERHEAD;
    let settleBy: number | undefined;
    for (;;) {
      const out = cmd.take(budget, streams, STREAM_TAG);
      for (const c of out.chunks) {
        budget -= STREAM_TAG + Math.ceil(c.data.length / 3) * 4;
        const last = chunks[chunks.length - 1];
        if (last?.stream === c.stream) last.data = Buffer.concat([last.data, c.data]);
        else chunks.push(c);
      }
      if (chunks.length > 0) settleBy ??= Math.min(Date.now() + COALESCE_MS, answerBy);
      const until = settleBy ?? answerBy;
      if (out.exitCode !== undefined || out.full || (settleBy !== undefined && (Date.now() >= until || req.signal.aborted))) {
        if (out.exitCode !== undefined) shells.delivered(shell, cmd);
        return receiveResponse(cmd, streams, chunks, out.exitCode);
      }
      // The Go client retries only when the fault's text names OperationTimeout, as Windows' does.
      if (Date.now() >= until || req.signal.aborted) throw new ProviderError('TIMED_OUT', 'The WS-Management service cannot complete the operation within the time specified in OperationTimeout.');
      await cmd.activity(until - Date.now(), req.signal);
    }
  }

  async function signal(req: DocumentRequest, shell: Shell): Promise<Element> {
    const sig = req.body?.ns === SHELL.ns && req.body.name === 'Signal' ? req.body : undefined;
    const cmd = commandOf(shell, sig?.attrs.CommandId);
    // pypsrp sends `…/signal/Terminate`: signal codes are compared without regard to case.
    const code = (textOf(child(sig, SHELL.ns, 'Code')) ?? '').trim().toLowerCase();
    if (code === SHELL.signalTerminate.toLowerCase()) {
      // The reply does not wait for the grace period; the command's end is logged when it comes.
      void endCommands([cmd], o.terminateGraceMs, [], shell.cgroup);
    } else if (code === SHELL.signalCtrlC.toLowerCase()) {
      cmd.signal('SIGINT');
    } else if (code === SHELL.signalCtrlBreak.toLowerCase()) {
      cmd.signal('SIGQUIT');
    } else {
      throw new ProviderError('INVALID_PARAMETER', `The signal code ${code || '(none)'} is not one of terminate, ctrl_c, ctrl_break.`);
    }
    return rsp('SignalResponse');
  }

  const getShell = (req: DocumentRequest) => withShell(req, async (shell) => shellElement(shell));

  /** A custom action on the shell its ShellId selector names (MS-WSMV 3.1.4.11-14). */
  const onShell = (act: (req: DocumentRequest, shell: Shell) => Promise<Element>) => (req: DocumentRequest) => withShell(req, (shell) => act(req, shell));
  /**
   * PowerShell remoting needs a PowerShell engine behind the resource (MS-PSRP 3.1.4.1: the
   * Create of a RunspacePool carries PSRP messages in creationXml), which this host has not.
   * Every operation on a PSRP resource is answered as Windows answers a configuration it does not
   * have: wsa:DestinationUnreachable, ERROR_WSMAN_RESOURCE_NOT_FOUND, HTTP 500. PowerShell
   * (PSSessionOpenFailed) and pypsrp (WSManFaultError; it retries only HTTP 425, 429, 503)
   * report it once.
   */
  async function noRemoting(req: DocumentRequest): Promise<never> {
    log.info({ event: 'psrp_refused', user: req.caller.user, client: req.caller.clientAddress, resourceUri: req.resourceUri });
    throw new ProviderError('NOT_FOUND', `The WS-Management service cannot process the request. The resource URI (${req.resourceUri}) was not found in the WS-Management catalog: this host runs winrmd, which has no PowerShell engine, so PowerShell remoting (PSRP: New-PSSession, Enter-PSSession, pypsrp, Ansible's psrp connection, evil-winrm) cannot run here. Use the cmd shell (${SHELL.cmd}): pywinrm's run_cmd and run_ps, Ansible's winrm connection, pypsrp's Client.execute_cmd.`, WINDOWS_CODE.resourceNotFound);
  }
  const psrp = (uri: string): DocumentResource => ({
    uri, create: noRemoting, get: noRemoting, put: noRemoting, delete: noRemoting,
    actions: Object.fromEntries([SHELL.command, SHELL.send, SHELL.receive, SHELL.signal].map((action) => [action, noRemoting])),
  });

  const provider: ShellProvider = {
    apiVersion: PROVIDER_API_VERSION,
    name: 'shell',
    shells,
    budgets,
    get memoryBound() {
      return cgroups?.memory;
    },
    get processBound() {
      return cgroups?.pids ?? (nproc ? 'rlimit nproc' : undefined);
    },
    async load(ctx) {
      log = ctx.log;
      if (o.runner) return; // no process of this host runs: nothing to bound or sweep
      const probed = o.cgroups ? await probeCgroups() : { groups: undefined, unbounded: { memory: 'shell.cgroups is false', pids: 'shell.cgroups is false' } };
      cgroups = probed.groups;
      const { unbounded } = probed;
      if (unbounded.memory) log.warn({ event: 'shell_memory_unbounded', reason: unbounded.memory }, 'MaxMemoryPerShellMB cannot be enforced on this host');
      // MaxProcessesPerShell counts commands; maxTasksPerShell everything they start, where the pids controller can be used.
      if (cgroups?.pids) {
        log.info({ event: 'shell_processes_bounded', by: cgroups.pids, maxTasksPerShell: o.maxTasksPerShell });
      } else if (await run('prlimit', ['--version']).then(() => true, () => false)) {
        // RLIMIT_NPROC counts every process of the account, not of one shell: the bound is the account's shells' worth.
        nproc = o.maxTasksPerShell * o.maxShellsPerUser;
        log.warn({ event: 'shell_processes_bounded', by: 'rlimit nproc (per account, root exempt)', max: nproc, reason: unbounded.pids });
      } else {
        log.warn({ event: 'shell_processes_unbounded', reason: `${unbounded.pids}; no prlimit(1) for RLIMIT_NPROC` }, 'shell.maxTasksPerShell cannot be enforced on this host: only commands are counted');
      }
      // What a winrmd that was killed left: its commands, orphaned to init, and its shells' cgroups.
      const processes = await sweepOrphans();
      const groups = (await cgroups?.sweep(CGROUP_PREFIX, (name) => !isLiveServer(name.slice(CGROUP_PREFIX.length).split('-')[0]!))) ?? 0;
      if (processes + groups > 0) log.warn({ event: 'orphans_swept', processes, cgroups: groups });
    },
    async unload() {
      await shells.closeAll();
    },
    async endUser(user) {
      await Promise.all(shells.ownedBy(user).map((shell) => shells.close(shell, 'user_ended')));
    },
    documents: [
      {
        uri: SHELL.cmd,
        create,
        get: getShell,
        async delete(req) {
          const shell = shells.acquire(selector(req, 'ShellId'), req.caller);
          await shells.close(shell, 'delete');
        },
        actions: {
          [SHELL.command]: onShell(command),
          [SHELL.send]: onShell(send),
          [SHELL.receive]: onShell(receive),
          [SHELL.signal]: onShell(signal),
        },
        // A shell's commands run as the caller's runAs account, chosen when the shell is created.
        effects: { [ACTION.create]: ['runsAsAccount'], [SHELL.command]: ['runsAsAccount'] },
      },
      {
        // `winrm enumerate windows/shell`: the caller's shells, whatever their type.
        uri: SHELL.ns,
        get: getShell,
        async *enumerate(req) {
          for (const shell of shells.ownedBy(req.caller.user)) yield { selectors: { ShellId: shell.id }, body: shellElement(shell) };
        },
      },
      ...POWERSHELL.configurations.map(psrp),
    ],
  };
  return provider;
}

/** The ReceiveResponse (MS-WSMV 3.1.4.14): the streams, then CommandState (Done with its ExitCode once the command has ended). */
function receiveResponse(cmd: Command, streams: ReadonlySet<StreamName>, chunks: Chunk[], exitCode: number | undefined): Element {
  const reply = rsp('ReceiveResponse');
  for (const c of chunks) reply.children.push(rsp('Stream', { Name: c.stream, CommandId: cmd.id }, c.data.toString('base64')));
  if (exitCode === undefined) {
    reply.children.push(rsp('CommandState', { CommandId: cmd.id, State: SHELL.stateRunning }));
  } else {
    for (const s of streams) reply.children.push(rsp('Stream', { Name: s, CommandId: cmd.id, End: 'true' }));
    reply.children.push(rsp('CommandState', { CommandId: cmd.id, State: SHELL.stateDone }, rsp('ExitCode', {}, String(exitCode))));
  }
  return reply;
}

/** MS-WSMV 2.2.4.37 ShellType, in its element order. */
function shellElement(shell: Shell): Element {
  const now = Date.now();
  const s = shell.settings;
  return rsp('Shell', {},
    rsp('ShellId', {}, shell.id),
    s.name ? rsp('Name', {}, s.name) : undefined,
    rsp('ResourceUri', {}, SHELL.cmd),
    rsp('Owner', {}, shell.owner),
    rsp('ClientIP', {}, shell.clientAddress),
    rsp('ProcessId', {}, String(process.pid)),
    rsp('WorkingDirectory', {}, s.cwd),
    rsp('IdleTimeOut', {}, seconds(s.idleTimeoutMs)),
    rsp('InputStreams', {}, s.inputStreams),
    rsp('OutputStreams', {}, s.outputStreams),
    rsp('Encoding', {}, s.codepage === '437' ? 'CP437' : 'UTF8'),
    rsp('BufferMode', {}, 'Block'),
    rsp('State', {}, 'Connected'),
    rsp('ShellRunTime', {}, duration(now - shell.created)),
    rsp('ShellInactivity', {}, duration(shell.busy > 0 ? 0 : now - shell.lastActive)));
}

function commandOf(shell: Shell, id: string | undefined): Command {
  const cmd = id ? shell.commands.get(id.toUpperCase()) : undefined;
  if (!cmd) throw new ProviderError('INVALID_PARAMETER', `The shell ${shell.id} has no command ${id ?? '(no CommandId given)'}.`);
  return cmd;
}

function selector(req: DocumentRequest, name: string): string | undefined {
  const key = Object.keys(req.selectors).find((k) => k.toLowerCase() === name.toLowerCase());
  return key ? req.selectors[key] : undefined;
}

function isTrue(v: string | undefined): boolean {
  return v?.trim().toLowerCase() === 'true';
}

/** xs:duration in seconds with milliseconds, as Windows writes IdleTimeOut (PT180.000S). */
function seconds(ms: number): string {
  return `PT${(ms / 1000).toFixed(3)}S`;
}

/** xs:duration in days to seconds, as Windows writes ShellRunTime (P0DT0H0M5S). */
function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `P${Math.floor(s / 86400)}DT${Math.floor((s % 86400) / 3600)}H${Math.floor((s % 3600) / 60)}M${s % 60}S`;
}
