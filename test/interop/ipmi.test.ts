// The IPMI provider against a real BMC: OpenIPMI's ipmi_sim on 127.0.0.1, reached through both
// transports (native RMCP+ and ipmitool), every class compared value by value with what ipmitool
// itself prints for the same simulator in the same test.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIpmiProvider, type BmcOptions } from '../../providers/ipmi/index.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type Winrmd } from '../../src/server.js';
import { runJsonClient } from '../helpers/json-client.js';
import { ACTIONS, enumerateBody, envelope, pullBody } from '../helpers/envelope.js';
import { startIpmiSim, type IpmiSim } from '../helpers/ipmi-sim.js';
import { everyNth, startUdpRelay } from '../helpers/udp-relay.js';
import { ALICE, BOB, basic, NO_LOCKOUT, testServer, testUsers, NO_SHEDDING } from '../helpers/server.js';
import { enumerateAll, instancesIn, type WireInstance } from '../helpers/wsman-instances.js';
import { xp } from '../helpers/xpath.js';

const HW = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware';
const DMTF = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2';
const PYWINRM_CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pywinrm_client.py');

export const bmcOptions = (sim: IpmiSim, over: Partial<BmcOptions> = {}): BmcOptions => ({
  name: 'bmc1', transport: 'lanplus', host: '127.0.0.1', port: sim.port, user: 'admin', password: 'password',
  privilege: 'administrator', cipherSuite: 3, timeoutMs: 500, retries: 2, ...over,
});

/** `ipmitool … | a | b |` rows, cells trimmed. */
const rows = (text: string) => text.trim().split('\n').filter(Boolean).map((l) => l.split('|').map((c) => c.trim()));
const num = (v: string | string[] | null | undefined) => (typeof v === 'string' ? Number(v) : NaN);
/** A NumericSensor value in units: the integer × 10^UnitModifier. */
const units = (i: WireInstance, prop: string) => (i.props[prop] === null ? null : num(i.props[prop]) * 10 ** num(i.props.UnitModifier));
const until = async (what: () => Promise<boolean>, ms = 8000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (await what()) return;
  throw new Error('condition not met in time');
};

describe.each(['lanplus', 'ipmitool'] as const)('the IPMI provider over %s against ipmi_sim', (transport) => {
  let sim: IpmiSim;
  let t: Awaited<ReturnType<typeof testServer>>;
  const post = async (xml: string, auth?: string) => {
    const r = await t.post(xml, auth);
    return { status: r.status, text: r.body as string };
  };
  const all = (cls: string, o: { wql?: string } = {}) => enumerateAll(post, `${HW}/${cls}`, o);
  const invoke = (cls: string, method: string, selectors: Record<string, string>, input: string, auth?: string) =>
    post(envelope({ action: `${HW}/${cls}/${method}`, resourceUri: `${HW}/${cls}`, selectors, body: `<p:${method}_INPUT xmlns:p="${HW}/${cls}">${input}</p:${method}_INPUT>` }), auth);

  beforeAll(async () => {
    sim = await startIpmiSim();
    const ipmi = createIpmiProvider({ pollIntervalMs: 300, bmcs: [bmcOptions(sim, { transport })] });
    t = await testServer({ security: { ...NO_LOCKOUT, hardwareControlUsers: ['alice'] } }, [ipmi]);
  }, 30_000);
  afterAll(async () => {
    await t?.server.close();
    await sim?.stop();
  });

  it('NumericSensor: every threshold sensor, reading and thresholds as `sensor list` prints them', async () => {
    const sensors = await all('NumericSensor');
    const listed = rows(await sim.ipmitool('sensor', 'list')).filter((r) => r[2] !== 'discrete');
    expect(sensors.map((s) => s.props.ElementName).sort()).toEqual(listed.map((r) => r[0]).sort());
    // sensor list columns: name, reading, unit, status, lnr, lcr, lnc, unc, ucr, unr
    const columns: [number, string][] = [[4, 'LowerThresholdFatal'], [5, 'LowerThresholdCritical'], [6, 'LowerThresholdNonCritical'],
      [7, 'UpperThresholdNonCritical'], [8, 'UpperThresholdCritical'], [9, 'UpperThresholdFatal']];
    for (const r of listed) {
      const s = sensors.find((x) => x.props.ElementName === r[0])!;
      expect(units(s, 'CurrentReading'), r[0]).toBeCloseTo(Number(r[1]), 6);
      for (const [col, prop] of columns) {
        if (r[col] === 'na') expect(s.props[prop], `${r[0]} ${prop}`).toBeNull();
        else expect(units(s, prop), `${r[0]} ${prop}`).toBeCloseTo(Number(r[col]), 6);
      }
      // sensor list's status: ok, nc (non-critical), cr (critical), nr (non-recoverable)
      const state = { ok: /^Normal$/, nc: /^(Upper|Lower) Non-Critical$/, cr: /^(Upper|Lower) Critical$/, nr: /^(Upper|Lower) Fatal$/ }[r[3]];
      expect(s.props.CurrentState, r[0]).toMatch(state!);
    }
  });

  it('NumericSensor: keys, units, type, masks and the SDR fields, as `sdr elist` and the SDR say', async () => {
    const sensors = await all('NumericSensor');
    const elist = rows(await sim.ipmitool('sdr', 'elist', 'full'));
    for (const [name, hexNumber] of elist) {
      const s = sensors.find((x) => x.props.ElementName === name)!;
      const n = parseInt(hexNumber, 16);
      expect(s.props.DeviceID).toBe(`${name}(${n}.0.32)`);
      expect(s.props).toMatchObject({ SystemName: 'bmc1', SystemCreationClassName: 'ComputerSystem', CreationClassName: 'NumericSensor' });
    }
    const cpu = sensors.find((s) => s.props.ElementName === 'CPU Temp')!;
    expect(cpu.props).toMatchObject({
      SensorType: '2', BaseUnits: '2', RateUnits: '0', UnitModifier: '0', CurrentReading: '45', NominalReading: '45',
      MaxReadable: '255', MinReadable: '0', IsLinear: 'true', Resolution: '1', Accuracy: '1',
      SupportedThresholds: ['1', '3', '5'], SettableThresholds: ['1', '3', '5'], CurrentState: 'Normal',
      PossibleStates: ['Unknown', 'Normal', 'Upper Non-Critical', 'Upper Critical', 'Upper Fatal'],
      PollingInterval: String(300 * 1_000_000), HealthState: '5',
    });
    const v12 = sensors.find((s) => s.props.ElementName === '12V')!;
    expect(v12.props).toMatchObject({ SensorType: '3', BaseUnits: '5', UnitModifier: '-2', CurrentReading: '1206', Resolution: '6', SupportedThresholds: ['2', '3'] });
    expect(v12.props.SettableThresholds).toBeUndefined(); // an empty array has no elements (DSP0230)
    const fan = sensors.find((s) => s.props.ElementName === 'FAN1')!;
    expect(fan.props).toMatchObject({ SensorType: '5', BaseUnits: '19', CurrentReading: '4800', LowerThresholdCritical: '500', LowerThresholdNonCritical: '1000' });
    // Two's complement with B = -20 and R = -1 (Ambient) and one's complement (-12V).
    expect(units(sensors.find((s) => s.props.ElementName === 'Ambient')!, 'CurrentReading')).toBeCloseTo(-4.5, 6);
    expect(units(sensors.find((s) => s.props.ElementName === '-12V')!, 'CurrentReading')).toBeCloseTo(-12, 6);
    expect(Date.now() - Date.parse(String((cpu.props.TimeOfLastReading as string)))).toBeLessThan(60_000);
  });

  it('Sensor: discrete and event-only sensors with their states', async () => {
    const sensors = await all('Sensor');
    const byName = Object.fromEntries(sensors.map((s) => [s.props.ElementName, s]));
    expect(Object.keys(byName).sort()).toEqual(['CPU1 Status', 'PS1', 'PS2', 'Sys Event']);
    const elist = Object.fromEntries(rows(await sim.ipmitool('sdr', 'elist', 'all')).map((r) => [r[0], r[4]]));
    expect(byName['CPU1 Status'].props).toMatchObject({ CurrentState: elist['CPU1 Status'], SensorType: '1', OtherSensorTypeDescription: 'Processor' });
    expect(byName.PS1.props.CurrentState).toBe(elist.PS);
    expect(byName['Sys Event'].props).toMatchObject({ CurrentState: null, EnabledState: '5' });
  });

  it('the DMTF spelling and the CIM_ superclasses reach the same sensors', async () => {
    const dmtf = await enumerateAll(post, `${DMTF}/CIM_NumericSensor`);
    expect(dmtf.map((s) => s.props.DeviceID).sort()).toEqual((await all('NumericSensor')).map((s) => s.props.DeviceID).sort());
    expect((await enumerateAll(post, `${DMTF}/CIM_Sensor`)).length).toBe(dmtf.length + 4);
    expect((await all('CIM_NumericSensor')).length).toBe(dmtf.length);
  });

  it('Get one sensor by its keys', async () => {
    const res = await post(envelope({
      action: ACTIONS.get, resourceUri: `${HW}/NumericSensor`,
      selectors: { CreationClassName: 'NumericSensor', DeviceID: 'FAN1(3.0.32)', SystemCreationClassName: 'ComputerSystem', SystemName: 'bmc1' },
    }));
    expect(res.status).toBe(200);
    expect(instancesIn(res.text, 'Body')[0].props).toMatchObject({ ElementName: 'FAN1', CurrentReading: '4800' });
  });

  it('RecordLog and LogRecord: the SEL as `sel info` and `sel elist` print it', async () => {
    const [log] = await all('RecordLog');
    const info = Object.fromEntries((await sim.ipmitool('sel', 'info')).split('\n').map((l) => l.split(':').map((c) => c.trim())));
    expect(log.props).toMatchObject({ CurrentNumberOfRecords: info.Entries, Name: 'SEL:bmc1', InstanceID: 'winrmd:SEL:bmc1' });
    expect(num(log.props.MaxNumberOfRecords)).toBe(Number(info.Entries) + Math.floor(parseInt(info['Free Space'], 10) / 16));
    const records = await all('LogRecord');
    const elist = rows(await sim.ipmitool('sel', 'elist'));
    expect(records.length).toBe(elist.length);
    for (const e of elist) {
      const r = records.find((x) => x.props.RecordID === String(parseInt(e[0], 16)))!;
      // sel elist: id | date | time | sensor | event | direction | detail
      expect(r.props.Description).toBe(e.slice(3).join(' | '));
      expect(r.props).toMatchObject({ LogName: 'SEL:bmc1', LogCreationClassName: 'RecordLog', CreationClassName: 'LogRecord' });
    }
    const first = records.find((r) => r.props.RecordID === '1')!;
    expect(first.props.Caption).toBe('Temperature Assert: Upper Non-critical going high');
    expect(first.props.RecordData).toMatch(/^\*CPU Temp\(1\.0\.32\)\*01 00\*02\*[0-9A-F ]{11}\*20 00\*04\*01\*01\*true\*01\*57\*56\*55\*$/);
    // Pre-init timestamps are not dates: DMTF's unknown datetime.
    expect(first.props.MessageTimestamp).toMatch(/^9999-01-01/);
  });

  it('ComputerSystem: the BMC device and the power state, as `mc info` and `power status` say', async () => {
    const [cs] = await all('ComputerSystem');
    const mc = Object.fromEntries((await sim.ipmitool('mc', 'info')).split('\n').filter((l) => l.includes(' : ')).map((l) => l.split(' : ').map((c) => c.trim())));
    expect(cs.props.Name).toBe('bmc1');
    expect(cs.props.OtherIdentifyingInfo).toEqual([mc['Device ID'], mc['Device Revision'], mc['Firmware Revision'], mc['IPMI Version'], mc['Manufacturer ID'], mc['Product ID'].split(' ')[0]]);
    expect(cs.props.EnabledState).toBe((await sim.ipmitool('power', 'status')).includes('is on') ? '2' : '3');
  });

  it('WQL on the hardware classes; a reading changed through the console shows up at the next poll', async () => {
    const notNormal = (await all('NumericSensor', { wql: "SELECT * FROM NumericSensor WHERE CurrentState <> 'Normal'" })).map((s) => s.props.ElementName);
    expect(notNormal).toEqual(['Ambient']); // ipmi_sim compares its two's-complement thresholds as unsigned
    await sim.console('sensor_set_value 0x20 0 1 90 0');
    await until(async () => (await all('NumericSensor', { wql: "SELECT ElementName, CurrentReading FROM NumericSensor WHERE CurrentReading = 90" })).length === 1);
    const cpu = (await all('NumericSensor', { wql: "SELECT * FROM NumericSensor WHERE ElementName = 'CPU Temp'" }))[0];
    expect(cpu.props).toMatchObject({ CurrentReading: '90', CurrentState: 'Upper Non-Critical', HealthState: '15' });
    expect((await sim.ipmitool('sdr', 'get', 'CPU Temp'))).toMatch(/Sensor Reading\s+: 90 /);
    await sim.console('sensor_set_value 0x20 0 1 45 0');
  });

  it('RequestStateChange powers the simulated chassis off and on, for a caller with hardware control only', async () => {
    const denied = await invoke('ComputerSystem', 'RequestStateChange', { CreationClassName: 'ComputerSystem', Name: 'bmc1' }, '<p:RequestedState>3</p:RequestedState>', basic(BOB));
    expect(denied.status).toBe(500);
    expect(xp(denied.text, 'local-name(//s:Subcode/s:Value/following-sibling::*[1] | //s:Subcode/s:Value)')).toBeTruthy();
    expect(xp(denied.text, 'string(//s:Subcode/s:Value)')).toMatch(/AccessDenied/);
    expect(sim.powerOn()).toBe(true);

    const off = await invoke('ComputerSystem', 'RequestStateChange', { CreationClassName: 'ComputerSystem', Name: 'bmc1' }, '<p:RequestedState>3</p:RequestedState>');
    expect(off.status).toBe(200);
    expect(xp(off.text, 'string(//*[local-name()="ReturnValue"])')).toBe('0');
    expect(sim.powerOn()).toBe(false);
    expect(await sim.ipmitool('power', 'status')).toContain('is off');
    expect((await all('ComputerSystem'))[0].props).toMatchObject({ EnabledState: '3', RequestedState: '3' });

    const on = await invoke('ComputerSystem', 'RequestStateChange', { Name: 'bmc1' }, '<p:RequestedState>2</p:RequestedState>');
    expect(xp(on.text, 'string(//*[local-name()="ReturnValue"])')).toBe('0');
    expect(sim.powerOn()).toBe(true);

    const bad = await invoke('ComputerSystem', 'RequestStateChange', { Name: 'bmc1' }, '<p:RequestedState>7</p:RequestedState>');
    expect(xp(bad.text, 'string(//s:Subcode/s:Value)')).toMatch(/InvalidParameter/);
    const log = t.logLines.join('\n');
    expect(log).toContain('"event":"bmc_power_control"');
  });

  it('ClearLog empties the SEL, for a caller with hardware control only', async () => {
    const denied = await invoke('RecordLog', 'ClearLog', { InstanceID: 'winrmd:SEL:bmc1' }, '', basic(BOB));
    expect(xp(denied.text, 'string(//s:Subcode/s:Value)')).toMatch(/AccessDenied/);
    expect(rows(await sim.ipmitool('sel', 'elist')).length).toBeGreaterThan(0);

    const res = await invoke('RecordLog', 'ClearLog', { InstanceID: 'winrmd:SEL:bmc1' }, '');
    expect(xp(res.text, 'string(//*[local-name()="ReturnValue"])')).toBe('0');
    expect(await sim.ipmitool('sel', 'elist')).toMatch(/SEL has no entries|^\s*$/);
    expect(await all('LogRecord')).toEqual([]);
    expect((await all('RecordLog'))[0].props.CurrentNumberOfRecords).toBe('0');
  });
});

describe('the IPMI provider when a BMC fails', () => {
  let sim: IpmiSim;
  beforeAll(async () => {
    sim = await startIpmiSim();
  }, 30_000);
  afterAll(async () => {
    await sim?.stop();
  });

  /** A server with one BMC; its other providers (the OS one) keep answering. */
  async function serverWith(bmc: BmcOptions, pollIntervalMs = 60_000) {
    const t = await testServer({}, [createIpmiProvider({ pollIntervalMs, bmcs: [bmc] })]);
    const post = async (xml: string) => {
      const r = await t.post(xml);
      return { status: r.status, text: r.body as string };
    };
    return { t, post };
  }
  /** Enumerate and, when that answers before the BMC did (an open context, no items), Pull. */
  const enumerate = async (post: (x: string) => Promise<{ status: number; text: string }>, operationTimeout = 'PT20S') => {
    const res = await post(envelope({ action: ACTIONS.enumerate, resourceUri: `${HW}/NumericSensor`, operationTimeout, body: enumerateBody({ optimize: true }) }));
    const context = xp(res.text, 'string(//n:EnumerationContext)');
    if (res.status !== 200 || !context) return res;
    return post(envelope({ action: ACTIONS.pull, resourceUri: `${HW}/NumericSensor`, operationTimeout, body: pullBody(context) }));
  };
  const faultOf = (text: string) => ({ subcode: xp(text, 'string(//s:Subcode/s:Value)'), reason: xp(text, 'string(//s:Reason/s:Text)') });

  it('a wrong BMC password is a fault naming the BMC, and the BMC is not asked again on every request', async () => {
    const relay = await startUdpRelay({ host: '127.0.0.1', port: sim.port });
    const { t, post } = await serverWith(bmcOptions(sim, { name: 'badpass', port: relay.port, password: 'Not-The-Password-42' }));
    try {
      const first = await enumerate(post);
      expect(first.status).toBe(500);
      expect(faultOf(first.text)).toMatchObject({ subcode: expect.stringMatching(/EndpointUnavailable$/), reason: expect.stringMatching(/BMC badpass \(127\.0\.0\.1:\d+\).*refused user "admin"/) });
      const sent = relay.packets.filter((p) => p.direction === 'up').length;
      for (let i = 0; i < 5; i++) expect((await enumerate(post)).status).toBe(500);
      // No retry storm: the failure is remembered for a poll interval, the BMC hears nothing more.
      expect(relay.packets.filter((p) => p.direction === 'up').length).toBe(sent);
      expect(t.logLines.filter((l) => l.includes('bmc_poll_failed')).length).toBe(1);
      expect(t.logLines.join('\n')).not.toContain('Not-The-Password-42');
    } finally {
      await t.server.close();
      await relay.close();
    }
  });

  it('an unreachable BMC is a TimedOut fault within the OperationTimeout, and the server answers meanwhile', async () => {
    const dead = await startUdpRelay({ host: '127.0.0.1', port: 9 }, () => true); // swallows every datagram
    const { t, post } = await serverWith(bmcOptions(sim, { name: 'dead', port: dead.port, timeoutMs: 1000, retries: 3 }));
    try {
      // No clock in the assertions (the machine is shared): what is asserted is the order. The
      // Enumerate and its Pull wait for the silent BMC until each one's OperationTimeout; the Get
      // sent meanwhile is answered before them.
      const answered: string[] = [];
      const pending = enumerate(post, 'PT3S').then((r) => (answered.push('enumerate'), r));
      const os = await post(envelope({ action: ACTIONS.get, resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem' }));
      answered.push('get');
      expect(os.status).toBe(200);
      const res = await pending;
      expect(answered).toEqual(['get', 'enumerate']);
      expect(res.status).toBe(500);
      expect(faultOf(res.text)).toMatchObject({ subcode: expect.stringMatching(/TimedOut$/), reason: expect.stringMatching(/BMC dead \(127\.0\.0\.1:\d+\)/) });
    } finally {
      await t.server.close();
      await dead.close();
    }
  });

  it('a BMC that restarts (every session gone) is served again over a new session', async () => {
    const { t, post } = await serverWith(bmcOptions(sim, { name: 'restarting', timeoutMs: 200, retries: 2 }), 200);
    try {
      const cpu = async () => (await enumerateAll(post, `${HW}/NumericSensor`, { wql: "SELECT * FROM NumericSensor WHERE ElementName = 'CPU Temp'" }))[0]?.props.CurrentReading;
      expect(await cpu()).toBe('45');
      await sim.restart();
      await sim.console('sensor_set_value 0x20 0 1 77 0');
      await until(async () => (await cpu().catch(() => undefined)) === '77');
      expect(t.logLines.join('\n')).not.toContain('"fault":"InternalError"');
    } finally {
      await t.server.close();
    }
  });

  it('packet loss on the way to the BMC: every answer still right', async () => {
    const relay = await startUdpRelay({ host: '127.0.0.1', port: sim.port }, everyNth(4));
    const { t, post } = await serverWith(bmcOptions(sim, { name: 'lossy', port: relay.port, timeoutMs: 200, retries: 4 }), 100);
    try {
      const expected = rows(await sim.ipmitool('sdr', 'elist', 'full')).map((r) => r[0]).sort();
      for (let i = 0; i < 3; i++) {
        const sensors = await enumerateAll(post, `${HW}/NumericSensor`);
        expect(sensors.map((s) => s.props.ElementName).sort()).toEqual(expected);
        await new Promise((r) => setTimeout(r, 150)); // let a poll through the lossy path run
      }
      expect(relay.packets.some((p) => p.dropped)).toBe(true);
    } finally {
      await t.server.close();
      await relay.close();
    }
  }, 90_000); // about 16 s, loaded or not: each dropped packet waits out its 200 ms timeout before the retry
});

describe('pywinrm reads and controls a BMC configured in YAML terms', () => {
  let sim: IpmiSim;
  let server: Winrmd;
  let stateDir: string;
  let job: { endpoint: string; transport: 'plaintext'; username: string; password: string };
  const pywinrm = (steps: object[]) => runJsonClient<Record<string, unknown>>('/usr/bin/python3', [PYWINRM_CLIENT], { ...job, steps }, {
    timeoutMs: 30_000, env: { PYTHONDONTWRITEBYTECODE: '1' }, dropEnv: ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'],
  });

  beforeAll(async () => {
    sim = await startIpmiSim();
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'winrmd-ipmi-'));
    process.env.WINRMD_TEST_BMC_PASSWORD = 'password';
    // The built-in provider from configuration, as `winrmd serve` builds it (password from the environment).
    const config = configSchema.parse({
    limits: NO_SHEDDING,
      stateDir,
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { enabled: false } },
      service: { allowUnencrypted: true },
      security: { hardwareControlUsers: [ALICE.user] },
      ipmi: { pollIntervalMs: 500, bmcs: [{ name: 'node1', host: '127.0.0.1', port: sim.port, user: 'admin', passwordEnv: 'WINRMD_TEST_BMC_PASSWORD' }] },
      logging: { level: 'silent' },
    });
    server = await startServer({ config, users: await testUsers() });
    job = { endpoint: `http://127.0.0.1:${server.httpPort}/wsman`, transport: 'plaintext', username: ALICE.user, password: ALICE.password };
  }, 30_000);
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
    delete process.env.WINRMD_TEST_BMC_PASSWORD;
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('Enumerate with WQL, over the DMTF URI, parsed by pywinrm; RequestStateChange power-cycles the chassis', async () => {
    const [sensors, dmtf, cycle] = await pywinrm([
      { kind: 'enumerate_all', resource_uri: `${HW}/NumericSensor`, wql: "SELECT ElementName,CurrentReading,UnitModifier FROM NumericSensor WHERE BaseUnits = 5" },
      { kind: 'enumerate_all', resource_uri: `${DMTF}/CIM_ComputerSystem`, selectors: { __cimnamespace: 'root/hardware' } },
      { kind: 'invoke', resource_uri: `${HW}/ComputerSystem`, method: 'RequestStateChange', selectors: { Name: 'node1' }, params: { RequestedState: '10' } },
    ]);
    expect(sensors.ok, String(sensors.error)).toBe(true);
    const items = sensors.items as { properties: Record<string, string> }[];
    expect(items.map((i) => i.properties.ElementName).sort()).toEqual(['-12V', '12V', '3.3V']);
    expect(items.find((i) => i.properties.ElementName === '12V')!.properties).toMatchObject({ CurrentReading: '1206', UnitModifier: '-2' });
    expect(dmtf.ok, String(dmtf.error)).toBe(true);
    expect((dmtf.items as { properties: Record<string, string> }[])[0].properties).toMatchObject({ Name: 'node1', EnabledState: '2' });
    expect(cycle.ok, String(cycle.error)).toBe(true);
    expect(cycle.output).toMatchObject({ ReturnValue: '0' });
  });
});

describe('the SEL resource: BMC events for subscribers (MS-WSMV 3.1.4.1.34.3.3)', () => {
  let sim: IpmiSim;
  let t: Awaited<ReturnType<typeof testServer>>;
  const SEL = 'http://schemas.microsoft.com/wbem/wsman/1/logrecord/sel';
  const WSE = 'http://schemas.xmlsoap.org/ws/2004/08/eventing';
  beforeAll(async () => {
    sim = await startIpmiSim();
    const ipmi = createIpmiProvider({ pollIntervalMs: 300, bmcs: [bmcOptions(sim)] });
    t = await testServer({ limits: NO_SHEDDING, ipmi: { pollIntervalMs: 300 } }, [ipmi]);
  }, 30_000);
  afterAll(async () => {
    await t?.server.close();
    await sim?.stop();
  });

  it('a threshold crossing and the SEL record it logs reach a pull subscriber, each once', async () => {
    const subscribed = await t.post(envelope({ action: `${WSE}/Subscribe`, resourceUri: SEL, body: `<e:Subscribe xmlns:e="${WSE}"><e:Delivery Mode="http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull"/></e:Subscribe>` }));
    expect(subscribed.status, subscribed.body).toBe(200);
    const context = xp(subscribed.body, '//n:EnumerationContext');
    await new Promise((r) => setTimeout(r, 1000)); // the first poll is the baseline
    const before = rows(await sim.ipmitool('sel', 'elist')).length;
    await sim.console('sensor_set_value 0x20 0 1 90 1'); // CPU Temp over its upper non-critical threshold, with an event
    const events: string[] = [];
    await until(async () => {
      const res = await t.post(envelope({ action: ACTIONS.pull, body: pullBody(context, 10), operationTimeout: 'PT2S' }));
      if (res.status === 200) events.push(...(res.body as string).split('</n:Items>')[0]!.split('<n:Items>')[1]!.split(/(?=<p:__Instance)/).filter(Boolean));
      return events.some((e) => e.includes('__InstanceModificationEvent')) && events.some((e) => e.includes('__InstanceCreationEvent'));
    }, 15_000);
    const modified = events.filter((e) => e.includes('__InstanceModificationEvent'));
    expect(modified.length).toBe(1);
    expect(xp(modified[0]!, '//*[local-name()="TargetInstance"]/*/*[local-name()="CurrentState"]')).toBe('Upper Non-Critical');
    expect(xp(modified[0]!, '//*[local-name()="PreviousInstance"]/*/*[local-name()="CurrentState"]')).toBe('Normal');
    const logged = rows(await sim.ipmitool('sel', 'elist')).length - before;
    expect(logged).toBeGreaterThanOrEqual(1); // ipmi_sim logs the crossing in its SEL
    expect(events.filter((e) => e.includes('__InstanceCreationEvent')).length).toBe(logged);
    await sim.console('sensor_set_value 0x20 0 1 45 0');
  }, 30_000);
});
