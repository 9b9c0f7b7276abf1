// winrm/config over the wire (MS-WSMV 3.1.4.1.29, 3.1.4.2): Get of the tree and of each part,
// the listeners enumerated and got by selectors, writes refused, unknown parts unreachable. The
// snapshot is made from the test server's own configuration, as server.ts makes it.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { get as httpsGet } from 'node:https';
import tls from 'node:tls';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import xpath from 'xpath';
import { createConfigProvider } from '../../providers/config/index.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { configSnapshot, startServer, type Winrmd } from '../../src/server.js';
import { ACTIONS, enumerateBody, envelope, URI } from '../helpers/envelope.js';
import { ALICE, basic, testServer, testUsers } from '../helpers/server.js';
import { parse } from '../helpers/xpath.js';

const CFG = 'http://schemas.microsoft.com/wbem/wsman/1/config';

const select = xpath.useNamespaces({
  s: URI.soap, a: URI.wsa, w: URI.wsman, n: URI.wsen, f: 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
  cfg: CFG, client: `${CFG}/client`, clientAuth: `${CFG}/client/auth`, clientPorts: `${CFG}/client/defaultports`,
  service: `${CFG}/service`, serviceAuth: `${CFG}/service/auth`, servicePorts: `${CFG}/service/defaultports`,
  winrs: `${CFG}/winrs`, listener: `${CFG}/listener`,
});
const xp = (xml: string, expr: string): string => {
  const r = select(expr, parse(xml) as unknown as Node);
  return Array.isArray(r) ? (r.length ? (r[0] as Node).textContent ?? '' : '') : String(r);
};

type Server = Awaited<ReturnType<typeof testServer>>;

describe('winrm/config', () => {
  let s: Server;
  let config: Config | undefined;
  beforeAll(async () => {
    s = await testServer({
      service: { allowUnencrypted: true, auth: { cbtHardeningLevel: 'strict' } },
      limits: { maxEnvelopeSizeKb: 256, maxConnections: 42, enumerationTimeoutMs: 45_000 },
      shell: { maxShellsPerUser: 7, idleTimeoutMs: 120_000 },
      listeners: { http: { port: 15985 }, https: { host: '127.0.0.1', enabled: false } },
    }, [createConfigProvider(() => configSnapshot(config!))]);
    config = s.config;
  });
  afterAll(() => s.server.close());

  const get = (resourceUri: string, o: { selectors?: Record<string, string>; prefix?: 's' | 'env' } = {}) => s.post(envelope({ action: ACTIONS.get, resourceUri, ...o }));

  it('Get winrm/config: the whole tree in cfg:, with the configured values (2.2.4.10)', async () => {
    const res = await get(CFG, { prefix: 's' });
    expect(res.status, res.text).toBe(200);
    const body: string = res.body;
    // The prefix Windows writes (the envelope declares it once, on s:Envelope).
    expect(body).toContain(`xmlns:cfg="${CFG}"`);
    expect(body).toContain('<cfg:Config xml:lang="en-US">');
    expect(xp(body, '/s:Envelope/s:Header/a:Action')).toBe(`${URI.wxf}/GetResponse`);
    const c = '/s:Envelope/s:Body/cfg:Config';
    expect(xp(body, `${c}/cfg:MaxEnvelopeSizekb`)).toBe('256');
    expect(xp(body, `${c}/cfg:MaxTimeoutms`)).toBe(String(config!.limits.maxTimeoutMs));
    expect(xp(body, `${c}/cfg:Service/cfg:MaxConnections`)).toBe('42');
    expect(xp(body, `${c}/cfg:Service/cfg:EnumerationTimeoutms`)).toBe('45000');
    expect(xp(body, `${c}/cfg:Service/cfg:AllowUnencrypted`)).toBe('true');
    expect(xp(body, `${c}/cfg:Service/cfg:Auth/cfg:CbtHardeningLevel`)).toBe('Strict');
    expect(xp(body, `${c}/cfg:Service/cfg:Auth/cfg:Kerberos`)).toBe('false');
    expect(xp(body, `${c}/cfg:Service/cfg:DefaultPorts/cfg:HTTP`)).toBe('15985');
    expect(xp(body, `${c}/cfg:Winrs/cfg:MaxShellsPerUser`)).toBe('7');
    expect(xp(body, `${c}/cfg:Winrs/cfg:IdleTimeout`)).toBe('120000');
    expect(xp(body, `count(${c}/cfg:Service/cfg:RootSDDL)`)).toBe('0');
    // What the Ruby gem reads before it sizes PSRP fragments.
    expect(xp(body, "//*[local-name() = 'MaxEnvelopeSizekb']")).toBe('256');
  });

  it.each([
    ['client', `${CFG}/client`, '/s:Envelope/s:Body/client:Client/client:URLPrefix', 'wsman'],
    ['client/auth', `${CFG}/client/auth`, '/s:Envelope/s:Body/clientAuth:Auth/clientAuth:CredSSP', 'false'],
    ['client/defaultports', `${CFG}/client/defaultports`, '/s:Envelope/s:Body/clientPorts:DefaultPorts/clientPorts:HTTPS', '5986'],
    ['service', `${CFG}/service`, '/s:Envelope/s:Body/service:Service/service:MaxConnections', '42'],
    ['service, its Auth in its namespace', `${CFG}/service`, '/s:Envelope/s:Body/service:Service/service:Auth/service:Basic', 'true'],
    ['service/auth', `${CFG}/service/auth`, '/s:Envelope/s:Body/serviceAuth:Auth/serviceAuth:CbtHardeningLevel', 'Strict'],
    ['service/defaultports', `${CFG}/service/defaultports`, '/s:Envelope/s:Body/servicePorts:DefaultPorts/servicePorts:HTTP', '15985'],
    ['winrs', `${CFG}/winrs`, '/s:Envelope/s:Body/winrs:Winrs/winrs:MaxShellsPerUser', '7'],
    ['service, the URI in another case', 'http://schemas.microsoft.com/wbem/wsman/1/Config/Service', '/s:Envelope/s:Body/service:Service/service:EnumerationTimeoutms', '45000'],
  ])('Get winrm/config/%s: the part in its own namespace (3.1.4.2)', async (_name, uri, expr, expected) => {
    const res = await get(uri);
    expect(res.status, res.text).toBe(200);
    expect(xp(res.body, expr)).toBe(expected);
    expect(xp(res.body, 'count(/s:Envelope/s:Body/*)')).toBe('1');
  });

  it('enumerates the listeners with their EPRs (3.1.4.1.29.5)', async () => {
    const res = await s.post(envelope({ action: ACTIONS.enumerate, resourceUri: `${CFG}/listener`, body: enumerateBody({ optimize: true, maxElements: 10, mode: 'EnumerateObjectAndEPR' }) }));
    expect(res.status, res.text).toBe(200);
    const body: string = res.body;
    expect(xp(body, 'count(//w:Items/w:Item/listener:Listener)')).toBe('2');
    expect(xp(body, 'count(//w:EndOfSequence)')).toBe('1');
    expect(xp(body, '//w:Item[listener:Listener/listener:Transport="HTTP"]/listener:Listener/listener:Address')).toBe('*');
    expect(xp(body, '//w:Item[listener:Listener/listener:Transport="HTTP"]/listener:Listener/listener:Port')).toBe('15985');
    expect(xp(body, '//w:Item[listener:Listener/listener:Transport="HTTP"]/a:EndpointReference//w:Selector[@Name="Address"]')).toBe('*');
    const https = '//w:Item/listener:Listener[listener:Transport="HTTPS"]';
    expect(xp(body, `${https}/listener:Address`)).toBe('IP:127.0.0.1');
    expect(xp(body, `${https}/listener:Enabled`)).toBe('false');
    expect(xp(body, `count(${https}/listener:ListeningOn)`)).toBe('0');
  });

  it('gets a listener as winrm.cmd addresses it, listener?Address=*+Transport=HTTP, and by SelectorSet', async () => {
    for (const res of [await get(`${CFG}/listener?Address=*+Transport=HTTP`), await get(`${CFG}/listener`, { selectors: { Address: 'IP:127.0.0.1', Transport: 'https' } })]) {
      expect(res.status, res.text).toBe(200);
      expect(xp(res.body, '/s:Envelope/s:Body/listener:Listener/listener:URLPrefix')).toBe('wsman');
    }
    const http = await get(`${CFG}/listener?Address=*+Transport=HTTP`);
    expect(xp(http.body, 'count(/s:Envelope/s:Body/listener:Listener/listener:ListeningOn)')).not.toBe('0');
  });

  it.each([
    ['Put winrm/config', ACTIONS.put, CFG, `<cfg:Config xmlns:cfg="${CFG}"><cfg:MaxTimeoutms>1000</cfg:MaxTimeoutms></cfg:Config>`],
    ['Put winrm/config/service/auth', ACTIONS.put, `${CFG}/service/auth`, `<cfg:Auth xmlns:cfg="${CFG}/service/auth"><cfg:Basic>false</cfg:Basic></cfg:Auth>`],
    ['Create a listener', ACTIONS.create, `${CFG}/listener?Address=*+Transport=HTTPS`, `<cfg:Listener xmlns:cfg="${CFG}/listener"/>`],
    ['Delete a listener', ACTIONS.delete, `${CFG}/listener?Address=*+Transport=HTTP`, ''],
  ])('%s is refused with AccessDenied, code 5 (read-only until roles exist)', async (_name, action, resourceUri, body) => {
    const res = await s.post(envelope({ action, resourceUri, body }));
    expect(res.status).toBe(500);
    expect(xp(res.body, '/s:Envelope/s:Body/s:Fault/s:Code/s:Subcode/s:Value')).toBe('w:AccessDenied');
    expect(xp(res.body, 'string(//f:WSManFault/@Code)')).toBe('5');
    expect(xp(res.body, '//s:Reason/s:Text')).toMatch(/read-only until roles exist/);
  });

  it.each([
    ['an unknown part', () => get(`${CFG}/nothing`)],
    ['a listener that does not exist', () => get(`${CFG}/listener?Address=IP:192.0.2.1+Transport=HTTP`)],
  ])('Get of %s: DestinationUnreachable, 2150858752', async (_name, request) => {
    const res = await request();
    expect(res.status).toBe(500);
    expect(xp(res.body, '/s:Envelope/s:Body/s:Fault/s:Code/s:Subcode/s:Value')).toBe('a:DestinationUnreachable');
    expect(xp(res.body, 'string(//f:WSManFault/@Code)')).toBe('2150858752');
  });

  it('Get of a listener without both selectors: InvalidSelectors', async () => {
    const res = await get(`${CFG}/listener?Address=*`);
    expect(res.status).toBe(500);
    expect(xp(res.body, '/s:Envelope/s:Body/s:Fault/s:Code/s:Subcode/s:Value')).toBe('w:InvalidSelectors');
  });
});

describe('winrm/config on a running winrmd: the listeners as they are', () => {
  let server: Winrmd;
  let stateDir: string;
  beforeAll(async () => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-config-'));
    const config = configSchema.parse({
      stateDir,
      service: { allowUnencrypted: true },
      logging: { level: 'silent' },
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } },
    });
    // The built-in providers: the config provider is one of them, fed the bound ports.
    // A first start: the HTTPS certificate is generated before either listener binds.
    server = await startServer({ config, users: await testUsers() });
  });
  afterAll(async () => {
    await server.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('/healthz is ready once startServer has both listeners up, on either of them', async () => {
    const res = await request(`http://127.0.0.1:${server.httpPort}`).get('/healthz');
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { status: 'ok' } });
    const https = await new Promise<string>((resolve, reject) => {
      const req = httpsGet({ host: '127.0.0.1', port: server.httpsPort, path: '/healthz', rejectUnauthorized: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${text}`));
      });
      req.on('error', reject);
    });
    expect(https).toBe('200 {"status":"ok"}');
  });

  it('reports the ports bound (port 0 picked them) and the thumbprint of the certificate the HTTPS listener serves', async () => {
    const served = await new Promise<string>((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: server.httpsPort!, rejectUnauthorized: false }, () => {
        resolve(sock.getPeerCertificate().fingerprint.replaceAll(':', ''));
        sock.end();
      });
      sock.on('error', reject);
    });
    const post = (resourceUri: string) => request(`http://127.0.0.1:${server.httpPort}`).post('/wsman')
      .set('Content-Type', 'application/soap+xml;charset=UTF-8').set('Authorization', basic(ALICE))
      .send(envelope({ action: ACTIONS.get, resourceUri })).buffer(true).parse((res, cb) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => cb(null, text));
      });
    const https = await post(`${CFG}/listener?Address=IP:127.0.0.1+Transport=HTTPS`);
    expect(https.status, https.body).toBe(200);
    expect(xp(https.body, '//listener:Port')).toBe(String(server.httpsPort));
    expect(xp(https.body, '//listener:CertificateThumbprint')).toBe(served);
    const http = await post(`${CFG}/listener?Address=IP:127.0.0.1+Transport=HTTP`);
    expect(xp(http.body, '//listener:Port')).toBe(String(server.httpPort));
    expect(xp(http.body, '//listener:CertificateThumbprint')).toBe('');
  });
});
