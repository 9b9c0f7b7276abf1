// The configuration: one validated, typed schema with the embedded defaults. Defaults follow
// WinRM's own (MS-WSMV 2.2.4.10, as `winrm get winrm/config` shows them) and are secure: no users, Basic
// over plain HTTP refused.
import { z } from 'zod/v3';
import { BUILT_IN_ROLES, FAMILIES, GRANTS } from '../admin/access.js';

const listenerFields = (port: number) => ({
  enabled: z.boolean().default(true),
  host: z.string().default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(port),
});

/** One BMC. Its name is the SystemName selector that tells its instances from another's. */
const bmcSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - only'),
  /** lanplus: native RMCP+ (IPMI 2.0). ipmitool: spawns ipmitool; with no host, the local BMC in-band (/dev/ipmi0). */
  transport: z.enum(['lanplus', 'ipmitool']).default('lanplus'),
  host: z.string().default(''),
  port: z.number().int().min(1).max(65535).default(623),
  user: z.string().default(''),
  /** The password itself, or where to read it: a file (relative to this config) or an environment variable. */
  password: z.string().optional(),
  passwordFile: z.string().optional(),
  passwordEnv: z.string().optional(),
  privilege: z.enum(['user', 'operator', 'administrator']).default('administrator'),
  /** 3: HMAC-SHA1, SHA1-96, AES-CBC-128. 17: HMAC-SHA256, SHA256-128, AES-CBC-128. */
  cipherSuite: z.union([z.literal(3), z.literal(17)]).default(3),
  /** One attempt's wait for an answer; a request gives up after retries more. */
  timeoutMs: z.number().int().min(50).default(1000),
  retries: z.number().int().min(0).max(10).default(3),
})
  .refine((b) => b.host || b.transport === 'ipmitool', 'a lanplus BMC needs a host (only ipmitool reaches the local BMC in-band)')
  .refine((b) => [b.password, b.passwordFile, b.passwordEnv].filter((x) => x !== undefined).length <= 1, 'give one of password, passwordFile, passwordEnv');

export type BmcConfig = z.infer<typeof bmcSchema>;

const conditionsSchema = z.strictObject({
  addresses: z.array(z.string().regex(/^[0-9A-Fa-f:.]+(\/\d{1,3})?$/, 'an address or CIDR range')).optional(),
  methods: z.array(z.enum(['basic', 'negotiate', 'certificate'])).optional(),
  httpsOnly: z.boolean().optional(),
  validFrom: z.string().datetime({ offset: true }).optional(),
  validUntil: z.string().datetime({ offset: true }).optional(),
});

/**
 * A peer winrmd connects to, and how it authenticates there: a client certificate (certFile and
 * keyFile, over HTTPS), or an account (user and passwordFile: NTLM with message encryption, or
 * Basic over HTTPS with `basic: true`), or (where `open` allows) nothing. caFile: the CA the
 * peer's certificate must chain to.
 */
function remote<T extends z.ZodRawShape>(shape: T, urlKey: keyof T & string, open = false) {
  return z.strictObject({
    ...shape,
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
    caFile: z.string().optional(),
    user: z.string().optional(),
    passwordFile: z.string().optional(),
    basic: z.boolean().default(false),
  }).superRefine((t, ctx) => {
    const url = String((t as Record<string, unknown>)[urlKey]);
    const cert = Boolean(t.certFile && t.keyFile);
    const account = Boolean(t.user && t.passwordFile);
    if (cert === account ? !(open && !cert) : false) ctx.addIssue({ code: 'custom', message: open ? 'give certFile and keyFile, or user and passwordFile, or neither' : 'give certFile and keyFile, or user and passwordFile' });
    if (t.basic && !account) ctx.addIssue({ code: 'custom', message: 'basic needs user and passwordFile' });
    if ((cert || t.basic) && !url.startsWith('https:')) ctx.addIssue({ code: 'custom', message: 'a client certificate or Basic needs an HTTPS address' });
  });
}

export const configSchema = z.strictObject({
  /** Where the SQLite state file and a generated certificate live. */
  stateDir: z.string().default('./state'),
  listeners: z.strictObject({
    http: z.strictObject(listenerFields(5985)).default({}),
    https: z.strictObject({
      ...listenerFields(5986),
      /** PEM files; when both are empty a self-signed pair is generated into stateDir on first start. */
      certFile: z.string().default(''),
      keyFile: z.string().default(''),
      /** PEM files of the CAs trusted to issue client certificates (certificate authentication). */
      clientCaFiles: z.array(z.string()).default([]),
    }).default({}),
  }).default({}),
  service: z.strictObject({
    /** WinRM's AllowUnencrypted: unless true, Basic over plain HTTP is refused and NTLM over HTTP must encrypt. */
    allowUnencrypted: z.boolean().default(false),
    /** winrm/config/service/auth. */
    auth: z.strictObject({
      basic: z.boolean().default(true),
      /** NTLM, offered as both `Negotiate` and `NTLM`. */
      negotiate: z.boolean().default(true),
      /** Client certificates over HTTPS, mapped to users by certMapping. */
      certificate: z.boolean().default(false),
      /** CbtHardeningLevel: check TLS channel bindings a client sends (relaxed), require them (strict), or ignore them. */
      cbtHardeningLevel: z.enum(['none', 'relaxed', 'strict']).default('relaxed'),
    }).default({}),
    /** winrm/config/service/certmapping: which client certificate stands for which user. */
    certMapping: z.array(z.strictObject({
      user: z.string().min(1),
      /** The issuing CA's SHA-1 thumbprint or common name. */
      issuer: z.string().optional(),
      /** A pattern (`*` wildcard) for the certificate's subject common name. */
      subject: z.string().optional(),
      /** A pattern for a user principal name in its subjectAltName. */
      upn: z.string().optional(),
    }).refine((m) => m.issuer || m.subject || m.upn, 'a mapping needs issuer, subject or upn')).default([]),
    productVendor: z.string().default('winrmd'),
    /** Empty: derived from the running kernel, in the Windows format (OS, SP, Stack). */
    productVersion: z.string().default(''),
  }).default({}),
  security: z.strictObject({
    /** Users whose runAs account may be root. Empty: no caller ever starts a root process. */
    rootRunAsUsers: z.array(z.string()).default([]),
    /** Users who may change hardware state: BMC power control and clearing its event log. */
    hardwareControlUsers: z.array(z.string()).default([]),
    /** Users who may subscribe to the host's journal (the EventLog resource), as Windows' Event Log Readers. Deprecated: the eventLogRead grant. */
    eventLogReaders: z.array(z.string()).default([]),
    /** Custom roles (beside viewer, helper, elevated, administrator, event-source): rules, grants and conditions. */
    roles: z.record(z.string().regex(/^[A-Za-z][\w.-]{0,63}$/, 'a role name: letters, digits, _ . -'), z.strictObject({
      rules: z.array(z.strictObject({
        resources: z.array(z.string().min(1)).min(1),
        operations: z.array(z.enum(['*', ...FAMILIES])).min(1),
        methods: z.array(z.string().min(1)).optional(),
        effect: z.enum(['allow', 'deny']),
      })).default([]),
      grants: z.array(z.enum(GRANTS)).default([]),
    })).default({}).refine((r) => Object.keys(r).every((n) => !(n.toLowerCase() in BUILT_IN_ROLES)), 'a custom role cannot take a built-in role\'s name'),
    /** Roles the members of a Linux group (of a user's runAs account) hold. */
    groupRoles: z.record(z.string(), z.array(z.string())).default({}),
    /** Conditional access, per role and per user: source addresses, authentication methods, HTTPS only, a validity period. */
    conditions: z.strictObject({
      roles: z.record(z.string(), conditionsSchema).default({}),
      users: z.record(z.string(), conditionsSchema).default({}),
    }).default({}),
    /** Brute-force back-off: failed credentials per user and per source address. */
    lockout: z.strictObject({
      userThreshold: z.number().int().positive().default(5),
      addressThreshold: z.number().int().positive().default(20),
      /** The first lockout; each further failure doubles it, up to maxLockoutMs. */
      baseLockoutMs: z.number().int().positive().default(1_000),
      maxLockoutMs: z.number().int().positive().default(300_000),
      /** Failures are forgotten after this long without another. */
      resetAfterMs: z.number().int().positive().default(900_000),
    }).default({}),
  }).default({}),
  limits: z.strictObject({
    maxEnvelopeSizeKb: z.number().int().min(8).default(500),
    maxTimeoutMs: z.number().int().positive().default(60_000),
    defaultOperationTimeoutMs: z.number().int().positive().default(60_000),
    maxConcurrentOperationsPerUser: z.number().int().positive().default(1500),
    enumerationTimeoutMs: z.number().int().positive().default(60_000),
    maxEnumerationContextsPerUser: z.number().int().positive().default(64),
    maxConnections: z.number().int().positive().default(300),
    /** Connections one client address may hold before any request on them has authenticated. */
    maxUnauthenticatedConnectionsPerAddress: z.number().int().positive().default(100),
    /**
     * How long a connection that has not authenticated may stay open between the legs of a
     * handshake (NTLM's challenge, then its answer), and how long the rest of a body may take to
     * arrive after such a 401. A 401 that is not a handshake leg closes the connection.
     */
    unauthenticatedIdleMs: z.number().int().positive().default(10_000),
    /** Requests on connections not yet authenticated get 503 while the event loop's median delay over half a second exceeds this and the loop is busy with winrmd's own work (0: never). */
    shedLoadAtLagMs: z.number().int().nonnegative().default(200),
    maxXmlDepth: z.number().int().min(8).default(64),
    maxXmlAttributes: z.number().int().min(4).default(64),
    /** Minutes, not Node's 5 s: NTLM authenticates a connection, not a request (MS-NTHT), so clients keep theirs open. */
    keepAliveTimeoutMs: z.number().int().positive().default(300_000),
    /** A new connection's first request must have sent its headers by then (silent TCP, slowloris). */
    headersTimeoutMs: z.number().int().positive().default(10_000),
    requestTimeoutMs: z.number().int().positive().default(180_000),
  }).default({}),
  /** The WinRS remote shell (winrm/config/winrs): WinRM's defaults (MS-WSMV 2.2.4.42, WinrsType). */
  shell: z.strictObject({
    enabled: z.boolean().default(true),
    maxShellsPerUser: z.number().int().positive().default(30),
    /** Users who may hold shells at the same time. */
    maxConcurrentUsers: z.number().int().positive().default(10),
    /** Commands running at once in one shell. */
    maxProcessesPerShell: z.number().int().positive().default(25),
    /**
     * Tasks (processes and threads) a shell may hold at once, everything its commands start
     * included: the pids controller's bound, where the host has it (a fork past it fails).
     */
    maxTasksPerShell: z.number().int().positive().default(256),
    /** A shell with no request for this long is closed and its processes killed. */
    idleTimeoutMs: z.number().int().positive().default(180_000),
    /** Memory of all a shell's processes together, where the host's cgroups allow a bound. */
    maxMemoryPerShellMb: z.number().int().positive().default(1024),
    /** Bound shells with cgroups where the host allows (false: never try; the rlimit fallback applies). */
    cgroups: z.boolean().default(true),
    /** The POSIX shell a command line is given to (`<interpreter> -c <line>`). */
    interpreter: z.string().default('/bin/sh'),
    /** What `powershell -EncodedCommand …` runs, looked up on the command's PATH. */
    pwsh: z.string().default('pwsh'),
    /** Output held per command before its pipes are no longer read (back-pressure). */
    outputBufferKb: z.number().int().positive().default(1024),
    /** Output held for Receive by all of one user's commands, and by everyone's: past it, pipes wait. */
    maxOutputBufferPerUserMb: z.number().int().positive().default(64),
    maxOutputBufferMb: z.number().int().positive().default(256),
    /** Between SIGTERM and SIGKILL when a command is terminated. */
    terminateGraceMs: z.number().int().nonnegative().default(2000),
    /** Command lines may carry secrets: they are logged only when this is true. */
    logCommandLines: z.boolean().default(false),
  }).default({}),
  /** The IPMI provider: the BMCs winrmd reads sensors and the event log from (root/hardware). */
  ipmi: z.strictObject({
    /** How often sensor readings are refreshed; enumerations are answered from the last refresh. */
    pollIntervalMs: z.number().int().min(100).default(10_000),
    bmcs: z.array(bmcSchema).default([]),
  }).default({}),
  store: z.strictObject({
    /**
     * Empty: the collector's subscriptions and bookmarks live in the SQLite file in stateDir.
     * `postgres://user:password@host/db`: on PostgreSQL, shared by several collectors behind a
     * layer-4 balancer (users stay in each one's state file).
     */
    url: z.string().regex(/^(postgres(ql)?:\/\/.+)?$/, 'empty, or a postgres:// URL').default(''),
  }).default({}),
  /** Kerberos (domain clients and event sources): the service keys. */
  kerberos: z.strictObject({
    /** An MIT keytab holding the keys of HTTP/<host> and HOST/<host> (`winrmd kerberos check` lists it); empty: no Kerberos. */
    keytab: z.string().default(''),
    /** Or the name of an environment variable holding the keytab in base64 (a container's secret). */
    keytabEnv: z.string().default(''),
    /** The service principals winrmd answers for (`HTTP/host.example.com`); empty: every one in the keytab. */
    principals: z.array(z.string()).default([]),
    /** Client realms accepted; alice@REALM is the winrmd user alice. Empty: the keytab's realms. */
    realms: z.array(z.string()).default([]),
    /** Machine principals (WS01$@REALM) are event sources for the collector. */
    machineSources: z.boolean().default(true),
    /** The clock difference tolerated between a client and winrmd (RFC 4120 §1.6: five minutes). */
    maxSkewSeconds: z.number().int().positive().default(300),
    /** Encryption types accepted; RC4 and DES are never accepted. */
    enctypes: z.array(z.enum(['aes256-cts-hmac-sha1-96', 'aes128-cts-hmac-sha1-96'])).min(1).default(['aes256-cts-hmac-sha1-96', 'aes128-cts-hmac-sha1-96']),
  }).refine((k) => !(k.keytab && k.keytabEnv), 'give keytab or keytabEnv, not both').default({}),
  /** The event collector (Windows Event Forwarding): subscriptions are managed with `winrmd subscription`. */
  collector: z.strictObject({
    enabled: z.boolean().default(true),
    /**
     * PEM files of the CAs that issue event forwarders' client certificates: the IssuerCA of the
     * Group Policy's Server= setting. A certificate they issue authenticates an event source
     * (named by its subject common name) over HTTPS.
     */
    sourceCaFiles: z.array(z.string()).default([]),
    /**
     * Collector-initiated subscriptions: winrmd subscribes to each source here with the named
     * subscription's query and stores what arrives through its outputs. `pull`: winrmd pulls;
     * `push`: the source delivers to `notifyTo` (this collector's address as the source reaches
     * it) and authenticates there as the event source `principal`.
     */
    sources: z.array(remote({
      url: z.string().regex(/^https?:\/\//, 'an HTTP or HTTPS URL'),
      subscription: z.string().min(1),
      mode: z.enum(['pull', 'push']).default('pull'),
      /** What to subscribe to: the EventLog (the subscription's QueryList), a class or namespace with `wql`, or the SEL resource. */
      resourceUri: z.string().optional(),
      /** For a class or namespace: the instance event query (SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_Process'). */
      wql: z.string().optional(),
      notifyTo: z.string().regex(/^https?:\/\//, 'an HTTP or HTTPS URL').optional(),
      principal: z.string().optional(),
      /** Subscribe again this long before the granted expiry (Windows sources cannot Renew). */
      expiresSeconds: z.number().int().min(10).default(3600),
    }, 'url')).default([]),
  }).default({}),
  /** The systemd journal winrmd forwards and offers for subscription (the EventLog resource). */
  journal: z.strictObject({
    /** A directory of journal files; empty: the host's journal. */
    directory: z.string().default(''),
  }).default({}),
  /** winrmd as a Windows event forwarder: the journal to the collectors named here (source-initiated subscriptions). */
  forwarder: z.strictObject({
    targets: z.array(remote({
      /** The Group Policy's Server= URL: https://collector.example.com:5986/wsman/ (or http:// with NTLM). */
      server: z.string().regex(/^https?:\/\//, 'an HTTP or HTTPS URL'),
      refreshSeconds: z.number().int().min(1).default(60),
    }, 'server')).default([]),
  }).default({}),
  /** WS-Eventing subscriptions to winrmd's own events (DSP0226 §10). */
  eventing: z.strictObject({
    /** Open subscriptions per user; a Subscribe beyond them is QuotaLimit. */
    maxSubscriptionsPerUser: z.number().int().min(0).default(16),
    /**
     * Where Push, PushWithAck and Events deliveries may go, and how winrmd authenticates there:
     * a NotifyTo or EndTo address outside every `url` here is refused (EventDeliverToUnusable).
     * Empty: only Pull subscriptions.
     */
    deliveryTargets: z.array(remote({
      /** A NotifyTo address must have this scheme, host and port, and start with its path. */
      url: z.string().regex(/^https?:\/\//, 'an HTTP or HTTPS URL'),
    }, 'url', true)).default([]),
  }).default({}),
  /** Prometheus metrics at GET /metrics, for a user whose role holds the metrics grant (administrator, or a custom role). */
  metrics: z.strictObject({
    enabled: z.boolean().default(false),
  }).default({}),
  /** The web dashboard at https://host:port/dashboard, for the same users and roles (see the README's Dashboard). */
  dashboard: z.strictObject({
    enabled: z.boolean().default(false),
  }).default({}),
  /** The audit trail (winrmd audit list|export|verify). */
  audit: z.strictObject({
    /** Records older than this are pruned (the chain stays verifiable from the last one pruned); 0 keeps everything. */
    retentionDays: z.number().int().min(0).default(365),
  }).default({}),
  logging: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).default({}),
}).superRefine((c, ctx) => {
  // The dashboard's sign-in is a password checked as Basic checks one: with Basic off, an
  // operator who meant "no passwords over the wire" would otherwise still have one.
  if (c.dashboard.enabled && !c.service.auth.basic) ctx.addIssue({ code: 'custom', path: ['dashboard', 'enabled'], message: 'the dashboard signs in with a password, as Basic does: it needs service.auth.basic' });
});

export type Config = z.infer<typeof configSchema>;
