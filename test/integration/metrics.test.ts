// Prometheus metrics (issue 16 item 6): scraped and parsed after a known sequence of requests;
// only a role holding the metrics grant may scrape; off unless metrics.enabled.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsFor } from '../../src/auth/passwords.js';
import { ACTIONS, envelope, URI } from '../helpers/envelope.js';
import { ALICE, basic, NO_LOCKOUT, testServer } from '../helpers/server.js';

type Server = Awaited<ReturnType<typeof testServer>>;
const PROM = { user: 'prometheus', password: 'prometheus-Secret-1' };

/** `name{labels} value` lines of the text exposition format, as {name, labels, value}. */
function samples(text: string) {
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(l)!;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    return { name: m[1]!, labels, value: Number(m[3]) };
  });
}

describe('GET /metrics', () => {
  let s: Server;
  beforeAll(async () => {
    s = await testServer({ metrics: { enabled: true }, security: { ...NO_LOCKOUT, roles: { scraper: { grants: ['metrics'] } } } });
    s.server.users.put({ name: PROM.user, ...(await credentialsFor(PROM.password)), runAs: 'nobody', roles: ['scraper'] });
  });
  afterAll(() => s.server.close());

  it('counts what happened: requests by operation, resource and status, latency, refused credentials', async () => {
    const os = `${URI.wmi}/Win32_OperatingSystem`;
    for (let i = 0; i < 2; i++) expect((await s.post(envelope({ action: ACTIONS.get, resourceUri: os }))).status).toBe(200);
    expect((await s.post(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/No_Such_Class` }))).status).toBe(500);
    expect((await s.post(envelope({ action: ACTIONS.get, resourceUri: os }), basic({ user: 'alice', password: 'not-it' }))).status).toBe(401);
    const res = await request(s.http).get('/metrics').set('Authorization', basic(PROM));
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const all = samples(res.text);
    const value = (name: string, labels: Record<string, string> = {}) =>
      all.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((n, x) => n + x.value, 0);
    expect(value('winrmd_requests_total', { operation: 'get', resource: 'Win32_OperatingSystem', status: '200' })).toBe(2);
    expect(value('winrmd_requests_total', { operation: 'unrouted', resource: 'unrouted', fault: 'DestinationUnreachable' })).toBe(1);
    expect(value('winrmd_request_duration_seconds_count', { operation: 'get' })).toBe(2);
    expect(value('winrmd_auth_failures_total', { reason: 'bad_credentials' })).toBe(1);
    expect(value('winrmd_enumeration_contexts')).toBe(0);
    expect(all.some((x) => x.name === 'winrmd_open_shells')).toBe(true);
    // The label of an unknown class is not the class: a client cannot grow the series.
    expect(res.text).not.toContain('No_Such_Class');
  });

  it('without the metrics grant: 403; without credentials: 401', async () => {
    expect((await request(s.http).get('/metrics').set('Authorization', basic(ALICE))).status).toBe(403);
    const none = await request(s.http).get('/metrics');
    expect(none.status).toBe(401);
    expect(none.text).not.toContain('winrmd_');
  });
});

describe('metrics off (the default)', () => {
  it('GET /metrics is 404', async () => {
    const s = await testServer();
    expect((await request(s.http).get('/metrics').set('Authorization', basic(ALICE))).status).toBe(404);
    await s.server.close();
  });
});
