import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envName, loadConfig } from '../../../src/config/load.js';

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
    expect(() => loadConfig(path.join(dir, 'missing.yaml'), {})).toThrow(/cannot read/);
  });
  it('the bundled config/winrmd.yaml is valid', () => {
    const c = loadConfig(new URL('../../../config/winrmd.yaml', import.meta.url).pathname, {});
    expect(c.listeners.http.port).toBe(5985);
  });
});
