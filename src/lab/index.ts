// Test-lab mode (issue 17): a fleet of virtual Windows hosts in one process. Each host is the same
// protocol core as winrmd's, with its own identity, its profile's CIM instances (src/lab/profile.ts)
// and scripted shell (src/lab/shell.ts), its own listener on its own address, its group's quotas
// (and winrm/config saying them), authentication as winrmd's (the lab's users and roles, or its
// group's own), and its faults (src/lab/faults.ts). `winrmd lab ctl` takes a host down, slows it or restores it while it runs.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { createConfigProvider } from '../../providers/config/index.js';
import { createOsProvider } from '../../providers/os/index.js';
import { createShellProvider } from '../../providers/shell/index.js';
import { AccessPolicy } from '../admin/access.js';
import { askControl, serveControl } from '../admin/control.js';
import { AuthService, type Authenticator } from '../auth/authenticator.js';
import { BasicAuthenticator } from '../auth/basic.js';
import { NegotiateAuthenticator } from '../auth/negotiate.js';
import { netbiosNameOf, NtlmMechanism } from '../auth/ntlm/mechanism.js';
import { credentialsFor } from '../auth/passwords.js';
import { FailureThrottle } from '../auth/throttle.js';
import { createApp } from '../http/app.js';
import { UnauthenticatedSlots } from '../http/connection-slots.js';
import { generateSelfSigned, thumbprintOf } from '../http/tls.js';
import type { CimClass, Provider } from '../provider-api.js';
import { coreLimits, securityProfilesFor } from '../server.js';
import { MemoryUserStore, rolesOf } from '../store/users.js';
import { createCore } from '../wsman/core.js';
import { HostFaults } from './faults.js';
import { LabFileError, type Lab, type LabUser } from './file.js';
import { checkProfile, dataProvider, hostSpecs, type HostSpec } from './profile.js';
import { scriptedRunner } from './shell.js';

export { readLab, LabFileError } from './file.js';

/** One virtual host as it runs. */
export interface LabHost {
  spec: HostSpec;
  /** The port it listens on (the one picked, for port 0). */
  port: number;
  faults: HostFaults;
  /** Whether its listener is up (`winrmd lab ctl down|up`). */
  readonly up: boolean;
}

export interface RunningLab {
  hosts: LabHost[];
  /** How clients best authenticate to its hosts, as Ansible names it: ntlm, or basic when Negotiate is off. */
  transport: 'ntlm' | 'basic';
  /** Answers `winrmd lab ctl` (also through the control socket). */
  control(req: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

export const labControlPath = (stateDir: string): string => path.join(stateDir, 'lab.sock');

export async function startLab(lab: Lab, log: Logger): Promise<RunningLab> {
  const { file, config } = lab;
  // The classes winrmd declares in root/cimv2, as profiles name them (case-insensitive).
  const classes = new Map((createOsProvider().classes ?? []).map((c): [string, CimClass] => [c.name.toLowerCase(), c]));
  const checked = new Map(Object.entries(file.profiles).map(([name, p]) => [name, checkProfile(name, p, classes, lab.at)]));
  const problems = [...checked.values()].flatMap((c) => c.problems);
  if (problems.length > 0) throw new LabFileError(`invalid lab file:\n${problems.join('\n')}`);
  const specs = hostSpecs(lab);

  const { auth, allowUnencrypted } = config.service;
  // The accounts of the hosts that share a users list (the lab's, or a group's own): their store,
  // their roles, and one Basic authenticator, whose cache of verified passwords is then shared
  // (scrypt runs once per user, not once per user and host).
  const accountsOf = new Map<LabUser[], { users: MemoryUserStore; access: AccessPolicy; basicAuth?: BasicAuthenticator }>();
  for (const list of new Set(file.hosts.map((g) => g.users ?? file.users))) {
    const users = new MemoryUserStore();
    for (const u of list) users.put({ name: u.name, ...(await credentialsFor(u.password)), runAs: u.runAs, roles: u.roles });
    const access = new AccessPolicy({
      config: config.security,
      userRoles: (user) => {
        const u = users.get(user);
        return u ? rolesOf(u) : [];
      },
      groupsOf: async () => [],
      // No process of this machine runs for a lab host (unless a profile runs its fallback, as winrmd's own account).
      isRoot: async () => false,
      warn: (obj, msg) => log.warn(obj, msg),
    });
    accountsOf.set(list, { users, access, basicAuth: auth.basic ? new BasicAuthenticator({ users, allowUnencrypted }) : undefined });
    // A role that exists nowhere grants nothing: in a lab file that is a mistake, said at its line.
    const gi = file.hosts.findIndex((g) => g.users === list);
    list.forEach((u, j) => {
      const unknown = u.roles.filter((r) => !access.has(r));
      const path = [...(gi < 0 ? ['users'] : ['hosts', gi, 'users']), j, 'roles'];
      if (unknown.length > 0) problems.push(`${lab.at(path)}: ${path.join('.')}: no role is named ${unknown.join(', ')} (winrmd's, or security.roles)`);
    });
  }
  if (problems.length > 0) throw new LabFileError(`invalid lab file:\n${problems.join('\n')}`);
  const anyHttps = specs.some((s) => s.https);
  const securityProfiles = securityProfilesFor(auth, { allowUnencrypted, https: anyHttps, mutual: false });
  // One self-signed certificate for the lab's HTTPS hosts, and an expired one for the hosts whose fault is to present it.
  const faultsOf = new Map(specs.map((s) => [s.name, HostFaults.applying(file.faults, s.name)]));
  const presentsExpired = (s: HostSpec) => faultsOf.get(s.name)!.some((f) => f.kind === 'expired-certificate');
  for (const s of specs) {
    if (presentsExpired(s) && !s.https) throw new LabFileError(`host ${s.name}: an expired-certificate fault needs an https host`);
  }
  const day = 86_400_000;
  const certificate = anyHttps ? await generateSelfSigned('winrmd-lab') : undefined;
  const expired = specs.some(presentsExpired)
    ? await generateSelfSigned('winrmd-lab', { notBefore: new Date(Date.now() - 400 * day), notAfter: new Date(Date.now() - day) })
    : undefined;
  // Each certificate's thumbprint once, for winrm/config.
  const thumbprints = new Map([certificate, expired].flatMap((c) => (c ? [[c, thumbprintOf(c.cert)] as const] : [])));
  const stopping = new AbortController();
  const startedAt = Date.now();
  const hosts: (LabHost & { server: http.Server; sockets: Set<Socket>; providers: Provider[]; up: boolean })[] = [];

  const listen = (h: (typeof hosts)[number]) => new Promise<void>((resolve, reject) => {
    h.server.once('error', reject);
    h.server.listen(h.port, h.spec.address, () => {
      h.server.off('error', reject);
      h.port = (h.server.address() as AddressInfo).port;
      h.up = true;
      resolve();
    });
  });
  const stop = (h: (typeof hosts)[number]) => new Promise<void>((resolve) => {
    h.up = false;
    for (const s of h.sockets) s.destroy();
    if (!h.server.listening) return resolve();
    h.server.close(() => resolve());
  });

  try {
    for (const spec of specs) {
      const hostLog = log.child({ host: spec.name });
      const profile = file.profiles[spec.profile]!;
      const { limits, shell } = lab.groupConfigs[spec.group]!;
      const { users, access, basicAuth } = accountsOf.get(file.hosts[spec.group]!.users ?? file.users)!;
      const ruleAt = (i: number) => lab.at(['profiles', spec.profile, 'shell', 'rules', i]);
      const pem = presentsExpired(spec) ? expired : certificate;
      const providers: Provider[] = [
        dataProvider(profile, spec.vars, checked.get(spec.profile)!.classes, lab.at, spec.profile),
        // winrm/config as this host's: its group's limits and quotas, its one listener (the Ruby gem sizes PSRP fragments by MaxEnvelopeSizekb).
        createConfigProvider(() => ({
          limits, service: config.service, shell,
          listeners: [{ transport: spec.https ? 'HTTPS' : 'HTTP', enabled: true, host: spec.address, port: host.port, hostname: spec.https ? spec.name : '', certificateThumbprint: pem && spec.https ? thumbprints.get(pem) : undefined }],
        })),
        ...(shell.enabled ? [createShellProvider({ ...shell, runner: scriptedRunner({ rules: profile.shell.rules, fallback: profile.shell.fallback, vars: spec.vars, where: ruleAt, templates: profile.templates }) })] : []),
      ];
      for (const p of providers) await p.load?.({ log: hostLog, config: {} });
      const core = createCore({
        providers,
        machine: spec.name,
        identity: { productVendor: profile.productVendor, productVersion: profile.productVersion, securityProfiles },
        limits: coreLimits(limits),
      });
      const faults = new HostFaults(spec.name, faultsOf.get(spec.name)!, file.seed, stopping.signal, startedAt);
      core.addHook('authorize', access.authorize);
      core.addHook('authorize', faults.hook);
      const authenticators: Authenticator[] = [];
      if (auth.negotiate) {
        const mechanism = new NtlmMechanism({ users, channelBinding: auth.cbtHardeningLevel, netbiosName: netbiosNameOf(spec.name), dnsName: spec.name });
        authenticators.push(new NegotiateAuthenticator({ mechanisms: [mechanism], users, allowUnencrypted }));
      }
      if (basicAuth) authenticators.push(basicAuth);
      const authService = new AuthService(authenticators, new FailureThrottle(config.security.lockout));
      // Bounded as winrmd's listeners are (server.ts), but never shedding load: a lab's only faults are those its file asks for.
      const slots = new UnauthenticatedSlots(limits.maxUnauthenticatedConnectionsPerAddress, hostLog);
      const app = createApp({ core, auth: authService, log: hostLog, maxBodyBytes: limits.maxEnvelopeSizeKb * 1024, unauthenticatedIdleMs: limits.unauthenticatedIdleMs, slots });
      const callback = app.callback();
      const listener: http.RequestListener = (req, res) => {
        faults.transport(req, res, () => authService.challenges(spec.https)).then((answered) => answered || callback(req, res), (err: Error) => {
          hostLog.error({ event: 'lab_fault_failed', err });
          req.socket.destroy();
        });
      };
      const connectionsCheckingInterval = Math.min(1000, limits.headersTimeoutMs);
      const server = spec.https
        ? https.createServer({ connectionsCheckingInterval, cert: pem!.cert, key: pem!.key, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' }, listener) as unknown as http.Server
        : http.createServer({ connectionsCheckingInterval }, listener);
      server.keepAliveTimeout = limits.keepAliveTimeoutMs;
      server.headersTimeout = limits.headersTimeoutMs;
      server.requestTimeout = limits.requestTimeoutMs;
      server.maxConnections = limits.maxConnections;
      server.on('connection', slots.accept);
      const host = { spec, port: spec.port, faults, server, sockets: new Set<Socket>(), providers, up: false };
      server.on('connection', (s: Socket) => {
        host.sockets.add(s);
        s.once('close', () => host.sockets.delete(s));
      });
      hosts.push(host);
      await listen(host);
    }
  } catch (err) {
    stopping.abort();
    await Promise.all(hosts.map(stop));
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES') throw new LabFileError(`host ${hosts.at(-1)?.spec.name ?? ''} cannot listen: ${e.message}`);
    throw err;
  }
  log.info({ event: 'lab_started', hosts: hosts.length });

  const named = (name: unknown) => {
    const list = name === 'all' ? hosts : hosts.filter((h) => h.spec.name.toLowerCase() === String(name).toLowerCase());
    if (list.length === 0) throw new LabFileError(`no host is named ${String(name)}`);
    return list;
  };
  const view = (h: (typeof hosts)[number]) => ({ name: h.spec.name, address: h.spec.address, port: h.port, profile: h.spec.profile, up: h.up, slowMs: h.faults.slowMs });
  const control = async (req: Record<string, unknown>): Promise<unknown> => {
    try {
      switch (req.cmd) {
        case 'list': return { hosts: hosts.map(view) };
        case 'down': for (const h of named(req.host)) await stop(h); break;
        case 'up': for (const h of named(req.host)) if (!h.up) await listen(h); break;
        case 'slow': {
          const ms = Number(req.ms);
          if (!Number.isInteger(ms) || ms < 0 || ms > 600_000) return { error: 'slow needs milliseconds, at most 600000' };
          for (const h of named(req.host)) h.faults.slowMs = ms;
          break;
        }
        case 'restore':
          for (const h of named(req.host)) {
            h.faults.slowMs = 0;
            if (!h.up) await listen(h);
          }
          break;
        default: return { error: 'unknown request' };
      }
      log.info({ event: 'lab_control', cmd: req.cmd, host: req.host, ms: req.ms });
      return { hosts: named(req.host).map(view) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };
  const controlFile = file.stateDir ? labControlPath(file.stateDir) : undefined;
  let socket: { close(): Promise<void> } | undefined;
  try {
    socket = controlFile ? await serveControl(controlFile, control) : undefined;
  } catch (err) {
    // No lab without its control: the hosts stop too.
    stopping.abort();
    await Promise.all(hosts.map(stop));
    throw new LabFileError(`the control socket ${controlFile} cannot be made: ${(err as Error).message}`);
  }

  return {
    hosts,
    transport: auth.negotiate ? 'ntlm' : 'basic',
    control,
    async close() {
      stopping.abort();
      await socket?.close();
      await Promise.all(hosts.map(stop));
      for (const h of hosts) for (const p of h.providers) await p.unload?.();
    },
  };
}

/** `winrmd lab ctl` against a running lab. */
export const askLab = (stateDir: string, req: Record<string, unknown>) => askControl(labControlPath(stateDir), req);
