// Roles and conditional access (issue 16 items 1 and 2; src/admin/access.ts): every built-in role
// × every operation family → allowed, or AccessDenied with the provider never called; custom
// rules (allow and deny, by resource and method); conditions by address, method, transport and
// validity; the old keys as roles; roles of the runAs account's Linux groups.
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShellProvider } from '../../providers/shell/index.js';
import { credentialsFor } from '../../src/auth/passwords.js';
import { configSchema } from '../../src/config/schema.js';
import { createConfigProvider } from '../../providers/config/index.js';
import { configSnapshot } from '../../src/server.js';
import { ACTIONS, enumerateBody, envelope } from '../helpers/envelope.js';
import { EVT, subscribe } from '../helpers/event-sink.js';
import { basic, NO_LOCKOUT, testServer } from '../helpers/server.js';
import { xp } from '../helpers/xpath.js';
import { DEVICE_URI, deviceFixture } from '../fixtures/device-provider.js';

const WIDGET = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/test/Test_Widget';
const CONFIG = 'http://schemas.microsoft.com/wbem/wsman/1/config';
const SHELL = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd';
const widgetXml = (id: string) => `<p:Test_Widget xmlns:p="${WIDGET}"><p:Id>${id}</p:Id><p:Color>red</p:Color><p:Size>1</p:Size></p:Test_Widget>`;

type Server = Awaited<ReturnType<typeof testServer>>;
let s: Server;
const fx = deviceFixture();
const me = os.userInfo().username;
const defaults = configSchema.parse({});

/** One request per operation family; `reached` says whether it got to a provider. */
const FAMILIES: Record<string, { request: () => string; reached?: () => number }> = {
  get: { request: () => envelope({ action: ACTIONS.get, resourceUri: WIDGET, selectors: { Id: 'w1' } }) },
  enumerate: { request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ optimize: true }) }) },
  put: { request: () => envelope({ action: ACTIONS.put, resourceUri: WIDGET, selectors: { Id: 'w2' }, body: widgetXml('w2') }) },
  invoke: { request: () => envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, selectors: { Id: 'w1' }, body: `<p:Echo_INPUT xmlns:p="${WIDGET}"><p:Text>hi</p:Text><p:Times>1</p:Times></p:Echo_INPUT>` }) },
  'winrm/config': { request: () => envelope({ action: ACTIONS.get, resourceUri: CONFIG }) },
  shell: { request: () => envelope({ action: ACTIONS.create, resourceUri: SHELL, body: '<rsp:Shell xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>' }) },
  subscribe: { request: () => subscribe({ resourceUri: WIDGET, mode: EVT.pull, filter: { text: "SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Test_Widget'" } }) },
  'hardware change': { request: () => envelope({ action: `${DEVICE_URI}/PowerOff`, resourceUri: DEVICE_URI, selectors: { Id: 'bmc1' }, body: `<p:PowerOff_INPUT xmlns:p="${DEVICE_URI}"/>` }), reached: () => fx.seen.invokes },
  journal: { request: () => subscribe({ resourceUri: EVT.eventLog, mode: EVT.pull }) },
};

//                                get    enum   put    invoke config shell  subscr hw     journal
const MATRIX: Record<string, boolean[]> = {
  viewer: [true, true, false, false, true, false, false, false, false],
  helper: [true, true, true, true, true, true, true, false, false],
  elevated: [true, true, true, true, true, true, true, true, true],
  administrator: [true, true, true, true, true, true, true, true, true],
  nobody: [false, false, false, false, false, false, false, false, false],
};

const password = (u: string) => `${u}-Secret-9`;
const auth = (u: string) => basic({ user: u, password: password(u) });
const denied = (body: string) => xp(body, 'string(//s:Subcode/s:Value)') === 'w:AccessDenied';

beforeAll(async () => {
  s = await testServer({
    security: {
      ...NO_LOCKOUT,
      roles: {
        'widget-reader': { rules: [{ resources: ['root/test/Test_Widget'], operations: ['get'], effect: 'allow' }] },
        'echo-only': {
          rules: [
            { resources: ['root/test/*'], operations: ['invoke', 'get'], effect: 'allow' },
            { resources: ['root/test/Test_Widget'], operations: ['invoke'], methods: ['Slow', 'Fail'], effect: 'deny' },
          ],
        },
      },
      groupRoles: { [os.userInfo().username]: ['viewer'], 'no-such-group-here': ['administrator'] },
      conditions: {
        roles: { 'widget-reader': { addresses: ['10.0.0.0/8'] } },
        users: { 'https-only': { httpsOnly: true }, expired: { validUntil: '2020-01-01T00:00:00Z' }, 'certs-only': { methods: ['certificate'] }, 'from-here': { addresses: ['127.0.0.0/8', '::1'] } },
      },
      hardwareControlUsers: ['legacy-hw'],
    },
    journal: { directory: '/nonexistent' },
  }, [fx.provider, createShellProvider(defaults.shell), createConfigProvider(() => configSnapshot(defaults))]);
  const put = async (name: string, roles: string[], runAs = 'nobody') => s.server.users.put({ name, ...(await credentialsFor(password(name))), runAs, roles });
  for (const role of Object.keys(MATRIX)) await put(role, role === 'nobody' ? [] : [role]);
  await put('reader', ['widget-reader']);
  await put('echoer', ['echo-only']);
  await put('grouped', [], me);
  await put('legacy-hw', ['helper']); // as every user from before roles
  for (const u of ['https-only', 'expired', 'certs-only', 'from-here']) await put(u, ['helper']);
});
afterAll(() => s.server.close());

describe('the role matrix: built-in roles × operation families', () => {
  for (const [role, expected] of Object.entries(MATRIX)) {
    Object.keys(FAMILIES).forEach((family, i) => {
      it(`${role} × ${family} → ${expected[i] ? 'allowed' : 'AccessDenied'}`, async () => {
        const f = FAMILIES[family]!;
        const callsBefore = s.widgets.calls;
        const reachedBefore = f.reached?.();
        const refusals = () => s.logLines.filter((l) => l.includes('"event":"access_denied"') && l.includes(`"user":"${role}"`)).length;
        const refusedBefore = refusals();
        const res = await s.post(f.request(), auth(role));
        if (expected[i]) {
          // Past the policy: what the provider then says (a shell needs root to start as nobody) is its own answer.
          expect(refusals(), res.body).toBe(refusedBefore);
          expect(xp(res.body, 'string(//s:Subcode/s:Value)')).not.toBe('a:DestinationUnreachable');
        } else {
          expect(refusals()).toBe(refusedBefore + 1);
          expect(res.status).toBe(500);
          expect(denied(res.body), res.body).toBe(true);
          expect(s.widgets.calls).toBe(callsBefore); // the provider was never called
          if (f.reached) expect(f.reached()).toBe(reachedBefore);
        }
      });
    });
  }
});

describe('custom roles', () => {
  it('a rule allows one family on one class and nothing else', async () => {
    // widget-reader's condition (10.0.0.0/8) does not hold from 127.0.0.1: the role does not count.
    const res = await s.post(FAMILIES.get!.request(), auth('reader'));
    expect(denied(res.body)).toBe(true);
    expect(xp(res.body, '//s:Reason/s:Text')).toMatch(/None of reader's roles applies.*not from/);
    expect(s.logLines.some((l) => l.includes('"event":"role_not_applied"') && l.includes('"role":"widget-reader"'))).toBe(true);
  });

  it('a deny rule names methods: Echo runs, Fail does not, and Fail never reaches the provider', async () => {
    expect(denied((await s.post(FAMILIES.invoke!.request(), auth('echoer'))).body)).toBe(false);
    const calls = s.widgets.calls;
    const res = await s.post(envelope({ action: `${WIDGET}/Fail`, resourceUri: WIDGET, selectors: { Id: 'w1' }, body: `<p:Fail_INPUT xmlns:p="${WIDGET}"/>` }), auth('echoer'));
    expect(denied(res.body)).toBe(true);
    expect(xp(res.body, '//s:Reason/s:Text')).toMatch(/echo-only denies it/);
    expect(s.widgets.calls).toBe(calls);
    expect(denied((await s.post(FAMILIES.enumerate!.request(), auth('echoer'))).body)).toBe(true); // not among its operations
  });

  it('roles of the runAs account\'s Linux groups count (security.groupRoles)', async () => {
    expect(denied((await s.post(FAMILIES.get!.request(), auth('grouped'))).body)).toBe(false); // viewer, through the group
    expect(denied((await s.post(FAMILIES.put!.request(), auth('grouped'))).body)).toBe(true);
  });

  it('the old keys still grant what they granted, with a warning', async () => {
    const before = fx.seen.invokes;
    expect(denied((await s.post(FAMILIES['hardware change']!.request(), auth('legacy-hw'))).body)).toBe(false);
    expect(fx.seen.invokes).toBe(before + 1);
    expect(s.logLines.some((l) => l.includes('"event":"config_deprecated"') && l.includes('security.hardwareControlUsers'))).toBe(true);
  });
});

describe('conditional access, per user', () => {
  it.each([
    ['https-only', /HTTPS only/],
    ['expired', /not after 2020-01-01/],
    ['certs-only', /not with basic authentication/],
  ])('%s is refused, with the condition in the fault and the log', async (user, why) => {
    const calls = s.widgets.calls;
    const res = await s.post(FAMILIES.get!.request(), auth(user));
    expect(denied(res.body)).toBe(true);
    expect(xp(res.body, '//s:Reason/s:Text')).toMatch(why);
    expect(s.widgets.calls).toBe(calls);
    expect(s.logLines.some((l) => l.includes('"event":"access_denied"') && l.includes(`"user":"${user}"`))).toBe(true);
  });

  it('an address range that holds lets the user in', async () => {
    expect(denied((await s.post(FAMILIES.get!.request(), auth('from-here'))).body)).toBe(false);
  });
});
