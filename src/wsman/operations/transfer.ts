// WS-Transfer Get, Put, Create, Delete (DSP0226 §7) for CIM classes and raw resources.
import type { ClassEntry } from '../../cim/registry.js';
import { eprToXml, instanceToXml, selectorsOf, xmlToValues } from '../../cim/serialize.js';
import { ProviderError, type CimClass, type Instance, type Selectors } from '../../provider-api.js';
import type { ReplyMessage } from '../../soap/envelope.js';
import { WsmanFault } from '../../soap/faults.js';
import { ACTION, NS } from '../../soap/names.js';
import { el } from '../../soap/xml.js';
import type { WsmanRequest } from '../request.js';
import type { Target } from '../resources.js';
import { beforeDeadline, providerRequest, type OpContext } from './context.js';

function classTarget(target: Target): Extract<Target, { kind: 'class' }> {
  if (target.kind !== 'class') throw new WsmanFault('ActionNotSupported', 'This operation needs a resource URI that names a class.');
  return target;
}

/**
 * Selectors must name key properties (case-insensitively); missing keys are allowed only when
 * they still single out one instance (Windows answers `winrm get wmicimv2/Win32_OperatingSystem`
 * with no selectors, the class having one instance).
 */
export function keySelectors(cls: CimClass, selectors: Selectors): Selectors {
  const keys = new Map(cls.keys.map((k) => [k.toLowerCase(), k]));
  const out: Selectors = {};
  for (const [name, value] of Object.entries(selectors)) {
    const key = keys.get(name.toLowerCase());
    if (!key) throw new WsmanFault('InvalidSelectors', `${name} is not a key of ${cls.name} (keys: ${cls.keys.join(', ') || 'none'}).`);
    out[key] = value;
  }
  return out;
}

/**
 * The one rule for selecting an instance by its keys: a key's value is written as the instance's
 * EPR writes it, and compared case-insensitively, as WinRM does (Windows finds `Name=SSHD`).
 */
export function matchesSelectors(inst: Instance, cls: CimClass, selectors: Selectors): boolean {
  const wanted = Object.entries(selectors);
  if (wanted.length === 0) return true; // a single-instance Get: no EPR to render
  const own = selectorsOf(inst, cls);
  for (const [k, v] of wanted) {
    if (own[k]?.toLowerCase() !== v.toLowerCase()) return false;
  }
  return true;
}

/** Find the one instance the selectors name, across the class and its subclasses. */
export async function findInstance(req: WsmanRequest, ctx: OpContext, target: Extract<Target, { kind: 'class' }>): Promise<{ inst: Instance; entry: ClassEntry }> {
  const selectors = keySelectors(target.entry.cls, target.selectors);
  const complete = target.entry.cls.keys.length > 0 && target.entry.cls.keys.every((k) => k in selectors);
  const found: { inst: Instance; entry: ClassEntry }[] = [];
  for (const entry of ctx.resources.classes.family(target.namespace, target.entry.cls.name)) {
    const preq = { ...providerRequest(req, ctx, target, entry.cls.name), selectors };
    if (complete && entry.provider.get) {
      try {
        const inst = await beforeDeadline(entry.provider.get(preq), ctx);
        // undefined: no direct lookup for this class; select from its enumeration below.
        if (inst) {
          found.push({ inst, entry });
          continue;
        }
      } catch (err) {
        if (!(err instanceof ProviderError && err.code === 'NOT_FOUND')) throw err;
        continue;
      }
    }
    if (entry.provider.enumerate) {
      // The core's default get: a filtered enumerate (DESIGN.md principle 3).
      for await (const inst of entry.provider.enumerate(preq)) {
        if (ctx.signal.aborted) throw new WsmanFault('TimedOut');
        if (inst.className.toLowerCase() === entry.cls.name.toLowerCase() && matchesSelectors(inst, entry.cls, selectors)) found.push({ inst, entry });
        if (found.length > 1) break;
      }
    }
    if (found.length > 1) break;
  }
  if (found.length === 0) throw new WsmanFault('DestinationUnreachable', `No ${target.entry.cls.name} instance matches the selectors.`);
  if (found.length > 1) throw new WsmanFault('InvalidSelectors', `The selectors name more than one ${target.entry.cls.name} instance; give every key (${target.entry.cls.keys.join(', ')}).`);
  return found[0];
}

export async function get(req: WsmanRequest, ctx: OpContext, target: Target): Promise<ReplyMessage> {
  const t = classTarget(target);
  const { inst, entry } = await findInstance(req, ctx, t);
  return { action: ACTION.getResponse, relatesTo: req.messageId, body: [instanceToXml(inst, entry.cls, entry.uri)] };
}

export async function put(req: WsmanRequest, ctx: OpContext, target: Target): Promise<ReplyMessage> {
  const t = classTarget(target);
  const provider = t.entry.provider;
  if (!provider.put) throw new WsmanFault('ActionNotSupported', `${t.entry.cls.name} cannot be changed.`);
  const inst = bodyInstance(req, t.entry);
  const selectors = keySelectors(t.entry.cls, t.selectors);
  const updated = await beforeDeadline(provider.put({ ...providerRequest(req, ctx, t), selectors }, inst), ctx);
  return { action: ACTION.putResponse, relatesTo: req.messageId, body: [instanceToXml(updated, t.entry.cls, t.entry.uri)] };
}

export async function create(req: WsmanRequest, ctx: OpContext, target: Target): Promise<ReplyMessage> {
  const t = classTarget(target);
  const provider = t.entry.provider;
  if (!provider.create) throw new WsmanFault('ActionNotSupported', `${t.entry.cls.name} instances cannot be created.`);
  const inst = bodyInstance(req, t.entry);
  const selectors = await beforeDeadline(provider.create(providerRequest(req, ctx, t), inst), ctx);
  // DSP0226 §7.5: the reply is ResourceCreated, an EPR to the new resource.
  const epr = eprToXml(t.entry.uri, selectors);
  return { action: ACTION.createResponse, relatesTo: req.messageId, body: [el(NS.wxf, 'ResourceCreated', {}, ...epr.children)] };
}

export async function remove(req: WsmanRequest, ctx: OpContext, target: Target): Promise<ReplyMessage> {
  const t = classTarget(target);
  const provider = t.entry.provider;
  if (!provider.delete) throw new WsmanFault('ActionNotSupported', `${t.entry.cls.name} instances cannot be deleted.`);
  const selectors = keySelectors(t.entry.cls, t.selectors);
  if (!t.entry.cls.keys.every((k) => k in selectors)) {
    throw new WsmanFault('InvalidSelectors', `Delete needs every key of ${t.entry.cls.name}: ${t.entry.cls.keys.join(', ')}.`);
  }
  await beforeDeadline(provider.delete({ ...providerRequest(req, ctx, t), selectors }), ctx);
  return { action: ACTION.deleteResponse, relatesTo: req.messageId, body: [] };
}

function bodyInstance(req: WsmanRequest, entry: ClassEntry): Instance {
  const body = req.body;
  if (!body || body.name.toLowerCase() !== entry.cls.name.toLowerCase()) {
    throw new WsmanFault('SchemaValidationError', `The body must be one ${entry.cls.name} element in namespace ${entry.uri}.`);
  }
  return { className: entry.cls.name, properties: xmlToValues(body, entry.cls.properties) };
}

