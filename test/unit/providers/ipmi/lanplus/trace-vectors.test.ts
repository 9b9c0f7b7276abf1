// Cipher suite 3 against known answers: ipmitool 1.8.19's verbose trace of a session with the
// ipmi_sim BMC (test/fixtures/ipmi-sim/ipmitool-lanplus-C3-trace.txt), bytes copied here as hex.
import { describe, expect, it } from 'vitest';
import { CIPHER_SUITES, decrypt, encrypt, integrityCode, rakp2Code, rakp3Code, rakp4Icv, type RakpInputs, sessionKeys } from '../../../../../providers/ipmi/lanplus/cipher.js';
import { checksum, decodePacket, decodeResponse, encodeRequest, encodeRmcpp, PAYLOAD, RMCP_HEADER, verifyIntegrity } from '../../../../../providers/ipmi/lanplus/packet.js';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const suite = CIPHER_SUITES[3];

// "Console generated random number", "bmc_rand", session ids, GUID, role 0x14 and user admin.
const inputs: RakpInputs = {
  consoleId: 0xa0a2a3a4,
  bmcId: 0x00001190,
  consoleRandom: h('59 8d db d6 63 3b 99 62 40 63 04 ec ed ba c4 86'),
  bmcRandom: h('e8 e4 76 14 76 2e d3 b5 98 58 e9 fc 08 58 47 a3'),
  bmcGuid: h('a1 23 45 67 89 ab cd ef a1 23 45 67 89 ab cd ef'),
  role: 0x14,
  user: Buffer.from('admin'),
};
const kuid = Buffer.from('password');
const SIK = h('96 a2 db 5c c7 b6 82 e4 eb 80 89 00 1f 0e 8c 4d ce a2 72 d3');
const K1 = h('fe 63 68 4d 6f 60 c7 99 af e0 03 22 76 40 81 b1 2b d7 fa 34');
const K2 = h('da ac 0a 01 eb f5 b6 e5 a8 20 79 51 fb 8d 93 2b 34 27 b9 9b');

// Set Session Privilege Level request (seq 3) and its response; Get Device ID response (raw 6 1).
const SET_PRIV_REQUEST = h(`06 c0 90 11 00 00 03 00 00 00 20 00 c2 ef 40 d6
  f2 10 0d ae dc 0a 54 28 b9 44 3e ae 54 6e 0e f6 8a a1 2f fa 2f d3 69 5c 52 b1 b4 8e ff ff 02 07`);
const SET_PRIV_REQUEST_CODE = h('d9 de 5f 76 b4 c4 fc 1f 1c 12 91 3e');
const SET_PRIV_RESPONSE = h(`06 c0 a4 a3 a2 a0 01 00 00 00 20 00 fc 70 fa b6
  ef 7b 02 33 17 4d 1f 3d 18 7f c8 7b 93 ac 41 c4 da 89 e5 c3 b4 74 d5 0f 51 1d b7 ac ff ff 02 07`);
const SET_PRIV_RESPONSE_CODE = h('00 b0 2f 22 c7 6e e3 e5 ed ec a1 92');
const DEVICE_ID_RESPONSE = h(`06 c0 a4 a3 a2 a0 06 00 00 00 30 00 31 b4 32 99
  c7 dc da 74 ce 87 81 68 9b c8 86 7f 42 48 40 8a f8 51 14 16 2d ec e4 67 bf 5c 82 52 a5 36 09 fb
  a2 0a 61 01 ef ff 9c 5e d6 73 89 86 ff ff 02 07`);
const DEVICE_ID_RESPONSE_CODE = h('50 bd cc 9e 74 e8 17 89 55 dd a9 b6');

describe('RMCP+ cipher suite 3 known answers (ipmitool trace)', () => {
  it('computes the RAKP 2 and RAKP 3 key exchange authentication codes', () => {
    expect(rakp2Code(suite, kuid, inputs).toString('hex')).toBe('9011a2111a3d067cb7a30fa3a0d33de2663cad58');
    expect(rakp3Code(suite, kuid, inputs).toString('hex')).toBe('6553efa76f5be282a5f06e14aa17de13eb04d16a');
  });

  it('pads Kuid or not alike: HMAC zero-pads keys to the block size anyway', () => {
    const padded = Buffer.concat([kuid, Buffer.alloc(12)]);
    expect(rakp2Code(suite, padded, inputs)).toEqual(rakp2Code(suite, kuid, inputs));
  });

  it('derives SIK, K1 and K2', () => {
    const keys = sessionKeys(suite, kuid, inputs);
    expect(keys.sik).toEqual(SIK);
    expect(keys.k1).toEqual(K1);
    expect(keys.k2).toEqual(K2);
  });

  it('computes the RAKP 4 integrity check value (HMAC-SHA1-96)', () => {
    expect(rakp4Icv(suite, SIK, inputs).toString('hex')).toBe('f1c22219eb82d16d147cda4c');
  });

  it('computes the integrity code of a request and of responses', () => {
    expect(integrityCode(suite, K1, SET_PRIV_REQUEST)).toEqual(SET_PRIV_REQUEST_CODE);
    expect(integrityCode(suite, K1, SET_PRIV_RESPONSE)).toEqual(SET_PRIV_RESPONSE_CODE);
    expect(integrityCode(suite, K1, DEVICE_ID_RESPONSE)).toEqual(DEVICE_ID_RESPONSE_CODE);
  });

  it('decrypts the Set Session Privilege Level request into a valid IPMI message', () => {
    const message = decrypt(K2, SET_PRIV_REQUEST.subarray(12, 12 + 32));
    expect(message.toString('hex')).toBe('2018c881043b043c');
    expect(checksum(message.subarray(0, 2))).toBe(message[2]);
    expect(checksum(message.subarray(3, 7))).toBe(message[7]);
    expect(message[1] >> 2).toBe(0x06); // netFn App
    expect(message[5]).toBe(0x3b); // Set Session Privilege Level
    expect(message[6]).toBe(0x04); // administrator
  });

  it('rebuilds the request packet byte for byte from the message, K1, K2 and the IV', () => {
    const iv = SET_PRIV_REQUEST.subarray(12, 28);
    const message = encodeRequest({ netFn: 0x06, cmd: 0x3b, data: Uint8Array.of(4) }, 1);
    expect(encrypt(K2, message, iv)).toEqual(SET_PRIV_REQUEST.subarray(12, 44));
    const packet = encodeRmcpp({ payloadType: PAYLOAD.IPMI, sessionId: 0x1190, sequence: 3, payload: encrypt(K2, message, iv), encrypted: true, integrity: { suite, k1: K1 } });
    expect(packet).toEqual(Buffer.concat([RMCP_HEADER, SET_PRIV_REQUEST, SET_PRIV_REQUEST_CODE]));
  });

  it('opens the Get Device ID response datagram: integrity, decryption, checksums', () => {
    const p = decodePacket(Buffer.concat([RMCP_HEADER, DEVICE_ID_RESPONSE, DEVICE_ID_RESPONSE_CODE]));
    if (p.format !== 'rmcpp') throw new Error('expected RMCP+');
    expect(p).toMatchObject({ payloadType: 0, encrypted: true, authenticated: true, sessionId: 0xa0a2a3a4, sequence: 6 });
    expect(verifyIntegrity(p, suite, K1)).toBe(true);
    const r = decodeResponse(decrypt(K2, p.payload));
    expect(r).toMatchObject({ netFn: 0x07, cmd: 0x01, rqSeq: 6, cc: 0 });
    expect(r.data.toString('hex')).toBe('00030908029f911200020f00000000'); // what `raw 6 1` printed
  });

  it('rejects the same datagram with one bit of its integrity code flipped', () => {
    const code = Buffer.from(DEVICE_ID_RESPONSE_CODE);
    code[11] ^= 1;
    const p = decodePacket(Buffer.concat([RMCP_HEADER, DEVICE_ID_RESPONSE, code]));
    if (p.format !== 'rmcpp') throw new Error('expected RMCP+');
    expect(verifyIntegrity(p, suite, K1)).toBe(false);
  });

  it('decrypts the Set Session Privilege Level response', () => {
    const r = decodeResponse(decrypt(K2, SET_PRIV_RESPONSE.subarray(12, 44)));
    expect(r).toMatchObject({ netFn: 0x07, cmd: 0x3b, rqSeq: 1, cc: 0 });
    expect([...r.data]).toEqual([0x04]);
  });
});
