// Windows events as JSON lines: System with its numbers as numbers, EventData by name or as a
// list, UserData and RenderingInfo kept, and an event that cannot be read kept whole.
import { describe, expect, it } from 'vitest';
import { eventToJson } from '../../../src/eventing/event-json.js';
import { windowsEvent } from '../../helpers/wef-source.js';

const origin = { source: 'ws01', address: '192.0.2.1', subscription: { name: 's', id: 'i' }, receivedAt: '2026-12-07T10:00:00.000Z' };

describe('eventToJson', () => {
  it('System fields, named EventData, RenderingInfo with its keywords', () => {
    const j = eventToJson(windowsEvent({ id: 4624, recordId: 9, data: { LogonType: '3' }, message: 'logged on' }), origin) as Record<string, any>;
    expect(j.System).toMatchObject({ EventID: 4624, Version: 2, Level: 0, Task: 12544, EventRecordID: 9, Keywords: '0x8020000000000000', Execution: { ProcessID: 700, ThreadID: 1234 } });
    expect(j.EventData).toEqual({ LogonType: '3' });
    expect(j.RenderingInfo).toMatchObject({ Culture: 'en-US', Message: 'logged on', Keywords: { Keyword: 'Audit Success' } });
    expect(j.winrmd).toEqual(origin);
  });

  it('unnamed Data as a list, UserData as it is nested, EventID with Qualifiers', () => {
    const xml = `<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Service Control Manager"/><EventID Qualifiers="16384">7036</EventID></System>`
      + `<EventData><Data>Windows Update</Data><Data>running</Data><Binary>00</Binary></EventData><UserData><LogFileCleared xmlns="x"><SubjectUserName>admin</SubjectUserName></LogFileCleared></UserData></Event>`;
    const j = eventToJson(xml, origin) as Record<string, any>;
    expect(j.System.EventID).toEqual({ Qualifiers: 16384, '#text': '7036' });
    expect(j.EventData).toEqual({ Data: ['Windows Update', 'running'], Binary: '00' });
    expect(j.UserData).toEqual({ LogFileCleared: { SubjectUserName: 'admin' } });
  });

  it('an event that is not XML is kept with the reason; a CIM instance event is JSON under its class name', () => {
    const broken = eventToJson('<Event><System>', origin) as Record<string, any>;
    expect(broken.error).toMatch(/cannot be read/);
    expect(broken.raw).toBe('<Event><System>');
    const cim = eventToJson('<p:__InstanceCreationEvent xmlns:p="urn:x"><p:TargetInstance><p:Win32_Process><p:ProcessId>42</p:ProcessId></p:Win32_Process></p:TargetInstance></p:__InstanceCreationEvent>', origin) as Record<string, any>;
    expect(cim.__InstanceCreationEvent.TargetInstance.Win32_Process.ProcessId).toBe('42');
    expect(cim.winrmd).toEqual(origin);
    expect((eventToJson('<!DOCTYPE x [<!ENTITY a "b">]><Event/>', origin) as Record<string, any>).error).toMatch(/document type/);
  });
});
