// A throw-away MIT Kerberos realm for the tests (Debian's krb5-kdc, krb5-admin-server,
// krb5-user): its own krb5.conf and kdc.conf in a temporary folder, a database, principals and
// a keytab made with kadmin.local, and krb5kdc in the foreground on a free loopback port,
// stopped, folder and all, by `stop`. Nothing outside the folder is read or written: every
// command gets KRB5_CONFIG and KRB5_KDC_PROFILE pointing into it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

export const REALM = 'WINRMD.TEST';
export const SERVICE_HOST = 'collector.winrmd.test';

export interface TestRealm {
  dir: string;
  env: NodeJS.ProcessEnv;
  port: number;
  /** kadmin.local, one query. */
  kadmin(query: string): string;
  /** A principal with a password. */
  addPrincipal(name: string, password: string, options?: string): void;
  /** Service principals' keys into a keytab; `keepKeys` exports the keys they have (-norandkey). */
  keytab(file: string, principals: string[], keepKeys?: boolean): string;
  /** kinit into a credential cache of its own; returns the env that uses it. */
  kinit(principal: string, password: string): NodeJS.ProcessEnv;
  stop(): void;
}

export async function startRealm(o: { enctypes?: string; maxLifeSeconds?: number } = {}): Promise<TestRealm> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-kdc-'));
  const port = await freePort();
  const enctypes = o.enctypes ?? 'aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal';
  writeFileSync(path.join(dir, 'krb5.conf'), `[libdefaults]
  default_realm = ${REALM}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  rdns = false
  dns_canonicalize_hostname = false
  udp_preference_limit = 1
  permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
[realms]
  ${REALM} = {
    kdc = 127.0.0.1:${port}
  }
[domain_realm]
  .winrmd.test = ${REALM}
`);
  writeFileSync(path.join(dir, 'kdc.conf'), `[kdcdefaults]
  kdc_ports = ${port}
  kdc_tcp_ports = ${port}
[realms]
  ${REALM} = {
    database_name = ${dir}/principal
    key_stash_file = ${dir}/stash
    acl_file = ${dir}/kadm5.acl
    supported_enctypes = ${enctypes}
    max_life = ${o.maxLifeSeconds ?? 36000}s
  }
[logging]
  kdc = FILE:${dir}/kdc.log
`);
  writeFileSync(path.join(dir, 'kadm5.acl'), '');
  const env = { ...process.env, KRB5_CONFIG: path.join(dir, 'krb5.conf'), KRB5_KDC_PROFILE: path.join(dir, 'kdc.conf'), KRB5CCNAME: `FILE:${dir}/ccache` };
  const run = (file: string, args: string[], input?: string, extraEnv: NodeJS.ProcessEnv = {}) =>
    execFileSync(file, args, { env: { ...env, ...extraEnv }, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  run('kdb5_util', ['create', '-s', '-r', REALM, '-P', 'master-Secret-1']);
  const kdc: ChildProcess = spawn('krb5kdc', ['-n', '-r', REALM], { env, stdio: 'ignore' });
  // Ready when it answers on its TCP port.
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100 || kdc.exitCode !== null) throw new Error('krb5kdc did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const kadmin = (query: string) => run('kadmin.local', ['-r', REALM, '-q', query]);
  return {
    dir, env, port, kadmin,
    addPrincipal(name, password, options = '') {
      kadmin(`addprinc ${options} -pw ${password} ${name}`);
    },
    keytab(file, principals, keepKeys = false) {
      kadmin(`ktadd -k ${file} ${keepKeys ? '-norandkey ' : ''}${principals.join(' ')}`);
      return file;
    },
    kinit(principal, password) {
      const cache = `FILE:${path.join(dir, `cc-${principal.replace(/[^A-Za-z0-9]/g, '_')}`)}`;
      run('kinit', [principal], `${password}\n`, { KRB5CCNAME: cache });
      return { ...env, KRB5CCNAME: cache };
    },
    stop() {
      kdc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
