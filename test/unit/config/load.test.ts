import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bmcPassword, ConfigError, envName, loadConfig } from '../../../src/config/load.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-config-'));
const file = (text: string) => {
  const f = path.join(dir, `${Math.random()}.yaml`);
  writeFileSync(f, text);
  return f;
};

describe('loadConfig', () => {
  it('embedded defaults are WinRM’s, and secure', () => {
    const c = loadConfig(undefined, {});
    expect(c.service.allowUnencrypted).toBe(false);
    expect(c.limits).toMatchObject({ maxEnvelopeSizeKb: 500, maxTimeoutMs: 60_000, maxConcurrentOperationsPerUser: 1500, enumerationTimeoutMs: 60_000, maxConnections: 300 });
    expect(c.listeners.http.port).toBe(5985);
    expect(c.listeners.https.port).toBe(5986);
    expect(c.security.rootRunAsUsers).toEqual([]);
  });
  it('reads YAML and resolves stateDir against the file', () => {
    const c = loadConfig(file('stateDir: ./here\nlisteners:\n  http:\n    port: 8080\n'), {});
    expect(c.listeners.http.port).toBe(8080);
    expect(c.stateDir).toBe(path.join(dir, 'here'));
  });
  it('every key can be overridden from the environment, typed as YAML', () => {
    expect(envName(['limits', 'maxEnvelopeSizeKb'])).toBe('WINRMD_LIMITS__MAX_ENVELOPE_SIZE_KB');
    const c = loadConfig(file('listeners:\n  http:\n    port: 8080\n'), {
      WINRMD_LISTENERS__HTTP__PORT: '9090',
      WINRMD_SERVICE__ALLOW_UNENCRYPTED: 'true',
      WINRMD_SECURITY__ROOT_RUN_AS_USERS: '[ops, admin]',
      WINRMD_STATE_DIR: '/var/lib/winrmd',
      WINRMD_LOGGING__LEVEL: 'warn',
    });
    expect(c.listeners.http.port).toBe(9090);
    expect(c.service.allowUnencrypted).toBe(true);
    expect(c.security.rootRunAsUsers).toEqual(['ops', 'admin']);
    expect(c.stateDir).toBe('/var/lib/winrmd');
    expect(c.logging.level).toBe('warn');
  });
  it('refuses bad values with the key named', () => {
    expect(() => loadConfig(undefined, { WINRMD_LISTENERS__HTTP__PORT: 'eighty' })).toThrow(/listeners\.http\.port/);
    expect(() => loadConfig(file('limits: {maxEnvelopeSizeKb: 1}'), {})).toThrow(ConfigError);
    expect(() => loadConfig(file('a: [unclosed'), {})).toThrow(/not valid YAML/);
    // Each refusal at its line (and a broken file at its line and column).
    expect(() => loadConfig(file('logging:\n  level: info\nlimits:\n  maxEnvelopeSizeKb: 1\n'), {})).toThrow(/\.yaml:4: limits\.maxEnvelopeSizeKb: /);
    expect(() => loadConfig(file('limits:\n  maxEnvelopeSizeKb: 150\n  maxEnvelopeSizeKb: 200\n'), {})).toThrow(/\.yaml:3:\d+: not valid YAML: duplicated mapping key/);
    expect(() => loadConfig(path.join(dir, 'missing.yaml'), {})).toThrow(/cannot read/);
  });
  it('refuses a key it does not know, at its line: a misspelt limit is not silently the default', () => {
    expect(() => loadConfig(file('limits:\n  maxEnvelopeSizeKb: 256\n  maxEnvelopeSizekb: 150\n'), {})).toThrow(/\.yaml:3: limits: Unrecognized key\(s\) in object: 'maxEnvelopeSizekb'/);
    expect(() => loadConfig(file('service:\n  auth:\n    kerberos: true\n'), {})).toThrow(/\.yaml:3: service\.auth: Unrecognized key\(s\) in object: 'kerberos'/);
    expect(() => loadConfig(file('shells: {}\n'), {})).toThrow(/\(top\): Unrecognized key\(s\) in object: 'shells'/);
  });
  it('BMCs: defaults, a password from a file beside the config or from the environment, and no default identity', () => {
    writeFileSync(path.join(dir, 'bmc.secret'), 's3cret\nignored\n');
    const c = loadConfig(file('ipmi:\n  bmcs:\n    - {name: a, host: 10.0.0.1, user: u, passwordFile: bmc.secret}\n    - {name: b, host: 10.0.0.2, user: u, passwordEnv: BMC_B}\n    - {name: local, transport: ipmitool}\n'), {});
    expect(c.ipmi.pollIntervalMs).toBe(10_000);
    expect(c.security.hardwareControlUsers).toEqual([]);
    const [a, b, local] = c.ipmi.bmcs;
    expect(a).toMatchObject({ transport: 'lanplus', port: 623, privilege: 'administrator', cipherSuite: 3, timeoutMs: 1000, retries: 3, passwordFile: path.join(dir, 'bmc.secret') });
    expect(bmcPassword(a)).toBe('s3cret');
    expect(bmcPassword(b, { BMC_B: 'from-env' })).toBe('from-env');
    expect(() => bmcPassword(b, {})).toThrow(/BMC b: the environment variable BMC_B is not set/);
    expect(bmcPassword(local)).toBe('');
    expect(() => bmcPassword({ ...a, passwordFile: path.join(dir, 'nope') })).toThrow(/BMC a: cannot read passwordFile/);
  });
  it('refuses a lanplus BMC without a host, two password sources, a bad name or cipher suite', () => {
    expect(() => loadConfig(file('ipmi: {bmcs: [{name: a}]}'), {})).toThrow(/needs a host/);
    expect(() => loadConfig(file('ipmi: {bmcs: [{name: a, host: h, password: x, passwordEnv: Y}]}'), {})).toThrow(/one of password/);
    expect(() => loadConfig(file('ipmi: {bmcs: [{name: "a b", host: h}]}'), {})).toThrow(/ipmi\.bmcs\.0\.name/);
    expect(() => loadConfig(file('ipmi: {bmcs: [{name: a, host: h, cipherSuite: 1}]}'), {})).toThrow(/cipherSuite/);
  });
  it('the bundled config/winrmd.yaml is valid', () => {
    const c = loadConfig(new URL('../../../config/winrmd.yaml', import.meta.url).pathname, {});
    expect(c.listeners.http.port).toBe(5985);
  });
});
