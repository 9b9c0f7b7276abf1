// The core's one routing table (DESIGN.md principle 1; openwsman's dispatcher): the target is
// resolved once, from the URL path and the resource URI, then (target route, action) names the
// handler, with a per-target fallback for custom actions (a class's methods). Operations that
// need no target (Pull and Release find their enumeration by its context) are looked up by
// action alone. Everything that serves a request joins by registering here: the transfer and
// enumeration stubs, each document resource's own action table, and later eventing and the
// collector.
import type { Effect, MethodDecl } from '../provider-api.js';
import type { ReplyMessage } from '../soap/envelope.js';
import type { StatusReply } from './exchange.js';
import type { OpContext } from './operations/context.js';
import type { WsmanRequest } from './request.js';
import type { Target } from './resources.js';

export type { Target };

export type Handler = (req: WsmanRequest, ctx: OpContext, target: Target) => Promise<ReplyMessage | StatusReply>;

export interface Route {
  /** What the access policy and the audit trail call it: get, put, create, delete, enumerate, pull, release, invoke, or a custom action's name. */
  operation: string;
  handler: Handler;
  /** What the operation does that the access policy decides on. */
  effects?: readonly Effect[];
  /** An Invoke's route: the method the action names, read before the authorize step (its effects are the method's). */
  method?(req: WsmanRequest, target: Target): { name: string; decl: MethodDecl; effects?: readonly Effect[] };
}

/** A target resolver tried before the resource-URI one: the collector resolves by URL path. */
export type Resolver = (req: WsmanRequest, path: string) => Target | undefined;

export class RouteTable {
  /** Target route, then action: no key is built per lookup, and the action URIs are the shared constants (a lab holds a table per host). */
  private readonly byTarget = new Map<string, Map<string, Route>>();
  private readonly byAction = new Map<string, Route>();
  private readonly fallbacks = new Map<string, Route>();
  readonly resolvers: Resolver[] = [];

  /** A route on a target's route key (`class`, `namespace`, a document resource's URI, …). */
  add(targetRoute: string, action: string, route: Route): void {
    let actions = this.byTarget.get(targetRoute);
    if (!actions) this.byTarget.set(targetRoute, (actions = new Map()));
    if (actions.has(action)) throw new Error(`${action} on ${targetRoute} is routed twice`);
    actions.set(action, route);
  }

  /** A route that needs no target. */
  addUntargeted(action: string, route: Route): void {
    if (this.byAction.has(action)) throw new Error(`${action} is routed twice`);
    this.byAction.set(action, route);
  }

  /** What serves any other action on the target (a class's methods). */
  fallback(targetRoute: string, route: Route): void {
    this.fallbacks.set(targetRoute, route);
  }

  untargeted(action: string): Route | undefined {
    return this.byAction.get(action);
  }

  find(targetRoute: string, action: string): Route | undefined {
    return this.byTarget.get(targetRoute)?.get(action) ?? this.fallbacks.get(targetRoute);
  }
}
