// One configured BMC: its transport, and a snapshot of what it knows (device, sensors, SEL,
// power) that a poll refreshes every pollIntervalMs. A BMC is slow and serves one session at a
// time, so requests are answered from the snapshot, never by asking the BMC themselves: the SDR
// is read once and again only when its change stamp moves, the SEL only when its own moves, and
// a dead BMC costs a request at most its OperationTimeout, never the server its other work.
import { ProviderError, type ProviderLogger } from '../../src/provider-api.js';
import { command, IpmiCommandError, type IpmiSend } from './records.js';
import { hasReading, isSensorRecord, readSdrRepository, readSdrRepositoryInfo, sharedSensors, type SdrRecord, type SensorRecord, type Thresholds } from './sdr.js';
import { clearSel, readSel, readSelInfo, type SelInfo, type SelRecord } from './sel.js';
import { convertThresholds, readSensorReading, readSensorThresholds, type SensorValue } from './sensor.js';
import { IpmiError, type IpmiTransport } from './transport.js';

export interface DeviceId {
  deviceId: number;
  deviceRevision: number;
  /** "9.08": major, then the BCD minor as ipmitool prints it. */
  firmwareRevision: string;
  /** "2.0" */
  ipmiVersion: string;
  manufacturerId: number;
  productId: number;
}

/** One sensor as last read. Shared compact records stand for several sensors, one each here. */
export interface SensorState {
  record: SensorRecord;
  sensorNumber: number;
  name: string;
  /** Absent for event-only sensors and sensors the BMC would not read. */
  reading?: SensorValue;
  /** Thresholds in units (full records): from Get Sensor Thresholds, else the SDR's own. */
  thresholds?: Thresholds<number | null>;
}

export interface BmcSnapshot {
  device: DeviceId;
  /** Null when the BMC has no chassis device. */
  powerOn: boolean | null;
  sdr: SdrRecord[];
  sensors: SensorState[];
  selInfo: SelInfo;
  sel: SelRecord[];
  /** When this snapshot's readings were taken. */
  readAt: Date;
}

/** Chassis Control (IPMI 2.0 §28.3) data byte. */
export const CHASSIS_CONTROL = { off: 0x00, on: 0x01, cycle: 0x02, reset: 0x03, softOff: 0x05 } as const;
export type ChassisAction = keyof typeof CHASSIS_CONTROL;

const NETFN_CHASSIS = 0x00;
const NETFN_APP = 0x06;

export class Bmc {
  private snapshot?: BmcSnapshot;
  private failure?: { error: unknown; at: number };
  private inflight?: Promise<BmcSnapshot>;
  private timer?: NodeJS.Timeout;
  /** The SDR repository's change stamp when the cached records were read. */  private closed = false;
  private readonly stop = new AbortController();
  private readonly send: IpmiSend;

  constructor(
    readonly name: string,
    /** host:port, or "in-band": how the BMC is reached, for messages. */
    readonly address: string,
    private readonly transport: IpmiTransport,
    private readonly pollIntervalMs: number,
    private readonly log: ProviderLogger,
  ) {
    this.send = (req) => this.transport.request(req, this.stop.signal);
  }

  /** Starts polling: the first snapshot is on its way before anyone asks. */
  start(): void {
    this.refresh().catch(() => undefined);
  }

  /**
   * The snapshot to answer from. A failing BMC is served from its last snapshot while that is
   * at most three poll intervals old; after that, or before the first, the caller waits for a
   * poll (bounded by its own signal) or, when one failed less than an interval ago, gets that
   * failure at once, so a dead BMC or a wrong password is not asked again per request.
   */
  async current(signal: AbortSignal): Promise<BmcSnapshot> {
    const s = this.snapshot;
    if (s && (!this.failure || Date.now() - s.readAt.getTime() < 3 * this.pollIntervalMs)) return s;
    if (this.failure && !this.inflight && Date.now() - this.failure.at < this.pollIntervalMs) throw this.fault(this.failure.error);
    return this.bounded(this.refresh(), signal);
  }

  /** Chassis Control, then a fresh poll so the next read shows the new power state. */
  async chassisControl(action: ChassisAction, signal: AbortSignal): Promise<number> {
    return this.act(signal, async () => {
      const res = await this.send({ netFn: NETFN_CHASSIS, cmd: 0x02, data: Uint8Array.of(CHASSIS_CONTROL[action]) });
      return res.cc;
    });
  }

  /** Clear SEL (§31.9), then a fresh poll. */
  async clearLog(signal: AbortSignal): Promise<number> {
    return this.act(signal, async () => {
      try {
        await clearSel(this.send, this.stop.signal);
        return 0;
      } catch (err) {
        if (err instanceof IpmiCommandError) return err.cc;
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.stop.abort();
    await this.transport.close();
  }

  /** Runs a command that changes the BMC, then refreshes; returns its completion code. */
  private async act(signal: AbortSignal, change: () => Promise<number>): Promise<number> {
    const cc = await this.bounded(change(), signal);
    if (cc === 0) {
      await this.inflight?.catch(() => undefined);
      await this.bounded(this.refresh(), signal).catch(() => undefined);
    }
    return cc;
  }

  /** Polls now (or joins the poll under way): the snapshot it produces. */
  refresh(): Promise<BmcSnapshot> {
    if (this.closed) return Promise.reject(new IpmiError('closed', 'the provider is unloading'));
    this.inflight ??= this.poll().then(
      (s) => {
        this.snapshot = s;
        this.log.debug({ event: 'bmc_polled', bmc: this.name });
        if (this.failure) this.log.info({ event: 'bmc_recovered', bmc: this.name });
        this.failure = undefined;
        return s;
      },
      (error: unknown) => {
        if (!this.failure) this.log.warn({ event: 'bmc_poll_failed', bmc: this.name, err: (error as Error).message });
        this.failure = { error, at: Date.now() };
        throw error;
      },
    ).finally(() => {
      this.inflight = undefined;
      this.schedule();
    });
    return this.inflight;
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh().catch(() => undefined), this.pollIntervalMs);
    this.timer.unref();
  }

  /** One poll: only what changed is read again. */
  private async poll(): Promise<BmcSnapshot> {
    const send = this.send;
    const prev = this.snapshot;
    const device = prev?.device ?? parseDeviceId(await command(send, 'Get Device ID', { netFn: NETFN_APP, cmd: 0x01 }, 11));
    const sdrInfo = await readSdrRepositoryInfo(send);
    let sdr = prev?.sdr;
    if (!sdr || sdrInfo.changeStamp !== this.sdrStamp) {
      sdr = (await readSdrRepository(send, this.stop.signal)).records;
      this.sdrStamp = sdrInfo.changeStamp;
      this.log.debug({ event: 'bmc_sdr_read', bmc: this.name, records: sdr.length });
    }
    const readAt = new Date();
    const sensors: SensorState[] = [];
    for (const record of sdr.filter(isSensorRecord)) {
      for (const shared of sharedSensors(record)) sensors.push(await this.readSensor(record, shared.sensorNumber, shared.idString));
    }
    const selInfo = await readSelInfo(send);
    const sel = prev && prev.selInfo.changeStamp === selInfo.changeStamp ? prev.sel : (await readSel(send, this.stop.signal)).records;
    let powerOn: boolean | null = null;
    try {
      powerOn = ((await command(send, 'Get Chassis Status', { netFn: NETFN_CHASSIS, cmd: 0x01 }, 1))[0] & 0x01) === 1;
    } catch (err) {
      if (!(err instanceof IpmiCommandError)) throw err;
    }
    return { device, powerOn, sdr, sensors, selInfo, sel, readAt };
  }

  private sdrStamp?: string;

  /** A sensor the BMC will not read (completion code) is shown without a reading, not an error. */
  private async readSensor(record: SensorRecord, sensorNumber: number, name: string): Promise<SensorState> {
    const state: SensorState = { record, sensorNumber, name };
    if (!hasReading(record)) return state;
    const sensor = { ...record, sensorNumber, conversion: record.type === 'full' ? record.conversion : undefined };
    try {
      state.reading = await readSensorReading(this.send, sensor);
      if (record.type === 'full' && record.readableThresholds) {
        let raw: Thresholds<number | null> = record.thresholds;
        if (record.capabilities.thresholdAccess === 'readable' || record.capabilities.thresholdAccess === 'settable') {
          raw = (await readSensorThresholds(this.send, sensor)).raw;
        }
        state.thresholds = convertThresholds(record, raw);
      }
    } catch (err) {
      if (!(err instanceof IpmiCommandError)) throw err;
    }
    return state;
  }

  /** Waits for a BMC operation as long as the caller's OperationTimeout allows. */
  private bounded<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new ProviderError('TIMED_OUT', `BMC ${this.name} (${this.address}) did not answer within the OperationTimeout`));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, (err: unknown) => reject(this.fault(err))).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** A failure as the fault a client sees: it names the BMC and says what went wrong. */
  private fault(err: unknown): ProviderError {
    if (err instanceof ProviderError) return err;
    const what = `BMC ${this.name} (${this.address})`;
    const message = (err as Error)?.message ?? String(err);
    if (err instanceof IpmiError && err.kind === 'timeout') return new ProviderError('TIMED_OUT', `${what} did not answer: ${message}`);
    return new ProviderError('UNAVAILABLE', `${what}: ${message}`);
  }
}

/** Get Device ID (IPMI 2.0 §20.1) response data. */
export function parseDeviceId(data: Buffer): DeviceId {
  const bcd = (b: number) => `${b >> 4}${b & 0x0f}`;
  return {
    deviceId: data[0],
    deviceRevision: data[1] & 0x0f,
    firmwareRevision: `${data[2] & 0x7f}.${bcd(data[3])}`,
    ipmiVersion: `${data[4] & 0x0f}.${data[4] >> 4}`,
    manufacturerId: data[6] | (data[7] << 8) | ((data[8] & 0x0f) << 16),
    productId: data.readUInt16LE(9),
  };
}
