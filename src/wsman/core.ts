// The protocol core: one function from request bytes, an authenticated caller and what the
// transport knows, to a reply (DESIGN.md, "The flow of one request"). It knows neither Koa nor
// any provider by name; a unit test can call it with no socket. Each request is a pipeline of
// named steps over one Exchange (principle 9; fastify's lifecycle, aedes' runSeries):
//   parse → read headers → route → authorize → quota → call → build → size check
// with hooks a composition root sets: `authorize` before the call, `onReply` and `onFault` after.
import { PROVIDER_API_VERSION, type Caller, type Provider, type ProviderLogger } from '../provider-api.js';
import { buildBareEnvelope, buildEnvelope, buildFault, type ReplyMessage } from '../soap/envelope.js';
import { FAULTS, WsmanFault } from '../soap/faults.js';
import { ACTION, FAULT_DETAIL, NS } from '../soap/names.js';
import { child, parseXml, textOf, XmlError, type ParseLimits } from '../soap/xml.js';
import { EnumerationContexts } from './enumeration-contexts.js';
import { toFault } from './errors.js';
import type { Exchange, Hooks, Reply, RequestInfo, RequestRecord, StatusReply } from './exchange.js';
import type { OpContext } from './operations/context.js';
import { documentRoutes } from './operations/document.js';
import { enumerate, pull, release } from './operations/enumeration.js';
import { identifyResponse, type Identity } from './operations/identify.js';
import { invoke, invokedMethod } from './operations/invoke.js';
import { create, get, put, remove } from './operations/transfer.js';
import { readRequest, type HeaderLimits } from './request.js';
import { Resources } from './resources.js';
import { RouteTable } from './routes.js';

export interface CoreLimits extends HeaderLimits, ParseLimits {
  maxConcurrentOperationsPerUser: number;
  enumerationTimeoutMs: number;
  maxEnumerationContextsPerUser: number;
}

export interface CoreOptions {
  providers: Provider[];
  limits: CoreLimits;
  identity: Identity;
  /** The WSManFault/@Machine value. */
  machine: string;
}

export interface HandleOptions {
  info: RequestInfo;
  /** Absent on the anonymous paths (`/wsman-anon`, `WSMANIDENTIFY: unauthenticated`): Identify only. */
  caller?: Caller;
  log: ProviderLogger;
  /**
   * The request's one controller, whose signal providers get: the HTTP layer aborts it when the
   * client disconnects before its reply, the core at the OperationTimeout and once the reply is
   * built. One controller per request, not one linked to another: linking costs more than the
   * rest of a small request's bookkeeping (test/bench).
   */
  work?: AbortController;
}

export interface Core {
  handle(xml: string, opts: HandleOptions): Promise<Reply>;
  readonly resources: Resources;
  /** Where eventing, the collector and other capabilities register their routes. */
  readonly routes: RouteTable;
  addHook<K extends keyof Hooks>(name: K, hook: Hooks[K][number]): void;
  readonly openEnumerations: number;
  /** The open enumerations that are sessions of their own (`winrmd session list`): a pull subscription's context is its subscription's. */
  enumerations(): EnumerationSession[];
  /** Ends one as a Release would (`winrmd session end`); false when there is none of this id. */
  endEnumeration(id: string): boolean;
  close(): void;
}

/** An open enumeration context as `winrmd session list` shows it. */
export interface EnumerationSession {
  id: string;
  owner: string;
  resourceUri?: string;
  clientAddress?: string;
  /** When it was opened, and when it is dropped unless pulled (ms since the epoch). */
  created: number;
  expiresAt: number;
}

/** Abort reasons (constants: aborting with none builds a DOMException on every request). */
const REPLIED = new Error('the reply has been sent');
const OUT_OF_TIME = new Error('the OperationTimeout ran out');

type Step = (ex: Exchange) => void | Promise<void>;

export function createCore(opts: CoreOptions): Core {
  const resources = new Resources();
  const routes = new RouteTable();
  for (const p of opts.providers) {
    // A provider built against another interface version is refused at load (principle 3).
    if (p.apiVersion !== PROVIDER_API_VERSION) throw new Error(`provider ${p.name} targets provider API ${p.apiVersion}, this server offers ${PROVIDER_API_VERSION}`);
    resources.add(p);
    for (const doc of p.documents ?? []) {
      const key = doc.uri.toLowerCase();
      for (const [action, route] of documentRoutes(doc)) routes.add(key, action, route);
      // The enumeration stub pages a document resource's items as it pages instances.
      if (doc.enumerate) routes.add(key, ACTION.enumerate, { operation: 'enumerate', handler: enumerate });
    }
  }
  for (const kind of ['class', 'namespace']) routes.add(kind, ACTION.enumerate, { operation: 'enumerate', handler: enumerate });
  routes.add('class', ACTION.get, { operation: 'get', handler: get });
  routes.add('class', ACTION.put, { operation: 'put', handler: put });
  routes.add('class', ACTION.create, { operation: 'create', handler: create });
  routes.add('class', ACTION.delete, { operation: 'delete', handler: remove });
  routes.fallback('class', { operation: 'invoke', handler: invoke, method: (req, target) => invokedMethod(req.action, target) });
  routes.addUntargeted(ACTION.pull, { operation: 'pull', handler: (req, ctx) => pull(req, ctx) });
  routes.addUntargeted(ACTION.release, { operation: 'release', handler: (req, ctx) => release(req, ctx) });

  const { limits } = opts;
  const enumerations = new EnumerationContexts<string>(limits.enumerationTimeoutMs, limits.maxEnumerationContextsPerUser);
  // Identify replies never change (DSP0226 §11 has no addressing headers to echo): build them once.
  const identified = buildBareEnvelope([identifyResponse(opts.identity, true)]);
  const identifiedAnonymously = buildBareEnvelope([identifyResponse(opts.identity, false)]);
  const active = new Map<string, number>();
  const hooks: Hooks = { authorize: [], onReply: [], onFault: [] };

  const parse: Step = (ex) => {
    try {
      ex.envelope = parseXml(ex.xml, limits);
    } catch (err) {
      if (err instanceof XmlError) {
        throw err.reason === 'depth' || err.reason === 'attributes'
          ? new WsmanFault('EncodingLimit', err.message)
          : new WsmanFault('SchemaValidationError', err.message);
      }
      throw err;
    }
    // First, so that any later fault can relate to the request (DSP0226 R5.4.2-2).
    const id = textOf(child(child(ex.envelope, NS.soap, 'Header'), NS.wsa, 'MessageID'));
    if (id && id.length <= 1024) ex.messageId = id;
  };

  const readHeaders: Step = (ex) => {
    const req = (ex.request = readRequest(ex.envelope!, limits));
    if (req.identify) {
      ex.reply = { status: 200, body: ex.caller ? identified : identifiedAnonymously };
    } else if (!ex.caller) {
      // The anonymous paths answer Identify only (MS-WSMV 3.1.4.1.30).
      throw new WsmanFault('AccessDenied', 'The anonymous endpoint answers Identify only.');
    }
  };

  const route: Step = (ex) => {
    const req = ex.request!;
    let found = routes.untargeted(req.action);
    if (!found) {
      const target = (ex.target = resolveTarget(ex));
      found = routes.find(target.route, req.action);
      if (!found) throw new WsmanFault('ActionNotSupported', `The action ${req.action} is not supported by ${req.resourceUri}.`);
    }
    ex.route = found;
    ex.effects = found.effects;
    if (found.method) {
      const method = found.method(req, ex.target!);
      ex.invoked = method;
      ex.effects = method.effects;
    }
  };

  const resolveTarget = (ex: Exchange) => {
    const req = ex.request!;
    for (const resolver of routes.resolvers) {
      const t = resolver(req, ex.info.path);
      if (t) return t;
    }
    return resources.resolve(req.resourceUri, req.selectors);
  };

  /** The authorize hooks in order; a promise only when one of them must wait. */
  const authorize = (ex: Exchange, from = 0): void | Promise<void> => {
    const list = hooks.authorize;
    for (let i = from; i < list.length; i++) {
      const pending = list[i]!(ex);
      if (pending) return pending.then(() => authorize(ex, i + 1));
    }
  };

  // MaxConcurrentOperationsPerUser (MS-WSMV 2.2.4.36): refuse, do not queue.
  const quota: Step = (ex) => {
    const user = ex.caller!.user;
    const n = active.get(user) ?? 0;
    if (n >= limits.maxConcurrentOperationsPerUser) {
      throw new WsmanFault('QuotaLimit', `The user ${user} has ${n} operations in progress (MaxConcurrentOperationsPerUser = ${limits.maxConcurrentOperationsPerUser}).`);
    }
    active.set(user, n + 1);
    ex.holdsQuota = true;
  };

  const call = async (ex: Exchange): Promise<ReplyMessage | StatusReply> => {
    const req = ex.request!;
    const ctx: OpContext = {
      caller: ex.caller!, log: ex.log, resources, enumerations, signal: ex.work.signal,
      deadline: Date.now() + req.operationTimeoutMs, info: ex.info, invoked: ex.invoked,
    };
    const timer = setTimeout(() => ex.work.abort(OUT_OF_TIME), req.operationTimeoutMs);
    try {
      return await ex.route!.handler(req, ctx, ex.target!);
    } finally {
      clearTimeout(timer);
    }
  };

  const build = (ex: Exchange, reply: ReplyMessage | StatusReply) => {
    if (!('action' in reply)) {
      ex.reply = { status: reply.status, body: '' };
      return;
    }
    const body = buildEnvelope(reply);
    // DSP0226 §6.2: a reply never exceeds the client's MaxEnvelopeSize.
    if (Buffer.byteLength(body) > ex.request!.maxEnvelopeSize) {
      throw new WsmanFault('EncodingLimit', `The reply would exceed the MaxEnvelopeSize of ${ex.request!.maxEnvelopeSize} octets.`, FAULT_DETAIL.maxEnvelopeSize);
    }
    ex.reply = { status: 200, body };
  };

  const before: Step[] = [parse, readHeaders, route, (ex) => authorize(ex), quota];

  function faultReply(ex: Exchange, err: unknown): Reply {
    const fault = (ex.fault = toFault(err));
    if (fault.id === 'InternalError') ex.log.error({ event: 'internal_error', err }, 'internal error');
    else ex.log.info({ event: 'fault', fault: fault.id, detail: fault.message });
    return {
      status: FAULTS[fault.id].http,
      body: buildFault({ id: fault.id, message: fault.message, faultDetail: fault.faultDetail, notUnderstood: fault.notUnderstood, windowsCode: fault.windowsCode, relatesTo: ex.messageId, machine: opts.machine }),
    };
  }

  function record(ex: Exchange, status: number): RequestRecord {
    const req = ex.request;
    return {
      user: ex.caller?.user, authMethod: ex.info.authMethod, clientAddress: ex.info.clientAddress, path: ex.info.path,
      connectionId: ex.info.connectionId, action: req?.identify ? 'Identify' : req?.action, operation: req?.identify ? 'identify' : ex.route?.operation,
      method: ex.invoked?.name, params: ex.invoked && req?.body ? Object.fromEntries(req.body.children.map((c) => [c.name, c.text.slice(0, 256)])) : undefined,
      resourceUri: req?.resourceUri || undefined, selectors: req?.selectors, status,
      fault: ex.fault?.id, faultMessage: ex.fault?.message, durationMs: Date.now() - ex.started,
    };
  }

  function notify(ex: Exchange, reply: Reply): void {
    const list = ex.fault ? hooks.onFault : hooks.onReply;
    if (list.length === 0) return;
    const r = record(ex, reply.status);
    for (const hook of list) {
      try {
        hook(r);
      } catch (err) {
        ex.log.error({ event: 'hook_failed', err }, 'a reply hook threw');
      }
    }
  }

  return {
    resources,
    routes,
    get openEnumerations() {
      return enumerations.size;
    },
    enumerations: () => enumerations.list().map(({ id, owner, resourceUri, clientAddress, created, expiresAt }) => ({ id, owner, resourceUri, clientAddress, created, expiresAt })),
    endEnumeration: (id) => enumerations.end(id),
    addHook(name, hook) {
      (hooks[name] as unknown[]).push(hook);
    },

    async handle(xml, o) {
      const ex: Exchange = { xml, info: o.info, caller: o.caller, log: o.log, work: o.work ?? new AbortController(), started: Date.now() };
      let reply: Reply;
      try {
        for (const step of before) {
          const pending = step(ex);
          if (pending) await pending; // only the steps that must wait cost a promise
          if (ex.reply) break;
        }
        if (!ex.reply) build(ex, await call(ex));
        reply = ex.reply!;
      } catch (err) {
        reply = faultReply(ex, err);
      } finally {
        if (ex.holdsQuota) {
          if (!ex.work.signal.aborted) ex.work.abort(REPLIED); // providers stop any work still tied to this request
          const user = ex.caller!.user;
          const left = (active.get(user) ?? 1) - 1;
          if (left > 0) active.set(user, left);
          else active.delete(user);
        }
      }
      notify(ex, reply);
      // For the transport's request log line.
      reply.action = ex.request?.identify ? 'Identify' : ex.request?.action;
      reply.resourceUri = ex.request?.resourceUri || undefined;
      reply.fault = ex.fault?.id;
      return reply;
    },

    close() {
      enumerations.closeAll();
    },
  };
}

export type { Reply, RequestInfo } from './exchange.js';
