// The composition root: config → store → providers → core → listeners, and close() in reverse.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { createOsProvider } from '../providers/os/index.js';
import { createShellProvider } from '../providers/shell/index.js';
import { createIpmiProvider } from '../providers/ipmi/index.js';
import { createConfigProvider, type ConfigSnapshot } from '../providers/config/index.js';
import { lookupAccount } from '../providers/common/run-as.js';
import { run, sharedReadings } from '../providers/common/system.js';
import { AuthService, type Authenticator } from './auth/authenticator.js';
import { BasicAuthenticator } from './auth/basic.js';
import { CertificateAuthenticator } from './auth/certificate.js';
import { netbiosNameOf, NtlmMechanism } from './auth/ntlm/mechanism.js';
import { NegotiateAuthenticator, type Mechanism } from './auth/negotiate.js';
import { MECH } from './auth/spnego.js';
import { KerberosAcceptor } from './auth/kerberos/acceptor.js';
import { ENCTYPE } from './auth/kerberos/crypto.js';
import { loadKeytab } from './auth/kerberos/keytab.js';
import { KerberosMechanism } from './auth/kerberos/mechanism.js';
import { FailureThrottle } from './auth/throttle.js';
import type { Config } from './config/schema.js';
import { bmcPassword } from './config/load.js';
import { createApp } from './http/app.js';
import { UnauthenticatedSlots } from './http/connection-slots.js';
import { watchOverload } from './http/overload.js';
import { loadCaFiles, loadOrCreateCertificate, thumbprint, thumbprintOf } from './http/tls.js';
import type { Caller, Instance, Provider } from './provider-api.js';
import { SECURITY_PROFILE } from './soap/names.js';
import { foldName, openDb, type Db } from './store/db.js';
import { credentialOf, rolesOf, SqliteUserStore, type UserStore } from './store/users.js';
import { createCore, type Core, type CoreOptions } from './wsman/core.js';
import { confineEventSources, registerCollector } from './eventing/collector.js';
import { Outputs } from './eventing/outputs.js';
import { Forwarder } from './eventing/forwarder.js';
import { readCredentials } from './eventing/client.js';
import { JournalHub } from './eventing/journal-feed.js';
import { registerEventSource, type EventSource } from './eventing/source.js';
import { controlPath, serveControl, sessionControl, type ControlHandlers, type LiveSession } from './admin/control.js';
import { CollectorSubscriber } from './eventing/subscriber.js';
import { SqliteCollectorStore, type CollectorStore } from './store/collector.js';
import { PgCollectorStore } from './store/collector-pg.js';
import { AccessPolicy } from './admin/access.js';
import { AuditLog, redact } from './admin/audit.js';
import { createMetrics } from './admin/metrics.js';
import { invitationGate } from './admin/invitations.js';
import { createDashboard, type Dashboard } from './admin/dashboard/index.js';
import type { AuthMethod, RequestRecord } from './wsman/exchange.js';

export interface ServerOptions {
  config: Config;
  log?: Logger;
  /** Providers besides the built-in ones (tests, benchmarks, plugins). */
  extraProviders?: Provider[];
  /** Replaces the built-in providers entirely (tests that need a controlled set). */
  providers?: Provider[];
  /** Defaults to the SQLite store in stateDir. */
  users?: UserStore;
}

export interface Winrmd {
  core: Core;
  /** The audit trail. */
  audit: AuditLog;
  /** The live sessions `winrmd session list|end` and the dashboard show and end. */
  sessions: ControlHandlers;
  /** The collector's outputs, when it runs (reopened on SIGHUP). */
  outputs?: Outputs;
  app: ReturnType<typeof createApp>;
  users: UserStore;
  log: Logger;
  /** Ports actually bound (0 in the config picks a free one). */
  httpPort?: number;
  httpsPort?: number;
  close(): Promise<void>;
}

export function stateFile(config: Config): string {
  return path.join(config.stateDir, 'winrmd.db');
}

/** The listeners as they are: how many should be up, how many are, and what they bound. */
export interface Listening {
  wanted: number;
  up: number;
  httpPort?: number;
  httpsPort?: number;
  /** The HTTPS certificate's SHA-1 thumbprint, as Windows shows it (40 hex digits, upper case). */
  thumbprint?: string;
}

/** What winrm/config reports (providers/config): the configured settings, and the listeners as they are once up. */
export function configSnapshot(config: Config, live: Listening = { wanted: 0, up: 0 }): ConfigSnapshot {
  const { http: h, https: hs } = config.listeners;
  return {
    limits: config.limits,
    service: config.service,
    shell: config.shell,
    listeners: [
      { transport: 'HTTP', enabled: h.enabled, host: h.host, port: live.httpPort ?? h.port, hostname: '' },
      { transport: 'HTTPS', enabled: hs.enabled, host: hs.host, port: live.httpsPort ?? hs.port, hostname: os.hostname(), certificateThumbprint: live.thumbprint },
    ],
  };
}

export function createLogger(config: Config): Logger {
  // Defence in depth: the code never logs credentials, and these paths are redacted regardless.
  return pino({ level: config.logging.level, redact: ['authorization', 'password', '*.authorization', '*.password', 'headers.authorization'] });
}

/** The Linux groups of an account (for security.groupRoles), asked of NSS at most once a minute. */
const accountGroups = sharedReadings(async (account: string): Promise<string[]> => {
  if (!/^[^-:\s][^:\s]*$/.test(account)) return [];
  try {
    return (await run('id', ['-Gn', '--', account])).trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}, 60_000);

/** Operations that change state or run code: each is kept in the audit trail (refusals of any kind too). */
const AUDITED_OPERATIONS = new Set(['put', 'create', 'delete', 'invoke', 'subscribe', 'unsubscribe', 'Signal']);
/** Named events of providers and the collector that the audit trail keeps as they are logged. */
const AUDITED_EVENTS = new Set(['shell_created', 'shell_closed', 'command_started', 'command_exited', 'process_created', 'process_terminated', 'bmc_power_control', 'bmc_sel_cleared', 'user_ended', 'subscription_created', 'subscription_ended']);

/**
 * A logger that also hands every named event logged through it (at any level), with the bindings
 * of the logger it went through (a request's client), to a listener: the audit trail and the
 * metrics read providers' and the collector's events this way. Every child is tapped the same way.
 */
function tapEvents(log: Logger, listener: (event: string, fields: Record<string, unknown>, bound: () => Record<string, unknown>) => void): Logger {
  const LEVELS = new Set<PropertyKey>(['debug', 'info', 'warn', 'error']);
  const wrap = (target: Logger): Logger => {
    // Each level's function is made once per logger: the request log line is on every request's path.
    const levels = new Map<PropertyKey, (obj: unknown, ...rest: unknown[]) => void>();
    return new Proxy(target, {
      get(t, prop, receiver) {
        if (prop === 'child') return (...args: Parameters<Logger['child']>) => wrap(t.child(...args) as unknown as Logger);
        if (!LEVELS.has(prop)) return Reflect.get(t, prop, receiver);
        let level = levels.get(prop);
        if (!level) {
          level = (obj, ...rest) => {
            const event = (obj as { event?: unknown } | null)?.event;
            if (typeof event === 'string') listener(event, obj as Record<string, unknown>, () => t.bindings());
            return (t[prop as 'info'] as (...a: unknown[]) => void)(obj, ...rest);
          };
          levels.set(prop, level);
        }
        return level;
      },
    });
  };
  return wrap(log);
}

/**
 * What `winrmd session list|end` see and end: the open shells, enumerations and WS-Eventing
 * subscriptions, and the event sources the collector hears from.
 */
function liveSessions(providers: Provider[], eventSource: EventSource, core: Core, collector?: CollectorStore): ControlHandlers {
  const shells = (providers.find((p) => p.name === 'shell') as ReturnType<typeof createShellProvider> | undefined)?.shells;
  const iso = (ms: number) => new Date(ms).toISOString();
  /**
   * The sources heard from lately, from the collector's store. A source is live while it has been
   * heard within two of its subscription's longest silences: it delivers a batch at most MaxTime
   * after an event, and a heartbeat when it had nothing to send for HeartbeatInterval (DSP0226
   * §10.2.5; MS-WSMV 2.2.4.41), so one missed message is tolerated and a second is not. A source
   * whose last message was its SubscriptionEnd (neither heartbeat nor events) is gone, and so are
   * the sources of a disabled subscription (their deliveries are refused). With the store shared
   * by several collectors (PostgreSQL), these are the pool's sources.
   */
  const eventSources = async (): Promise<LiveSession[]> => {
    if (!collector) return [];
    const subs = new Map((await collector.list()).filter((s) => s.enabled).map((s) => [s.id, s]));
    const now = Date.now();
    return (await collector.sources()).flatMap((x): LiveSession[] => {
      const sub = subs.get(x.subscriptionId);
      const ended = x.lastSeen !== x.lastHeartbeat && x.lastSeen !== x.lastEvents;
      if (!sub || ended || now - Date.parse(x.lastSeen) > 2 * Math.max(sub.heartbeatIntervalS, sub.maxTimeS) * 1000) return [];
      return [{ kind: 'event-source', id: `${sub.id}/${x.source}`, user: x.source, from: x.address, since: x.firstSeen, detail: `${sub.name}: ${x.eventsReceived} event(s), last heard ${x.lastSeen}` }];
    });
  };
  return {
    sessions: async () => [
      ...(shells?.all() ?? []).map((x): LiveSession => ({ kind: 'shell', id: x.id, user: x.owner, from: x.clientAddress, since: iso(x.created), detail: `${x.commands.size} command(s)` })),
      ...core.enumerations().map((x): LiveSession => ({ kind: 'enumeration', id: x.id, user: x.owner, from: x.clientAddress, since: iso(x.created), detail: `${x.resourceUri ?? '?'}, expires ${iso(x.expiresAt)} unless pulled` })),
      ...eventSource.list().map((x): LiveSession => ({ kind: 'subscription', id: x.id, user: x.owner, since: iso(x.created), detail: `${x.mode}${x.notifyTo ? ` to ${x.notifyTo}` : ''}` })),
      ...(await eventSources()),
    ],
    async end(id) {
      const shell = shells?.byId(id);
      if (shell) {
        await shells!.close(shell, 'ended_by_admin');
        return { ended: true };
      }
      if (core.endEnumeration(id) || eventSource.endById(id)) return { ended: true };
      // WEF has no message by which a collector ends a source's delivery (MS-WSMV 3.1.4.1.30): the
      // source stops when its subscription no longer applies to it, is disabled or is removed.
      if ((await eventSources()).some((x) => x.id === id)) {
        return { ended: false, refused: 'an event source is not ended from the collector; it stops delivering when its subscription is disabled, removed, or denies it (winrmd subscription disable|remove|edit --deny)' };
      }
      return { ended: false };
    },
  };
}

/**
 * The instances of the given root/hardware sensor classes, as an enumeration of them returns them,
 * read from the providers that serve those classes (the dashboard's hardware page).
 */
async function readHardwareSensors(providers: Provider[], caller: Caller, classes: string[], signal: AbortSignal, log: Logger): Promise<Instance[]> {
  const out: Instance[] = [];
  for (const p of providers) {
    for (const cls of p.classes ?? []) {
      if (cls.namespace !== 'root/hardware' || !classes.includes(cls.name) || !p.enumerate) continue;
      const req = { caller, resourceUri: '', className: cls.name, namespace: cls.namespace, selectors: {}, options: {}, signal, deadline: Date.now() + 30_000, maxEnvelopeSize: Number.MAX_SAFE_INTEGER, log };
      for await (const instance of p.enumerate(req)) out.push(instance);
    }
  }
  return out;
}

/** The security profiles Identify lists (MS-WSMV 2.2.4.29): what the authentication settings accept, over HTTP and HTTPS. */
export function securityProfilesFor(auth: { basic: boolean; negotiate: boolean }, o: { allowUnencrypted: boolean; https: boolean; mutual: boolean }): string[] {
  return [
    ...(auth.basic && o.allowUnencrypted ? [SECURITY_PROFILE.httpBasic] : []),
    ...(auth.negotiate ? [SECURITY_PROFILE.httpSpnego] : []),
    ...(o.https && auth.basic ? [SECURITY_PROFILE.httpsBasic] : []),
    ...(o.https && auth.negotiate ? [SECURITY_PROFILE.httpsSpnego] : []),
    ...(o.https && o.mutual ? [SECURITY_PROFILE.httpsMutual] : []),
  ];
}

/** The core's limits from the configuration's (the lab's hosts use them too). */
export function coreLimits(l: Config['limits']): CoreOptions['limits'] {
  return {
    maxEnvelopeSize: l.maxEnvelopeSizeKb * 1024,
    maxOperationTimeoutMs: l.maxTimeoutMs,
    defaultOperationTimeoutMs: l.defaultOperationTimeoutMs,
    maxConcurrentOperationsPerUser: l.maxConcurrentOperationsPerUser,
    enumerationTimeoutMs: l.enumerationTimeoutMs,
    maxEnumerationContextsPerUser: l.maxEnumerationContextsPerUser,
    maxDepth: l.maxXmlDepth,
    maxAttributes: l.maxXmlAttributes,
  };
}

/** How often the user store is checked for users removed or given a new password. */
const USER_WATCH_MS = 2000;

/**
 * Users removed or given a new password while the server runs (`winrmd user remove|add` write the
 * state file from another process): the store's version is polled, and every provider ends what
 * such a user still has running (shells, processes). Their requests are refused by then: the
 * authenticators read the store on every request, an NTLM connection included.
 */
function watchUsers(users: UserStore, providers: Pick<Provider, 'name' | 'endUser'>[], log: Logger): () => void {
  const snapshot = () => new Map(users.list().map((u) => [foldName(u.name), { name: u.name, credential: credentialOf(u) }]));
  let known = snapshot();
  let version = users.version();
  let running = false;
  const timer = setInterval(() => {
    const now = users.version();
    if (now === version || running) return;
    version = now;
    const current = snapshot();
    const ended = [...known].filter(([key, was]) => current.get(key)?.credential !== was.credential).map(([key, was]) => ({ user: was.name, reason: current.has(key) ? 'password_changed' : 'removed' }));
    known = current;
    if (ended.length === 0) return;
    running = true;
    void Promise.all(ended.map(async ({ user, reason }) => {
      for (const p of providers) {
        await p.endUser?.(user).catch((err: Error) => log.error({ event: 'end_user_failed', user, provider: p.name, err }));
      }
      log.info({ event: 'user_ended', user, reason });
    })).finally(() => (running = false));
  }, USER_WATCH_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The collector's store: PostgreSQL when `store.url` names one, else the SQLite state file (none
 * when the server was given a user store and no state file, as in-process tests do).
 */
export async function openCollectorStore(config: Config, db: Db | undefined): Promise<CollectorStore | undefined> {
  if (config.store.url) return PgCollectorStore.connect(config.store.url);
  return db && new SqliteCollectorStore(db);
}

/** Everything but the sockets: what in-process tests drive with supertest. */
export async function buildServer(opts: ServerOptions): Promise<Omit<Winrmd, 'httpPort' | 'httpsPort'> & { providers: Provider[]; db?: Db; clientCaPems: string[]; listening: Listening; slots: UnauthenticatedSlots; sessions: ControlHandlers }> {
  const { config } = opts;
  const db = opts.users ? undefined : openDb(stateFile(config));
  // The audit trail lives in the state file (in memory for a server given its users, as tests are).
  const auditDb = db ?? openDb(':memory:');
  const audit = new AuditLog(auditDb);
  const pruneAudit = () => {
    const pruned = audit.prune(config.audit.retentionDays);
    if (pruned > 0) (opts.log ?? rootLog).info({ event: 'audit_pruned', records: pruned });
  };
  const rootLog = opts.log ?? createLogger(config);
  pruneAudit();
  const pruning = setInterval(pruneAudit, 86_400_000);
  pruning.unref();
  // Made once what it shows exists (below); the log tap feeds it from the start.
  let dashboard: Dashboard | undefined;
  const metrics = config.metrics.enabled ? await createMetrics({ openEnumerations: () => core.openEnumerations, subscriptions: () => eventSource.size }) : undefined;
  // Named events providers, the pipeline and the collector log reach the audit trail and the metrics.
  const log = tapEvents(rootLog, (event, fields, bound) => {
    metrics?.onEvent(event, fields);
    dashboard?.onEvent(event, fields);
    if (!AUDITED_EVENTS.has(event)) return;
    const { event: kind, user, client, ...data } = fields;
    audit.append({ kind: kind as string, user: (user as string | undefined) ?? (bound().user as string | undefined), address: (client as string | undefined) ?? (bound().client as string | undefined), data });
  });
  const users = opts.users ?? new SqliteUserStore(db!);

  const listening: Listening = { wanted: 0, up: 0 };
  const builtIn = [
    createOsProvider(),
    createConfigProvider(() => configSnapshot(config, listening)),
    ...(config.shell.enabled ? [createShellProvider(config.shell)] : []),
    createIpmiProvider({ pollIntervalMs: config.ipmi.pollIntervalMs, bmcs: config.ipmi.bmcs.map((b) => ({ ...b, password: bmcPassword(b) })) }),
  ];
  const providers = [...(opts.providers ?? builtIn), ...(opts.extraProviders ?? [])];
  for (const p of providers) await p.load?.({ log: log.child({ provider: p.name }), config: {} });
  const overload = watchOverload(config.limits.shedLoadAtLagMs);
  const slots = new UnauthenticatedSlots(config.limits.maxUnauthenticatedConnectionsPerAddress, log);

  const { auth, allowUnencrypted } = config.service;
  const throttle = new FailureThrottle(config.security.lockout);
  const clientCas = auth.certificate ? loadCaFiles(config.listeners.https.clientCaFiles) : undefined;
  const collecting = config.collector.enabled;
  const sourceCas = collecting && config.collector.sourceCaFiles.length > 0 ? loadCaFiles(config.collector.sourceCaFiles) : undefined;
  const authenticators: Authenticator[] = [];
  // Offered on a 401 in this order: Negotiate first, as Windows does. Under it, Kerberos (when a
  // keytab is configured; under Microsoft's OID too, which Windows lists first) and NTLM.
  const mechanisms: Mechanism[] = [];
  const k = config.kerberos;
  if (k.keytab || k.keytabEnv) {
    const keys = loadKeytab(k);
    const acceptor = new KerberosAcceptor({ keys, principals: k.principals, maxSkewMs: k.maxSkewSeconds * 1000, enctypes: k.enctypes.map((e) => (e === 'aes256-cts-hmac-sha1-96' ? ENCTYPE.aes256 : ENCTYPE.aes128)) });
    const realms = k.realms.length ? k.realms : [...new Set(keys.map((e) => e.realm))];
    const kopts = { acceptor, users, realms, machineSources: k.machineSources, channelBinding: auth.cbtHardeningLevel };
    mechanisms.push(new KerberosMechanism(MECH.msKerberos, kopts), new KerberosMechanism(MECH.kerberos, kopts));
    log.info({ event: 'kerberos_ready', principals: [...new Set(keys.map((e) => `${e.principal}@${e.realm}`))], realms });
  }
  if (auth.negotiate) {
    const host = os.hostname();
    mechanisms.push(new NtlmMechanism({
      users,
      channelBinding: auth.cbtHardeningLevel,
      netbiosName: netbiosNameOf(host),
      dnsName: host,
    }));
  }
  if (mechanisms.length > 0) authenticators.push(new NegotiateAuthenticator({ mechanisms, users, allowUnencrypted }));
  if (auth.basic) authenticators.push(new BasicAuthenticator({ users, allowUnencrypted }));
  if (clientCas || sourceCas) {
    authenticators.push(new CertificateAuthenticator({ users, trustedCas: clientCas?.certs ?? [], mappings: clientCas ? config.service.certMapping : [], sourceCas: sourceCas?.certs }));
  }
  const securityProfiles = securityProfilesFor(auth, { allowUnencrypted, https: true, mutual: Boolean(clientCas) });
  const l = config.limits;
  const productVersion = config.service.productVersion || `OS: ${os.release().split('-')[0]} SP: 0.0 Stack: 3.0`;
  const core = createCore({
    providers,
    machine: os.hostname(),
    identity: {
      productVendor: config.service.productVendor,
      productVersion,
      securityProfiles,
    },
    limits: coreLimits(l),
  });
  // The one access policy (src/wsman/policy.ts), consulted before any provider is called.
  // Whether a runAs account is root, looked up through NSS as the providers do (and shared with them).
  const isRoot = async (account: string) => (await lookupAccount(account))?.uid === 0;
  const access = new AccessPolicy({
    config: config.security,
    userRoles: (user) => {
      const u = users.get(user);
      return u ? rolesOf(u) : [];
    },
    groupsOf: accountGroups,
    isRoot,
    warn: (obj, msg) => log.warn(obj, msg),
  });
  for (const u of users.list()) {
    const unknown = rolesOf(u).filter((r) => !access.has(r));
    if (unknown.length > 0) log.warn({ event: 'unknown_roles', user: u.name, roles: unknown }, 'roles that exist nowhere grant nothing');
  }
  core.addHook('authorize', access.authorize);
  core.addHook('authorize', invitationGate({ users, audit }));
  const audited = (r: RequestRecord) => {
    if (!AUDITED_OPERATIONS.has(r.operation ?? '') && r.fault !== 'AccessDenied') return;
    audit.append({
      kind: r.fault === 'AccessDenied' ? 'access_denied' : 'operation', user: r.user, address: r.clientAddress,
      data: { action: r.action, operation: r.operation, resourceUri: r.resourceUri, selectors: r.selectors, method: r.method, ...(r.params ? { params: redact(r.params) } : {}), status: r.status, fault: r.fault, ...(r.fault ? { message: r.faultMessage } : {}) },
    });
  };
  core.addHook('onReply', audited);
  core.addHook('onFault', audited);
  if (metrics) {
    core.addHook('onReply', metrics.onRequest);
    core.addHook('onFault', metrics.onRequest);
  }
  const store = collecting ? await openCollectorStore(config, db) : undefined;
  const collector = store && { store, outputs: new Outputs(log.child({ component: 'collector' })) };
  if (collector) {
    const issuerThumbprints = (sourceCas?.certs ?? []).map((c) => thumbprint(c.fingerprint));
    registerCollector(core, { ...collector, issuerThumbprints });
  } else {
    confineEventSources(core);
  }
  const journal = config.journal.directory ? { directory: config.journal.directory } : {};
  const eventSource = registerEventSource(core, {
    journal: new JournalHub(journal),
    deliveryTargets: config.eventing.deliveryTargets.map((t) => ({ url: t.url, credentials: readCredentials(t) })),
    maxSubscriptionsPerUser: config.eventing.maxSubscriptionsPerUser,
    selPollMs: config.ipmi.pollIntervalMs,
    pullTimeoutMs: l.enumerationTimeoutMs,
    log: log.child({ component: 'eventing' }),
  });
  // What a removed user still has running ends: shells and processes, and subscriptions.
  const stopWatching = watchUsers(users, [...providers, { name: 'eventing', endUser: (user) => eventSource.endUser(user) }], log);
  const sessions = liveSessions(providers, eventSource, core, store);
  // Every authentication, through WS-Management or the dashboard's sign-in: the audit trail, the metrics, the dashboard's chart.
  const onAuthentication = (e: { ok: boolean; user?: string; method?: AuthMethod; address: string; reason?: string; via?: string }) => {
    audit.append({ kind: e.ok ? 'authenticated' : 'authentication_failed', user: e.user, address: e.address, data: { ...(e.ok ? { method: e.method } : { reason: e.reason }), ...(e.via ? { via: e.via } : {}) } });
    metrics?.onAuthentication(e);
    dashboard?.onAuthentication(e);
  };
  if (config.dashboard.enabled) {
    // The dashboard signs in with a password as Basic checks one, under the same lockout.
    const passwords = new AuthService([new BasicAuthenticator({ users, allowUnencrypted: false })], throttle);
    dashboard = createDashboard({
      checkPassword: (user, password, clientAddress, connection) =>
        passwords.authenticate({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`, secure: true, clientAddress, connection }),
      users, access, audit, sessions,
      host: () => ({
        name: os.hostname(), os: `${os.type()} ${os.release()} ${os.arch()}`, version: productVersion, startedAt: Date.now() - process.uptime() * 1000,
        listeners: configSnapshot(config, listening).listeners.filter((l) => l.enabled).map((l) => ({
          transport: l.transport, address: `${l.host}:${l.port}`, up: (l.transport === 'HTTP' ? listening.httpPort : listening.httpsPort) !== undefined, thumbprint: l.certificateThumbprint,
        })),
      }),
      eventing: async () => ({
        collector: store && { subscriptions: await store.list(), sources: await store.sources() },
        collecting: subscriber?.status() ?? [],
        subscriptions: eventSource.list(),
      }),
      sensors: (caller, classes, signal) => readHardwareSensors(providers, caller, classes, signal, log),
      onAuthentication: (e) => onAuthentication({ ...e, via: 'dashboard' }),
    });
    core.addHook('onReply', dashboard.onRequest);
    core.addHook('onFault', dashboard.onRequest);
  }
  const app = createApp({
    core, auth: new AuthService(authenticators, throttle), log, maxBodyBytes: l.maxEnvelopeSizeKb * 1024,
    ready: () => listening.up >= listening.wanted, unauthenticatedIdleMs: l.unauthenticatedIdleMs, overload, slots,
    servesSubpaths: collector !== undefined,
    onAuthentication,
    dashboard,
    metrics: metrics && { render: () => metrics.render(), authorize: (caller, origin, reqLog) => access.holds(caller, 'metrics', origin, reqLog) },
  });
  const fw = config.forwarder;
  const forwarder = fw.targets.length > 0
    ? new Forwarder({
      targets: fw.targets.map((t) => ({ server: t.server, refreshSeconds: t.refreshSeconds, credentials: readCredentials(t) })),
      journal,
      log: log.child({ component: 'forwarder' }),
    })
    : undefined;
  forwarder?.start();
  const subscriber = collector && config.collector.sources.length > 0
    ? new CollectorSubscriber({
      ...collector,
      sources: config.collector.sources.map((src) => ({ ...src, credentials: readCredentials(src) })),
      log: log.child({ component: 'collector-subscriptions' }),
    })
    : undefined;
  subscriber?.start();
  return {
    core, app, users, log: rootLog, providers, db, audit, sessions, clientCaPems: [...(clientCas?.pems ?? []), ...(sourceCas?.pems ?? [])], listening, slots, outputs: collector?.outputs,
    async close() {
      forwarder?.stop();
      await subscriber?.stop();
      await eventSource.close();
      stopWatching();
      overload.stop();
      core.close();
      await collector?.outputs.close();
      await collector?.store.close();
      for (const p of providers) await p.unload?.();
      clearInterval(pruning);
      audit.close();
      if (!db) auditDb.close();
      db?.close();
    },
  };
}

export async function startServer(opts: ServerOptions): Promise<Winrmd> {
  const built = await buildServer(opts);
  const { config } = opts;
  const { log } = built;
  const l = config.limits;
  const servers: http.Server[] = [];
  // Every socket, from its TCP connection on: closeAllConnections() knows only those whose TLS
  // handshake is done, and one still shaking hands when the server closes would hold close() open.
  const sockets = new Set<import('node:net').Socket>();
  // Node enforces headersTimeout and requestTimeout only when it checks connections; check often
  // enough that a slowloris client is cut off close to the configured bound.
  const serverOptions = { connectionsCheckingInterval: Math.min(1000, l.headersTimeoutMs) };
  const tune = (s: http.Server) => {
    s.on('connection', built.slots.accept);
    // Minutes of keep-alive: NTLM authenticates the connection (MS-NTHT), so clients keep it.
    s.keepAliveTimeout = l.keepAliveTimeoutMs;
    s.headersTimeout = l.headersTimeoutMs;
    s.requestTimeout = l.requestTimeoutMs;
    s.maxConnections = l.maxConnections;
    s.on('connection', (socket: import('node:net').Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    servers.push(s);
    return s;
  };
  const listen = (s: http.Server, host: string, port: number) =>
    new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => resolve((s.address() as AddressInfo).port));
    });

  let control: { close(): Promise<void> } | undefined;
  const running: Winrmd = {
    ...built,
    async close() {
      await control?.close();
      const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      for (const socket of sockets) socket.destroy();
      await closed;
      await built.close();
    },
  };
  try {
    const { http: h, https: hs } = config.listeners;
    built.listening.wanted = Number(h.enabled) + Number(hs.enabled);
    // The certificate first (a first start generates it), so both listeners come up together.
    const pem = hs.enabled ? await loadOrCreateCertificate(hs.certFile, hs.keyFile, config.stateDir) : undefined;
    if (pem?.generated) log.info({ event: 'certificate_generated', dir: config.stateDir });
    if (h.enabled) {
      running.httpPort = built.listening.httpPort = await listen(tune(http.createServer(serverOptions, built.app.callback())), h.host, h.port);
      built.listening.up++;
      log.info({ event: 'listening', scheme: 'http', host: h.host, port: running.httpPort, allowUnencrypted: config.service.allowUnencrypted });
    }
    if (pem) {
      // TLS 1.2 and 1.3 only. With certificate authentication on, a client certificate is asked
      // for but not required at the TLS layer: one that does not verify is refused with a 401, not
      // a handshake failure, so clients of the other schemes still connect.
      const clientCerts = built.clientCaPems.length > 0 ? { requestCert: true, rejectUnauthorized: false, ca: built.clientCaPems } : {};
      // A TLS handshake gets no longer than a request's headers (Node's default is 120 s): a silent client holds no slot for long.
      const server = https.createServer({ ...serverOptions, ...clientCerts, cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', handshakeTimeout: l.headersTimeoutMs }, built.app.callback());
      running.httpsPort = built.listening.httpsPort = await listen(tune(server as unknown as http.Server), hs.host, hs.port);
      built.listening.thumbprint = thumbprintOf(pem.cert);
      built.listening.up++;
      log.info({ event: 'listening', scheme: 'https', host: hs.host, port: running.httpsPort });
    }
    // `winrmd session list|end` reach this server through its state folder (none without one).
    if (built.db) {
      control = await serveControl(controlPath(config.stateDir), sessionControl(built.sessions)).catch((err: Error) => {
        log.warn({ event: 'control_socket_unavailable', reason: err.message });
        return undefined;
      });
    }
  } catch (err) {
    await running.close();
    throw err;
  }
  return running;
}
