// The SEL: record decoding against ipmi_sim's entries and `ipmitool sel elist`, the walk, Get SEL
// Info and Clear SEL.

import { describe, expect, it } from 'vitest';
import { IpmiCommandError } from '../../../../providers/ipmi/records.js';
import { isSensorRecord, parseSdrRecord, type FullSensorRecord } from '../../../../providers/ipmi/sdr.js';
import {
  clearSel,
  decodeSelRecord,
  ipmiTime,
  parseSelInfo,
  readSel,
  readSelInfo,
  selText,
  selThresholdText,
  type SelEventRecord,
  type SelRecord,
  type SelSensor,
} from '../../../../providers/ipmi/sel.js';
import type { IpmiRequest, IpmiResponse } from '../../../../providers/ipmi/transport.js';
import { fakeStore, hex } from './fixtures/fake-bmc.js';
import {
  SDR_RECORDS_8BIT,
  SEL_ELIST,
  SEL_ELIST_LATER,
  SEL_ENTRIES,
  SEL_ENTRIES_LATER,
  SEL_INFO,
  SEL_INFO_CLEARED,
  SEL_INFO_LATER,
} from './fixtures/sim-captures.js';

const sensors = SDR_RECORDS_8BIT.map((r) => parseSdrRecord(hex(r))).filter(isSensorRecord);
/** A Get SEL Entry answer without its next-record id: the 16-byte record. */
const entry = (response: string) => hex(response).subarray(2);
const first = entry(SEL_ENTRIES[0]);
const all = [...SEL_ENTRIES, ...SEL_ENTRIES_LATER].map(entry);

/** The sensor an event names, as ipmitool finds it: by number and type. */
function sensorOf(rec: SelRecord): SelSensor | undefined {
  if (rec.kind !== 'event') return undefined;
  const s = sensors.find((x) => x.sensorNumber === rec.sensorNumber && x.sensorType === rec.sensorType);
  return s && { idString: s.idString, ...(s.type === 'full' ? { full: s } : {}) };
}

/** One `sel elist` line: id | date columns | selText. */
function elistLine(rec: SelRecord): string {
  const id = (rec.recordId ?? 0).toString(16).padStart(4);
  const text = selText(rec, sensorOf(rec));
  if (rec.kind === 'oem' || rec.kind === 'invalid') return `${id} | ${text}`;
  if (rec.preInit) return `${id} |  Pre-Init  |${String(rec.seconds).padStart(10, '0')}| ${text}`;
  const d = rec.timestamp!;
  const two = (n: number) => String(n).padStart(2, '0');
  const date = `${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${two(d.getUTCFullYear() % 100)}`;
  return `${id} | ${date} | ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} UTC | ${text}`;
}

/** ipmitool pads some descriptions with a trailing blank ("Lower Critical going low  |"). */
const tidy = (line: string) => line.replace(/ +\|/g, ' |');

describe('SEL records from ipmi_sim', () => {
  it('decodes the CPU Temp threshold event field by field', () => {
    expect(decodeSelRecord(first)).toEqual({
      kind: 'event', recordId: 1, recordType: 0x02, raw: first,
      seconds: 0x25d0, timestamp: null, preInit: true,
      generatorId: 0x0020, generatorAddress: 0x20, generatorIsSoftware: false, generatorChannel: 0, generatorLun: 0,
      evmRev: 0x04, sensorType: 0x01, sensorNumber: 0x01, assertion: true, eventType: 0x01,
      eventData: [0x57, 0x56, 0x55], offset: 7, description: 'Upper Non-critical going high',
      triggerReading: 0x56, triggerThreshold: 0x55,
    });
  });

  it('reproduces `ipmitool sel elist` (pre-init timestamps), converting readings with the sensor’s SDR', () => {
    const lines = SEL_ENTRIES.map((r) => elistLine(decodeSelRecord(entry(r))));
    expect(lines.map(tidy)).toEqual(SEL_ELIST.map(tidy));
  });

  it('reproduces `ipmitool sel elist` for a real timestamp and OEM records', () => {
    const records = SEL_ENTRIES_LATER.map((r) => decodeSelRecord(entry(r)));
    expect(records.map(elistLine)).toEqual(SEL_ELIST_LATER);
    expect(records[0]).toMatchObject({ kind: 'event', preInit: false, seconds: 0x6b01ce12, timestamp: new Date('2026-11-21T17:00:02Z'), triggerReading: 90 });
    expect(records[1]).toMatchObject({
      kind: 'oem-timestamped', recordId: 4, recordType: 0xc1, timestamp: new Date('2026-11-21T17:00:02Z'),
      manufacturerId: 0x030201, oemData: hex('04 05 06 07 08 09'),
    });
    expect(records[2]).toMatchObject({ kind: 'oem', recordId: 5, recordType: 0xe0, oemData: hex('01 02 03 04 05 06 07 08 09 0a 0b 0c 0d') });
    expect(records[2]).not.toHaveProperty('timestamp');
  });

  it('without the sensor’s SDR the event still decodes, named by number', () => {
    const rec = decodeSelRecord(first);
    expect(selText(rec)).toBe('Temperature #0x01 | Upper Non-critical going high | Asserted'); // `sel list`
  });
});

describe('SEL timestamps (§37)', () => {
  it('counts seconds since initialisation up to 20000000h, dates above, nothing for FFFFFFFFh', () => {
    expect(ipmiTime(0)).toEqual({ seconds: 0, timestamp: null, preInit: true });
    expect(ipmiTime(0x20000000)).toEqual({ seconds: 0x20000000, timestamp: null, preInit: true });
    expect(ipmiTime(0x20000001)).toEqual({ seconds: 0x20000001, timestamp: new Date(0x20000001 * 1000), preInit: false });
    expect(ipmiTime(1795280402).timestamp!.toISOString()).toBe('2026-11-21T17:00:02.000Z');
    expect(ipmiTime(0xffffffff)).toEqual({ seconds: 0xffffffff, timestamp: null, preInit: false });
  });
});

describe('SEL event decoding', () => {
  const event = (edit: (b: Buffer) => void): SelEventRecord => {
    const b = Buffer.from(first);
    edit(b);
    return decodeSelRecord(b) as SelEventRecord;
  };
  const cpu = sensors.find((s) => s.sensorNumber === 1) as FullSensorRecord;

  it('a deassertion reverses the comparison; data 1 says which of data 2 and 3 are present', () => {
    const deasserted = event((b) => (b[12] |= 0x80));
    expect(deasserted).toMatchObject({ assertion: false, eventType: 0x01 });
    expect(selThresholdText(deasserted, cpu)).toBe('Reading 86 < Threshold 85 degrees C');
    const readingOnly = event((b) => (b[13] = 0x47));
    expect(readingOnly.triggerThreshold).toBeUndefined();
    expect(selThresholdText(readingOnly, cpu)).toBe('Reading 86 degrees C');
    const neither = event((b) => (b[13] = 0x07));
    expect(neither).not.toHaveProperty('triggerReading');
    expect(selThresholdText(neither, cpu)).toBeUndefined();
    const volts = sensors.find((s) => s.sensorNumber === 4) as FullSensorRecord;
    const low = event((b) => { b[11] = 4; b[13] = 0x52; b[14] = 0xb3; b[15] = 0xb4; }); // LC going low, 179 < 180
    expect(selThresholdText(low, volts)).toBe('Reading 10.74 < Threshold 10.80 Volts');
  });

  it('names generic, sensor-specific and OEM event offsets', () => {
    const discrete = (sensorType: number, eventType: number, data1: number) =>
      event((b) => { b[10] = sensorType; b[12] = eventType; b[13] = data1; });
    expect(discrete(0x07, 0x6f, 0x07)).toMatchObject({ description: 'Presence detected', offset: 7 });
    expect(discrete(0x08, 0x6f, 0x01)).toMatchObject({ description: 'Failure detected' });
    expect(discrete(0x0c, 0x6f, 0xa1)).toMatchObject({ description: 'Uncorrectable ECC' });
    expect(discrete(0x12, 0x6f, 0x05)).toMatchObject({ description: 'Timestamp Clock Sync' });
    expect(discrete(0x23, 0xef, 0x01)).toMatchObject({ description: 'Hard reset', assertion: false, eventType: 0x6f });
    expect(discrete(0x08, 0x08, 0x01)).toMatchObject({ description: 'Device Present' });
    expect(discrete(0x04, 0x07, 0x02)).toMatchObject({ description: 'Transition to Critical from less severe' });
    expect(discrete(0x07, 0x72, 0x03)).toMatchObject({ description: 'OEM event type 0x72 offset 0x03' });
    expect(discrete(0x23, 0x6f, 0x05)).toMatchObject({ description: 'Watchdog 2 event type 0x6f offset 0x05' });
    expect(discrete(0x07, 0x6f, 0x07)).not.toHaveProperty('triggerReading');
    expect(selText(discrete(0x07, 0x6f, 0x07))).toBe('Processor #0x01 | Presence detected | Asserted');
  });

  it('reads the generator id: IPMB address or software id, channel and LUN', () => {
    const bios = event((b) => { b[7] = 0x01; b[8] = 0x00; });
    expect(bios).toMatchObject({ generatorId: 0x0001, generatorAddress: 0x01, generatorIsSoftware: true });
    const remote = event((b) => { b[7] = 0x82; b[8] = 0x63; });
    expect(remote).toMatchObject({ generatorId: 0x6382, generatorAddress: 0x82, generatorIsSoftware: false, generatorChannel: 6, generatorLun: 3 });
  });

  it('records shorter than 16 bytes are invalid, never thrown', () => {
    for (let n = 0; n < 16; n++) {
      const rec = decodeSelRecord(first.subarray(0, n));
      expect(rec.kind).toBe('invalid');
      if (n >= 2) expect(rec.recordId).toBe(1);
      expect(selText(rec)).toMatch(/^Invalid record/);
    }
    expect(decodeSelRecord(Buffer.concat([first, hex('ff')]))).toEqual(decodeSelRecord(first));
  });
});

describe('Get SEL Info', () => {
  it('parses the simulator’s answers; changeStamp follows additions and erases', async () => {
    const info = await readSelInfo(async () => ({ cc: 0, data: hex(SEL_INFO) }));
    expect(info).toEqual({
      version: 0x51, entries: 2, freeSpace: 15968, lastAddTime: 0x25d0, lastEraseTime: 0, overflow: false,
      supportsDelete: true, supportsPartialAdd: false, supportsReserve: true, supportsAllocationInfo: false,
      changeStamp: info.changeStamp,
    });
    const later = parseSelInfo(hex(SEL_INFO_LATER))!;
    const cleared = parseSelInfo(hex(SEL_INFO_CLEARED))!;
    expect(later).toMatchObject({ entries: 5, lastAddTime: 0x6b01ce12 });
    expect(cleared).toMatchObject({ entries: 0, lastEraseTime: 0x6b01ce16 });
    expect(new Set([info.changeStamp, later.changeStamp, cleared.changeStamp]).size).toBe(3);
    expect(parseSelInfo(hex('51 02'))).toBeUndefined();
    await expect(readSelInfo(async () => ({ cc: 0xd4, data: Buffer.alloc(0) }))).rejects.toThrow('Get SEL Info: insufficient privilege level (0xd4)');
  });
});

describe('readSel', () => {
  const selStore = (over: Partial<Parameters<typeof fakeStore>[0]> = {}) =>
    fakeStore({ reserveCmd: 0x42, getCmd: 0x43, records: all, ...over });
  const ids = [0x0001, 0x0040, 0x0041, 0x1000, 0xfff0];

  it('reserves, then reads every entry whole, following next-record ids', async () => {
    const bmc = selStore({ ids });
    const log = await readSel(bmc.send);
    expect(log.records.map((r) => r.recordId)).toEqual(ids);
    expect(log.records.map((r) => r.raw.subarray(2))).toEqual(all.map((r) => r.subarray(2)));
    expect(log.loopAt).toBeUndefined();
    expect(bmc.reserves).toBe(1);
    expect(bmc.gets.map((g) => [g.id, g.offset, g.count])).toEqual([[0, 0, 0xff], ...ids.slice(1).map((id) => [id, 0, 0xff])]);
    expect(log.records.map((r) => r.kind)).toEqual(['event', 'event', 'event', 'oem-timestamped', 'oem']);
  });

  it('an empty SEL (CBh for the first entry) has no entries', async () => {
    expect(await readSel(selStore({ records: [] }).send)).toEqual({ records: [] });
  });

  it('reserves again after C5h and retries the entry', async () => {
    const bmc = selStore({ ids, cancelAtGet: 3 });
    const log = await readSel(bmc.send);
    expect(bmc.reserves).toBe(2);
    expect(bmc.gets.map((g) => g.cc)).toEqual([0, 0, 0xc5, 0, 0, 0]);
    expect(log.records.map((r) => r.recordId)).toEqual(ids);
  });

  it('falls back to partial reads when the BMC cannot return a whole entry', async () => {
    const bmc = selStore({ refuseWhole: true, maxRead: 8 });
    const log = await readSel(bmc.send);
    expect(log.records.map((r) => r.raw)).toEqual(all);
    expect(bmc.gets.slice(0, 4).map((g) => [g.offset, g.count, g.cc])).toEqual([[0, 0xff, 0xca], [0, 16, 0xca], [0, 8, 0], [8, 8, 0]]);
  });

  it('stops at a loop, bounds the entries, and names errors', async () => {
    const looping = await readSel(selStore({ nextOf: { 3: 0x0002 } }).send);
    expect(looping.records.map((r) => r.recordId)).toEqual([1, 2, 3, 4]);
    expect(looping.loopAt).toBe(2);
    await expect(readSel(selStore().send, undefined, { maxEntries: 2 })).rejects.toThrow('Get SEL Entry: more than 2 entries; giving up');
    const err = await readSel(selStore({ failAt: { index: 2, cc: 0xc3 } }).send).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpmiCommandError);
    expect((err as Error).message).toBe('Get SEL Entry: timeout (0xc3)');
    await expect(readSel(selStore({ alwaysCancel: true }).send)).rejects.toThrow(/reservation keeps being cancelled/);
  });
});

describe('clearSel', () => {
  /** A BMC whose erase takes `inProgress` status answers to finish; C5h once at poll `cancelAt`. */
  function clearingBmc(inProgress: number, cancelAt?: number) {
    const log: { cmd: number; data: number[] }[] = [];
    let reservation = 4;
    let polls = 0;
    const send = async (req: IpmiRequest): Promise<IpmiResponse> => {
      log.push({ cmd: req.cmd, data: [...(req.data ?? [])] });
      if (req.netFn !== 0x0a) return { cc: 0xc1, data: Buffer.alloc(0) };
      if (req.cmd === 0x42) return { cc: 0, data: Buffer.from([++reservation, 0]) };
      const d = req.data!;
      if (d[0] !== reservation || d[2] !== 0x43 || d[3] !== 0x4c || d[4] !== 0x52) return { cc: 0xc5, data: Buffer.alloc(0) };
      if (d[5] === 0x00 && ++polls === cancelAt) {
        reservation += 10;
        return { cc: 0xc5, data: Buffer.alloc(0) };
      }
      return { cc: 0, data: Buffer.from([inProgress-- > 0 ? 0x00 : 0x01]) };
    };
    return { send, log };
  }

  it('reserves, initiates the erase, and polls the status until it completes', async () => {
    const bmc = clearingBmc(2);
    await clearSel(bmc.send, undefined, { pollIntervalMs: 0 });
    expect(bmc.log).toEqual([
      { cmd: 0x42, data: [] },
      { cmd: 0x47, data: [5, 0, 0x43, 0x4c, 0x52, 0xaa] },
      { cmd: 0x47, data: [5, 0, 0x43, 0x4c, 0x52, 0x00] },
      { cmd: 0x47, data: [5, 0, 0x43, 0x4c, 0x52, 0x00] },
    ]);
  });

  it('stops at once when the erase completes immediately (as ipmi_sim does)', async () => {
    const bmc = clearingBmc(0);
    await clearSel(bmc.send, undefined, { pollIntervalMs: 0 });
    expect(bmc.log).toHaveLength(2);
  });

  it('reserves again when the reservation is cancelled while polling', async () => {
    const bmc = clearingBmc(3, 2);
    await clearSel(bmc.send, undefined, { pollIntervalMs: 0 });
    expect(bmc.log.map((l) => [l.cmd, l.data[0], l.data[5]])).toEqual([
      [0x42, undefined, undefined], [0x47, 5, 0xaa], [0x47, 5, 0x00], [0x47, 5, 0x00], [0x42, undefined, undefined],
      [0x47, 16, 0x00], [0x47, 16, 0x00],
    ]);
  });

  it('gives up after maxPolls, and names a refused erase', async () => {
    await expect(clearSel(clearingBmc(1000).send, undefined, { pollIntervalMs: 0, maxPolls: 5 })).rejects.toThrow(
      'Clear SEL: erasure still in progress after 5 polls',
    );
    const refusing = async (req: IpmiRequest): Promise<IpmiResponse> =>
      req.cmd === 0x42 ? { cc: 0, data: hex('01 00') } : { cc: 0xd4, data: Buffer.alloc(0) };
    await expect(clearSel(refusing)).rejects.toThrow('Clear SEL: insufficient privilege level (0xd4)');
  });

  it('stops waiting when aborted', async () => {
    const controller = new AbortController();
    const done = clearSel(clearingBmc(1000).send, controller.signal, { pollIntervalMs: 1000 });
    setTimeout(() => controller.abort(), 20);
    await expect(done).rejects.toThrow(/abort/i);
  });
});
