// The protocol core: one function from request bytes and an authenticated caller to reply bytes
// (DESIGN.md, "The flow of one request"). It knows neither Koa nor any provider by name; a unit
// test can call it with no socket. Each request is a short pipeline of named steps
// (principle 9): parse → read headers → route → check quotas → call the operation → build.
import { PROVIDER_API_VERSION, type Caller, type Provider, type ProviderLogger } from '../provider-api.js';
import { buildBareEnvelope, buildEnvelope, buildFault, type ReplyMessage } from '../soap/envelope.js';
import { FAULTS, WsmanFault, type FaultId } from '../soap/faults.js';
import { ACTION, FAULT_DETAIL } from '../soap/names.js';
import { parseXml, XmlError, type ParseLimits, type XmlNode } from '../soap/xml.js';
import { EnumerationContexts } from './enumeration-contexts.js';
import { toFault } from './errors.js';
import type { OpContext } from './operations/context.js';
import { documentOperation } from './operations/document.js';
import { enumerate, pull, release } from './operations/enumeration.js';
import { identifyResponse, type Identity } from './operations/identify.js';
import { invoke } from './operations/invoke.js';
import { create, get, put, remove } from './operations/transfer.js';
import { readRequest, type HeaderLimits, type WsmanRequest } from './request.js';
import { Resources, type Target } from './resources.js';

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

export interface Reply {
  status: number;
  body: string;
  /** For the request log line. */
  action?: string;
  resourceUri?: string;
  fault?: FaultId;
}

export interface Core {
  /**
   * `work` is the request's one controller, whose signal providers get: the HTTP layer aborts it
   * when the client disconnects before its reply, the core at the OperationTimeout and once the
   * reply is built. One controller per request, not one linked to another: linking costs more
   * than the rest of a small request's bookkeeping (test/bench).
   */
  handle(xml: string, caller: Caller, log: ProviderLogger, work?: AbortController): Promise<Reply>;
  /** The anonymous endpoint answers Identify only, without a product version (MS-WSMV 3.1.4.1.30). */
  identifyAnonymous(xml: string, log: ProviderLogger): Reply;
  readonly resources: Resources;
  readonly openEnumerations: number;
  close(): void;
}

/** Abort reasons (constants: aborting with none builds a DOMException on every request). */
const REPLIED = new Error('the reply has been sent');
const OUT_OF_TIME = new Error('the OperationTimeout ran out');

type Operation = (req: WsmanRequest, ctx: OpContext) => Promise<ReplyMessage>;

export function createCore(opts: CoreOptions): Core {
  const resources = new Resources();
  for (const p of opts.providers) {
    // A provider built against another interface version is refused at load (principle 3).
    if (p.apiVersion !== PROVIDER_API_VERSION) throw new Error(`provider ${p.name} targets provider API ${p.apiVersion}, this server offers ${PROVIDER_API_VERSION}`);
    resources.add(p);
  }
  const { limits } = opts;
  const enumerations = new EnumerationContexts<string>(limits.enumerationTimeoutMs, limits.maxEnumerationContextsPerUser);
  // Identify replies never change (DSP0226 §11 has no addressing headers to echo): build them once.
  const identified = buildBareEnvelope([identifyResponse(opts.identity, true)]);
  const identifiedAnonymously = buildBareEnvelope([identifyResponse(opts.identity, false)]);
  const active = new Map<string, number>();

  // A document resource serves every action but Enumerate itself (the stub pages its items).
  const targeted = (op: (req: WsmanRequest, ctx: OpContext, target: Target) => Promise<ReplyMessage>): Operation =>
    (req, ctx) => {
      const target = resources.resolve(req.resourceUri, req.selectors);
      return target.kind === 'document' && op !== enumerate ? documentOperation(req, ctx, target) : op(req, ctx, target);
    };

  const operations: Record<string, Operation> = {
    [ACTION.get]: targeted(get),
    [ACTION.put]: targeted(put),
    [ACTION.create]: targeted(create),
    [ACTION.delete]: targeted(remove),
    [ACTION.enumerate]: targeted(enumerate),
    [ACTION.pull]: pull,
    [ACTION.release]: release,
  };
  const customAction = targeted(invoke);

  function parse(xml: string): XmlNode {
    try {
      return parseXml(xml, limits);
    } catch (err) {
      if (err instanceof XmlError) {
        throw err.reason === 'depth' || err.reason === 'attributes'
          ? new WsmanFault('EncodingLimit', err.message)
          : new WsmanFault('SchemaValidationError', err.message);
      }
      throw err;
    }
  }

  function faultReply(err: unknown, log: ProviderLogger, relatesTo?: string): Reply {
    const fault = toFault(err);
    if (fault.id === 'InternalError') log.error({ event: 'internal_error', err }, 'internal error');
    else log.info({ event: 'fault', fault: fault.id, detail: fault.message });
    return {
      status: FAULTS[fault.id].http,
      fault: fault.id,
      body: buildFault({ id: fault.id, message: fault.message, faultDetail: fault.faultDetail, notUnderstood: fault.notUnderstood, windowsCode: fault.windowsCode, relatesTo, machine: opts.machine }),
    };
  }

  return {
    resources,
    get openEnumerations() {
      return enumerations.size;
    },

    async handle(xml, caller, log, work = new AbortController()) {
      let req: WsmanRequest | undefined;
      let counted = false;
      let timer: NodeJS.Timeout | undefined;
      try {
        req = readRequest(parse(xml), limits);
        if (req.identify) return { status: 200, action: 'Identify', body: identified };

        const op = operations[req.action] ?? customAction;
        // MaxConcurrentOperationsPerUser (security-and-limits.md): refuse, do not queue.
        const n = active.get(caller.user) ?? 0;
        if (n >= limits.maxConcurrentOperationsPerUser) {
          throw new WsmanFault('QuotaLimit', `The user ${caller.user} has ${n} operations in progress (MaxConcurrentOperationsPerUser = ${limits.maxConcurrentOperationsPerUser}).`);
        }
        active.set(caller.user, n + 1);
        counted = true;
        timer = setTimeout(() => work.abort(OUT_OF_TIME), req.operationTimeoutMs);
        const ctx: OpContext = { caller, log, resources, enumerations, signal: work.signal, deadline: Date.now() + req.operationTimeoutMs };
        const reply = await op(req, ctx);
        const body = buildEnvelope(reply);
        if (Buffer.byteLength(body) > req.maxEnvelopeSize) {
          throw new WsmanFault('EncodingLimit', `The reply would exceed the MaxEnvelopeSize of ${req.maxEnvelopeSize} octets.`, FAULT_DETAIL.maxEnvelopeSize);
        }
        return { status: 200, body, action: req.action, resourceUri: req.resourceUri };
      } catch (err) {
        return { ...faultReply(err, log, req?.messageId), action: req?.action, resourceUri: req?.resourceUri };
      } finally {
        clearTimeout(timer);
        if (counted && !work.signal.aborted) work.abort(REPLIED); // providers stop any work still tied to this request
        if (counted) {
          const left = (active.get(caller.user) ?? 1) - 1;
          if (left > 0) active.set(caller.user, left);
          else active.delete(caller.user);
        }
      }
    },

    identifyAnonymous(xml, log) {
      try {
        const req = readRequest(parse(xml), limits);
        if (!req.identify) throw new WsmanFault('AccessDenied', 'The anonymous endpoint answers Identify only.');
        return { status: 200, action: 'Identify', body: identifiedAnonymously };
      } catch (err) {
        return faultReply(err, log);
      }
    },

    close() {
      enumerations.closeAll();
    },
  };
}
