// WS-Enumeration Enumerate, Pull and Release (DSP0226 §8) with the WS-Management extensions:
// OptimizeEnumeration, MaxElements, EnumerationMode, and the WQL and selector filter dialects.
// A provider's enumerate() is an async iterable; this stub pages it into envelopes that stay
// under the client's MaxEnvelopeSize (DSP0226 §6.2: a reply never exceeds it).
import type { ClassEntry } from '../../cim/registry.js';
import { eprToXml, fragmentToXml, instanceToXml, selectorsOf } from '../../cim/serialize.js';
import { matches, parseWql, project, validateQuery, WqlError, type WqlQuery } from '../../cim/wql.js';
import type { Instance } from '../../provider-api.js';
import type { ReplyMessage } from '../../soap/envelope.js';
import { WsmanFault } from '../../soap/faults.js';
import { ACTION, DIALECT, NS } from '../../soap/names.js';
import { child, children, el, raw, serialize, textOf, type XmlNode } from '../../soap/xml.js';
import type { OpenEnumeration } from '../enumeration-contexts.js';
import type { WsmanRequest } from '../request.js';
import type { Target } from '../resources.js';
import { beforeDeadline, documentRequest, providerRequest, type OpContext } from './context.js';

type Mode = 'object' | 'epr' | 'objectAndEpr';

/** Room kept for the envelope and headers around the items. */
const ENVELOPE_OVERHEAD = 2048;

interface Filter {
  keep(inst: Instance): boolean;
  /** The WQL select list applied to an instance's properties, when there is one. */
  project?(properties: Instance['properties']): Instance['properties'];
}

export async function enumerate(req: WsmanRequest, ctx: OpContext, target: Target): Promise<ReplyMessage> {
  const body = req.body;
  if (!body || body.ns !== NS.wsen || body.name !== 'Enumerate') throw new WsmanFault('SchemaValidationError', 'The body must be a wsen:Enumerate element.');
  const mode = readMode(body);
  const optimize = child(body, NS.wsman, 'OptimizeEnumeration') !== undefined;
  const maxElements = readPositive(child(body, NS.wsman, 'MaxElements'), 1, 'MaxElements');
  const filterNode = child(body, NS.wsman, 'Filter') ?? child(body, NS.wsen, 'Filter');

  let source: AsyncIterable<string>;
  // A capability's targets have routes of their own (the collector's Enumerate): none reaches here.
  if (target.kind === 'capability') throw new WsmanFault('ActionNotSupported', `${req.resourceUri} cannot be enumerated.`);
  if (target.kind === 'document') {
    if (!target.resource.enumerate) throw new WsmanFault('ActionNotSupported', `${target.resource.uri} cannot be enumerated.`);
    if (filterNode) throw new WsmanFault('CannotProcessFilter', `${target.resource.uri} is enumerated without a filter.`);
    source = documents(req, ctx, target, mode);
  } else {
    const { entries, filter } = plan(ctx, target, filterNode);
    source = instances(req, ctx, target, entries, filter, mode);
  }
  const open = ctx.enumerations.create(ctx.caller.user, source[Symbol.asyncIterator](), { resourceUri: req.resourceUri, clientAddress: ctx.info.clientAddress });

  const items: XmlNode[] = [];
  let end = false;
  if (optimize) {
    try {
      ({ end } = await fill(open, items, maxElements, req.maxEnvelopeSize, ctx, false));
    } catch (err) {
      ctx.enumerations.drop(open);
      throw err;
    }
  }
  const reply = el(NS.wsen, 'EnumerateResponse', {}, el(NS.wsen, 'EnumerationContext', {}, end ? '' : open.id));
  if (optimize) {
    reply.children.push(el(NS.wsman, 'Items', {}, ...items));
    if (end) reply.children.push(el(NS.wsman, 'EndOfSequence'));
  }
  if (end) ctx.enumerations.drop(open);
  else ctx.enumerations.yield(open);
  return { action: ACTION.enumerateResponse, relatesTo: req.messageId, body: [reply] };
}

export async function pull(req: WsmanRequest, ctx: OpContext): Promise<ReplyMessage> {
  const body = req.body;
  if (!body || body.ns !== NS.wsen || body.name !== 'Pull') throw new WsmanFault('SchemaValidationError', 'The body must be a wsen:Pull element.');
  const id = textOf(child(body, NS.wsen, 'EnumerationContext')) ?? '';
  const maxElements = readPositive(child(body, NS.wsen, 'MaxElements'), 1, 'MaxElements');
  const maxChars = readPositive(child(body, NS.wsen, 'MaxCharacters'), Infinity, 'MaxCharacters');
  const open = ctx.enumerations.acquire(id, ctx.caller.user);
  const items: XmlNode[] = [];
  let end: boolean;
  try {
    ({ end } = await fill(open, items, maxElements, Math.min(req.maxEnvelopeSize, maxChars + ENVELOPE_OVERHEAD), ctx, true));
  } catch (err) {
    // A Pull that timed out with nothing in hand keeps its context (and pending read) for the next.
    if (err instanceof WsmanFault && err.id === 'TimedOut') ctx.enumerations.yield(open);
    else ctx.enumerations.drop(open);
    throw err;
  }
  const reply = el(NS.wsen, 'PullResponse');
  const headers = open.replyHeaders?.(items.length);
  if (!end) reply.children.push(el(NS.wsen, 'EnumerationContext', {}, open.id));
  reply.children.push(el(NS.wsen, 'Items', {}, ...items));
  if (end) {
    reply.children.push(el(NS.wsen, 'EndOfSequence'));
    ctx.enumerations.drop(open);
  } else {
    ctx.enumerations.yield(open);
  }
  return { action: ACTION.pullResponse, relatesTo: req.messageId, headers, body: [reply] };
}

export async function release(req: WsmanRequest, ctx: OpContext): Promise<ReplyMessage> {
  const id = textOf(child(req.body, NS.wsen, 'EnumerationContext')) ?? '';
  ctx.enumerations.release(id, ctx.caller.user);
  return { action: ACTION.releaseResponse, relatesTo: req.messageId, body: [] };
}

/**
 * Take up to maxElements items that fit in maxEnvelope. An item that does not fit stays for the
 * next Pull; if even the first does not fit, that is EncodingLimit. If the OperationTimeout runs
 * out with items in hand they are returned; with none, a Pull answers TimedOut (DSP0226 §8.4)
 * and the pending read is kept for the next Pull.
 */
async function fill(open: OpenEnumeration<string>, items: XmlNode[], maxElements: number, maxEnvelope: number, ctx: OpContext, timeoutFaults: boolean): Promise<{ end: boolean }> {
  // The page is raced once against the deadline, not item by item (a race per item was a tenth
  // of an enumeration's time). The deadline is settled when the page is done, so the signal's
  // abort at the end of every request does not build a TimedOut fault that nobody reads.
  let pageDone!: () => void;
  const deadline = beforeDeadline(new Promise<never>((resolve) => { pageDone = resolve as () => void; }), ctx);
  deadline.catch(() => undefined);
  const page = { stopped: false };
  const filling = fillPage(open, items, maxElements, maxEnvelope, page);
  try {
    return await Promise.race([filling, deadline]);
  } catch (err) {
    if (!(err instanceof WsmanFault && err.id === 'TimedOut')) throw err;
    // Out of time: the page keeps what it has, and the read in flight stays pending for the
    // next Pull; the stopped fill touches nothing when it wakes.
    page.stopped = true;
    filling.catch(() => undefined);
    if (items.length > 0 || !timeoutFaults) return { end: false };
    throw err;
  } finally {
    pageDone();
  }
}

/** Fills a page; once `page.stopped`, it returns at its next wake-up without consuming anything. */
async function fillPage(open: OpenEnumeration<string>, items: XmlNode[], maxElements: number, maxEnvelope: number, page: { stopped: boolean }): Promise<{ end: boolean }> {
  let size = ENVELOPE_OVERHEAD;
  while (items.length < maxElements) {
    open.pending ??= open.iterator.next();
    if (open.eager && items.length > 0) {
      // DSP0226 §10.2.9.5: events already waiting are answered now, not held for MaxElements.
      const ready = await Promise.race([open.pending, new Promise<undefined>((r) => setImmediate(r, undefined))]);
      if (page.stopped || ready === undefined) return { end: false };
    }
    let next: IteratorResult<string>;
    try {
      next = await open.pending;
    } catch (err) {
      if (!page.stopped) open.pending = undefined;
      throw err;
    }
    if (page.stopped) return { end: false };
    if (next.done) {
      open.pending = undefined;
      return { end: true };
    }
    const itemSize = Buffer.byteLength(next.value);
    if (size + itemSize > maxEnvelope) {
      if (items.length === 0) {
        open.pending = undefined;
        // A subscription's event too large for any PullResponse is skipped, as MaxEnvelopeSize's
        // default Policy says (DSP0226 §10.2.9.4), rather than ending the subscription.
        if (open.eager) continue;
        throw new WsmanFault('EncodingLimit', `One item is larger than the MaxEnvelopeSize of ${maxEnvelope} octets.`);
      }
      return { end: false }; // keep open.pending: the item goes first in the next Pull
    }
    open.pending = undefined;
    size += itemSize;
    items.push(raw(next.value));
  }
  // Peek whether the sequence is over, so the last page carries EndOfSequence without an extra Pull.
  open.pending = open.iterator.next();
  const peek = await Promise.race([open.pending, new Promise<undefined>((r) => setImmediate(r, undefined))]);
  if (page.stopped) return { end: false };
  if (peek?.done) {
    open.pending = undefined;
    return { end: true };
  }
  return { end: false };
}

function readMode(body: XmlNode): Mode {
  const text = textOf(child(body, NS.wsman, 'EnumerationMode'));
  if (text === undefined) return 'object';
  if (text === 'EnumerateEPR') return 'epr';
  if (text === 'EnumerateObjectAndEPR') return 'objectAndEpr';
  throw new WsmanFault('InvalidParameter', `EnumerationMode ${text} is not supported (EnumerateEPR, EnumerateObjectAndEPR).`);
}

function readPositive(node: XmlNode | undefined, fallback: number, what: string): number {
  const text = textOf(node);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new WsmanFault('InvalidParameter', `${what} must be a positive integer, not "${text}".`);
  return n;
}

/** Which classes to walk and which instances to keep. */
function plan(ctx: OpContext, target: Extract<Target, { kind: 'class' | 'namespace' }>, filterNode: XmlNode | undefined): { entries: ClassEntry[]; filter: Filter } {
  const dialect = filterNode?.attrs.Dialect ?? (filterNode ? DIALECT.wql : undefined);
  let query: WqlQuery | undefined;
  if (dialect === DIALECT.wql) {
    const text = textOf(filterNode) ?? '';
    try {
      query = parseWql(text);
    } catch (err) {
      if (err instanceof WqlError) throw new WsmanFault('CannotProcessFilter', `The WQL query is not valid: ${err.message}.`);
      throw err;
    }
  } else if (dialect !== undefined && dialect !== DIALECT.selector) {
    throw new WsmanFault('FilterDialectRequestedUnavailable', `The filter dialect ${dialect} is not supported; use ${DIALECT.wql} or ${DIALECT.selector}.`);
  }

  let root: ClassEntry;
  if (target.kind === 'namespace') {
    // `…/wmi/root/cimv2/*`: the class comes from the query (MS-WSMV 3.1.4.8.1).
    if (!query) throw new WsmanFault('CannotProcessFilter', 'A resource URI ending in * needs a WQL filter naming the class.');
    root = ctx.resources.classInNamespace(target.namespace, query.className);
  } else {
    root = target.entry;
    if (query && query.className.toLowerCase() !== root.cls.name.toLowerCase() && !ctx.resources.classes.derivesFrom(ctx.resources.classes.find(target.namespace, query.className) ?? root, root.cls.name)) {
      throw new WsmanFault('CannotProcessFilter', `The query selects from ${query.className}, which is not ${root.cls.name} or a subclass of it.`);
    }
    if (query) root = ctx.resources.classInNamespace(target.namespace, query.className);
  }
  const namespace = root.cls.namespace;
  const entries = ctx.resources.classes.family(namespace, root.cls.name);

  if (query) {
    const q = query;
    try {
      validateQuery(q, Object.keys(root.cls.properties));
    } catch (err) {
      if (err instanceof WqlError) throw new WsmanFault('CannotProcessFilter', `The WQL query is not valid: ${err.message}.`);
      throw err;
    }
    return {
      entries,
      filter: {
        keep: (inst) => matches(q, inst.properties),
        project: q.properties === '*' ? undefined : (props) => project(q, props),
      },
    };
  }
  if (dialect === DIALECT.selector) {
    const selectors: [string, string][] = children(child(filterNode, NS.wsman, 'SelectorSet'), NS.wsman, 'Selector').map((s) => [s.attrs.Name ?? '', textOf(s) ?? '']);
    const known = new Map(Object.keys(root.cls.properties).map((p) => [p.toLowerCase(), p]));
    const resolved = selectors.map(([name, value]): [string, string] => {
      const prop = known.get(name.toLowerCase());
      if (!prop) throw new WsmanFault('CannotProcessFilter', `The selector filter names ${name}, which is not a property of ${root.cls.name}.`);
      return [prop, value.toLowerCase()];
    });
    return { entries, filter: { keep: (inst) => resolved.every(([p, v]) => String(inst.properties[p] ?? '').toLowerCase() === v) } };
  }
  return { entries, filter: { keep: () => true } };
}

async function* instances(req: WsmanRequest, ctx: OpContext, target: Exclude<Target, { kind: 'document' }>, entries: ClassEntry[], filter: Filter, mode: Mode): AsyncGenerator<string> {
  for (const entry of entries) {
    if (!entry.provider.enumerate) continue;
    // The iteration outlives this request (later Pulls): it gets no request-bound abort signal.
    const preq = { ...providerRequest(req, ctx, target, entry.cls.name), selectors: {}, signal: new AbortController().signal };
    for await (const inst of entry.provider.enumerate(preq)) {
      if (inst.className.toLowerCase() !== entry.cls.name.toLowerCase() || !filter.keep(inst)) continue;
      const node = item(inst, entry, filter, mode);
      yield node.raw ? node.text : serialize(node);
    }
  }
}

async function* documents(req: WsmanRequest, ctx: OpContext, target: Extract<Target, { kind: 'document' }>, mode: Mode): AsyncGenerator<string> {
  const { resource } = target;
  // As for instances: the iteration outlives this request.
  const dreq = { ...documentRequest(req, ctx, target), signal: new AbortController().signal };
  for await (const doc of resource.enumerate!(dreq)) {
    const epr = () => eprToXml(resource.uri, doc.selectors);
    yield serialize(mode === 'object' ? doc.body : mode === 'epr' ? epr() : el(NS.wsman, 'Item', {}, doc.body, epr()));
  }
}

function item(inst: Instance, entry: ClassEntry, filter: Filter, mode: Mode): XmlNode {
  if (mode === 'epr') return eprToXml(entry.uri, selectorsOf(inst, entry.cls));
  const object = filter.project ? fragmentToXml(filter.project(inst.properties), entry.cls) : instanceToXml(inst, entry.cls, entry.uri);
  if (mode === 'object') return object;
  return el(NS.wsman, 'Item', {}, object, eprToXml(entry.uri, selectorsOf(inst, entry.cls)));
}
