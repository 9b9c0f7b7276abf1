// Keytabs as MIT's kadmin writes them, read by winrmd: every principal, kvno and encryption type,
// and keys that are exactly the RFC 3962 string-to-key of the principal's password and salt
// (ktadd -norandkey exports the keys the KDC derived), which proves the parser and the crypto
// against MIT's own implementation. Broken files are clear errors.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENCTYPE, stringToKey } from '../../../src/auth/kerberos/crypto.js';
import { describeKeytab, KeytabError, parseKeytab } from '../../../src/auth/kerberos/keytab.js';
import { REALM, SERVICE_HOST, startRealm, type TestRealm } from '../../helpers/kdc.js';

const root = new URL('../../..', import.meta.url).pathname;
let realm: TestRealm;
beforeAll(async () => {
  realm = await startRealm();
}, 60_000);
afterAll(() => realm?.stop());

describe('MIT keytabs', () => {
  it('holds what kadmin put in, with the keys MIT derived from the password', () => {
    realm.addPrincipal(`HTTP/${SERVICE_HOST}`, 'service-Secret-1');
    realm.addPrincipal(`HOST/${SERVICE_HOST}`, 'host-Secret-1');
    const file = realm.keytab(path.join(realm.dir, 'service.keytab'), [`HTTP/${SERVICE_HOST}`, `HOST/${SERVICE_HOST}`], true);
    const entries = parseKeytab(readFileSync(file));
    expect(describeKeytab(entries).sort()).toEqual([
      `HOST/${SERVICE_HOST}@${REALM}\tkvno 1\taes128-cts-hmac-sha1-96`,
      `HOST/${SERVICE_HOST}@${REALM}\tkvno 1\taes256-cts-hmac-sha1-96`,
      `HTTP/${SERVICE_HOST}@${REALM}\tkvno 1\taes128-cts-hmac-sha1-96`,
      `HTTP/${SERVICE_HOST}@${REALM}\tkvno 1\taes256-cts-hmac-sha1-96`,
    ]);
    // The default salt is the realm and the principal's components (RFC 4120 §4).
    const salt = `${REALM}HTTP${SERVICE_HOST}`;
    const http = entries.filter((e) => e.principal === `HTTP/${SERVICE_HOST}`);
    expect(http.find((e) => e.enctype === ENCTYPE.aes256)!.key).toEqual(stringToKey(ENCTYPE.aes256, 'service-Secret-1', salt));
    expect(http.find((e) => e.enctype === ENCTYPE.aes128)!.key).toEqual(stringToKey(ENCTYPE.aes128, 'service-Secret-1', salt));
  });

  it('a new key (randomized) has the next kvno; a removed entry leaves a hole that is skipped', () => {
    const file = path.join(realm.dir, 'rotated.keytab');
    realm.addPrincipal('HTTP/other.winrmd.test', 'x-Secret-1');
    realm.keytab(file, ['HTTP/other.winrmd.test']);
    realm.keytab(file, ['HTTP/other.winrmd.test']);
    const kvnos = parseKeytab(readFileSync(file)).map((e) => e.kvno);
    expect(new Set(kvnos)).toEqual(new Set([2, 3]));
    realm.kadmin(`ktremove -k ${file} HTTP/other.winrmd.test 2`);
    expect(parseKeytab(readFileSync(file)).map((e) => e.kvno)).toEqual([3, 3]);
  });

  it('winrmd kerberos check lists the keys and says which it can use', () => {
    const cli = [path.join(root, 'node_modules/tsx/dist/cli.mjs'), path.join(root, 'src/main.ts')];
    const run = (args: string[]) => spawnSync(process.execPath, [...cli, 'kerberos', 'check', ...args], { encoding: 'utf8', env: { ...process.env, WINRMD_STATE_DIR: realm.dir } });
    const ok = run(['--keytab', path.join(realm.dir, 'service.keytab')]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`HTTP/${SERVICE_HOST}@${REALM}\tkvno 1\taes256-cts-hmac-sha1-96`);
    expect(ok.stdout).toContain('4 key(s); usable for 2 principal(s)');
    const missing = run(['--keytab', path.join(realm.dir, 'nothing.keytab')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nothing\.keytab: ENOENT/);
  });

  it('refuses what is not a keytab, or is cut short', () => {
    expect(() => parseKeytab(Buffer.from('not a keytab'))).toThrow(KeytabError);
    const file = readFileSync(path.join(realm.dir, 'service.keytab'));
    expect(() => parseKeytab(file.subarray(0, file.length - 10))).toThrow(/past the end|cut short/);
  });
});

describe('the keytab as configured', () => {
  it('from a file, or from an environment variable in base64; a missing one or one without AES keys stops the start with the reason', async () => {
    const { loadKeytab: readKeytab } = await import('../../../src/auth/kerberos/keytab.js');
    const file = path.join(realm.dir, 'service.keytab');
    expect(readKeytab({ keytab: file, keytabEnv: '' }).length).toBe(4);
    expect(readKeytab({ keytab: '', keytabEnv: 'KT' }, { KT: readFileSync(file).toString('base64') }).length).toBe(4);
    expect(() => readKeytab({ keytab: '', keytabEnv: 'KT' }, {})).toThrow('kerberos.keytabEnv KT: the variable is not set');
    expect(() => readKeytab({ keytab: path.join(realm.dir, 'none'), keytabEnv: '' })).toThrow(/kerberos\.keytab .*none: ENOENT/);
    realm.kadmin('addprinc -randkey -e rc4-hmac:normal HTTP/rc4.winrmd.test');
    expect(() => readKeytab({ keytab: realm.keytab(path.join(realm.dir, 'rc4.keytab'), ['-e rc4-hmac:normal HTTP/rc4.winrmd.test']), keytabEnv: '' })).toThrow(/holds no AES key/);
  });
});
