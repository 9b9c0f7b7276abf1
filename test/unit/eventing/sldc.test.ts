// SLDC (ECMA-321) as Windows forwarders send it (MS-WSMV 2.2.9.2): a known answer written bit
// by bit from the standard's symbol layout, round trips through a test-only encoder that covers
// every match-count class, scheme 2 and resets, and each way a stream can be wrong.
import { describe, expect, it } from 'vitest';
import { decodeSldcBody, SldcError, sldcDecode } from '../../../src/eventing/sldc.js';
import { sldcEncode } from '../../helpers/sldc-encoder.js';

/** Bits written as text ("0101 1…", spaces ignored), zero-padded to a byte, then the length. */
function stream(bits: string, length: number): Buffer {
  const b = bits.replace(/\s+/g, '');
  const padded = b.padEnd(Math.ceil(b.length / 8) * 8, '0');
  const bytes = Buffer.alloc(padded.length / 8);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(padded.slice(i * 8, i * 8 + 8), 2);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(length);
  return Buffer.concat([bytes, tail]);
}

const RESET_1 = '111111111 0101';
const SCHEME_2 = '111111111 0010';
const END_OF_RECORD = '111111111 0100';
const lit = (c: string) => `0 ${c.charCodeAt(0).toString(2).padStart(8, '0')}`;

describe('SLDC decoding (ECMA-321, MS-WSMV 2.2.9.2)', () => {
  it('decodes a stream written symbol by symbol: literals, a copy pointer, scheme 2 with its 0xFF escape', () => {
    const bits = [
      RESET_1, lit('a'), lit('b'), lit('c'),
      '1 00 0000000000', // copy 2 bytes from history position 0: "ab"
      '1 1000 0000000001', // copy 4 from position 1: "bcab"
      SCHEME_2, '11111111 0', '01111010', // raw 0xFF (and its 0 bit), raw 'z'
      END_OF_RECORD,
    ].join(' ');
    expect(sldcDecode(stream(bits, 11), 100)).toEqual(Buffer.from([...Buffer.from('abcabbcab'), 0xff, 0x7a]));
  });

  it('a copy may read the bytes it is writing: a run of 271 from one literal', () => {
    const bits = [RESET_1, lit('x'), '1 1111 11101111 0000000000', END_OF_RECORD].join(' '); // 32 + 239 = 271
    expect(sldcDecode(stream(bits, 272), 1000)).toEqual(Buffer.alloc(272, 'x'));
  });

  const samples: [string, Buffer][] = [
    ['UTF-16LE text with a BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<s:Envelope><s:Body><w:Events/></s:Body></s:Envelope>'.repeat(20), 'utf16le')])],
    ['every match-count class', Buffer.from(Array.from({ length: 300 }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789'.slice(0, 2 + (i % 34))).join('|'))],
    ['pseudo-random bytes past the history', Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919 + (i >> 3) * 31) & 0xff))],
    ['a long run', Buffer.alloc(4000, 0x41)],
  ];
  for (const [name, data] of samples) {
    it(`round trip: ${name}`, () => {
      const encoded = sldcEncode(data);
      expect(encoded.length).toBeLessThan(data.length + 10);
      expect(sldcDecode(encoded, data.length)).toEqual(data);
    });
  }

  it('round trip through scheme 2 (0xFF bytes among them) and a reset of the history midway', () => {
    const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i % 5 === 0 ? 0xff : (i * 13) & 0xff)));
    expect(sldcDecode(sldcEncode(data, { raw: { from: 500, to: 1200 }, resetAt: 2000 }), data.length)).toEqual(data);
    for (const maxMatch of [2, 3, 7, 15, 31]) expect(sldcDecode(sldcEncode(data, { maxMatch }), data.length)).toEqual(data);
  });

  it('refuses a truncated stream, a missing End of Record, a reserved symbol and a wrong length', () => {
    const data = Buffer.from('hello hello hello hello'.repeat(10));
    const good = sldcEncode(data);
    const cut = Buffer.concat([good.subarray(0, (good.length - 4) >> 1), good.subarray(good.length - 4)]);
    expect(() => sldcDecode(cut, 1000)).toThrow(SldcError);
    expect(() => sldcDecode(stream(`${RESET_1} ${lit('a')}`, 1), 10)).toThrow(/End of Record|ends inside/);
    expect(() => sldcDecode(stream(`${RESET_1} 111111111 1000 ${END_OF_RECORD}`, 0), 10)).toThrow(/reserved SLDC control symbol/);
    expect(() => sldcDecode(stream(`${RESET_1} ${lit('a')} ${lit('b')} ${END_OF_RECORD}`, 3), 10)).toThrow(/2 bytes, not the 3/);
    expect(() => sldcDecode(stream(`${RESET_1} ${lit('a')} ${lit('b')} ${END_OF_RECORD}`, 1), 10)).toThrow(/more than the 1/);
    expect(() => sldcDecode(Buffer.from([1, 2]), 10)).toThrow(/4-byte length/);
  });

  it('caps the output: a bomb is refused by its declared length before anything is decoded', () => {
    const bomb = sldcEncode(Buffer.alloc(100_000, 0));
    expect(bomb.length).toBeLessThan(1200); // about 90:1
    expect(() => sldcDecode(bomb, 50_000)).toThrow(/declares 100000 bytes, more than the 50000/);
  });

  it('takes bodies labelled SLDC that are not compressed as they are (Windows labels its End so)', () => {
    const plain = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<s:Envelope/>', 'utf16le')]);
    expect(decodeSldcBody(plain, 1000)).toBe(plain);
    expect(decodeSldcBody(Buffer.from('<s:Envelope/>'), 1000).toString()).toBe('<s:Envelope/>');
    expect(decodeSldcBody(Buffer.alloc(0), 1000).length).toBe(0);
    const compressed = sldcEncode(plain);
    expect(decodeSldcBody(compressed, 1000)).toEqual(plain);
  });
});
