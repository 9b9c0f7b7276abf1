// Framing, the session-setup payloads and the inbound sequence window, byte by byte.
import { describe, expect, it } from 'vitest';
import { CIPHER_SUITES } from '../../../../../providers/ipmi/lanplus/cipher.js';
import { checksum, decodePacket, decodeResponse, encodeRequest, encodeRmcpp, encodeSessionless, PacketError, verifyIntegrity } from '../../../../../providers/ipmi/lanplus/packet.js';
import { openSessionRequest, parseOpenSessionResponse, parseRakp2, rakp1 } from '../../../../../providers/ipmi/lanplus/rakp.js';
import { SequenceWindow } from '../../../../../providers/ipmi/lanplus/sequence.js';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('lanplus framing', () => {
  it('Get Channel Authentication Capabilities goes out in IPMI 1.5 framing, outside any session', () => {
    const packet = encodeSessionless(encodeRequest({ netFn: 0x06, cmd: 0x38, data: Uint8Array.of(0x8e, 0x04) }, 0));
    // RMCP; auth NONE, sequence 0, session 0, length 9; 20 18 c8 81 00 38 8e 04 and -(81+00+38+8e+04) = b5
    expect(packet.toString('hex')).toBe('0600ff07' + '00' + '00000000' + '00000000' + '09' + '2018c88100388e04b5');
  });

  it('decodes an IPMI 1.5 answer and checks both checksums', () => {
    // 81 1c 63: to us, netFn 07h (response to 06h), checksum; 20 00 38: from the BMC, rqSeq 0, cmd 38h; cc 00, data, checksum
    const fixed = Buffer.concat([h('811c63 200038 00 0180040200000000'), Buffer.alloc(1)]);
    fixed[fixed.length - 1] = checksum(fixed.subarray(3, -1));
    const p = decodePacket(Buffer.concat([h('0600ff07 00 00000000 00000000'), Buffer.from([fixed.length]), fixed]));
    expect(p).toMatchObject({ format: 'ipmi15', sessionId: 0 });
    if (p.format !== 'ipmi15') return;
    expect(decodeResponse(p.message)).toMatchObject({ netFn: 0x07, cmd: 0x38, rqSeq: 0, cc: 0 });
    const broken = Buffer.from(fixed);
    broken[7] ^= 1;
    expect(() => decodeResponse(broken)).toThrow(/data checksum/);
    const header = Buffer.from(fixed);
    header[2] ^= 1;
    expect(() => decodeResponse(header)).toThrow(/header checksum/);
  });

  it('refuses what is not an RMCP IPMI packet or is cut short', () => {
    expect(() => decodePacket(h('0600ff06 00'))).toThrow(PacketError); // ASF class
    expect(() => decodePacket(h('0600ff07 06 00 00000000'))).toThrow(/truncated/);
    expect(() => decodePacket(h('0600ff07 06 00 00000000 00000000 1000 00'))).toThrow(/exceeds/);
    expect(() => decodeResponse(h('811c63'))).toThrow(/too short/);
  });

  it('pads the integrity trailer to a multiple of 4 and checks every part of it', () => {
    const suite = CIPHER_SUITES[3];
    const k1 = Buffer.alloc(20, 7);
    for (const size of [16, 17, 18, 19]) {
      const packet = encodeRmcpp({ payloadType: 0, sessionId: 5, sequence: 9, payload: Buffer.alloc(size, 0xaa), encrypted: true, integrity: { suite, k1 } });
      const covered = packet.length - 4 - 12;
      expect(covered % 4).toBe(0);
      const p = decodePacket(packet);
      if (p.format !== 'rmcpp') throw new Error('expected RMCP+');
      expect(p).toMatchObject({ payloadType: 0, encrypted: true, authenticated: true, sessionId: 5, sequence: 9 });
      expect(verifyIntegrity(p, suite, k1)).toBe(true);
      expect(verifyIntegrity(p, suite, Buffer.alloc(20, 8))).toBe(false);
    }
    const packet = encodeRmcpp({ payloadType: 0, sessionId: 5, sequence: 9, payload: Buffer.alloc(16), integrity: { suite, k1 } });
    packet[packet.length - 13] = 0x06; // next header
    const p = decodePacket(packet);
    if (p.format !== 'rmcpp') throw new Error('expected RMCP+');
    expect(verifyIntegrity(p, suite, k1)).toBe(false);
  });

  it('Open Session asks for the privilege and the suite 17 algorithms; RAKP 1 carries role 14h', () => {
    const open = openSessionRequest(0x21, 4, 0xa0a2a3a4, CIPHER_SUITES[17]);
    expect(open.toString('hex')).toBe('2104' + '0000' + 'a4a3a2a0' + '0000000803000000' + '0100000804000000' + '0200000801000000');
    const r1 = rakp1(0x21, 0x1190, Buffer.alloc(16, 0x5a), 0x14, Buffer.from('admin'));
    expect(r1.toString('hex')).toBe('21000000' + '90110000' + '5a'.repeat(16) + '14' + '0000' + '05' + Buffer.from('admin').toString('hex'));
  });

  it('parses refusals that carry only the tag and status', () => {
    expect(parseOpenSessionResponse(h('2111'))).toMatchObject({ tag: 0x21, status: 0x11, consoleId: 0 });
    expect(parseRakp2(h('21 0d 0000 a4a3a2a0'))).toMatchObject({ tag: 0x21, status: 0x0d, consoleId: 0xa0a2a3a4 });
    expect(() => parseOpenSessionResponse(h('2100'))).toThrow(/truncated/);
  });
});

describe('SequenceWindow (IPMI 2.0 §6.12.13)', () => {
  it('accepts new numbers up to 15 ahead and unseen ones up to 16 behind; drops duplicates and 0', () => {
    const w = new SequenceWindow();
    expect(w.accept(0)).toBe(false);
    expect(w.accept(1)).toBe(true);
    expect(w.accept(1)).toBe(false);
    expect(w.accept(3)).toBe(true); // 2 lost or late
    expect(w.accept(2)).toBe(true); // late, first time
    expect(w.accept(2)).toBe(false); // replay
    expect(w.accept(18)).toBe(true); // 15 ahead of 3
    expect(w.accept(2)).toBe(false); // 16 behind 18: in the window, and remembered as seen
    expect(w.accept(34)).toBe(false); // 16 ahead of 18
    expect(w.accept(17)).toBe(true); // late, unseen
    expect(w.accept(17)).toBe(false);
    expect(w.accept(33)).toBe(true);
    expect(w.accept(20)).toBe(true); // 13 behind 33, never seen
    expect(w.accept(17)).toBe(false); // 16 behind, seen
    expect(w.accept(16)).toBe(false); // 17 behind: out of the window
  });

  it('wraps around 2^32', () => {
    const w = new SequenceWindow();
    expect(w.accept(0xfffffffe)).toBe(true);
    expect(w.accept(0xffffffff)).toBe(true);
    expect(w.accept(1)).toBe(true);
    expect(w.accept(0xfffffffe)).toBe(false);
  });
});
