// The Kerberos section (BENCH_ONLY=kerberos): a throw-away MIT realm (test/helpers/kdc.ts) and a
// fresh winrmd with its keytab; Identify over one kept-alive connection sealed with Kerberos
// (RFC 4121 wrap tokens), over one sealed with NTLM, and over HTTPS with Basic, each driven by the
// same kind of client in the same run (Python: MIT's GSS-API for Kerberos, gss-ntlmssp for NTLM,
// http.client for Basic), so the ratios compare the server's work under each. Then the server's
// cost of accepting one AP-REQ: real tokens from MIT's initiator, judged in this process.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { credentialsFor } from '../../src/auth/passwords.js';
import { KerberosAcceptor } from '../../src/auth/kerberos/acceptor.js';
import { parseKeytab } from '../../src/auth/kerberos/keytab.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer } from '../../src/server.js';
import { MemoryUserStore } from '../../src/store/users.js';
import { startRealm, SERVICE_HOST } from '../helpers/kdc.js';
import { f1, f2, table } from './report.js';

const PYTHON = '/usr/bin/python3';
const IDENTIFY = '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>';

/** Python that sends `n` Identify requests over one HTTPS connection with Basic, printed as the other clients print. */
const BASIC = `import base64, http.client, json, ssl, sys
job = json.load(sys.stdin)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
c = http.client.HTTPSConnection('127.0.0.1', job['port'], context=ctx)
auth = 'Basic ' + base64.b64encode(b'alice:alice-Bench-1').decode()
for i in range(job['n']):
    c.request('POST', '/wsman', body=job['xml'], headers={'Authorization': auth, 'Content-Type': 'application/soap+xml;charset=UTF-8'})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
print(json.dumps({'results': [{'replies': []}]}))`;

export interface KerberosBenchOptions { here: string; requests: number; handshakes: number }

export async function runKerberosBench(o: KerberosBenchOptions): Promise<{ text: string; md: string }> {
  const realm = await startRealm();
  try {
    realm.kadmin(`addprinc -randkey HTTP/${SERVICE_HOST}`);
    realm.addPrincipal('alice', 'alice-Krb-1');
    const keytab = realm.keytab(path.join(realm.dir, 'winrmd.keytab'), [`HTTP/${SERVICE_HOST}`]);
    const env = realm.kinit('alice', 'alice-Krb-1');
    const users = new MemoryUserStore();
    users.put({ name: 'alice', ...(await credentialsFor('alice-Bench-1')), runAs: 'nobody' });
    const config = configSchema.parse({
      stateDir: path.join(realm.dir, 'state'),
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } },
      service: { allowUnencrypted: false },
      kerberos: { keytab },
      logging: { level: 'silent' },
    });
    const server = await startServer({ config, users, providers: [], log: pino({ level: 'silent' }) });
    try {
      // Asynchronous: the server under test runs in this process and must go on answering.
      const py = (args: string[], input: object) => new Promise<Record<string, unknown>>((resolve, reject) => {
        const child = spawn(PYTHON, args, { env: { ...env, PYTHONDONTWRITEBYTECODE: '1' }, stdio: ['pipe', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, unknown>) : reject(new Error(`${args[0]} exited ${code}`))));
        child.stdin.end(JSON.stringify(input));
      });
      const http = `http://127.0.0.1:${server.httpPort}/wsman`;
      const messages = Array.from({ length: o.requests }, () => IDENTIFY);
      const time = async (run: () => Promise<Record<string, unknown>>) => {
        const t = process.hrtime.bigint();
        const r = await run();
        const seconds = Number(process.hrtime.bigint() - t) / 1e9;
        const result = (r.results as { error?: string; replies: { status: number }[] }[])[0]!;
        if (result.error || result.replies.some((x) => x.status !== 200)) throw new Error(`the bench client failed: ${result.error ?? 'a non-200 reply'}`);
        return o.requests / seconds;
      };
      // Each client's run includes its start and handshake; the same count of requests for each.
      const rows: [string, number][] = [];
      for (let round = 0; round < 2; round++) {
        rows.push(['HTTP, Kerberos with message encryption', await time(() => py([path.join(o.here, '../../../test/interop/kerberos_client.py')], { endpoint: http, service: `HTTP@${SERVICE_HOST}`, scheme: 'Negotiate', mech: 'krb5', iov: true, messages }))]);
        rows.push(['HTTP, NTLM with message encryption', await time(() => py([path.join(o.here, '../../../test/interop/spnego_client.py')], { endpoint: http, username: 'alice', password: 'alice-Bench-1', messages }))]);
        rows.push(['HTTPS, Basic', await time(() => py(['-c', BASIC], { port: server.httpsPort, n: o.requests, xml: IDENTIFY }))]);
      }
      const median = (label: string) => {
        const v = rows.filter((r) => r[0] === label).map((r) => r[1]).sort((a, b) => a - b);
        return v[Math.floor(v.length / 2)]!;
      };
      const labels = [...new Set(rows.map((r) => r[0]))];
      const reference = median('HTTPS, Basic');
      const t = table(['transport', 'Identify req/s (one connection)', 'vs HTTPS Basic'], labels.map((l) => [l, f1(median(l)), f2(median(l) / reference)]), ['l', 'r', 'r']);

      // The server's CPU for one AP-REQ: tokens made by MIT's initiator, judged here.
      const tokens = (execFileSync(PYTHON, ['-c', `import base64, gssapi
flags = gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.confidentiality | gssapi.RequirementFlag.integrity
for i in range(${o.handshakes}):
    ctx = gssapi.SecurityContext(name=gssapi.Name('HTTP@${SERVICE_HOST}', gssapi.NameType.hostbased_service), usage='initiate', mech=gssapi.OID.from_int_seq('1.2.840.113554.1.2.2'), flags=flags)
    print(base64.b64encode(ctx.step()).decode())`], { env, encoding: 'utf8' })).trim().split('\n').map((l) => Buffer.from(l, 'base64'));
      const acceptor = new KerberosAcceptor({ keys: parseKeytab(readFileSync(keytab)), maxSkewMs: 300_000 });
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (const token of tokens) acceptor.accept(token);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6 / tokens.length;
      const cpu = process.cpuUsage(c0);
      const handshake = `One Kerberos handshake on the server (AP-REQ checked, AP-REP made), over ${tokens.length} real AP-REQs from MIT's initiator: ${f2(ms)} ms each (${f2((cpu.user + cpu.system) / 1000 / tokens.length)} ms of CPU).`;
      const head = `Kerberos: ${o.requests} Identify requests over one kept-alive connection per client, each client's start and handshake included, two rounds, medians; the clients are Python (MIT GSS-API for Kerberos, gss-ntlmssp for NTLM, http.client for Basic), so their own cost is in every figure alike.`;
      return { text: ['Kerberos', head, t.text, handshake].join('\n'), md: ['## Kerberos', '', head, '', t.md, '', handshake].join('\n') };
    } finally {
      await server.close();
    }
  } finally {
    realm.stop();
  }
}
