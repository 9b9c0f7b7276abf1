// The core's pipeline as a composition root sees it (src/wsman/core.ts): one routing table that
// new capabilities register into, the authorize step and its policy, the reply hooks and the
// request info the transport hands over; and the one rule for selecting an instance by its keys.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShellProvider } from '../../providers/shell/index.js';
import { configSchema } from '../../src/config/schema.js';
import { createCore } from '../../src/wsman/core.js';
import { FAULTS } from '../../src/soap/faults.js';
import type { RequestInfo, RequestRecord } from '../../src/wsman/exchange.js';
import { ACTIONS, envelope, identify, URI } from '../helpers/envelope.js';
import { ALICE, basic, testServer } from '../helpers/server.js';
import { xp } from '../helpers/xpath.js';
import { DEVICE_URI, deviceFixture, PAIR_URI } from '../fixtures/device-provider.js';



const SHELL_CMD = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd';
const PROC = `${URI.wmi}/Win32_Process`;
const ROOTY = { user: 'rooty', password: 'rooty-Secret-3' };

describe('the pipeline over the real app', () => {
  let s: Awaited<ReturnType<typeof testServer>>;
  let granted: Awaited<ReturnType<typeof testServer>>;
  const fx = deviceFixture();
  const records: RequestRecord[] = [];
  const faults: RequestRecord[] = [];
  const shellOptions = configSchema.parse({}).shell;

  beforeAll(async () => {
    s = await testServer({}, [fx.provider, createShellProvider(shellOptions)]);
    s.server.core.addHook('onReply', (r) => records.push(r));
    s.server.core.addHook('onFault', (r) => faults.push(r));
    granted = await testServer({ security: { hardwareControlUsers: ['ALICE'], rootRunAsUsers: ['rooty'], lockout: { userThreshold: 1e6, addressThreshold: 1e6 } } }, [deviceFixture().provider]);
  });
  afterAll(async () => {
    await s.server.close();
    await granted.server.close();
  });

  const get = (server: typeof s, selectors: Record<string, string>, resourceUri = PAIR_URI) =>
    server.post(envelope({ action: ACTIONS.get, resourceUri, selectors }));

  describe('instance selection: the core owns it', () => {
    it('finds an instance of a two-key class by both keys, whatever their case', async () => {
      const res = await get(s, { name: 'SSHD', KIND: 'Socket' });
      expect(res.status, res.body).toBe(200);
      expect(xp(res.body, 'string(//*[local-name()="Value"])')).toBe('2');
    });

    it('one key that names two instances is InvalidSelectors, one that names one instance finds it', async () => {
      const two = await get(s, { Name: 'SSHD' });
      expect(two.status).toBe(FAULTS.InvalidSelectors.http);
      expect(xp(two.body, 'string(//s:Subcode/s:Value)')).toBe('w:InvalidSelectors');
      const one = await get(s, { Name: 'CRON' });
      expect(one.status, one.body).toBe(200);
      expect(xp(one.body, 'string(//*[local-name()="Value"])')).toBe('3');
    });

    it('a malformed percent-escape in a resource-URI selector is InvalidSelectors, not InternalError', async () => {
      const res = await s.post(envelope({ action: ACTIONS.get, resourceUri: `${PAIR_URI}?Name=%E0%A4%A`, messageId: 'uuid:pct' }));
      expect(res.status).toBe(FAULTS.InvalidSelectors.http);
      expect(xp(res.body, 'string(//s:Subcode/s:Value)')).toBe('w:InvalidSelectors');
      expect(xp(res.body, 'string(//a:RelatesTo)')).toBe('uuid:pct');
    });
  });

  describe('wsa:RelatesTo on every fault whose request had a readable MessageID', () => {
    it('MustUnderstand', async () => {
      const res = await s.post(envelope({ action: ACTIONS.get, resourceUri: PAIR_URI, messageId: 'uuid:mu-1', headers: '<x:Odd xmlns:x="urn:odd" xmlns:e="http://www.w3.org/2003/05/soap-envelope" e:mustUnderstand="true"/>' }));
      expect(xp(res.body, 'string(//s:Code/s:Value)')).toBe('s:MustUnderstand');
      expect(xp(res.body, 'string(//a:RelatesTo)')).toBe('uuid:mu-1');
    });

    it('a missing Action header', async () => {
      const xml = envelope({ action: ACTIONS.get, resourceUri: PAIR_URI, messageId: 'uuid:no-action' }).replace(/<a:Action[^>]*>[^<]*<\/a:Action>/, '');
      const res = await s.post(xml);
      expect(xp(res.body, 'string(//s:Subcode/s:Value)')).toBe('a:MessageInformationHeaderRequired');
      expect(xp(res.body, 'string(//a:RelatesTo)')).toBe('uuid:no-action');
    });
  });

  describe('the access policy in the authorize step', () => {
    const powerOff = (server: typeof s) => server.post(envelope({ action: `${DEVICE_URI}/PowerOff`, resourceUri: DEVICE_URI, selectors: { Id: 'bmc1' }, body: `<p:PowerOff_INPUT xmlns:p="${DEVICE_URI}"/>` }));

    it('a method that changes hardware is AccessDenied without the grant, and the provider is never called', async () => {
      const before = fx.seen.invokes;
      const res = await powerOff(s);
      expect(res.status).toBe(500);
      expect(xp(res.body, 'string(//s:Subcode/s:Value)')).toBe('w:AccessDenied');
      expect(xp(res.body, 'string(//s:Reason/s:Text)')).toContain('hardwareControl grant');
      expect(fx.seen.invokes).toBe(before);
      expect(s.logLines.some((l) => l.includes('"event":"access_denied"') && l.includes('"rule":"hardwareControl"'))).toBe(true);
    });

    it('with the grant (user names compare case-insensitively) the method runs', async () => {
      const res = await powerOff(granted);
      expect(res.status, res.body).toBe(200);
      expect(xp(res.body, 'string(//*[local-name()="ReturnValue"])')).toBe('0');
    });

    it('a shell for a caller whose runAs is root is AccessDenied unless granted; no process starts', async () => {
      const shells = s.server.providers.find((p) => p.name === 'shell') as ReturnType<typeof createShellProvider>;
      const res = await s.post(envelope({ action: ACTIONS.create, resourceUri: SHELL_CMD, body: '<rsp:Shell xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>' }), basic(ROOTY));
      expect(res.status).toBe(500);
      expect(xp(res.body, 'string(//s:Subcode/s:Value)')).toBe('w:AccessDenied');
      expect(xp(res.body, 'string(//s:Reason/s:Text)')).toContain('rootRunAs grant');
      expect(shells.shells.ownedBy('rooty').length).toBe(0);
    });

    it.runIf(process.getuid?.() === 0)('Win32_Process.Create as root runs for a caller granted root', async () => {
      const res = await granted.post(envelope({ action: `${PROC}/Create`, resourceUri: PROC, body: `<p:Create_INPUT xmlns:p="${PROC}"><p:CommandLine>true</p:CommandLine></p:Create_INPUT>` }), basic(ROOTY));
      expect(res.status, res.body).toBe(200);
      expect(xp(res.body, 'string(//*[local-name()="ReturnValue"])')).toBe('0');
    });
  });

  describe('the reply hooks', () => {
    it('onReply gets one record per reply: caller, auth method, client, action, resource, selectors, duration', async () => {
      records.length = 0;
      await get(s, { Name: 'cron', Kind: 'service' });
      await s.post(identify());
      const [g, id] = records;
      expect(g).toMatchObject({ user: ALICE.user, authMethod: 'basic', action: ACTIONS.get, operation: 'get', resourceUri: PAIR_URI, selectors: { Name: 'cron', Kind: 'service' }, status: 200 });
      expect(g.clientAddress).toMatch(/127\.0\.0\.1/);
      expect(g.durationMs).toBeGreaterThanOrEqual(0);
      expect(id).toMatchObject({ operation: 'identify', action: 'Identify', status: 200 });
    });

    it('onFault gets the fault and its message; an Invoke names its method', async () => {
      faults.length = 0;
      await s.post(envelope({ action: `${DEVICE_URI}/PowerOff`, resourceUri: DEVICE_URI, selectors: { Id: 'bmc1' } }));
      expect(faults).toHaveLength(1);
      expect(faults[0]).toMatchObject({ operation: 'invoke', method: 'PowerOff', fault: 'AccessDenied', status: 500 });
    });
  });

  it('/healthz answers ready for an in-process app (no listeners to wait for)', async () => {
    const res = await (await import('supertest')).default(s.http).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('/healthz answers 503 starting while a configured listener is not up yet', async () => {
    const supertest = (await import('supertest')).default;
    const { listening } = s.server;
    Object.assign(listening, { wanted: 2, up: 1 });
    try {
      const res = await supertest(s.http).get('/healthz');
      expect({ status: res.status, body: res.body }).toEqual({ status: 503, body: { status: 'starting' } });
    } finally {
      Object.assign(listening, { wanted: 0, up: 0 });
    }
  });
});

describe('the core with no socket: registering a capability', () => {
  const info = (path: string, headers: Record<string, string> = {}): RequestInfo => ({
    path, secure: false, clientAddress: '127.0.0.1', authMethod: 'certificate', peerCertificate: () => undefined, connectionId: 'c1', headers,
  });
  const log = { info() {}, warn() {}, error() {}, debug() {} };
  const caller = { user: 'ws01$', runAs: 'nobody', clientAddress: '127.0.0.1' };
  const limits = { ...{ maxEnvelopeSize: 512_000, maxOperationTimeoutMs: 60_000, defaultOperationTimeoutMs: 60_000 }, maxDepth: 64, maxAttributes: 64, maxConcurrentOperationsPerUser: 10, enumerationTimeoutMs: 60_000, maxEnumerationContextsPerUser: 4 };
  const core = createCore({ providers: [], limits, machine: 'test', identity: { productVendor: 'winrmd', productVersion: 'x', securityProfiles: [] } });
  const EVENTS = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Events';
  const seen: { path: string; machine?: string }[] = [];
  // As the collector will: a target resolved by URL path, an action registered on it, a bare 204.
  core.routes.resolvers.push((_req, path) => (path.startsWith('/wsman/subscriptions/') ? { kind: 'document', route: 'delivery', resource: { uri: 'urn:delivery' }, selectors: {} } : undefined));
  core.routes.add('delivery', EVENTS, {
    operation: 'deliver',
    handler: async (_req, ctx) => {
      seen.push({ path: ctx.info.path, machine: ctx.info.headers.machineid as string | undefined });
      return { status: 204 };
    },
  });

  it('a registered route answers a bare HTTP status, and sees the path and headers', async () => {
    const xml = envelope({ action: EVENTS, resourceUri: 'urn:anything' });
    const reply = await core.handle(xml, { info: info('/wsman/subscriptions/abc', { machineid: 'WS01.example.com' }), caller, log });
    expect(reply).toMatchObject({ status: 204, body: '' });
    expect(seen).toEqual([{ path: '/wsman/subscriptions/abc', machine: 'WS01.example.com' }]);
  });

  it('elsewhere the same action is ActionNotSupported or DestinationUnreachable, with RelatesTo', async () => {
    const reply = await core.handle(envelope({ action: EVENTS, resourceUri: 'urn:anything', messageId: 'uuid:x1' }), { info: info('/wsman'), caller, log });
    expect(reply.status).toBe(500);
    expect(xp(reply.body, 'string(//a:RelatesTo)')).toBe('uuid:x1');
  });

  it('an authorize hook refuses before the handler runs', async () => {
    const strict = createCore({ providers: [], limits, machine: 'test', identity: { productVendor: 'winrmd', productVersion: 'x', securityProfiles: [] } });
    let ran = 0;
    strict.routes.addUntargeted('urn:act', { operation: 'act', handler: async () => { ran++; return { status: 204 }; } });
    const { WsmanFault } = await import('../../src/soap/faults.js');
    strict.addHook('authorize', (ex) => {
      if (ex.caller?.user !== 'admin') throw new WsmanFault('AccessDenied', 'only admin');
    });
    const refused = await strict.handle(envelope({ action: 'urn:act' }), { info: info('/wsman'), caller, log });
    expect(xp(refused.body, 'string(//s:Subcode/s:Value)')).toBe('w:AccessDenied');
    expect(ran).toBe(0);
    const allowed = await strict.handle(envelope({ action: 'urn:act' }), { info: info('/wsman'), caller: { ...caller, user: 'admin' }, log });
    expect(allowed.status).toBe(204);
    expect(ran).toBe(1);
  });

  it('without a caller only Identify is answered (the anonymous paths)', async () => {
    const anon = await core.handle(envelope({ action: ACTIONS.get, resourceUri: PAIR_URI }), { info: info('/wsman-anon'), log });
    expect(xp(anon.body, 'string(//s:Subcode/s:Value)')).toBe('w:AccessDenied');
    const id = await core.handle(identify(), { info: info('/wsman-anon'), log });
    expect(id.status).toBe(200);
    expect(xp(id.body, 'count(//wsmid:SecurityProfiles)')).toBe('0');
  });
});

describe('shedding load (issue 12, part B 12)', () => {
  it('while work keeps the event loop late past shedLoadAtLagMs, new connections get 503 with Retry-After, authenticated ones go on; then it serves again', async () => {
    const s = await testServer({ limits: { shedLoadAtLagMs: 40 } });
    const listener = http.createServer(s.http);
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const port = (listener.address() as AddressInfo).port;
    const kept = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (agent?: http.Agent) => new Promise<{ status: number; retryAfter?: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/wsman', method: 'POST', agent: agent ?? false, headers: { Authorization: basic(ALICE), 'Content-Type': 'application/soap+xml;charset=UTF-8' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined }));
      });
      req.on('error', reject);
      req.end(identify());
    });
    try {
      expect((await post(kept)).status).toBe(200); // this connection has authenticated
      // What a flood of heavy requests does: the loop busy 60 ms out of every 70, for a second.
      await new Promise<void>((resolve) => {
        const stop = Date.now() + 1_000;
        const t = setInterval(() => {
          const until = Date.now() + 60;
          while (Date.now() < until) { /* busy */ }
          if (Date.now() > stop) { clearInterval(t); resolve(); }
        }, 10);
      });
      expect(await post()).toEqual({ status: 503, retryAfter: '1' });
      expect((await post(kept)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1_200));
      expect((await post()).status).toBe(200);
    } finally {
      kept.destroy();
      await new Promise((r) => listener.close(r));
      await s.server.close();
    }
  });
});
