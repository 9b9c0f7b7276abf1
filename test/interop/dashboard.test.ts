// The web dashboard in a real browser (issue 16 item 5): Debian's chromium, driven headless by
// playwright-core pointed at /usr/bin/chromium (nothing downloads a browser). Every page's content
// is checked against the server's own state: its listeners, its live shells and enumerations, the
// audit trail, an invitation accepted through the page while its helper waits, a Windows event
// source delivering to the collector, the sensors of a loopback BMC (ipmi_sim). Screenshots of each
// page are saved under test-results/dashboard/.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvitation } from '../../src/admin/invitations.js';
import { credentialsFor } from '../../src/auth/passwords.js';
import { configSchema } from '../../src/config/schema.js';
import { simpleQuery } from '../../src/eventing/subscription.js';
import { startServer, stateFile, type Winrmd } from '../../src/server.js';
import { SqliteCollectorStore } from '../../src/store/collector.js';
import { openDb, type Db } from '../../src/store/db.js';
import { SqliteUserStore } from '../../src/store/users.js';
import { ACTIONS, enumerateBody, envelope, URI } from '../helpers/envelope.js';
import { startIpmiSim, type IpmiSim } from '../helpers/ipmi-sim.js';
import { NO_LOCKOUT, NO_SHEDDING, basic } from '../helpers/server.js';
import { eventually, ShellClient } from '../helpers/shell-client.js';
import { bookmarkList, WefSource, windowsEvent } from '../helpers/wef-source.js';
import { enumerateAll } from '../helpers/wsman-instances.js';
import { xp } from '../helpers/xpath.js';

const ADMIN = { user: 'admin', password: 'admin-Secret-1' };
const VIEWER = { user: 'watcher', password: 'watcher-Secret-2' };
const SOURCE = { user: 'WS07$', password: 'ws07-Secret-3' };
const SHOTS = path.resolve('test-results/dashboard');

let dir: string;
let sim: IpmiSim;
let server: Winrmd;
let db: Db;
let browser: Browser;
let admin: BrowserContext;
let page: Page;
let base: string;
let wsman: string;
const cspViolations: string[] = [];

const post = async (xml: string, auth: string | null = basic(ADMIN)) => {
  const r = await request(wsman).post('/wsman').set('Content-Type', 'application/soap+xml;charset=UTF-8').set('Authorization', auth ?? '').send(xml).buffer(true).parse((res, cb) => {
    let text = '';
    res.on('data', (c: Buffer) => (text += c.toString('utf8')));
    res.on('end', () => cb(null, text));
  });
  return { status: r.status, text: r.body as string };
};

/** The cells of a table's rows, as the page shows them. */
const rowsOf = (p: Page, id: string) => p.$$eval(`#${id} tbody tr`, (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => (td.textContent ?? '').trim())));
const shot = (p: Page, name: string) => p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-dashboard-'));
  sim = await startIpmiSim();
  process.env.WINRMD_TEST_BMC_PASSWORD = 'password';
  writeFileSync(path.join(dir, 'collector.secret'), 'collector-Secret-4\n');
  const config = configSchema.parse({
    stateDir: path.join(dir, 'state'),
    listeners: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } },
    service: { allowUnencrypted: true },
    security: NO_LOCKOUT,
    limits: NO_SHEDDING,
    dashboard: { enabled: true },
    // One source the collector subscribes to itself, before its subscription exists: failing, and retrying.
    collector: { enabled: true, sources: [{ url: 'http://127.0.0.1:9/wsman', subscription: 'not-yet', user: 'collector', passwordFile: path.join(dir, 'collector.secret') }] },
    ipmi: { pollIntervalMs: 500, bmcs: [{ name: 'node1', host: '127.0.0.1', port: sim.port, user: 'admin', passwordEnv: 'WINRMD_TEST_BMC_PASSWORD' }] },
  });
  // Users as `winrmd user add` writes them, before the server starts.
  mkdirSync(config.stateDir, { mode: 0o700 });
  const setup = openDb(stateFile(config));
  const users = new SqliteUserStore(setup);
  users.put({ name: ADMIN.user, ...(await credentialsFor(ADMIN.password)), runAs: os.userInfo().username, roles: ['administrator'] });
  users.put({ name: VIEWER.user, ...(await credentialsFor(VIEWER.password)), runAs: 'nobody', roles: ['viewer'] });
  users.put({ name: SOURCE.user, ...(await credentialsFor(SOURCE.password)), runAs: '', eventSource: true });
  setup.close();
  server = await startServer({ config, log: pino({ level: process.env.TEST_LOG ?? 'silent' }) });
  db = openDb(stateFile(config));
  base = `https://127.0.0.1:${server.httpsPort}`;
  wsman = `http://127.0.0.1:${server.httpPort}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  admin = await browser.newContext({ ignoreHTTPSErrors: true });
  page = await admin.newPage();
  page.on('console', (m) => /Content.Security.Policy/i.test(m.text()) && cspViolations.push(m.text()));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  db?.close();
  await server?.close();
  await sim?.stop();
  delete process.env.WINRMD_TEST_BMC_PASSWORD;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the dashboard in chromium', () => {
  let shellId: string;

  it('leads to the sign-in, refuses a wrong password, and signs in to an overview of this server', async () => {
    shellId = await new ShellClient(post, ADMIN).create();
    await page.goto(`${base}/dashboard`);
    expect(page.url()).toBe(`${base}/dashboard/login`);
    await page.fill('input[name=user]', ADMIN.user);
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    expect(await page.textContent('#login-error')).toMatch(/wrong/);
    await page.fill('input[name=user]', ADMIN.user);
    await page.fill('input[name=password]', ADMIN.password);
    await page.click('button[type=submit]');
    expect(page.url()).toBe(`${base}/dashboard`);
    expect(await page.textContent('#who')).toBe('admin (administrator)');
    const listeners = await rowsOf(page, 'listeners');
    expect(listeners.map((r) => r.slice(0, 3))).toEqual([['HTTP', `127.0.0.1:${server.httpPort}`, 'listening'], ['HTTPS', `127.0.0.1:${server.httpsPort}`, 'listening']]);
    // The HTTPS certificate's thumbprint: the one the listener presents.
    const presented = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: server.httpsPort!, rejectUnauthorized: false }, () => {
        resolve(socket.getPeerCertificate().fingerprint.replaceAll(':', ''));
        socket.end();
      });
      socket.on('error', reject);
    });
    expect(listeners[1]![3]).toBe(presented);
    expect(listeners[1]![3]).toMatch(/^[0-9A-F]{40}$/);
    const cards = await page.$$eval('#counts .card', (cs) => Object.fromEntries(cs.map((c) => [c.querySelector('.l')!.textContent, Number(c.querySelector('.n')!.textContent)])));
    const live = await server.sessions.sessions();
    expect(cards['Open shells']).toBe(live.filter((s) => s.kind === 'shell').length);
    expect(cards['Open shells']).toBe(1);
    expect(cards['Requests (1 h)']).toBeGreaterThanOrEqual(1);
    // The charts are drawn, one bar per minute of the last hour.
    expect(await page.$$eval('#chart-requests rect.requests', (r) => r.length)).toBe(60);
    await shot(page, 'overview');
  });

  it('sessions: the live shell and an open enumeration, and the shell ended from the page', async () => {
    const enumerated = await post(envelope({ action: ACTIONS.enumerate, resourceUri: `${URI.wmi}/Win32_Process`, body: enumerateBody() }));
    const context = xp(enumerated.text, 'string(//n:EnumerationContext)');
    expect(context).not.toBe('');
    await page.goto(`${base}/dashboard/sessions`);
    const live = await rowsOf(page, 'live');
    expect(live.find((r) => r[1] === shellId)?.slice(0, 3)).toEqual(['shell', shellId, 'admin']);
    expect(live.find((r) => r[1] === context)?.[0]).toBe('enumeration');
    await shot(page, 'sessions');
    await page.click(`#live tr:has(code:text-is("${shellId}")) button:text("End")`);
    expect(page.url()).toBe(`${base}/dashboard/sessions`);
    expect((await server.sessions.sessions()).some((s) => s.id === shellId)).toBe(false);
    expect((await rowsOf(page, 'live')).some((r) => r[1] === shellId)).toBe(false);
    server.audit.flush();
    await page.reload();
    const report = (await rowsOf(page, 'reports')).find((r) => r[1] === 'admin' && r[5] === 'ended_by_admin');
    expect(report).toBeDefined();
  });

  it('the audit trail: filtered by user and kind as the store filters it, and its chain verified', async () => {
    server.audit.flush();
    await page.goto(`${base}/dashboard/audit`);
    await page.fill('input[name=user]', ADMIN.user);
    await page.fill('input[name=kind]', 'shell_created');
    await page.click('button:text("Filter")');
    const rows = await rowsOf(page, 'records');
    const stored = server.audit.list({ user: ADMIN.user, kind: 'shell_created' });
    expect(rows.map((r) => Number(r[0]))).toEqual(stored.map((r) => r.seq).reverse());
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.every((r) => r[2] === 'shell_created' && r[3] === ADMIN.user)).toBe(true);
    await page.click('button:text("Verify the chain")');
    expect(await page.textContent('#verify')).toMatch(/^The chain holds: \d+ records verified\.$/);
    await shot(page, 'audit');
  });

  it('an invited helper waits for consent, and is let in by Accept on the overview', async () => {
    const invited = await createInvitation(server.users, { role: 'helper', expiresInMs: 3_600_000, uses: 1, consent: true, runAs: 'nobody', createdBy: 'admin' });
    const helper = { user: invited.user, password: invited.password };
    const waiting = post(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_OperatingSystem`, operationTimeout: 'PT60S' }), basic(helper));
    await eventually(async () => {
      await page.goto(`${base}/dashboard`);
      return page.$('#consent');
    }, (el) => el !== null, 20_000);
    expect(await page.textContent('#consent')).toContain(invited.user);
    await shot(page, 'consent');
    await page.click(`#consent div:has-text("${invited.user}") button:text("Accept")`);
    const answered = await waiting;
    expect(answered.status).toBe(200);
    await page.goto(`${base}/dashboard/invitations`);
    const row = (await rowsOf(page, 'invitations')).find((r) => r[0] === invited.user)!;
    expect(row.slice(1, 5)).toEqual(['helper', row[2], '1 of 1', 'used up']);
    server.audit.flush();
    expect(server.audit.list({ kind: 'consent_accepted', user: invited.user }).map((r) => r.data.by)).toEqual([ADMIN.user]);
    await shot(page, 'invitations');
  });

  it('events: a Windows source forwarding to the collector is live, with its events counted', async () => {
    const store = new SqliteCollectorStore(db);
    await store.save({
      name: 'dashboard-sub', description: '', query: simpleQuery(['System'], [], []), contentFormat: 'Raw', heartbeatIntervalS: 60, maxTimeS: 30,
      maxEnvelopeSize: 512_000, readExistingEvents: false, ignoreChannelError: true, connectionRetry: { count: 5, intervalS: 60 },
      sources: { allow: [], deny: [] }, uris: [], outputs: [{ type: 'file', format: 'json', path: path.join(dir, 'out', '{source}.jsonl') }],
    }, true);
    const source = new WefSource({ server: `${wsman}/wsman/SubscriptionManager/WEC`, machineId: 'ws07.example.test', transport: { kind: 'ntlm', ...SOURCE }, compress: true });
    const { offers } = await source.enumerate();
    const offer = offers.find((o) => o.name === 'dashboard-sub')!;
    const events = [1, 2, 3].map((n) => windowsEvent({ id: 7036, recordId: n, channel: 'System', computer: 'ws07.example.test' }));
    expect((await source.events(offer, events, bookmarkList('System', 3))).status).toBe(200);
    source.close();
    await page.goto(`${base}/dashboard/events`);
    // The collector keys a source by its folded principal name.
    const row = (await rowsOf(page, 'event-sources')).find((r) => r[0] === SOURCE.user.toLowerCase())!;
    expect([row[2], row[3], row[6]]).toEqual(['dashboard-sub', 'live', '3']);
    expect((await rowsOf(page, 'collector-subscriptions')).find((r) => r[0] === 'dashboard-sub')?.slice(1, 5)).toEqual(['enabled', '60 s', '1', '3']);
    const collecting = (await rowsOf(page, 'collecting'))[0]!;
    expect(collecting.slice(0, 4)).toEqual(['http://127.0.0.1:9/wsman', 'not-yet', 'pull', 'failing, retrying']);
    expect(collecting[6]).toBe('no enabled subscription is named not-yet');
    await shot(page, 'events');
  });

  it('hardware: the BMC answering and its sensors as an enumeration of root/hardware reads them', async () => {
    const hw = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware';
    const numeric = await eventually(() => enumerateAll(post, `${hw}/NumericSensor`), (xs) => xs.length > 0, 10_000);
    const discrete = await enumerateAll(post, `${hw}/Sensor`);
    await page.goto(`${base}/dashboard/hardware`);
    expect((await rowsOf(page, 'bmcs')).map((r) => [r[0], r[2]])).toEqual([['node1', 'answering']]);
    const sensors = await rowsOf(page, 'sensors');
    expect(sensors.map((r) => r[1]).sort()).toEqual([...numeric, ...discrete].map((x) => String(x.props.ElementName)).sort());
    // A numeric reading is shown in its unit, scaled as CIM says (CurrentReading × 10^UnitModifier).
    const first = numeric.find((x) => x.props.CurrentReading !== null)!;
    const shown = sensors.find((r) => r[1] === first.props.ElementName)!;
    expect(Number.parseFloat(shown[2]!)).toBeCloseTo(Number(first.props.CurrentReading) * 10 ** Number(first.props.UnitModifier), 6);
    expect(shown[3]).toBe(first.props.CurrentState);
    await shot(page, 'hardware');
  });

  it('a viewer sees the overview and the hardware, and is refused the rest', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const viewer = await context.newPage();
    await viewer.goto(`${base}/dashboard/login`);
    await viewer.fill('input[name=user]', VIEWER.user);
    await viewer.fill('input[name=password]', VIEWER.password);
    await viewer.click('button[type=submit]');
    expect(await viewer.$$eval('header nav a', (as) => as.map((a) => a.textContent))).toEqual(['Overview', 'Hardware']);
    expect(await viewer.$('#consent')).toBeNull();
    const refused = await viewer.goto(`${base}/dashboard/audit`);
    expect(refused?.status()).toBe(403);
    await shot(viewer, 'viewer-refused');
    await context.close();
  });

  it('a form another site makes the signed-in browser post does nothing', async () => {
    const target = await createInvitation(server.users, { role: 'helper', expiresInMs: 3_600_000, uses: 1, consent: false, runAs: 'nobody', createdBy: 'admin' });
    // Another origin (another port): a page whose script posts a form to the dashboard at once.
    const evil = http.createServer((_, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end(`<form id="f" method="post" action="${base}/dashboard/invitations/revoke"><input name="name" value="${target.user}"><input name="csrf" value="guess"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const landed = page.waitForURL(`${base}/dashboard/invitations/revoke`);
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      await landed;
      expect(await page.textContent('main')).toMatch(/another site|Sign in first/);
    } finally {
      evil.close();
    }
    expect(server.users.find(target.user)!.invitation!.revoked).toBeUndefined();
    // The browser is still signed in: the refusal did not come from a lost sign-in.
    await page.goto(`${base}/dashboard/invitations`);
    expect(page.url()).toBe(`${base}/dashboard/invitations`);
  });

  it('no page broke its Content-Security-Policy (no inline script or style, nothing from elsewhere)', () => {
    expect(cspViolations).toEqual([]);
  });
});
