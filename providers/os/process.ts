// CIM_Process and Win32_Process, with the Create and Terminate methods
// (learn.microsoft.com: "Win32_Process class", "Create method of the Win32_Process class",
// "Terminate method of the Win32_Process class").
//
// The process table comes from procps' ps rather than systeminformation.processes(): measured
// on this project's machine, si.processes() takes ~70 ms for 70 processes (it shells out to ps and
// then cats /proc/<pid>/stat for every process, so it grows with the table) and has neither the
// thread count, the executable path nor a lookup by pid; `ps` run directly takes ~5 ms and
// answers `ps -p PID` for a Get.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { ProviderError, type InvokeRequest, type ProviderRequest } from '../../src/provider-api.js';
import {
  CIM_LogicalElement,
  abstractClass,
  defineClass,
  hostname,
  DATETIME,
  STRING,
  UINT32,
  UINT64,
  UINT16,
  type ClassImpl,
  type Values,
} from './common.js';
import { SessionsByUser } from '../common/processes.js';
import { argumentTooLong, run, sharedReadings } from '../common/system.js';
import { osCaption, osInfo } from './host.js';
import { childEnvironment, resolveRunAs, spawnIds, workingDirectory } from '../common/run-as.js';

export const CIM_Process = defineClass({
  name: 'CIM_Process',
  parent: CIM_LogicalElement,
  keys: ['CSCreationClassName', 'CSName', 'CreationClassName', 'Handle', 'OSCreationClassName', 'OSName'],
  properties: {
    CreationClassName: STRING,
    CreationDate: DATETIME,
    CSCreationClassName: STRING,
    CSName: STRING,
    ExecutionState: UINT16,
    Handle: STRING,
    KernelModeTime: UINT64,
    OSCreationClassName: STRING,
    OSName: STRING,
    Priority: UINT32,
    TerminationDate: DATETIME,
    UserModeTime: UINT64,
    WorkingSetSize: UINT64,
  },
});

export const Win32_Process = defineClass({
  name: 'Win32_Process',
  parent: CIM_Process,
  keys: ['Handle'],
  properties: {
    CommandLine: STRING,
    ExecutablePath: STRING,
    HandleCount: UINT32,
    ParentProcessId: UINT32,
    ProcessId: UINT32,
    ThreadCount: UINT32,
    VirtualSize: UINT64,
  },
  methods: {
    // ProcessStartupInformation (a Win32_ProcessStartup object) is not supported.
    // Both act as the caller's runAs account: a root account needs the policy's grant.
    Create: {
      input: { CommandLine: STRING, CurrentDirectory: STRING },
      output: { ProcessId: UINT32, ReturnValue: UINT32 },
      effects: ['runsAsAccount'],
    },
    Terminate: { input: { Reason: UINT32 }, output: { ReturnValue: UINT32 }, effects: ['runsAsAccount'] },
  },
});

/** The ReturnValue codes of Win32_Process.Create and Terminate. */
export const RETURN = {
  SUCCESS: 0,
  ACCESS_DENIED: 2,
  INSUFFICIENT_PRIVILEGE: 3,
  UNKNOWN_FAILURE: 8,
  PATH_NOT_FOUND: 9,
  INVALID_PARAMETER: 21,
} as const;

/** One row of the process table. */
export interface ProcessRow {
  pid: number;
  ppid: number;
  uid: number;
  threads: number;
  rssKb: number;
  vszKb: number;
  nice: string; // '-' for real-time scheduled processes
  started: Date;
  args: string;
  comm: string;
}

// pid ppid uid nlwp rss vsz ni lstart(5 words, C locale, UTC) args
const ROW = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(-|-?\d+)\s+(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}) ?(.*)$/;

/** ps exits 1 when `-p` names no live process: that is an empty table, not a failure. */
async function ps(args: string[], signal?: AbortSignal): Promise<string> {
  try {
    return await run('ps', args, signal);
  } catch (err) {
    if ((err as { code?: unknown }).code === 1) return '';
    throw err;
  }
}

/**
 * Reads the process table, or one pid of it. comm may contain spaces, and so may args, so each
 * comes from its own ps call as the last column; rows are joined by pid.
 */
export async function readProcesses(signal?: AbortSignal, pid?: number): Promise<ProcessRow[]> {
  const which = pid === undefined ? ['-e'] : ['-p', String(pid)];
  const [table, names] = await Promise.all([
    ps([...which, '-ww', '-o', 'pid=,ppid=,uid=,nlwp=,rss=,vsz=,ni=,lstart=,args='], signal),
    ps([...which, '-o', 'pid=,comm='], signal),
  ]);
  const comm = new Map<number, string>();
  for (const line of names.split('\n')) {
    const m = /^\s*(\d+) (.*)$/.exec(line);
    if (m) comm.set(Number(m[1]), m[2]!.trimEnd());
  }
  const rows: ProcessRow[] = [];
  for (const line of table.split('\n')) {
    const m = ROW.exec(line);
    if (!m) continue;
    const name = comm.get(Number(m[1]));
    if (name === undefined) continue; // exited between the two calls
    rows.push({
      pid: Number(m[1]),
      ppid: Number(m[2]),
      uid: Number(m[3]),
      threads: Number(m[4]),
      rssKb: Number(m[5]),
      vszKb: Number(m[6]),
      nice: m[7]!,
      started: new Date(`${m[8]} UTC`),
      args: m[9]!,
      comm: name,
    });
  }
  return rows;
}

/** What `ps -e` counts, the kernel's list of processes, without starting ps: one per numeric /proc entry. */
export async function countProcesses(): Promise<number> {
  return (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).length;
}

/**
 * Windows base priorities of the priority classes (learn.microsoft.com, "Scheduling
 * Priorities"): idle 4, below normal 6, normal 8, above normal 10, high 13, real-time 24,
 * mapped from the nice value.
 */
function basePriority(nice: string): number {
  if (nice === '-') return 24;
  const n = Number(nice);
  return n <= -15 ? 13 : n < 0 ? 10 : n === 0 ? 8 : n < 15 ? 6 : 4;
}

async function toValues(p: ProcessRow, osName: string, host: string): Promise<Values> {
  // Not readable for other users' processes unless winrmd is root; WMI too leaves
  // ExecutablePath null for processes the caller may not open.
  const exe = await readlink(`/proc/${p.pid}/exe`).catch(() => null);
  // Kernel threads and zombies have no memory and no command line; ps shows them as [comm].
  const noCommandLine = p.vszKb === 0 && /^\[.*\]( <defunct>)?$/.test(p.args);
  // comm is cut to 15 bytes by the kernel; the executable's file name is the untruncated image
  // name, which is what WMI's Name is.
  const base = exe ? path.basename(exe) : null;
  const name = p.comm.length === 15 && base?.startsWith(p.comm) ? base : p.comm;
  return {
    Caption: name,
    CommandLine: noCommandLine ? null : p.args,
    CreationClassName: 'Win32_Process',
    CreationDate: p.started,
    CSCreationClassName: 'Win32_ComputerSystem',
    CSName: host,
    Description: name,
    ExecutablePath: exe,
    ExecutionState: null, // "not implemented" in WMI either
    Handle: String(p.pid),
    HandleCount: null,
    InstallDate: null,
    KernelModeTime: null,
    Name: name,
    OSCreationClassName: 'Win32_OperatingSystem',
    OSName: osName,
    ParentProcessId: p.ppid,
    Priority: basePriority(p.nice),
    ProcessId: p.pid,
    Status: null, // "not implemented" in WMI either
    TerminationDate: null,
    ThreadCount: p.threads,
    UserModeTime: null,
    VirtualSize: p.vszKb * 1024,
    WorkingSetSize: p.rssKb * 1024,
  };
}

/**
 * The table for Enumerate and Get, read once for every request that asks while a reading runs or
 * within a second after it: under load, a `ps` pair per request (a fork each, on the event loop's
 * thread) was what starved the server. Terminate reads its process afresh.
 */
const processTable = sharedReadings(() => readProcesses(), 1000);

async function listProcesses(req: ProviderRequest): Promise<Values[]> {
  const [rows, info] = await Promise.all([processTable('all', req.signal), osInfo()]);
  const osName = osCaption(info);
  const host = hostname();
  return Promise.all(rows.map((r) => toValues(r, osName, host)));
}

/** The process a Handle selector names, or null: from the shared table, or read afresh. Handles are decimal pids. */
async function findProcess(handle: string, signal: AbortSignal | undefined, fresh: boolean): Promise<ProcessRow | null> {
  if (!/^\d{1,10}$/.test(handle)) return null;
  const shared = fresh ? undefined : (await processTable('all', signal)).find((r) => String(r.pid) === handle);
  // Not in a table up to a second old (a process just started): read it afresh before saying so.
  return shared ?? (await readProcesses(signal, Number(handle))).find((r) => String(r.pid) === handle) ?? null;
}

async function getProcess(req: ProviderRequest): Promise<Values> {
  const { Handle } = req.selectors; // the core resolved selector names to the declared keys
  if (Handle === undefined) throw new ProviderError('INVALID_PARAMETER', 'a Win32_Process is named by its Handle');
  const row = await findProcess(Handle, req.signal, false);
  if (!row) throw new ProviderError('NOT_FOUND', `no process with Handle ${Handle}`);
  return toValues(row, osCaption(await osInfo()), hostname());
}

/** A method parameter by name, matched case-insensitively as WMI does. */
function param(input: InvokeRequest['input'], name: string) {
  const key = Object.keys(input).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : input[key];
}

/**
 * A login-like environment for the account. The daemon's own environment (which may hold
 * configuration secrets) is not passed on.
 */
/**
 * Win32_Process.Create: runs the command line with /bin/sh, detached in its own session and
 * process group with no stdio, as the caller's runAs account. Like WMI, a bad command line or
 * directory is a ReturnValue, not a fault; a caller without a usable account is a fault.
 */
async function create(req: InvokeRequest, created: SessionsByUser): Promise<Values> {
  const account = await resolveRunAs(req.caller, req.signal);
  const commandLine = param(req.input, 'CommandLine');
  if (typeof commandLine !== 'string' || commandLine.trim() === '') {
    return { ProcessId: null, ReturnValue: RETURN.INVALID_PARAMETER };
  }
  const asked = param(req.input, 'CurrentDirectory');
  const cwd = typeof asked === 'string' || asked == null ? await workingDirectory(account, asked) : undefined;
  if (cwd === undefined) return { ProcessId: null, ReturnValue: RETURN.PATH_NOT_FOUND };
  // Too long for execve(2) (E2BIG): WMI's answer to a command line it cannot take.
  if (argumentTooLong([commandLine])) return { ProcessId: null, ReturnValue: RETURN.INVALID_PARAMETER };
  try {
    // libuv drops the supplementary groups when it switches accounts.
    const child = spawn('/bin/sh', ['-c', commandLine], {
      cwd,
      detached: true,
      stdio: 'ignore',
      env: childEnvironment(account),
      ...spawnIds(account),
    });
    await once(child, 'spawn');
    child.unref();
    created.add(req.caller.user, child.pid!);
    // The command line is not logged: it may carry secrets.
    req.log.info({ event: 'process_created', pid: child.pid, user: req.caller.user, runAs: account.name });
    return { ProcessId: child.pid ?? null, ReturnValue: RETURN.SUCCESS };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const rv =
      code === 'ENOENT' || code === 'ENOTDIR'
        ? RETURN.PATH_NOT_FOUND
        : code === 'EACCES' || code === 'EPERM'
          ? RETURN.ACCESS_DENIED
          : RETURN.UNKNOWN_FAILURE;
    return { ProcessId: null, ReturnValue: rv };
  }
}

/**
 * Win32_Process.Terminate: SIGTERM to the process, if it belongs to the caller's account (or
 * that account is root, which the access policy grants only through security.rootRunAsUsers). Reason is WMI's exit code for
 * the process; Linux cannot impose an exit code on another process, so it is ignored.
 */
async function terminate(req: InvokeRequest): Promise<Values> {
  const { Handle } = req.selectors; // the core resolved selector names to the declared keys
  if (Handle === undefined) throw new ProviderError('INVALID_PARAMETER', 'Terminate needs the Handle selector');
  const account = await resolveRunAs(req.caller, req.signal);
  const row = await findProcess(Handle, req.signal, true);
  if (!row) throw new ProviderError('NOT_FOUND', `no process with Handle ${Handle}`);
  if (account.uid !== 0 && row.uid !== account.uid) return { ReturnValue: RETURN.ACCESS_DENIED };
  try {
    process.kill(row.pid, 'SIGTERM');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') throw new ProviderError('NOT_FOUND', `no process with Handle ${Handle}`);
    return { ReturnValue: code === 'EPERM' ? RETURN.ACCESS_DENIED : RETURN.UNKNOWN_FAILURE };
  }
  req.log.info({ event: 'process_terminated', pid: row.pid, user: req.caller.user, runAs: account.name });
  return { ReturnValue: RETURN.SUCCESS };
}

/** `created`: where Win32_Process.Create records the sessions it starts, by the caller who asked. */
export function processClasses(created: SessionsByUser): ClassImpl[] {
  return [
    abstractClass(CIM_Process),
    {
      cls: Win32_Process,
      list: listProcesses,
      get: getProcess,
      // The core has matched req.method to a declared method name.
      invoke: (req) => (req.method === 'Create' ? create(req, created) : terminate(req)),
    },
  ];
}
