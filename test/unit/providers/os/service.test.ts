// Win32_Service: the branch this machine takes (systemd running or not), and the systemctl
// output parsing on fixture text for the other.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makeInstance } from '../../../../providers/os/common.js';
import { parseShow, parseUnitNames, serviceValues, systemdRunning, Win32_Service } from '../../../../providers/os/service.js';
import { enumerate, get, typeProblem } from './helpers.js';

const hasSystemd = existsSync('/run/systemd/system');

describe('Win32_Service on this machine', () => {
  it('detects systemd the way sd_booted(3) does', () => {
    expect(systemdRunning()).toBe(hasSystemd);
  });

  // One behaviour per kind of host: the branch that applies here is the one asserted.
  it('without systemd is an empty class, not an error; with systemd lists units without .service', async () => {
    if (!hasSystemd) {
      expect(await enumerate('Win32_Service')).toEqual([]);
      await expect(get('Win32_Service', { Name: 'ssh' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      return;
    }
    const services = await enumerate('Win32_Service');
    expect(services.length).toBeGreaterThan(0);
    for (const s of services) expect(s.properties.Name).not.toMatch(/\.service$/);
    const first = services[0]!.properties.Name as string;
    expect((await get('Win32_Service', { Name: first })).properties.Name).toBe(first);
  });
});

// `systemctl list-units --type=service --all --no-pager --plain --no-legend` (systemd 252).
const LIST_UNITS = `auditd.service                         not-found inactive dead    auditd.service
cron.service                           loaded    active   running Regular background program processing daemon
● pg-backup.service                    loaded    failed   failed  Nightly database backup
ssh.service                            loaded    active   running OpenBSD Secure Shell server
getty@tty1.service                     loaded    active   running Getty on tty1
`;

// `systemctl list-unit-files --type=service --no-pager --plain --no-legend`.
const LIST_UNIT_FILES = `cron.service                 enabled  enabled
getty@.service               enabled  enabled
rsync.service                disabled enabled
ssh.service                  enabled  enabled
systemd-tmpfiles-setup.service static -
telnet.service               masked   enabled
`;

// `systemctl show --property=Id,Description,... -- <units>`: one block per unit.
const SHOW = `Id=ssh.service
Description=OpenBSD Secure Shell server
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
MainPID=812
ExecStart={ path=/usr/sbin/sshd ; argv[]=/usr/sbin/sshd -D $SSHD_OPTS ; ignore_errors=no ; start_time=[Sat 2026-11-21 15:06:07 UTC] ; stop_time=[n/a] ; pid=812 ; code=(null) ; status=0/0 }
ExecMainStatus=0
User=
CanStop=yes

Id=pg-backup.service
Description=Nightly database backup
LoadState=loaded
ActiveState=failed
SubState=failed
UnitFileState=enabled
MainPID=0
ExecStart={ path=/usr/local/bin/pg-backup ; argv[]=/usr/local/bin/pg-backup --all ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=exited ; status=3 }
ExecStart={ path=/bin/true ; argv[]=/bin/true ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }
ExecMainStatus=3
User=postgres
CanStop=yes

Id=systemd-tmpfiles-setup.service
Description=Create System Files and Directories
LoadState=loaded
ActiveState=active
SubState=exited
UnitFileState=static
MainPID=0
ExecStart={ path=/bin/systemd-tmpfiles ; argv[]=/bin/systemd-tmpfiles --create --remove --boot --exclude-prefix=/dev ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }
ExecMainStatus=0
User=
CanStop=no

Id=rsync.service
Description=fast remote file copy program daemon
LoadState=loaded
ActiveState=activating
SubState=start
UnitFileState=disabled
MainPID=4242
ExecStart=
ExecMainStatus=0
User=
CanStop=yes

Id=telnet.service
Description=telnet.service
LoadState=masked
ActiveState=inactive
SubState=dead
UnitFileState=masked
MainPID=0
ExecStart=
ExecMainStatus=0
User=
CanStop=yes

Id=auditd.service
Description=auditd.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=
MainPID=0
ExecStart=
ExecMainStatus=0
User=
CanStop=yes
`;

describe('systemctl output parsing', () => {
  it('reads unit names from list-units and list-unit-files, skipping templates', () => {
    expect(parseUnitNames(LIST_UNITS)).toEqual([
      'auditd.service',
      'cron.service',
      'pg-backup.service',
      'ssh.service',
      'getty@tty1.service',
    ]);
    expect(parseUnitNames(LIST_UNIT_FILES)).toEqual([
      'cron.service',
      'rsync.service',
      'ssh.service',
      'systemd-tmpfiles-setup.service',
      'telnet.service',
    ]);
    expect(parseUnitNames('')).toEqual([]);
  });

  it('splits systemctl show into one record per unit, keeping the first of a repeated key', () => {
    const units = parseShow(SHOW);
    expect(units.map((u) => u.Id)).toEqual([
      'ssh.service',
      'pg-backup.service',
      'systemd-tmpfiles-setup.service',
      'rsync.service',
      'telnet.service',
      'auditd.service',
    ]);
    expect(units[1]!.ExecStart).toContain('pg-backup --all');
    expect(units[0]!.User).toBe('');
  });

  it('maps units to Win32_Service values', () => {
    const values = parseShow(SHOW).map((u) => serviceValues(u, 'host1'));
    const [ssh, backup, tmpfiles, rsync, telnet, auditd] = values;
    expect(ssh).toMatchObject({
      Name: 'ssh',
      DisplayName: 'OpenBSD Secure Shell server',
      Caption: 'OpenBSD Secure Shell server',
      State: 'Running',
      Started: true,
      StartMode: 'Auto',
      Status: 'OK',
      ProcessId: 812,
      PathName: '/usr/sbin/sshd -D $SSHD_OPTS',
      ServiceType: 'Own Process',
      StartName: 'root',
      AcceptStop: true,
      ExitCode: 0,
      SystemName: 'host1',
    });
    expect(backup).toMatchObject({
      Name: 'pg-backup',
      State: 'Stopped',
      Started: false,
      Status: 'Degraded',
      ProcessId: 0,
      ExitCode: 1066, // ERROR_SERVICE_SPECIFIC_ERROR
      ServiceSpecificExitCode: 3,
      StartName: 'postgres',
      PathName: '/usr/local/bin/pg-backup --all',
    });
    expect(tmpfiles).toMatchObject({ State: 'Running', Started: true, StartMode: 'Manual', AcceptStop: false });
    expect(rsync).toMatchObject({ State: 'Start Pending', Started: false, StartMode: 'Manual', PathName: null });
    expect(telnet).toMatchObject({ State: 'Stopped', StartMode: 'Disabled' });
    expect(auditd).toBeNull(); // a unit that does not exist is no service
    for (const v of values.filter((v) => v !== null)) {
      const inst = makeInstance(Win32_Service, v); // throws on an undeclared property
      for (const [p, decl] of Object.entries(Win32_Service.properties)) {
        expect(typeProblem(decl, inst.properties[p]!), p).toBeNull();
      }
    }
  });
});
