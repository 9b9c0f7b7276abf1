// The access policy: one place that decides who may do what, consulted in the pipeline's
// authorize step before any provider is called (DESIGN.md, the authorize hook). Operations
// declare their effects (provider-api.ts Effect); a rule names an effect and who holds the grant
// for it. Providers keep only ownership checks (a shell is its creator's). Roles (a later issue)
// add rules of the same shape.
import type { Caller, Effect } from '../provider-api.js';
import { WsmanFault } from '../soap/faults.js';
import type { Exchange } from './exchange.js';

export interface PolicyRule {
  /** For the log line of a refusal. */
  name: string;
  effect: Effect;
  /** Whether the rule concerns this caller at all (a root runAs account, say). */
  applies(caller: Caller): boolean | Promise<boolean>;
  /** Users (case-insensitive) the configuration grants the effect to. */
  grantedTo: readonly string[];
  /** Said in the AccessDenied fault: what the caller may not do, and which setting grants it. */
  refusal(caller: Caller): string;
}

export interface Grants {
  rootRunAsUsers: readonly string[];
  hardwareControlUsers: readonly string[];
  eventLogReaders: readonly string[];
}

/**
 * The rules the `security` section configures. `isRootAccount` answers whether a runAs account
 * resolves to uid 0; it is asked only for operations that start processes.
 */
export function configuredRules(grants: Grants, isRootAccount: (account: string) => Promise<boolean>): PolicyRule[] {
  return [
    {
      name: 'rootRunAs',
      effect: 'runsAsAccount',
      applies: (caller) => isRootAccount(caller.runAs),
      grantedTo: grants.rootRunAsUsers,
      refusal: (caller) => `${caller.user} is not allowed to run processes as root (security.rootRunAsUsers grants it).`,
    },
    {
      name: 'hardwareControl',
      effect: 'changesHardware',
      applies: () => true,
      grantedTo: grants.hardwareControlUsers,
      refusal: (caller) => `${caller.user} may not change hardware state (security.hardwareControlUsers grants it).`,
    },
    {
      name: 'eventLogReaders',
      effect: 'readsEventLog',
      applies: () => true,
      grantedTo: grants.eventLogReaders,
      refusal: (caller) => `${caller.user} may not read the host's journal (security.eventLogReaders grants it, as Windows' Event Log Readers group does).`,
    },
  ];
}

/** The authorize hook that applies the rules to the effects of the routed operation. */
export function accessPolicy(rules: readonly PolicyRule[]): (ex: Exchange) => Promise<void> | void {
  const byEffect = new Map<Effect, PolicyRule[]>();
  for (const r of rules) byEffect.set(r.effect, [...(byEffect.get(r.effect) ?? []), r]);
  const holds = (list: readonly string[], user: string) => list.some((u) => u.toLowerCase() === user.toLowerCase());

  return (ex) => {
    const effects = ex.effects;
    const caller = ex.caller;
    if (!effects?.length || !caller) return; // the common case: nothing to decide, no promise
    return (async () => {
      for (const effect of effects) {
        for (const rule of byEffect.get(effect) ?? []) {
          if (holds(rule.grantedTo, caller.user) || !(await rule.applies(caller))) continue;
          ex.log.warn({ event: 'access_denied', rule: rule.name, user: caller.user, action: ex.request?.action });
          throw new WsmanFault('AccessDenied', rule.refusal(caller));
        }
      }
    })();
  };
}
