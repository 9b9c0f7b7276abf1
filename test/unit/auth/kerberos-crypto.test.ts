// Kerberos AES crypto against the RFCs' own vectors: n-fold (RFC 3961 A.1), string-to-key with
// PBKDF2 and DK (RFC 3962 B), AES-CTS (RFC 3962 B); encryption with its confounder and
// HMAC-SHA1-96, refused when anything was changed.
import { describe, expect, it } from 'vitest';
import { ctsDecrypt, ctsEncrypt, decrypt, encrypt, ENCTYPE, KerberosCryptoError, nfold, stringToKey } from '../../../src/auth/kerberos/crypto.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RFC 3961 A.1 n-fold', () => {
  it.each([
    ['012345', 64, 'be072631276b1955'],
    ['password', 56, '78a07b6caf85fa'],
    ['Rough Consensus, and Running Code', 64, 'bb6ed30870b7f0e0'],
    ['password', 168, '59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e'],
    ['MASSACHVSETTS INSTITVTE OF TECHNOLOGY', 192, 'db3b0d8f0b061e603282b308a50841229ad798fab9540c1b'],
    ['Q', 168, '518a54a215a8452a518a54a215a8452a518a54a215'],
    ['ba', 168, 'fb25d531ae8974499f52fd92ea9857c4ba24cf297e'],
    ['kerberos', 64, '6b65726265726f73'],
    ['kerberos', 128, '6b65726265726f737b9b5b2b93132b93'],
    ['kerberos', 168, '8372c236344e5f1550cd0747e15d62ca7a5a3bcea4'],
    ['kerberos', 256, '6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4'],
  ])('%s, %i bits', (input, bits, out) => {
    expect(nfold(Buffer.from(input), bits / 8).toString('hex')).toBe(out);
  });
});

describe('RFC 3962 B string-to-key', () => {
  it.each([
    [1, 'password', 'ATHENA.MIT.EDUraeburn', '42263c6e89f4fc28b8df68ee09799f15', 'fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161'],
    [2, 'password', 'ATHENA.MIT.EDUraeburn', 'c651bf29e2300ac27fa469d693bdda13', 'a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff'],
    [1200, 'password', 'ATHENA.MIT.EDUraeburn', '4c01cd46d632d01e6dbe230a01ed642a', '55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a'],
    [1200, 'X'.repeat(64), 'pass phrase equals block size', '59d1bb789a828b1aa54ef9c2883f69ed', '89adee3608db8bc71f1bfbfe459486b05618b70cbae22092534e56c553ba4b34'],
    [1200, 'X'.repeat(65), 'pass phrase exceeds block size', 'cb8005dc5f90179a7f02104c0018751d', 'd78c5c9cb872a8c9dad4697f0bb5b2d21496c82beb2caeda2112fceea057401b'],
    [50, Buffer.from('f09d849e', 'hex'), 'EXAMPLE.COMpianist', 'f149c1f2e154a73452d43e7fe62a56e5', '4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e'],
  ] as const)('%i iterations of %s', (iterations, password, salt, aes128, aes256) => {
    expect(stringToKey(ENCTYPE.aes128, password, salt, iterations).toString('hex')).toBe(aes128);
    expect(stringToKey(ENCTYPE.aes256, password, salt, iterations).toString('hex')).toBe(aes256);
  });

  it('with a binary salt (RFC 3962 B, after PECMS)', () => {
    expect(stringToKey(ENCTYPE.aes128, 'password', hex('1234567878563412'), 5).toString('hex')).toBe('e9b23d52273747dd5c35cb55be619d8e');
  });
});

describe('RFC 3962 B AES-CTS (key "chicken teriyaki", zero IV)', () => {
  const key = Buffer.from('chicken teriyaki');
  const input = Buffer.from('I would like the General Gau\'s Chicken, please, and wonton soup.');
  it.each([
    [17, 'c6353568f2bf8cb4d8a580362da7ff7f97'],
    [31, 'fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5'],
    [32, '39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584'],
    [47, '97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5'],
    [48, '97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8'],
    [64, '97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8'],
  ])('%i bytes', (length, out) => {
    const plain = input.subarray(0, length);
    const cipher = ctsEncrypt(key, Buffer.alloc(16), plain);
    expect(cipher.toString('hex')).toBe(out);
    expect(ctsDecrypt(key, Buffer.alloc(16), cipher)).toEqual(plain);
  });
});

describe('encryption (RFC 3961 5.3)', () => {
  it('round trips at every length around the block size, and refuses a changed byte, another usage or another key', () => {
    for (const etype of [ENCTYPE.aes128, ENCTYPE.aes256]) {
      const key = stringToKey(etype, 'secret', 'EXAMPLE.COMservice');
      for (const n of [0, 1, 15, 16, 17, 31, 32, 33, 100]) {
        const plain = Buffer.alloc(n, n);
        const sealed = encrypt(key, 2, plain);
        expect(sealed.length).toBe(16 + n + 12);
        expect(decrypt(key, 2, sealed)).toEqual(plain);
      }
      const sealed = encrypt(key, 11, Buffer.from('authenticator'));
      const changed = Buffer.from(sealed);
      changed[5] ^= 1;
      expect(() => decrypt(key, 11, changed)).toThrow(KerberosCryptoError);
      expect(() => decrypt(key, 7, sealed)).toThrow(/integrity/);
      expect(() => decrypt(stringToKey(etype, 'other', 'EXAMPLE.COMservice'), 11, sealed)).toThrow(/integrity/);
    }
  });
});
