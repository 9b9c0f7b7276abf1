// Who may do what (issue 16; DESIGN.md, the authorize hook): roles made of rules, conditional
// access, and the grants for what an operation does. One authorize hook, consulted before any
// provider is called; a refusal is AccessDenied, logged with the rule that refused.
//
// A user has the roles given to them (`winrmd user add --role`, default `helper`), the roles of
// the Linux groups of their runAs account (`security.groupRoles`), and the roles the old keys
// stand for (`rootRunAsUsers`, `hardwareControlUsers`, `eventLogReaders`, read with a warning).
// A role counts for a request only where its conditions hold (source address, authentication
// method, HTTPS, validity period); the user's own conditions apply to all their roles.
// A request is allowed when some counting role allows its (operation family, resource, method)
// and none denies it, and every effect the operation declares is granted by a counting role.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Caller, Effect } from '../provider-api.js';
import { globPattern } from '../config/patterns.js';
import { WsmanFault } from '../soap/faults.js';
import { CONFIG, POWERSHELL, SHELL } from '../soap/names.js';
import type { AuthMethod, Exchange } from '../wsman/exchange.js';

/** What a rule names: the families of operations a request belongs to. */
export const FAMILIES = ['get', 'enumerate', 'put', 'create', 'delete', 'invoke', 'shell', 'subscribe'] as const;
export type Family = (typeof FAMILIES)[number];

/** What a role may hold beyond its rules: root processes, hardware changes, the host's journal, administration, the metrics. */
export const GRANTS = ['rootRunAs', 'hardwareControl', 'eventLogRead', 'administer', 'metrics'] as const;
export type Grant = (typeof GRANTS)[number];

export interface Rule {
  /** Resource name patterns (`*` any run of characters, case-insensitive): `root/cimv2/Win32_*`, `root/hardware/*`, `shell`, `winrm/config`, `EventLog`, `SEL`. */
  resources: string[];
  /** Operation families, or `*`. */
  operations: (Family | '*')[];
  /** For invoke: the method names (patterns) the rule covers; absent: every method. */
  methods?: string[];
  effect: 'allow' | 'deny';
}

export interface Conditions {
  /** Source address ranges (CIDR, or single addresses); absent: any. */
  addresses?: string[];
  /** Authentication methods accepted; absent: any. */
  methods?: AuthMethod[];
  httpsOnly?: boolean;
  /** ISO 8601 times between which the role (or user) counts. */
  validFrom?: string;
  validUntil?: string;
}

export interface Role {
  name: string;
  rules: Rule[];
  grants: Grant[];
  conditions?: Conditions;
}

const everything: Rule = { resources: ['*'], operations: ['*'], effect: 'allow' };
const read: Rule = { resources: ['*/*', 'winrm/config', 'SEL'], operations: ['get', 'enumerate'], effect: 'allow' };

/** The built-in roles (issue 16 item 1). */
export const BUILT_IN_ROLES: Record<string, Role> = {
  viewer: { name: 'viewer', rules: [read], grants: [] },
  // The host's journal is behind the eventLogRead grant (the readsEventLog effect), not a rule.
  helper: { name: 'helper', rules: [everything], grants: [] },
  elevated: { name: 'elevated', rules: [everything], grants: ['rootRunAs', 'hardwareControl', 'eventLogRead'] },
  administrator: { name: 'administrator', rules: [everything], grants: [...GRANTS] },
  // The collector's sources: the collector's own hook admits them to its routes and nothing else.
  'event-source': { name: 'event-source', rules: [], grants: [] },
};

export interface AccessConfig {
  roles: Record<string, { rules: Rule[]; grants: Grant[]; conditions?: Conditions }>;
  groupRoles: Record<string, string[]>;
  conditions: { roles: Record<string, Conditions>; users: Record<string, Conditions> };
  rootRunAsUsers: string[];
  hardwareControlUsers: string[];
  eventLogReaders: string[];
}

export interface AccessOptions {
  config: AccessConfig;
  /** The roles the user store gives a user. */
  userRoles(user: string): string[];
  /** The Linux groups of an account (for groupRoles); asked only when groupRoles is not empty. */
  groupsOf(account: string): Promise<string[]>;
  /** Whether a runAs account is root; asked only for operations that start processes. */
  isRoot(account: string): Promise<boolean>;
  warn(obj: object, msg?: string): void;
}

/** The old keys become roles of their own, granting exactly what they granted. */
const LEGACY: [key: 'rootRunAsUsers' | 'hardwareControlUsers' | 'eventLogReaders', role: Role][] = [
  ['rootRunAsUsers', { name: 'legacy:rootRunAsUsers', rules: [], grants: ['rootRunAs'] }],
  ['hardwareControlUsers', { name: 'legacy:hardwareControlUsers', rules: [], grants: ['hardwareControl'] }],
  ['eventLogReaders', { name: 'legacy:eventLogReaders', rules: [], grants: ['eventLogRead'] }],
];

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** A resource's name as rules name it. */
export function resourceName(ex: Exchange): string | undefined {
  const t = ex.target;
  if (!t) return undefined;
  if (t.kind === 'class') return `${t.entry.cls.namespace}/${t.entry.cls.name}`;
  if (t.kind === 'namespace') return `${t.namespace}/*`;
  if (t.kind === 'document') {
    const uri = t.resource.uri.toLowerCase();
    if (uri.startsWith(SHELL.ns.toLowerCase()) || uri.startsWith(POWERSHELL.ns.toLowerCase())) return 'shell';
    if (uri.startsWith(CONFIG.root.toLowerCase())) return 'winrm/config';
    return t.resource.uri;
  }
  if (t.route === 'eventing/eventlog') return 'EventLog';
  if (t.route === 'eventing/sel') return 'SEL';
  return t.route;
}

/** The family of the routed operation; undefined for those that act only on what the caller owns (Pull, Release, Renew, GetStatus, Unsubscribe). */
export function familyOf(ex: Exchange): Family | undefined {
  const op = ex.route?.operation;
  if (resourceName(ex) === 'shell') return 'shell';
  switch (op) {
    case 'get': case 'enumerate': case 'put': case 'create': case 'delete': case 'invoke': case 'subscribe':
      return op;
    default:
      return undefined;
  }
}

interface CompiledRule { resources: RegExp[]; operations: Set<string>; methods?: RegExp[]; effect: 'allow' | 'deny' }
interface CompiledRole { name: string; rules: CompiledRule[]; grants: Set<Grant>; conditions?: CompiledConditions }
interface CompiledConditions { source: string; addresses?: BlockList; methods?: Set<string>; httpsOnly: boolean; from?: number; until?: number }

function compileConditions(source: string, c: Conditions | undefined): CompiledConditions | undefined {
  if (!c) return undefined;
  let addresses: BlockList | undefined;
  if (c.addresses) {
    addresses = new BlockList();
    for (const a of c.addresses) {
      const [ip, bits] = a.split('/');
      const type = isIPv4(ip!) ? 'ipv4' : isIPv6(ip!) ? 'ipv6' : undefined;
      if (!type) throw new Error(`${source}: ${a} is not an address or CIDR range`);
      if (bits === undefined) addresses.addAddress(ip!, type);
      else addresses.addSubnet(ip!, Number(bits), type);
    }
  }
  return {
    source, addresses, methods: c.methods && new Set(c.methods), httpsOnly: c.httpsOnly ?? false,
    from: c.validFrom ? Date.parse(c.validFrom) : undefined, until: c.validUntil ? Date.parse(c.validUntil) : undefined,
  };
}

/** What conditions look at: where a request comes from and how it authenticated. */
export interface RequestOrigin { clientAddress: string; authMethod: AuthMethod; secure: boolean }

/** Why the conditions do not hold for this request, or undefined when they do. */
function unmet(c: CompiledConditions | undefined, info: RequestOrigin, now: number): string | undefined {
  if (!c) return undefined;
  const address = info.clientAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  if (c.addresses && !c.addresses.check(address, isIPv4(address) ? 'ipv4' : 'ipv6')) return `${c.source}: not from ${address}`;
  if (c.methods && !c.methods.has(info.authMethod)) return `${c.source}: not with ${info.authMethod} authentication`;
  if (c.httpsOnly && !info.secure) return `${c.source}: HTTPS only`;
  if (c.from !== undefined && now < c.from) return `${c.source}: not before ${new Date(c.from).toISOString()}`;
  if (c.until !== undefined && now > c.until) return `${c.source}: not after ${new Date(c.until).toISOString()}`;
  return undefined;
}

const compileRule = (r: Rule): CompiledRule => ({
  resources: r.resources.map(globPattern), operations: new Set(r.operations), methods: r.methods?.map(globPattern), effect: r.effect,
});

/** What each effect an operation declares needs (provider-api.ts Effect). */
const EFFECT_GRANT: Record<Exclude<Effect, 'runsAsAccount'>, Grant> = { changesHardware: 'hardwareControl', readsEventLog: 'eventLogRead' };

/** What a caller holds from where they are (AccessPolicy.standing). */
export interface Standing {
  roles: string[];
  grants: Set<Grant>;
  allows(family: Family, resource: string): boolean;
}

/** True when some role allows the operation and none denies it; else the denying role, or undefined when none allows it. */
function allowedBy(roles: CompiledRole[], family: Family, resource: string, method?: string): true | CompiledRole | undefined {
  const covers = (r: CompiledRule) => (r.operations.has('*') || r.operations.has(family)) && r.resources.some((p) => p.test(resource))
    && (!method || !r.methods || r.methods.some((m) => m.test(method)));
  const denying = roles.find((role) => role.rules.some((r) => r.effect === 'deny' && covers(r)));
  if (denying) return denying;
  return roles.some((role) => role.rules.some((r) => r.effect === 'allow' && covers(r))) || undefined;
}

export class AccessPolicy {
  private readonly roles = new Map<string, CompiledRole>();
  private readonly userConditions = new Map<string, CompiledConditions>();

  constructor(private readonly o: AccessOptions) {
    const c = o.config;
    const all: Role[] = [...Object.values(BUILT_IN_ROLES), ...Object.entries(c.roles).map(([name, r]) => ({ name, ...r })), ...LEGACY.map(([, r]) => r)];
    for (const r of all) {
      const conditions = c.conditions.roles[r.name] ?? r.conditions;
      this.roles.set(r.name.toLowerCase(), { name: r.name, rules: r.rules.map(compileRule), grants: new Set(r.grants), conditions: compileConditions(`role ${r.name}`, conditions) });
    }
    for (const [user, cond] of Object.entries(c.conditions.users)) this.userConditions.set(user.toLowerCase(), compileConditions(`user ${user}`, cond)!);
    for (const [key] of LEGACY) if (c[key].length > 0) o.warn({ event: 'config_deprecated', key: `security.${key}` }, `security.${key} still works; give these users a role instead`);
  }

  /** Whether a role of this name exists (built in, configured or legacy). */
  has(role: string): boolean {
    return this.roles.has(role.toLowerCase());
  }

  /** The roles a caller holds (before conditions). */
  async rolesOf(caller: Caller): Promise<string[]> {
    const c = this.o.config;
    const names = new Set(this.o.userRoles(caller.user).map((r) => r.toLowerCase()));
    if (Object.keys(c.groupRoles).length > 0 && caller.runAs) {
      const groups = await this.o.groupsOf(caller.runAs);
      for (const [group, roles] of Object.entries(c.groupRoles)) if (groups.some((g) => same(g, group))) for (const r of roles) names.add(r.toLowerCase());
    }
    for (const [key, role] of LEGACY) if (c[key].some((u) => same(u, caller.user))) names.add(role.name.toLowerCase());
    return [...names];
  }

  /** The roles that count for a request from here, or why none does (the user's conditions, no role, the roles' conditions). */
  private async applicable(caller: Caller, info: RequestOrigin, log: { info(o: object): void }): Promise<{ counting: CompiledRole[]; refusal?: { rule: string; message: string } }> {
    const now = Date.now();
    const userUnmet = unmet(this.userConditions.get(caller.user.toLowerCase()), info, now);
    if (userUnmet) return { counting: [], refusal: { rule: userUnmet, message: `${caller.user} may not be served here: ${userUnmet}.` } };
    const held = (await this.rolesOf(caller)).map((n) => this.roles.get(n)).filter((r): r is CompiledRole => r !== undefined);
    const counting = held.filter((r) => {
      const why = unmet(r.conditions, info, now);
      if (why) log.info({ event: 'role_not_applied', user: caller.user, role: r.name, reason: why });
      return !why;
    });
    if (counting.length > 0) return { counting };
    return {
      counting,
      refusal: held.length === 0
        ? { rule: 'no_role', message: `${caller.user} has no role.` }
        : { rule: 'conditions', message: `None of ${caller.user}'s roles applies to this request (${held.map((r) => unmet(r.conditions, info, now)).join('; ')}).` },
    };
  }

  /**
   * What a caller may do from here, outside the WS-Management pipeline (the dashboard, the
   * metrics): their grants, and whether their rules allow an operation family on a resource.
   * Undefined (with the reason logged) when no role counts.
   */
  async standing(caller: Caller, info: RequestOrigin, log: { info(o: object): void; warn(o: object): void }): Promise<Standing | undefined> {
    if (caller.kind === 'event-source') return undefined;
    const { counting, refusal } = await this.applicable(caller, info, log);
    if (refusal) {
      log.warn({ event: 'access_denied', rule: refusal.rule, user: caller.user });
      return undefined;
    }
    const grants = new Set(counting.flatMap((r) => [...r.grants]));
    return { roles: counting.map((r) => r.name), grants, allows: (family, resource) => allowedBy(counting, family, resource) === true };
  }

  /** Whether the caller holds a grant from here (GET /metrics asks this). */
  async holds(caller: Caller, grant: Grant, info: RequestOrigin, log: { info(o: object): void; warn(o: object): void }): Promise<boolean> {
    const standing = await this.standing(caller, info, log);
    if (standing && !standing.grants.has(grant)) log.warn({ event: 'access_denied', rule: grant, user: caller.user, grant });
    return standing?.grants.has(grant) ?? false;
  }

  /** The authorize hook. */
  readonly authorize = async (ex: Exchange): Promise<void> => {
    const caller = ex.caller;
    // The collector's sources are judged by the collector's own hooks (collector.ts).
    if (!caller || caller.kind === 'event-source') return;
    const deny = (rule: string, message: string): never => {
      ex.log.warn({ event: 'access_denied', rule, user: caller.user, action: ex.request?.action, resource: resourceName(ex) });
      throw new WsmanFault('AccessDenied', message);
    };
    const { counting, refusal } = await this.applicable(caller, ex.info, ex.log);
    if (refusal) deny(refusal.rule, refusal.message);
    const family = familyOf(ex);
    if (family) {
      const resource = resourceName(ex) ?? '';
      const method = ex.invoked?.name;
      const verdict = allowedBy(counting, family, resource, method);
      const what = `${family} ${resource}${method ? ` (${method})` : ''}`;
      if (verdict !== true && verdict) deny(`role:${verdict.name}`, `${caller.user} may not ${what}: the role ${verdict.name} denies it.`);
      if (verdict !== true) deny('no_rule', `${caller.user} may not ${what}: no role of theirs (${counting.map((r) => r.name).join(', ')}) allows it.`);
    }
    const grants = new Set(counting.flatMap((r) => [...r.grants]));
    for (const effect of ex.effects ?? []) {
      if (effect === 'runsAsAccount') {
        if (!grants.has('rootRunAs') && (await this.o.isRoot(caller.runAs))) deny('rootRunAs', `${caller.user} is not allowed to run processes as root (a role with the rootRunAs grant, such as elevated, allows it).`);
      } else if (!grants.has(EFFECT_GRANT[effect])) {
        deny(EFFECT_GRANT[effect], effect === 'changesHardware'
          ? `${caller.user} may not change hardware state (a role with the hardwareControl grant, such as elevated, allows it).`
          : `${caller.user} may not read the host's journal (a role with the eventLogRead grant: elevated, administrator, or security.eventLogReaders).`);
      }
    }
  };
}

