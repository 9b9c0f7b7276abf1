// CIM_Service, Win32_BaseService and Win32_Service, read from systemd's service units
// (learn.microsoft.com, "Win32_Service class"). systemctl is run without a shell.

import { existsSync } from 'node:fs';
import {
  CIM_LogicalElement,
  abstractClass,
  cached,
  defineClass,
  hostname,
  BOOL,
  STRING,
  UINT32,
  type ClassImpl,
  type Values,
} from './common.js';
import { run } from '../common/system.js';

export const CIM_Service = defineClass({
  name: 'CIM_Service',
  parent: CIM_LogicalElement,
  keys: ['CreationClassName', 'Name', 'SystemCreationClassName', 'SystemName'],
  properties: {
    CreationClassName: STRING,
    Started: BOOL,
    StartMode: STRING,
    SystemCreationClassName: STRING,
    SystemName: STRING,
  },
});

export const Win32_BaseService = defineClass({
  name: 'Win32_BaseService',
  parent: CIM_Service,
  keys: ['Name'],
  properties: {
    AcceptPause: BOOL,
    AcceptStop: BOOL,
    DesktopInteract: BOOL,
    DisplayName: STRING,
    ErrorControl: STRING,
    ExitCode: UINT32,
    PathName: STRING,
    ServiceSpecificExitCode: UINT32,
    ServiceType: STRING,
    StartName: STRING,
    State: STRING,
    TagId: UINT32,
  },
});

export const Win32_Service = defineClass({
  name: 'Win32_Service',
  parent: Win32_BaseService,
  keys: ['Name'],
  properties: { CheckPoint: UINT32, DelayedAutoStart: BOOL, ProcessId: UINT32, WaitHint: UINT32 },
});

/** The unit properties read with `systemctl show`. */
export const SHOW_PROPERTIES = [
  'Id',
  'Description',
  'LoadState',
  'ActiveState',
  'SubState',
  'UnitFileState',
  'MainPID',
  'ExecStart',
  'ExecMainStatus',
  'User',
  'CanStop',
];

/** sd_booted(3): systemd is the running init exactly when /run/systemd/system/ exists. */
export function systemdRunning(): boolean {
  return existsSync('/run/systemd/system');
}

/** Service unit names from `systemctl list-units` or `list-unit-files` (--plain --no-legend). */
export function parseUnitNames(stdout: string): string[] {
  const names: string[] = [];
  for (const line of stdout.split('\n')) {
    // list-units may still mark failed units with a leading "●" or "*".
    const name = line.trim().split(/\s+/).find((w) => w.endsWith('.service'));
    // foo@.service is a template, not a service; its instances (foo@bar.service) are listed.
    if (name && !name.endsWith('@.service')) names.push(name);
  }
  return names;
}

/** `systemctl show` output: Key=Value lines, one blank-line-separated block per unit. */
export function parseShow(stdout: string): Record<string, string>[] {
  const units: Record<string, string>[] = [];
  let unit: Record<string, string> = {};
  for (const line of [...stdout.split('\n'), '']) {
    const eq = line.indexOf('=');
    if (eq > 0) {
      const key = line.slice(0, eq);
      unit[key] ??= line.slice(eq + 1); // a repeated key (several ExecStart=) keeps the first
    } else if (line.trim() === '' && Object.keys(unit).length > 0) {
      units.push(unit);
      unit = {};
    }
  }
  return units;
}

/**
 * Win32_Service.State from systemd's ActiveState (systemd.unit(5), "ActiveState"). An active
 * unit whose process has exited (a oneshot with RemainAfterExit) is still started: Running.
 */
function state(active: string): string {
  switch (active) {
    case 'active':
    case 'reloading':
    case 'refreshing':
      return 'Running';
    case 'activating':
      return 'Start Pending';
    case 'deactivating':
      return 'Stop Pending';
    case 'inactive':
    case 'failed':
      return 'Stopped';
    default:
      return 'Unknown';
  }
}

/**
 * StartMode from UnitFileState. Windows' Disabled means the service cannot be started at all,
 * which in systemd is a masked unit; a disabled unit can still be started by hand or as a
 * dependency, which is Windows' Manual.
 */
function startMode(unitFileState: string): string {
  if (unitFileState.startsWith('enabled') || unitFileState === 'alias') return 'Auto';
  if (unitFileState.startsWith('masked')) return 'Disabled';
  return 'Manual';
}

/** The command of the first ExecStart ("{ path=... ; argv[]=/usr/sbin/sshd -D ; ... }"). */
function pathName(execStart: string | undefined): string | null {
  const m = /argv\[\]=(.*?) ;/.exec(execStart ?? '');
  return m ? m[1]! : null;
}

/** One unit's `systemctl show` block as Win32_Service values; null for units that do not exist. */
export function serviceValues(u: Record<string, string>, host: string): Values | null {
  if (!u.Id?.endsWith('.service') || u.LoadState === 'not-found') return null;
  const name = u.Id.slice(0, -'.service'.length);
  const display = u.Description || name;
  const status = Number(u.ExecMainStatus ?? 0);
  const pid = Number(u.MainPID ?? 0);
  return {
    AcceptPause: false, // systemd has no pause
    AcceptStop: u.CanStop === 'yes',
    Caption: display,
    CheckPoint: 0,
    CreationClassName: 'Win32_Service',
    DelayedAutoStart: false,
    Description: display,
    DesktopInteract: false,
    DisplayName: display,
    ErrorControl: 'Normal',
    // Windows reports a service's own failure code as ERROR_SERVICE_SPECIFIC_ERROR (1066)
    // with the code itself in ServiceSpecificExitCode.
    ExitCode: status === 0 ? 0 : 1066,
    InstallDate: null,
    Name: name,
    PathName: pathName(u.ExecStart),
    ProcessId: Number.isFinite(pid) ? pid : 0,
    ServiceSpecificExitCode: status,
    ServiceType: 'Own Process',
    Started: u.ActiveState === 'active' || u.ActiveState === 'reloading',
    StartMode: startMode(u.UnitFileState ?? ''),
    // Units with no User= run as root, Windows' LocalSystem.
    StartName: u.User || 'root',
    State: state(u.ActiveState ?? ''),
    // A failed unit is what makes systemd call the whole system "degraded".
    Status: u.ActiveState === 'failed' ? 'Degraded' : 'OK',
    SystemCreationClassName: 'Win32_ComputerSystem',
    SystemName: host,
    TagId: 0,
    WaitHint: 0,
  };
}

const listServices = cached(2000, async (): Promise<Values[]> => {
  // Without systemd (most containers) there are no services: an empty class, not an error.
  if (!systemdRunning()) return [];
  const flags = ['--type=service', '--no-pager', '--plain', '--no-legend'];
  const [loaded, files] = await Promise.all([
    run('systemctl', ['list-units', '--all', ...flags]),
    run('systemctl', ['list-unit-files', ...flags]),
  ]);
  // Loaded units include generated and transient ones that have no unit file; unit files
  // include installed services that are not loaded now.
  const names = [...new Set([...parseUnitNames(loaded), ...parseUnitNames(files)])];
  if (names.length === 0) return [];
  const shown = await run('systemctl', ['show', '--no-pager', `--property=${SHOW_PROPERTIES.join(',')}`, '--', ...names]);
  const host = hostname();
  return parseShow(shown)
    .map((u) => serviceValues(u, host))
    .filter((v): v is Values => v !== null);
});

export const serviceClasses: ClassImpl[] = [
  abstractClass(CIM_Service),
  abstractClass(Win32_BaseService),
  { cls: Win32_Service, list: () => listServices() },
];
