// Cipher suite 17 (RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128) against values computed here by
// the openssl command line, from message layouts spelled out byte by byte (IPMI 2.0 §13.31, §13.32,
// §13.28.4, §13.29). ipmi_sim has no suite 17, so this and the fake-BMC handshake are its proof.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CIPHER_SUITES, decrypt, encrypt, integrityCode, rakp2Code, rakp3Code, rakp4Icv, type RakpInputs, sessionKeys } from '../../../../../providers/ipmi/lanplus/cipher.js';
import { encodeRequest, encodeRmcpp, PAYLOAD } from '../../../../../providers/ipmi/lanplus/packet.js';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const suite = CIPHER_SUITES[17];

const hmacSha256 = (key: Buffer, data: Buffer) =>
  execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${key.toString('hex')}`, '-binary'], { input: data });
const aes128cbc = (key: Buffer, iv: Buffer, data: Buffer) =>
  execFileSync('openssl', ['enc', '-aes-128-cbc', '-K', key.toString('hex'), '-iv', iv.toString('hex'), '-nopad'], { input: data });

// Fixed inputs: SIDm a4a3a2a0 (LE 0xa0a2a3a4), SIDc 0x00001190, Rm, Rc, GUID, role 14h, user "admin".
const SIDm = 'a4a3a2a0';
const SIDc = '90110000';
const Rm = '00112233445566778899aabbccddeeff';
const Rc = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
const GUID = 'a123456789abcdefa123456789abcdef';
const ROLE_ULEN_USER = '14' + '05' + Buffer.from('admin').toString('hex');
const kuid = Buffer.from('password');

const inputs: RakpInputs = {
  consoleId: 0xa0a2a3a4,
  bmcId: 0x1190,
  consoleRandom: h(Rm),
  bmcRandom: h(Rc),
  bmcGuid: h(GUID),
  role: 0x14,
  user: Buffer.from('admin'),
};

describe('RMCP+ cipher suite 17 against openssl', () => {
  it('RAKP 2 and RAKP 3 codes are full 32-byte HMAC-SHA256 over the §13.31 fields', () => {
    expect(rakp2Code(suite, kuid, inputs)).toEqual(hmacSha256(kuid, h(SIDm + SIDc + Rm + Rc + GUID + ROLE_ULEN_USER)));
    expect(rakp3Code(suite, kuid, inputs)).toEqual(hmacSha256(kuid, h(Rc + SIDm + ROLE_ULEN_USER)));
    expect(rakp2Code(suite, kuid, inputs)).toHaveLength(32);
  });

  it('SIK is HMAC-SHA256(Kuid); K1 and K2 are HMAC-SHA256(SIK) of 20 bytes of 01h and 02h', () => {
    const sik = hmacSha256(kuid, h(Rm + Rc + ROLE_ULEN_USER));
    const keys = sessionKeys(suite, kuid, inputs);
    expect(keys.sik).toEqual(sik);
    expect(keys.k1).toEqual(hmacSha256(sik, Buffer.alloc(20, 0x01)));
    expect(keys.k2).toEqual(hmacSha256(sik, Buffer.alloc(20, 0x02)));
    // Not the 32-byte constants one might read into §13.32: ipmitool and FreeIPMI use 20.
    expect(keys.k1).not.toEqual(hmacSha256(sik, Buffer.alloc(32, 0x01)));
  });

  it('a BMC key (Kg) keys the SIK instead of Kuid', () => {
    const kg = Buffer.from('0123456789abcdef0123', 'latin1');
    expect(sessionKeys(suite, kg, inputs).sik).toEqual(hmacSha256(kg, h(Rm + Rc + ROLE_ULEN_USER)));
  });

  it('the RAKP 4 integrity check value is the first 16 bytes of HMAC-SHA256(SIK, Rm‖SIDc‖GUIDc)', () => {
    const { sik } = sessionKeys(suite, kuid, inputs);
    expect(rakp4Icv(suite, sik, inputs)).toEqual(hmacSha256(sik, h(Rm + SIDc + GUID)).subarray(0, 16));
  });

  it('AES-CBC-128 with K2[0..16], pads 01 02 … N, N and prepends the IV; decrypt() inverts it', () => {
    const { k2 } = sessionKeys(suite, kuid, inputs);
    const iv = h('000102030405060708090a0b0c0d0e0f');
    const message = h('2018c881043b043c'); // 8 bytes: pad 01..07 then 07
    const expected = aes128cbc(k2.subarray(0, 16), iv, h('2018c881043b043c' + '01020304050607' + '07'));
    expect(encrypt(k2, message, iv)).toEqual(Buffer.concat([iv, expected]));
    expect(decrypt(k2, encrypt(k2, message, iv))).toEqual(message);
    // 15 bytes: no pad, only the pad length 00.
    const fifteen = h('000102030405060708090a0b0c0d0e');
    expect(encrypt(k2, fifteen, iv)).toEqual(Buffer.concat([iv, aes128cbc(k2.subarray(0, 16), iv, h('000102030405060708090a0b0c0d0e' + '00'))]));
    expect(decrypt(k2, encrypt(k2, fifteen))).toEqual(fifteen);
  });

  it('a whole session packet: header, AES payload, FFh pad, pad length, 07h, HMAC-SHA256-128 over it', () => {
    const { k1, k2 } = sessionKeys(suite, kuid, inputs);
    const iv = h('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
    const message = encodeRequest({ netFn: 0x06, cmd: 0x01 }, 5);
    expect(message.toString('hex')).toBe('2018c88114016a'); // checksums: -(20h+18h) = c8h, -(81h+14h+01h) = 6ah
    const ciphertext = aes128cbc(k2.subarray(0, 16), iv, Buffer.concat([message, h('0102030405060708'), h('08')]));
    const header = h('06' + 'c0' + SIDc + '07000000' + '2000'); // auth type, payload 00h encrypted+authenticated, SIDc, seq 7, length 32
    const covered = Buffer.concat([header, iv, ciphertext, h('ffff' + '02' + '07')]);
    const packet = encodeRmcpp({ payloadType: PAYLOAD.IPMI, sessionId: 0x1190, sequence: 7, payload: encrypt(k2, message, iv), encrypted: true, integrity: { suite, k1 } });
    expect(packet).toEqual(Buffer.concat([h('0600ff07'), covered, hmacSha256(k1, covered).subarray(0, 16)]));
    expect(integrityCode(suite, k1, covered)).toHaveLength(16);
  });
});
