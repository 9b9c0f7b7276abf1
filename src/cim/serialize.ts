// CIM instances ⇄ XML, as DSP0227 (WS-CIM mapping) and Windows write them: the element is the
// class name in the class's resource-URI namespace; nulls are xsi:nil; arrays are repeated
// elements (DSP0227 §7.2.4); datetimes are wrapped in cim:Datetime (DSP0230 §3); numbers are
// written in their canonical lexical form.
import { ProviderError, type CimClass, type CimScalar, type CimValue, type Instance, type PropertyDecl, type Selectors } from '../provider-api.js';
import { ANONYMOUS, NS } from '../soap/names.js';
import { el, escapeText, raw, textOf, type XmlNode } from '../soap/xml.js';

/**
 * One instance, written straight to markup (the hot path of every enumeration: no tree per
 * property), declaring its namespaces on itself as Windows does, so it can be placed anywhere.
 */
export function instanceToXml(inst: Instance, cls: CimClass, classUri: string): XmlNode {
  const c = cls.name;
  let out = `<p:${c} xmlns:p="${escapeText(classUri)}" xmlns:xsi="${NS.xsi}" xmlns:cim="${NS.cim}" xsi:type="p:${c}_Type">`;
  for (const name in cls.properties) {
    const value = inst.properties[name];
    const decl = cls.properties[name];
    if (value === null || value === undefined) out += `<p:${name} xsi:nil="true"/>`;
    else if (Array.isArray(value)) for (const v of value) out += propertyMarkup(name, v, decl);
    else out += propertyMarkup(name, value, decl);
  }
  return raw(`${out}</p:${c}>`);
}

function propertyMarkup(name: string, v: CimScalar, decl: PropertyDecl): string {
  // Only strings can hold markup characters: numbers, booleans and ISO dates never need escaping.
  const text = v instanceof Date || decl.type === 'datetime'
    ? `<cim:Datetime>${v instanceof Date ? datetime(v) : escapeText(datetime(v))}</cim:Datetime>`
    : typeof v === 'string' ? escapeText(v) : formatScalar(v);
  return `<p:${name}>${text}</p:${name}>`;
}

function datetime(v: CimScalar): string {
  const d = v instanceof Date ? v : new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}

/**
 * A WQL projection (`SELECT Name, State FROM …`) comes back as Windows sends it: a w:XmlFragment
 * of unqualified property elements, datetimes in an unqualified Datetime (MS-WSMV 3.1.4.8.1).
 */
export function fragmentToXml(properties: Record<string, CimValue>, cls: CimClass): XmlNode {
  const node = el(NS.wsman, 'XmlFragment');
  for (const [name, value] of Object.entries(properties)) appendValue(node, '', name, value, cls.properties[name], '');
  return node;
}

/** Method output (`<Method>_OUTPUT`, MS-WSMV 3.1.4.16 / DSP0227 §9). */
export function paramsToXml(name: string, classUri: string, values: Record<string, CimValue>, decl: Record<string, PropertyDecl>): XmlNode {
  const node = el(classUri, name);
  for (const key of new Set([...Object.keys(decl), ...Object.keys(values)])) {
    if (key in values) appendValue(node, classUri, key, values[key], decl[key]);
  }
  return node;
}

function appendValue(parent: XmlNode, ns: string, name: string, value: CimValue, decl?: PropertyDecl, datetimeNs: string = NS.cim): void {
  if (value === null || value === undefined) {
    parent.children.push(el(ns, name, { 'xsi:nil': 'true' }));
  } else if (Array.isArray(value)) {
    for (const v of value) parent.children.push(scalar(ns, name, v, decl, datetimeNs));
  } else {
    parent.children.push(scalar(ns, name, value, decl, datetimeNs));
  }
}

function scalar(ns: string, name: string, v: CimScalar, decl: PropertyDecl | undefined, datetimeNs: string): XmlNode {
  if (v instanceof Date || decl?.type === 'datetime') return el(ns, name, {}, el(datetimeNs, 'Datetime', {}, datetime(v)));
  return el(ns, name, {}, formatScalar(v));
}

export function formatScalar(v: CimScalar): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'INF' : v < 0 ? '-INF' : 'NaN';
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

export function selectorsOf(inst: Instance, cls: CimClass): Selectors {
  const out: Selectors = {};
  for (const key of cls.keys) {
    const v = inst.properties[key];
    if (v !== null && v !== undefined && !Array.isArray(v)) out[key] = formatScalar(v);
  }
  return out;
}

/** An endpoint reference to one instance (DSP0226 §5.1; the shape Windows returns). */
export function eprToXml(resourceUri: string, selectors: Selectors): XmlNode {
  const set = el(NS.wsman, 'SelectorSet');
  for (const [name, value] of Object.entries(selectors)) set.children.push(el(NS.wsman, 'Selector', { Name: name }, value));
  return el(NS.wsa, 'EndpointReference', {},
    el(NS.wsa, 'Address', {}, ANONYMOUS),
    el(NS.wsa, 'ReferenceParameters', {}, el(NS.wsman, 'ResourceURI', {}, resourceUri), set));
}

/**
 * Read parameters or properties from their XML (Invoke input, Put and Create bodies). Values are
 * converted by their declared type; undeclared elements are kept as strings.
 */
export function xmlToValues(node: XmlNode, decl: Record<string, PropertyDecl>): Record<string, CimValue> {
  const byLower = new Map(Object.keys(decl).map((k) => [k.toLowerCase(), k]));
  const out: Record<string, CimValue> = {};
  for (const c of node.children) {
    const name = byLower.get(c.name.toLowerCase()) ?? c.name;
    const d = decl[name];
    const value = c.attrs.nil === 'true' ? null : parseScalar(c, d);
    if (d?.array) {
      const list = (out[name] as CimScalar[] | undefined) ?? [];
      if (value !== null) list.push(value);
      out[name] = list;
    } else {
      out[name] = value;
    }
  }
  return out;
}

function parseScalar(node: XmlNode, decl?: PropertyDecl): CimScalar {
  const datetime = node.children.find((c) => c.ns === NS.cim && c.name === 'Datetime');
  const text = (datetime ? textOf(datetime) ?? '' : node.text).trim();
  const invalid = () => new ProviderError('INVALID_PARAMETER', `${node.name} must be a ${decl?.type} value, not "${text}".`);
  switch (decl?.type) {
    case 'boolean':
      if (!/^(true|false|1|0)$/i.test(text)) throw invalid();
      return /^(true|1)$/i.test(text);
    case 'datetime': {
      const d = new Date(text);
      if (Number.isNaN(d.getTime())) throw invalid();
      return d;
    }
    case 'uint8': case 'uint16': case 'uint32': case 'sint8': case 'sint16': case 'sint32':
    case 'real32': case 'real64': {
      const n = Number(text);
      if (text === '' || Number.isNaN(n)) throw invalid();
      return n;
    }
    case 'uint64': case 'sint64':
      try {
        return BigInt(text);
      } catch {
        throw invalid();
      }
    default:
      return node.text;
  }
}
