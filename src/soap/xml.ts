// Bytes ⇄ namespace-resolved element trees. Everything above this file sees XmlNode, never
// prefixes: a prefix is only a local alias (XML Namespaces 1.0 §6), so `s:` and `env:` envelopes
// are the same envelope.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { NS, PREFIX } from './names.js';

/** An element with its namespace resolved. Attributes are keyed by local name. */
export interface XmlNode {
  ns: string;
  name: string;
  attrs: Record<string, string>;
  /** Concatenated character data (CDATA included) of this element's own text children. */
  text: string;
  children: XmlNode[];
  /** Set on nodes made by raw(): text is markup to copy verbatim. */
  raw?: boolean;
}

export interface ParseLimits {
  maxDepth: number;
  maxAttributes: number;
}

/** Why a body was refused before or during parsing; the wsman layer turns it into a fault. */
export class XmlError extends Error {
  constructor(
    readonly reason: 'doctype' | 'depth' | 'attributes' | 'malformed' | 'encoding',
    message: string,
  ) {
    super(message);
  }
}

/** Decode a request body: UTF-16 with a BOM (Windows senders) or UTF-8 (MS-WSMV 2.2.1). */
export function decodeBody(bytes: Buffer, contentType = ''): string {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  if (/charset\s*=\s*"?utf-16/i.test(contentType)) return new TextDecoder('utf-16le').decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new XmlError('encoding', 'the body is not valid UTF-8 or UTF-16');
  }
}

/**
 * Refuse what must never reach the parser (security-and-limits.md, XML): any DTD, and nesting or
 * attribute counts past the bounds. One pass over the text, aware of quotes, comments and CDATA.
 */
export function precheck(xml: string, limits: ParseLimits): void {
  const literal: [number, number][] = []; // CDATA sections, comments, PIs: where `&` is just text
  let depth = 0;
  let i = xml.indexOf('<');
  while (i !== -1 && i < xml.length) {
    const next = xml.charCodeAt(i + 1);
    if (next === 0x21 /* ! */) {
      const start = i;
      if (xml.startsWith('<!--', i)) i = skipPast(xml, i, '-->');
      else if (xml.startsWith('<![CDATA[', i)) i = skipPast(xml, i, ']]>');
      else throw new XmlError('doctype', 'document type declarations are not accepted');
      literal.push([start, i]);
    } else if (next === 0x3f /* ? */) {
      const start = i;
      i = skipPast(xml, i, '?>');
      literal.push([start, i]);
    } else if (next === 0x2f /* / */) {
      depth--;
      i = skipPast(xml, i, '>');
    } else {
      // A start tag: count attributes (each `=` outside quotes) and find its end.
      let j = i + 1;
      let attributes = 0;
      let quote = 0;
      for (; j < xml.length; j++) {
        const c = xml.charCodeAt(j);
        if (quote) {
          if (c === quote) quote = 0;
        } else if (c === 0x22 || c === 0x27) quote = c;
        else if (c === 0x3d /* = */) attributes++;
        else if (c === 0x3e /* > */) break;
      }
      if (attributes > limits.maxAttributes) throw new XmlError('attributes', `an element has more than ${limits.maxAttributes} attributes`);
      if (xml.charCodeAt(j - 1) !== 0x2f /* self-closing */ && ++depth > limits.maxDepth) {
        throw new XmlError('depth', `elements nest deeper than ${limits.maxDepth}`);
      }
      i = j + 1;
    }
    i = xml.indexOf('<', i);
  }
  // XML 1.0 §4.6: without a DTD only amp, lt, gt, quot, apos and character references exist.
  const bad = new RegExp(BAD_ENTITY.source, 'g');
  let r = 0;
  for (let m = bad.exec(xml); m; m = bad.exec(xml)) {
    while (r < literal.length && literal[r][1] <= m.index) r++;
    if (r < literal.length && literal[r][0] <= m.index) continue;
    throw new XmlError('malformed', `an undeclared entity reference or a bare & at offset ${m.index}`);
  }
}

const BAD_ENTITY = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});)/;

function skipPast(xml: string, from: number, end: string): number {
  const at = xml.indexOf(end, from);
  if (at === -1) throw new XmlError('malformed', 'unterminated markup');
  return at + end.length;
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // References are decoded below in one pass (the library rebuilds its entity tables on every
  // parse, a tenth of the time of a small envelope); precheck has refused every other entity.
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
  // CDATA stays apart from text so that its `&` is never taken for a reference.
  cdataPropName: '#cdata',
  // No callbacks read paths: do not build a path string for every tag and attribute.
  jPath: false,
});

type Ordered = Record<string, unknown>;

/** Parse a whole document into its root element. Throws XmlError for anything malformed. */
export function parseXml(xml: string, limits: ParseLimits): XmlNode {
  precheck(xml, limits);
  const valid = XMLValidator.validate(xml, { allowBooleanAttributes: false });
  if (valid !== true) throw new XmlError('malformed', `malformed XML at line ${valid.err.line}: ${valid.err.msg}`);
  const roots = (parser.parse(xml) as Ordered[]).filter((n) => !('#text' in n));
  if (roots.length !== 1) throw new XmlError('malformed', 'a document has exactly one root element');
  return resolve(roots[0], new Map([['xml', NS.xml]]));
}

function resolve(entry: Ordered, scope: Map<string, string>): XmlNode {
  const qname = Object.keys(entry).find((k) => k !== ':@')!;
  const rawAttrs = (entry[':@'] ?? {}) as Record<string, string>;
  let inner = scope;
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns' || k.startsWith('xmlns:')) {
      if (inner === scope) inner = new Map(scope);
      inner.set(k === 'xmlns' ? '' : k.slice(6), v);
    }
  }
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns' || k.startsWith('xmlns:')) continue;
    const colon = k.indexOf(':');
    if (colon !== -1 && !inner.has(k.slice(0, colon))) throw new XmlError('malformed', `undeclared prefix in attribute ${k}`);
    attrs[colon === -1 ? k : k.slice(colon + 1)] = decodeReferences(v);
  }
  const colon = qname.indexOf(':');
  const prefix = colon === -1 ? '' : qname.slice(0, colon);
  const ns = inner.get(prefix);
  if (ns === undefined && prefix !== '') throw new XmlError('malformed', `undeclared prefix ${prefix}`);
  const node: XmlNode = { ns: ns ?? '', name: colon === -1 ? qname : qname.slice(colon + 1), attrs, text: '', children: [] };
  for (const child of entry[qname] as Ordered[]) {
    if ('#text' in child) node.text += decodeReferences(String(child['#text']));
    else if ('#cdata' in child) node.text += String((child['#cdata'] as Ordered[])[0]?.['#text'] ?? '');
    else node.children.push(resolve(child, inner));
  }
  return node;
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML 1.0 §4.1, §4.6: character references and the five predefined entities. */
function decodeReferences(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, ref: string) => {
    if (ref[0] !== '#') return PREDEFINED[ref];
    const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    if (code > 0x10ffff || code === 0) throw new XmlError('malformed', `the character reference &${ref}; is not a character`);
    return String.fromCodePoint(code);
  });
}

// ---- helpers to read trees ----

export function child(node: XmlNode | undefined, ns: string, name: string): XmlNode | undefined {
  return node?.children.find((c) => c.name === name && c.ns === ns);
}

export function children(node: XmlNode | undefined, ns: string, name: string): XmlNode[] {
  return node ? node.children.filter((c) => c.name === name && c.ns === ns) : [];
}

export function textOf(node: XmlNode | undefined): string | undefined {
  return node?.text.trim();
}

// ---- writing ----

/** Build a node tersely: el(NS.wsman, 'Selector', { Name: 'ShellId' }, 'value'). */
export function el(ns: string, name: string, attrs: Record<string, string> = {}, ...content: (XmlNode | string | undefined)[]): XmlNode {
  const node: XmlNode = { ns, name, attrs, text: '', children: [] };
  for (const c of content) {
    if (c === undefined) continue;
    if (typeof c === 'string') node.text += c;
    else node.children.push(c);
  }
  return node;
}

/** A node standing for markup already serialized by `serialize` (enumeration items, sized one by one). */
export function raw(markup: string): XmlNode {
  return { ns: "", name: "", attrs: {}, text: markup, children: [], raw: true };
}

/**
 * Serialize a tree, declaring every namespace it uses once on its root element with the
 * conventional prefix (names.ts PREFIX); any other namespace (a class's resource URI) gets `p`,
 * as Windows writes it. Attribute keys `xsi:…` and `xml:…` are written in those namespaces.
 * A hand-written writer rather than xmlbuilder2: enumeration must size each item before it
 * places it (DSP0226 R8.2.3: replies stay under MaxEnvelopeSize), which needs one string per
 * item, and it is several times faster (README, benchmarks).
 */
export function serialize(root: XmlNode, alsoDeclare: string[] = []): string {
  const prefixes = new Map<string, string>();
  const taken = new Set<string>(['xml', 'xmlns']);
  collect(root, prefixes, taken);
  for (const ns of alsoDeclare) collect({ ns, name: '', attrs: {}, text: '', children: [] }, prefixes, taken);
  let decls = '';
  for (const [ns, p] of prefixes) decls += ` xmlns:${p}="${escapeAttr(ns)}"`;
  const out: string[] = [];
  write(root, prefixes, out, decls);
  return out.join('');
}

function collect(node: XmlNode, prefixes: Map<string, string>, taken: Set<string>): void {
  if (node.raw) return;
  const use = (ns: string) => {
    if (!ns || prefixes.has(ns)) return;
    let p = PREFIX[ns] ?? 'p';
    for (let i = 1; taken.has(p); i++) p = `${PREFIX[ns] ?? 'p'}${i}`;
    prefixes.set(ns, p);
    taken.add(p);
  };
  use(node.ns);
  for (const k in node.attrs) if (k.startsWith('xsi:')) use(NS.xsi);
  for (const c of node.children) collect(c, prefixes, taken);
}

function write(node: XmlNode, prefixes: Map<string, string>, out: string[], decls = ''): void {
  if (node.raw) {
    out.push(node.text);
    return;
  }
  const qname = node.ns ? `${prefixes.get(node.ns)}:${node.name}` : node.name;
  let open = `<${qname}${decls}`;
  for (const k in node.attrs) {
    const name = k.startsWith('xsi:') ? `${prefixes.get(NS.xsi)}:${k.slice(4)}` : k;
    open += ` ${name}="${escapeAttr(node.attrs[k])}"`;
  }
  if (!node.text && node.children.length === 0) {
    out.push(`${open}/>`);
    return;
  }
  out.push(`${open}>`);
  if (node.text) out.push(escapeText(node.text));
  for (const c of node.children) write(c, prefixes, out);
  out.push(`</${qname}>`);
}

const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\r': '&#13;' };

export function escapeText(s: string): string {
  return /[&<>\r]/.test(s) ? s.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c]) : s;
}

function escapeAttr(s: string): string {
  return /[&<>"\r]/.test(s) ? s.replace(/[&<>"\r]/g, (c) => TEXT_ESCAPES[c]) : s;
}
