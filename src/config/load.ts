// YAML file → environment overrides → validated Config. Every key can be overridden by an
// environment variable named WINRMD_ + its path in SCREAMING_SNAKE_CASE, levels joined by a
// double underscore: limits.maxEnvelopeSizeKb → WINRMD_LIMITS__MAX_ENVELOPE_SIZE_KB.
// Values are read as YAML scalars, so `true`, `8080` and `[alice, bob]` keep their types.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { configSchema, type BmcConfig, type Config } from './schema.js';
import { describeIssues, readYaml, YamlError, type ReadYaml } from './yaml.js';

export const ENV_PREFIX = 'WINRMD_';

export class ConfigError extends Error {}

export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: unknown = {};
  let read: ReadYaml | undefined;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read the configuration ${file}: ${(err as Error).message}`);
    }
    try {
      read = readYaml(text, file);
      raw = read.value;
    } catch (err) {
      if (err instanceof YamlError) throw new ConfigError(err.message);
      throw err;
    }
  }
  applyEnv(raw as Record<string, unknown>, env);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    // At the line of the value refused (one set by the environment shows its nearest section's).
    const problems = read ? describeIssues(read, result.error.issues) : result.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('\n');
    throw new ConfigError(`invalid configuration:\n${problems}`);
  }
  const config = result.data;
  // A relative stateDir is relative to the configuration file, so `serve --config X` is stable
  // whatever the working directory.
  // So are the certificate files.
  if (file) {
    const here = (f: string) => (f && !path.isAbsolute(f) ? path.resolve(path.dirname(file), f) : f);
    config.stateDir = here(config.stateDir);
    const https = config.listeners.https;
    https.certFile = here(https.certFile);
    https.keyFile = here(https.keyFile);
    https.clientCaFiles = https.clientCaFiles.map(here);
    config.collector.sourceCaFiles = config.collector.sourceCaFiles.map(here);
    config.kerberos.keytab = here(config.kerberos.keytab);
    for (const t of [...config.forwarder.targets, ...config.eventing.deliveryTargets, ...config.collector.sources]) {
      for (const k of ['certFile', 'keyFile', 'caFile', 'passwordFile'] as const) if (t[k]) t[k] = here(t[k]!);
    }
    config.journal.directory = here(config.journal.directory);
    for (const bmc of config.ipmi.bmcs) if (bmc.passwordFile) bmc.passwordFile = here(bmc.passwordFile);
  }
  return config;
}

/** A BMC's password from wherever its entry says: inline, a file (first line) or an environment variable. */
export function bmcPassword(bmc: BmcConfig, env: NodeJS.ProcessEnv = process.env): string {
  if (bmc.passwordFile) {
    try {
      return readFileSync(bmc.passwordFile, 'utf8').split(/\r?\n/)[0];
    } catch (err) {
      throw new ConfigError(`BMC ${bmc.name}: cannot read passwordFile ${bmc.passwordFile}: ${(err as Error).message}`);
    }
  }
  if (bmc.passwordEnv) {
    const value = env[bmc.passwordEnv];
    if (value === undefined) throw new ConfigError(`BMC ${bmc.name}: the environment variable ${bmc.passwordEnv} is not set`);
    return value;
  }
  return bmc.password ?? '';
}

/** The environment variable for a config path, e.g. ['limits','maxEnvelopeSizeKb']. */
export function envName(keys: string[]): string {
  return ENV_PREFIX + keys.map((k) => k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__');
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  // The set of valid paths is the defaults' shape: walk it so names map back to camelCase keys.
  const defaults = configSchema.parse({});
  const walk = (shape: Record<string, unknown>, keys: string[]) => {
    for (const [k, v] of Object.entries(shape)) {
      const here = [...keys, k];
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, here);
      const value = env[envName(here)];
      if (value !== undefined) setPath(raw, here, readYaml(value, envName(here)).value);
    }
  };
  walk(defaults as unknown as Record<string, unknown>, []);
}

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const k of keys.slice(0, -1)) {
    if (!node[k] || typeof node[k] !== 'object') node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}
