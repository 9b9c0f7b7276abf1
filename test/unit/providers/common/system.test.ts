// providers/common/system.ts: the shared reading behind Win32_Process (issue 12, part B 12:
// 280 concurrent Gets once ran 560 ps processes at once).
import { describe, expect, it } from 'vitest';
import { argumentTooLong, MAX_ARGUMENT_BYTES, sharedReadings } from '../../../../providers/common/system.js';

describe('sharedReadings', () => {
  it('runs one reading per key for every caller that asks while it runs, and reads afresh after', async () => {
    let reads = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const table = sharedReadings(async (key: string) => {
      reads++;
      await gate;
      return `${key}:${reads}`;
    });
    const all = Promise.all(Array.from({ length: 280 }, () => table('all')));
    const one = table('pid 1');
    release();
    expect(new Set(await all)).toEqual(new Set(['all:2']));
    expect(await one).toBe('pid 1:2');
    expect(reads).toBe(2);
    await table('all');
    expect(reads).toBe(3);
  });

  it('with freshMs, a settled reading answers later callers until it is that old; a failed one is not kept', async () => {
    let reads = 0;
    let fail = true;
    const table = sharedReadings(async () => {
      reads++;
      if (fail) throw new Error('ps failed');
      return reads;
    }, 200);
    await expect(table('all')).rejects.toThrow('ps failed');
    fail = false;
    expect(await table('all')).toBe(2);
    expect(await table('all')).toBe(2);
    await new Promise((r) => setTimeout(r, 250));
    expect(await table('all')).toBe(3);
  });

  it('a caller that gives up gets TimedOut; the others still get the reading', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const table = sharedReadings(async () => {
      await gate;
      return 'rows';
    });
    const quitting = new AbortController();
    const first = table('all', quitting.signal);
    const second = table('all', new AbortController().signal);
    quitting.abort();
    await expect(first).rejects.toMatchObject({ code: 'TIMED_OUT' });
    release();
    expect(await second).toBe('rows');
  });
});

describe('argumentTooLong', () => {
  it('names the first argument execve(2) would refuse (E2BIG), and nothing when all fit', () => {
    expect(argumentTooLong(['sh', '-c', 'x'.repeat(MAX_ARGUMENT_BYTES - 1)])).toBeUndefined();
    expect(argumentTooLong(['sh', '-c', 'x'.repeat(MAX_ARGUMENT_BYTES)])).toMatch(/131072 bytes.*MAX_ARG_STRLEN/);
    expect(argumentTooLong(['é'.repeat(MAX_ARGUMENT_BYTES / 2)])).toMatch(/131072 bytes/);
  });
});
