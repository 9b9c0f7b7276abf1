// The IPMI provider: WMI's root/hardware classes for the BMCs the configuration names, each
// reached over native RMCP+ or ipmitool. Reads come from each BMC's polled snapshot (bmc.ts);
// RequestStateChange and ClearLog change real hardware: they declare the changesHardware effect,
// which the access policy grants through security.hardwareControlUsers.
import { ProviderError, type InvokeRequest, type Provider, type ProviderLogger, type ProviderRequest } from '../../src/provider-api.js';
import { abstractClass, classProvider, type ClassImpl, type Values } from '../common/cim.js';
import { Bmc, type ChassisAction } from './bmc.js';
import * as C from './classes.js';
import { computerSystem, discreteSensor, logRecord, numericSensor, recordLog, recordLogInstanceId, type BmcIdentity } from './instances.js';
import { IpmitoolTransport } from './ipmitool.js';
import { LanplusTransport } from './lanplus/index.js';
import { isThresholdSensor } from './sdr.js';
import type { IpmiTransport } from './transport.js';

export interface BmcOptions {
  name: string;
  transport: 'lanplus' | 'ipmitool';
  /** Empty with ipmitool: the local BMC in-band. */
  host: string;
  port: number;
  user: string;
  password: string;
  privilege: 'user' | 'operator' | 'administrator';
  cipherSuite: 3 | 17;
  timeoutMs: number;
  retries: number;
}

export interface IpmiOptions {
  pollIntervalMs: number;
  bmcs: BmcOptions[];
}

/** CIM RequestedState → Chassis Control (DSP1027 via CIM_EnabledLogicalElement.RequestStateChange). */
const REQUESTED_STATE: Record<number, ChassisAction> = { 2: 'on', 3: 'off', 4: 'softOff', 10: 'cycle', 11: 'reset' };

function transportFor(b: BmcOptions): IpmiTransport {
  if (b.transport === 'ipmitool') return new IpmitoolTransport(b);
  return new LanplusTransport(b);
}

export function createIpmiProvider(o: IpmiOptions): Provider {
  let log: ProviderLogger = { info() {}, warn() {}, error() {}, debug() {} };
  const bmcs = new Map<string, { bmc: Bmc; identity: BmcIdentity }>();
  const makeBmcs = () => {
    for (const b of o.bmcs) {
      const address = b.host ? `${b.host}:${b.port}` : 'in-band';
      const bmc = new Bmc(b.name, address, transportFor(b), o.pollIntervalMs, log);
      bmcs.set(b.name.toLowerCase(), { bmc, identity: { name: b.name, address, pollIntervalMs: o.pollIntervalMs, requestedState: 12 } });
    }
  };

  /** Every BMC's snapshot, polled in parallel: a slow one costs the time of the slowest, not the sum. */
  async function snapshots(req: ProviderRequest) {
    return Promise.all([...bmcs.values()].map(async (e) => ({ ...e, snap: await e.bmc.current(req.signal) })));
  }

  /** The one BMC an invoke's selectors name (SystemName / Name / InstanceID carry its name). */
  function bmcNamed(name: string | undefined) {
    const entry = name === undefined ? (bmcs.size === 1 ? [...bmcs.values()][0] : undefined) : bmcs.get(name.toLowerCase());
    if (!entry) throw new ProviderError('NOT_FOUND', name === undefined ? 'name the BMC with a selector' : `no BMC is named ${name}`);
    return entry;
  }

  const list = (fn: (e: Awaited<ReturnType<typeof snapshots>>[number]) => Values[]) => async (req: ProviderRequest) =>
    (await snapshots(req)).flatMap(fn);

  const impls: ClassImpl[] = [
    ...[C.CIM_ManagedElement, C.CIM_ManagedSystemElement, C.CIM_LogicalElement, C.CIM_EnabledLogicalElement, C.CIM_LogicalDevice,
      C.CIM_Sensor, C.CIM_NumericSensor, C.CIM_RecordLog, C.CIM_RecordForLog, C.CIM_LogRecord, C.CIM_System, C.CIM_ComputerSystem].map(abstractClass),
    {
      cls: C.NumericSensor,
      list: list(({ identity, snap }) => snap.sensors.filter((s) => isThresholdSensor(s.record) && s.record.type !== 'event-only')
        .map((s) => numericSensor(identity, s, snap.readAt))),
    },
    {
      cls: C.Sensor,
      list: list(({ identity, snap }) => snap.sensors.filter((s) => !isThresholdSensor(s.record) || s.record.type === 'event-only')
        .map((s) => discreteSensor(identity, s, snap.readAt))),
    },
    { cls: C.RecordLog, list: list(({ identity, snap }) => [recordLog(identity, snap)]), invoke: clearLog },
    { cls: C.LogRecord, list: list(({ identity, snap }) => snap.sel.map((r) => logRecord(identity, r, snap.sensors))) },
    { cls: C.ComputerSystem, list: list(({ identity, snap }) => [computerSystem(identity, snap)]), invoke: requestStateChange },
  ];

  // RecordLog.ClearLog(): 0 success, 4 failed (IPMIPrv).
  async function clearLog(req: InvokeRequest): Promise<Values> {
    const id = req.selectors.InstanceID;
    const entry = [...bmcs.values()].find((e) => id === undefined ? bmcs.size === 1 : id === recordLogInstanceId(e.identity.name));
    if (!entry) throw new ProviderError('NOT_FOUND', id === undefined ? 'name the log with its InstanceID selector' : `no RecordLog has InstanceID ${id}`);
    const cc = await entry.bmc.clearLog(req.signal);
    log.info({ event: 'bmc_sel_cleared', bmc: entry.identity.name, user: req.caller.user, cc });
    return { ReturnValue: cc === 0 ? 0 : 4 };
  }

  // ComputerSystem.RequestStateChange(RequestedState): 0 completed, 4 failed (CIM_EnabledLogicalElement).
  async function requestStateChange(req: InvokeRequest): Promise<Values> {
    const entry = bmcNamed(req.selectors.Name);
    const requested = Number(req.input.RequestedState);
    const action = REQUESTED_STATE[requested];
    if (!action) {
      throw new ProviderError('INVALID_PARAMETER', `RequestedState ${String(req.input.RequestedState)} is not one of 2 (on), 3 (off), 4 (soft off), 10 (power cycle), 11 (reset)`);
    }
    const cc = await entry.bmc.chassisControl(action, req.signal);
    log.info({ event: 'bmc_power_control', bmc: entry.identity.name, user: req.caller.user, action, cc });
    if (cc === 0) entry.identity.requestedState = requested;
    return { ReturnValue: cc === 0 ? 0 : 4 };
  }

  const provider = classProvider({ name: 'ipmi', namespace: C.NAMESPACE, impls });
  return {
    ...provider,
    async load(ctx) {
      log = ctx.log;
      makeBmcs();
      for (const { bmc } of bmcs.values()) bmc.start();
    },
    async unload() {
      await Promise.all([...bmcs.values()].map(({ bmc }) => bmc.close()));
      bmcs.clear();
    },
  };
}
