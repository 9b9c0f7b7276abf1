// The web dashboard (issue 16 item 5): what the command line shows, for people who would rather
// look. Served on the HTTPS listener only, under /dashboard, to the same users with the same
// roles: a page is shown to whoever could read the same over WS-Management (the overview: a read of
// winrm/config; the hardware: an enumeration of root/hardware), and the pages of sessions, the
// audit trail, invitations and event subscriptions, and every action, need the administer grant.
// Pages are made on the server with no script at all, so the Content-Security-Policy forbids
// every script and every other origin; the few actions are forms that carry the sign-in's CSRF
// token, and a POST another site starts is refused by its Origin (or Sec-Fetch-Site) before that.
import type { Logger } from 'pino';
import type { AuthOutcome } from '../../auth/authenticator.js';
import type { Caller, Instance } from '../../provider-api.js';
import type { SourceStatus } from '../../store/collector.js';
import { credentialOf, rolesOf, type UserStore } from '../../store/users.js';
import type { Subscription } from '../../eventing/subscription.js';
import type { CollectedSourceState } from '../../eventing/subscriber.js';
import type { AuthMethod, RequestRecord } from '../../wsman/exchange.js';
import type { AccessPolicy, Standing } from '../access.js';
import type { AuditFilter, AuditLog } from '../audit.js';
import type { ControlHandlers, LiveSession } from '../control.js';
import { answerInvitation, invitationState, type InvitationAnswer } from '../invitations.js';
import { action, ago, chart, html, Safe, table, when } from './html.js';
import { CLEAR_COOKIE, csrfMatches, SignIns, type SignIn } from './logins.js';
import { STYLESHEET } from './style.js';
import { Traffic } from './traffic.js';

/** One request, as the transport hands it over. */
export interface WebRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  header(name: string): string;
  clientAddress: string;
  secure: boolean;
  /** The urlencoded form of a POST; undefined when it is too large or not a form. */
  form(): Promise<URLSearchParams | undefined>;
  log: Logger;
}

export interface WebReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Who the request was served to, for the request's log line. */
  user?: string;
}

export interface HostView {
  name: string;
  os: string;
  version: string;
  startedAt: number;
  listeners: { transport: string; address: string; up: boolean; thumbprint?: string }[];
}

export interface EventingView {
  /** Absent when the collector is off. */
  collector?: { subscriptions: Subscription[]; sources: SourceStatus[] };
  /** The collector's own subscriptions to sources (collector.sources), as they are doing. */
  collecting: CollectedSourceState[];
  /** WS-Eventing subscriptions to this server. */
  subscriptions: { id: string; owner: string; mode: string; notifyTo?: string; expiresAt?: number; created: number }[];
}

export interface DashboardOptions {
  /** The password check and lockout of Basic: one way to prove a password. */
  checkPassword(user: string, password: string, clientAddress: string, connection: object): Promise<AuthOutcome>;
  users: UserStore;
  access: AccessPolicy;
  audit: AuditLog;
  sessions: ControlHandlers;
  host(): HostView;
  eventing(): Promise<EventingView>;
  /** The instances of these root/hardware sensor classes, read from the providers that serve them. */
  sensors(caller: Caller, classes: string[], signal: AbortSignal): Promise<Instance[]>;
  onAuthentication?(e: { ok: boolean; user?: string; method?: AuthMethod; address: string; reason?: string }): void;
}

export interface Dashboard {
  handle(r: WebRequest, connection: object): Promise<WebReply>;
  onRequest(r: RequestRecord): void;
  onAuthentication(e: { ok: boolean }): void;
  onEvent(event: string, fields: Record<string, unknown>): void;
}

/** No script, no frame, nothing from another origin; forms post only here. */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // Not no-referrer: under it a browser sends `Origin: null` with the page's own forms (Fetch §3.1 "serializing a request origin"), and the cross-site check needs the real one.
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

interface Page {
  path: string;
  title: string;
  /** Who may see it. */
  allowed(s: Standing): boolean;
  /** Seconds between reloads, for pages that show live state. */
  refresh?: number;
  render(c: PageContext): Promise<Safe>;
}

interface PageContext {
  signIn: SignIn;
  standing: Standing;
  query: URLSearchParams;
  signal: AbortSignal;
}

const administers = (s: Standing) => s.grants.has('administer');
/** The sensor classes whose enumeration the caller's rules allow (the hardware page shows those). */
const sensorClasses = (s: Standing) => ['NumericSensor', 'Sensor'].filter((c) => s.allows('enumerate', `root/hardware/${c}`));
const HOUR = 3_600_000;

/** CIM BaseUnits (DSP1009 CIM_NumericSensor) the sensors of a server use, by code. */
const UNITS: Record<number, string> = { 2: '°C', 3: '°F', 4: 'K', 5: 'V', 6: 'A', 7: 'W', 19: 'RPM', 65: '%' };
/** CIM HealthState (DSP0004): 5 OK, 10 degraded, 15 minor, 20 major, 25 critical, 30 non-recoverable. */
const health = (h: number) => (h === 5 ? html`<span class="ok">OK</span>` : h === 0 ? html`<span class="warn">unknown</span>` : h <= 15 ? html`<span class="warn">warning</span>` : html`<span class="bad">critical</span>`);

export function createDashboard(o: DashboardOptions): Dashboard {
  const signIns = new SignIns();
  const traffic = new Traffic();
  const polls = new Map<string, { at?: number; failing: boolean }>();
  const startedAt = Date.now();
  // Walking the chain reads every record (a second or so for 300,000): at most once per 10 s, whoever asks.
  let lastVerify: { at: number; result: ReturnType<AuditLog['verify']> } | undefined;
  const verifyChain = () => {
    if (!lastVerify || Date.now() - lastVerify.at > 10_000) lastVerify = { at: Date.now(), result: o.audit.verify() };
    return lastVerify.result;
  };

  const credentialNow = (user: string) => {
    const u = o.users.get(user);
    return u && credentialOf(u);
  };
  const liveInvitations = () => o.users.list().filter((u) => u.invitation);
  const pendingConsent = () => liveInvitations().filter((u) => invitationState(u.invitation!) === 'consent pending');

  const answers = (u: { name: string }, csrf: string, back: string) => html`${action('/dashboard/invitations/accept', 'Accept', csrf, { name: u.name, back })}${action('/dashboard/invitations/deny', 'Deny', csrf, { name: u.name, back }, 'danger')}`;

  const pages: Page[] = [
    {
      path: '/dashboard', title: 'Overview', refresh: 15,
      allowed: (s) => s.allows('get', 'winrm/config'),
      async render({ signIn, standing }) {
        const h = o.host();
        const live = await o.sessions.sessions();
        const count = (kind: LiveSession['kind']) => live.filter((x) => x.kind === kind).length;
        const t = traffic.series();
        const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
        const waiting = administers(standing) ? pendingConsent() : [];
        return html`
${waiting.length > 0 ? html`<div class="alert" id="consent"><strong>Waiting for your consent:</strong> ${waiting.map((u) => html`<div>${u.name} (${rolesOf(u).join(', ')}), invited by ${u.invitation!.createdBy ?? 'unknown'} ${answers(u, signIn.csrf, '/dashboard')}</div>`)}</div>` : ''}
<div class="cards" id="counts">
  ${[['Open shells', count('shell')], ['Enumerations', count('enumeration')], ['Subscriptions', count('subscription')], ['Event sources', count('event-source')],
    ['Requests (1 h)', sum(t.requests)], ['Faults (1 h)', sum(t.faults)], ['Refused credentials (1 h)', sum(t.authFailures)]].map(([l, n]) => html`<div class="card"><div class="n">${n}</div><div class="l">${l}</div></div>`)}
</div>
${chart('Requests per minute, last hour', [{ label: 'requests', cls: 'requests', points: t.requests }, { label: 'faults', cls: 'faults', points: t.faults }], 'chart-requests')}
${chart('Refused credentials per minute, last hour', [{ label: 'refused', cls: 'auth', points: t.authFailures }], 'chart-auth')}
<h2>Host</h2>
${table(['', ''], [['Host name', h.name], ['Operating system', h.os], ['Product version', h.version], ['Up since', html`${when(h.startedAt)} (${ago(Date.now() - h.startedAt)})`], ['Dashboard since', when(startedAt)]], '', 'host')}
<h2>Listeners</h2>
${table(['Transport', 'Address', 'State', 'Certificate thumbprint'], h.listeners.map((l) => [l.transport, l.address, l.up ? html`<span class="ok">listening</span>` : html`<span class="bad">down</span>`, l.thumbprint ?? '']), 'No listener is configured.', 'listeners')}`;
      },
    },
    {
      path: '/dashboard/sessions', title: 'Sessions', refresh: 15, allowed: administers,
      async render({ signIn }) {
        const live = await o.sessions.sessions();
        const reports = o.audit.sessions({ since: new Date(Date.now() - 24 * HOUR).toISOString() }).slice(-200).reverse();
        return html`
<h2>Live</h2>
${table(['Kind', 'Id', 'User', 'From', 'Since', 'Detail', ''], live.map((s) => [s.kind, html`<code>${s.id}</code>`, s.user, s.from ?? '', when(s.since), s.detail, action('/dashboard/sessions/end', 'End', signIn.csrf, { id: s.id }, 'danger')]), 'Nothing is open.', 'live')}
<h2>Remote shells, last 24 hours</h2>
${reports.length === 200 ? html`<p>The newest 200.</p>` : ''}${table(['Started', 'User', 'From', 'Run as', 'Duration', 'Ended', 'Commands'], reports.map((r) => [
  when(r.started), r.user ?? '', r.from ?? '', r.runAs ?? '', r.seconds === undefined ? 'open' : ago(r.seconds * 1000), r.endedBy ?? '',
  r.commands.map((c) => html`<div><code>${c.commandLine ?? c.commandId}</code> pid ${c.pid ?? '?'} → ${c.exitCode === undefined ? 'running' : c.signal ? `signal ${c.signal}` : `exit ${c.exitCode}`}</div>`),
]), 'No remote shell in the last 24 hours.', 'reports')}`;
      },
    },
    {
      path: '/dashboard/audit', title: 'Audit trail', allowed: administers,
      async render({ query }) {
        const f = auditFilter(query);
        const records = o.audit.list(f).reverse();
        const verified = query.get('verify') === '1' ? verifyChain() : undefined;
        const field = (name: string, label: string, type = 'text') => html`<label>${label}<input type="${type}" name="${name}" value="${query.get(name) ?? ''}"></label>`;
        return html`
<form method="get" action="/dashboard/audit" class="filters" id="filters">
  ${field('user', 'User')}${field('kind', 'Kind')}${field('since', 'Since (UTC)', 'datetime-local')}${field('until', 'Until (UTC)', 'datetime-local')}
  <button type="submit">Filter</button> <button type="submit" name="verify" value="1">Verify the chain</button>
</form>
${verified ? html`<div class="${verified.ok ? 'alert' : 'error'}" id="verify">${verified.ok ? `The chain holds: ${verified.records} records verified.` : `The chain is broken: ${verified.problems.join('; ')}`}</div>` : ''}
<p>${records.length === f.limit ? `The newest ${f.limit} records; narrow the filters to see older ones.` : `${records.length} records, newest first.`}</p>
${table(['#', 'When', 'Kind', 'User', 'Address', 'Details'], records.map((r) => [r.seq, when(r.at), r.kind, r.user ?? '', r.address ?? '', html`<code>${JSON.stringify(r.data)}</code>`]), 'No record matches.', 'records')}`;
      },
    },
    {
      path: '/dashboard/invitations', title: 'Invitations', refresh: 10, allowed: administers,
      async render({ signIn }) {
        const rows = liveInvitations().map((u) => {
          const inv = u.invitation!;
          const state = invitationState(inv);
          const open = !['revoked', 'expired'].includes(state);
          const answerable = open && inv.consent && inv.consentState !== 'accepted' && inv.consentState !== 'denied';
          return [u.name, rolesOf(u).join(', '), when(inv.expiresAt), `${inv.used} of ${inv.uses}`, state, inv.createdBy ?? '',
            html`${answerable ? answers(u, signIn.csrf, '/dashboard/invitations') : ''}${open ? action('/dashboard/invitations/revoke', 'Revoke', signIn.csrf, { name: u.name, back: '/dashboard/invitations' }, 'danger') : ''}`];
        });
        return html`<p>Invitations are made on the host: <code>winrmd invite create --role helper --expires 2h --uses 1 --consent</code>.</p>
${table(['Invitation', 'Role', 'Expires', 'Uses', 'State', 'Made by', ''], rows, 'No invitation.', 'invitations')}`;
      },
    },
    {
      path: '/dashboard/events', title: 'Events', refresh: 30, allowed: administers,
      async render() {
        const v = await o.eventing();
        const now = Date.now();
        const collector = v.collector;
        const byId = new Map(collector?.subscriptions.map((s) => [s.id, s]) ?? []);
        return html`
<h2>Collector subscriptions</h2>
${collector ? table(['Name', 'State', 'Heartbeat', 'Sources', 'Events received'], collector.subscriptions.map((s) => {
  const sources = collector.sources.filter((x) => x.subscriptionId === s.id);
  return [s.name, s.enabled ? 'enabled' : 'disabled', `${s.heartbeatIntervalS} s`, sources.length, sources.reduce((a, x) => a + x.eventsReceived, 0)];
}), 'No subscription: winrmd subscription add.', 'collector-subscriptions') : html`<p class="empty">The collector is off (collector.enabled).</p>`}
${collector ? html`<h2>Event sources</h2>
${table(['Source', 'Address', 'Subscription', 'Health', 'Last heard', 'Last events', 'Events received', 'First seen'], collector.sources.map((x) => {
  const sub = byId.get(x.subscriptionId);
  // A source heartbeats at the subscription's interval when it has nothing to send: two missed is silence.
  const silent = now - Date.parse(x.lastSeen) > 2 * (sub?.heartbeatIntervalS ?? 3600) * 1000;
  return [x.source, x.address, sub?.name ?? x.subscriptionId, silent ? html`<span class="bad">silent</span>` : html`<span class="ok">live</span>`, `${ago(now - Date.parse(x.lastSeen))} ago`, x.lastEvents ? when(x.lastEvents) : '', x.eventsReceived, when(x.firstSeen)];
}), 'No source has delivered yet.', 'event-sources')}` : ''}
${v.collecting.length > 0 ? html`<h2>Sources this collector subscribes to</h2>
${table(['Source', 'Subscription', 'Mode', 'State', 'Since', 'Failures', 'Last error'], v.collecting.map((x) => [x.url, x.subscription, x.mode,
  x.state === 'subscribed' ? html`<span class="ok">subscribed</span>` : x.state === 'failing' ? html`<span class="bad">failing, retrying</span>` : 'starting', when(x.since), x.failures, x.lastError ?? '']), '', 'collecting')}` : ''}
<h2>Subscriptions to this server</h2>
${table(['Id', 'Subscriber', 'Mode', 'Delivers to', 'Expires', 'Since'], v.subscriptions.map((s) => [html`<code>${s.id}</code>`, s.owner, s.mode, s.notifyTo ?? '(pulled)', s.expiresAt ? when(s.expiresAt) : 'never', when(s.created)]), 'Nobody subscribes to this server\'s events.', 'subscriptions')}`;
      },
    },
    {
      path: '/dashboard/hardware', title: 'Hardware', refresh: 30,
      allowed: (s) => sensorClasses(s).length > 0,
      async render({ signIn, standing, signal }) {
        const sensors = await o.sensors(signIn.caller, sensorClasses(standing), signal);
        const now = Date.now();
        const reading = (p: Instance['properties']) => {
          if (typeof p.CurrentReading !== 'number') return p.CurrentState ?? '';
          const value = p.CurrentReading * 10 ** Number(p.UnitModifier ?? 0);
          return `${Number(value.toPrecision(6))} ${UNITS[Number(p.BaseUnits)] ?? ''}`.trim();
        };
        return html`
<h2>Baseboard management controllers</h2>
${table(['BMC', 'Last read', 'State'], [...polls].map(([bmc, p]) => [bmc, p.at ? `${ago(now - p.at)} ago` : 'not yet', p.failing ? html`<span class="bad">not answering</span>` : html`<span class="ok">answering</span>`]), 'No BMC has been polled yet (ipmi.bmcs).', 'bmcs')}
<h2>Sensors</h2>
${table(['BMC', 'Sensor', 'Reading', 'State', 'Health'], sensors.map(({ properties: p }) => [String(p.SystemName ?? ''), String(p.ElementName ?? ''), String(reading(p)), String(p.CurrentState ?? ''), health(Number(p.HealthState ?? 0))]), 'No sensor: no BMC is configured, or none has answered.', 'sensors')}`;
      },
    },
  ];

  const reply = (status: number, body: string, extra: Record<string, string> = {}): WebReply => ({ status, body, headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8', ...extra } });
  const redirect = (to: string, extra: Record<string, string> = {}): WebReply => ({ ...reply(303, ''), headers: { ...SECURITY_HEADERS, Location: to, ...extra } });

  const layout = (title: string, body: Safe, o2: { signIn?: SignIn; standing?: Standing; current?: string; refresh?: number } = {}) => {
    const nav = o2.standing ? pages.filter((p) => p.allowed(o2.standing!)) : [];
    return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${o2.refresh ? html`<meta http-equiv="refresh" content="${o2.refresh}; url=${o2.current}?auto=1">` : ''}<title>${title} · winrmd</title><link rel="stylesheet" href="/dashboard/style.css"></head>
<body><header><h1>winrmd</h1><nav>${nav.map((p) => html`<a href="${p.path}"${p.path === o2.current ? html` aria-current="page"` : ''}>${p.title}</a>`)}</nav>
${o2.signIn ? html`<div class="who"><span id="who">${o2.signIn.caller.user} (${o2.standing?.roles.join(', ') ?? ''})</span>${action('/dashboard/logout', 'Sign out', o2.signIn.csrf, {}, 'quiet')}</div>` : ''}</header>
<main><h2>${title}</h2>${body}</main></body></html>`.text;
  };

  const loginPage = (status: number, message?: string) =>
    reply(status, layout('Sign in', html`${message ? html`<div class="error" id="login-error">${message}</div>` : ''}<form method="post" action="/dashboard/login" class="login">
<label>User<input name="user" autocomplete="username" required></label><label>Password<input name="password" type="password" autocomplete="current-password" required></label><button type="submit">Sign in</button></form>`));
  const refusal = (status: number, message: string, signIn?: SignIn, standing?: Standing) => reply(status, layout(status === 403 ? 'Not allowed' : 'Not found', html`<div class="error">${message}</div>`, { signIn, standing }));

  /** A request another site started: a form posted from elsewhere carries its Origin (or Sec-Fetch-Site), and is refused. */
  const crossSite = (r: WebRequest) => {
    const origin = r.header('origin');
    if (origin) {
      const from = URL.canParse(origin) ? new URL(origin) : undefined;
      if (from?.protocol !== 'https:' || from.host !== r.header('host')) return true;
    }
    const site = r.header('sec-fetch-site');
    return site !== '' && site !== 'same-origin' && site !== 'none';
  };

  const signInWith = async (r: WebRequest, connection: object): Promise<WebReply> => {
    const form = await r.form();
    const user = form?.get('user') ?? '';
    const password = form?.get('password') ?? '';
    if (!user || !password) return loginPage(400, 'Give a user name and a password.');
    const outcome = await o.checkPassword(user, password, r.clientAddress, connection);
    if (!outcome.ok) {
      r.log.warn({ event: 'auth_failed', reason: outcome.reason, via: 'dashboard' });
      o.onAuthentication?.({ ok: false, user: outcome.user ?? user, address: r.clientAddress, reason: outcome.reason });
      return loginPage(401, 'The user name or the password is wrong, or the account is locked out for now.');
    }
    const caller = outcome.caller;
    const record = o.users.get(caller.user);
    // Invitations are for a helper's WS-Management client; the dashboard is for the host's people.
    const refused = (reason: string, message: string) => {
      r.log.warn({ event: 'auth_failed', reason, via: 'dashboard', user: caller.user });
      o.onAuthentication?.({ ok: false, user: caller.user, address: r.clientAddress, reason });
      return loginPage(403, message);
    };
    if (!record || record.invitation) return refused('an invitation signing in to the dashboard', 'This account may not sign in to the dashboard.');
    const standing = await o.access.standing(caller, { clientAddress: r.clientAddress, authMethod: 'basic', secure: true }, r.log);
    if (!standing || !pages.some((p) => p.allowed(standing))) return refused('no role that shows a dashboard page applies', 'None of your roles shows a page of the dashboard from here.');
    o.onAuthentication?.({ ok: true, user: caller.user, method: 'basic', address: r.clientAddress });
    const { cookie, signIn } = signIns.open(caller, credentialOf(record));
    r.log.info({ event: 'dashboard_signed_in', user: caller.user });
    const first = pages.find((p) => p.allowed(standing))!;
    return { ...redirect(first.path, { 'Set-Cookie': cookie }), user: signIn.caller.user };
  };

  /** The actions: each needs the administer grant and the sign-in's CSRF token. */
  const act = async (r: WebRequest, signIn: SignIn, form: URLSearchParams): Promise<WebReply> => {
    const by = { user: signIn.caller.user, address: r.clientAddress };
    const invitation = /^\/dashboard\/invitations\/(accept|deny|revoke)$/.exec(r.path);
    if (invitation) {
      const name = form.get('name') ?? '';
      const u = answerInvitation(o.users, o.audit, name, invitation[1] as InvitationAnswer, by);
      if (!u) return refusal(404, `No invitation is named ${name}.`);
      r.log.info({ event: 'invitation_answered', user: by.user, invitation: u.name, answer: invitation[1] });
      return redirect(form.get('back') === '/dashboard' ? '/dashboard' : '/dashboard/invitations');
    }
    if (r.path === '/dashboard/sessions/end') {
      const id = form.get('id') ?? '';
      const ended = await o.sessions.end(id);
      o.audit.append({ kind: 'session_end_requested', user: by.user, address: by.address, data: { id, outcome: ended } });
      return redirect('/dashboard/sessions');
    }
    return refusal(404, 'No such action.');
  };

  return {
    async handle(r, connection) {
      if (!r.secure) return { status: 403, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: 'The dashboard is served over HTTPS only.' };
      if (r.method === 'GET' && r.path === '/dashboard/style.css') return { status: 200, headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'max-age=3600' }, body: STYLESHEET };
      if (r.method === 'POST' && crossSite(r)) {
        r.log.warn({ event: 'cross_site_refused', origin: r.header('origin'), site: r.header('sec-fetch-site'), path: r.path });
        return refusal(403, 'A request from another site is refused.');
      }
      if (r.path === '/dashboard/login') return r.method === 'POST' ? signInWith(r, connection) : loginPage(200);
      const signIn = signIns.find(r.header('cookie') || undefined, credentialNow, r.query.get('auto') !== '1');
      if (!signIn) return r.method === 'GET' ? redirect('/dashboard/login') : refusal(403, 'Sign in first.');
      const user = signIn.caller.user;
      const form = r.method === 'POST' ? await r.form() : undefined;
      if (r.method === 'POST' && (!form || !csrfMatches(signIn, form.get('csrf') ?? undefined))) {
        r.log.warn({ event: 'csrf_refused', user, path: r.path });
        return { ...refusal(403, 'The form is stale or was not made here: reload the page and try again.', signIn), user };
      }
      // Signing out needs no role: one whose conditions stopped holding can still end the sign-in.
      if (r.method === 'POST' && r.path === '/dashboard/logout') {
        signIns.close(r.header('cookie'));
        return { ...redirect('/dashboard/login', { 'Set-Cookie': CLEAR_COOKIE }), user };
      }
      const standing = await o.access.standing(signIn.caller, { clientAddress: r.clientAddress, authMethod: 'basic', secure: true }, r.log);
      if (!standing) return { ...refusal(403, 'None of your roles applies to this request.', signIn), user };
      if (form) {
        if (!administers(standing)) {
          r.log.warn({ event: 'access_denied', rule: 'administer', user, path: r.path });
          return { ...refusal(403, 'Your roles do not allow this action (it needs the administer grant).', signIn, standing), user };
        }
        return { ...(await act(r, signIn, form)), user };
      }
      const page = r.method === 'GET' ? pages.find((p) => p.path === r.path) : undefined;
      if (!page) return { ...refusal(404, 'There is no such page.', signIn, standing), user };
      if (!page.allowed(standing)) {
        r.log.warn({ event: 'access_denied', rule: 'dashboard_page', user, path: r.path });
        return { ...refusal(403, 'Your roles do not allow this page.', signIn, standing), user };
      }
      const work = AbortSignal.timeout(30_000);
      const body = await page.render({ signIn, standing, query: r.query, signal: work });
      return { ...reply(200, layout(page.title, body, { signIn, standing, current: page.path, refresh: page.refresh })), user };
    },
    onRequest(rec) {
      traffic.request(rec.fault !== undefined || rec.status >= 400);
    },
    onAuthentication(e) {
      if (!e.ok) traffic.authFailure();
    },
    onEvent(event, f) {
      if (event !== 'bmc_polled' && event !== 'bmc_poll_failed') return;
      const bmc = String(f.bmc);
      const was = polls.get(bmc);
      polls.set(bmc, event === 'bmc_polled' ? { at: Date.now(), failing: false } : { at: was?.at, failing: true });
    },
  };
}

/** The audit page's filters: datetime-local inputs are read as UTC; at most 200 records. */
function auditFilter(q: URLSearchParams): AuditFilter & { limit: number } {
  const time = (v: string | null) => {
    if (!v) return undefined;
    const t = Date.parse(/Z$|[+-]\d\d:\d\d$/.test(v) ? v : `${v}Z`);
    return Number.isNaN(t) ? undefined : new Date(t).toISOString();
  };
  return { user: q.get('user') || undefined, kind: q.get('kind') || undefined, since: time(q.get('since')), until: time(q.get('until')), limit: 200 };
}
