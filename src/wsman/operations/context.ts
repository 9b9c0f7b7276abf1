// What every operation stub gets, and the helpers they share to call providers safely.
import type { Caller, DocumentRequest, MethodDecl, ProviderLogger, ProviderRequest } from '../../provider-api.js';
import type { RequestInfo } from '../exchange.js';
import { WsmanFault } from '../../soap/faults.js';
import type { EnumerationContexts } from '../enumeration-contexts.js';
import type { WsmanRequest } from '../request.js';
import type { Resources, Target } from '../resources.js';

export interface OpContext {
  caller: Caller;
  log: ProviderLogger;
  resources: Resources;
  enumerations: EnumerationContexts<string>;
  /** Aborted when the OperationTimeout runs out or the client goes away. */
  signal: AbortSignal;
  /** When the OperationTimeout runs out (ms since the epoch). */
  deadline: number;
  /** What the transport knows of the request (URL path, client certificate, headers). */
  info: RequestInfo;
  /** For an Invoke, the method the route step read from the action. */
  invoked?: { name: string; decl: MethodDecl };
}

export function providerRequest(req: WsmanRequest, ctx: OpContext, target: Target, className?: string): ProviderRequest {
  const entry = target.kind === 'class' ? target.entry : undefined;
  return {
    caller: ctx.caller,
    resourceUri: req.resourceUri,
    className: className ?? entry?.cls.name,
    namespace: target.kind === 'class' || target.kind === 'namespace' ? target.namespace : undefined,
    selectors: target.selectors,
    options: req.options,
    signal: ctx.signal,
    deadline: ctx.deadline,
    maxEnvelopeSize: req.maxEnvelopeSize,
    log: ctx.log,
  };
}

export function documentRequest(req: WsmanRequest, ctx: OpContext, target: Target): DocumentRequest {
  return { ...providerRequest(req, ctx, target), action: req.action, body: req.body };
}

/**
 * Wait for a provider, but never past the caller's OperationTimeout: a slow provider is a
 * TimedOut fault (DSP0226 §6.1), not a hung request. The provider sees the abort on req.signal.
 */
export function beforeDeadline<T>(work: Promise<T>, ctx: OpContext): Promise<T> {
  if (ctx.signal.aborted) return Promise.reject(new WsmanFault('TimedOut'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new WsmanFault('TimedOut'));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => { ctx.signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { ctx.signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}
