// Bytes ⇄ namespace-resolved element trees. Everything above this file sees XmlNode, never
// prefixes: a prefix is only a local alias (XML Namespaces 1.0 §6), so `s:` and `env:` envelopes
// are the same envelope.
import { SaxesParser } from 'saxes';
import type { XmlNode } from '../provider-api.js';
import { NS, PREFIX } from './names.js';

// The element tree is the data contract providers share with the core: it is declared once, in
// provider-api.ts (a leaf), and used here.
export { child, children, el, textOf, type XmlNode } from '../provider-api.js';

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
/** Whether a body is UTF-16: by its byte-order mark, or by its Content-Type's charset. */
export function isUtf16(bytes: Buffer, contentType = ''): boolean {
  return (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) || /charset\s*=\s*"?utf-16/i.test(contentType);
}

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
 * Refuse what must never reach the parser (SOAP 1.2 Part 1 §5: no document type declaration; entity expansion is the billion-laughs attack): any DTD, and nesting or
 * attribute counts past the bounds. One pass over the text, aware of quotes, comments and CDATA.
 * Entities need no scan here: without a DTD the parser knows only XML's five and character
 * references, and refuses any other reference (XML 1.0 §4.1 WFC: Entity Declared).
 */
export function precheck(xml: string, limits: ParseLimits): void {
  let depth = 0;
  let i = xml.indexOf('<');
  while (i !== -1 && i < xml.length) {
    const next = xml.charCodeAt(i + 1);
    if (next === 0x21 /* ! */) {
      if (xml.startsWith('<!--', i)) i = skipPast(xml, i, '-->');
      else if (xml.startsWith('<![CDATA[', i)) i = skipPast(xml, i, ']]>');
      else throw new XmlError('doctype', 'document type declarations are not accepted');
    } else if (next === 0x3f /* ? */) {
      i = skipPast(xml, i, '?>');
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
}

/** Characters XML 1.0 forbids (§2.2 Char), but for the surrogates, which JavaScript strings pair. */
const FORBIDDEN_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
const FORBIDDEN_CHARS = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/g;

/**
 * Windows event forwarders put event text in CDATA as the event log holds it, control characters
 * included (U+0004, U+0005 seen), which no XML 1.0 parser accepts. Inside CDATA sections only,
 * they become U+FFFD, so one such event does not refuse the batch around it; anywhere else the
 * parser still refuses them.
 */
function tolerateInCdata(xml: string): string {
  let out = '';
  let from = 0;
  for (let at = xml.indexOf('<![CDATA['); at !== -1; at = xml.indexOf('<![CDATA[', from)) {
    const end = xml.indexOf(']]>', at);
    if (end === -1) break;
    out += xml.slice(from, at) + xml.slice(at, end).replace(FORBIDDEN_CHARS, '\uFFFD');
    from = end;
  }
  return out + xml.slice(from);
}

function skipPast(xml: string, from: number, end: string): number {
  const at = xml.indexOf(end, from);
  if (at === -1) throw new XmlError('malformed', 'unterminated markup');
  return at + end.length;
}

/**
 * Parse a whole document into its root element. Throws XmlError for anything malformed. saxes
 * checks well-formedness (XML 1.0 and Namespaces 1.0: matching tags, one root, unique attributes,
 * declared prefixes, known entities) and resolves every name to its namespace in the same pass.
 */
export function parseXml(xml: string, limits: ParseLimits): XmlNode {
  precheck(xml, limits);
  // Most bodies have no CDATA at all: the character scan is for those that do.
  if (xml.includes('<![CDATA[') && FORBIDDEN_CHAR.test(xml)) xml = tolerateInCdata(xml);
  const parser = new SaxesParser({ xmlns: true });
  const open: XmlNode[] = [];
  let root: XmlNode | undefined;
  parser.on('opentag', (tag) => {
    const attrs: Record<string, string> = {};
    for (const key in tag.attributes) {
      const a = tag.attributes[key];
      if (a.prefix !== 'xmlns' && a.name !== 'xmlns') attrs[a.local] = a.value;
    }
    const node: XmlNode = { ns: tag.uri, name: tag.local, attrs, text: '', children: [] };
    if (open.length === 0) root = node;
    else open[open.length - 1].children.push(node);
    open.push(node);
  });
  parser.on('closetag', () => open.pop());
  // Text outside the root can only be whitespace (the parser refuses anything else): dropped.
  const text = (t: string) => {
    if (open.length > 0) open[open.length - 1].text += t;
  };
  parser.on('text', text);
  parser.on('cdata', text);
  try {
    parser.write(xml).close();
  } catch (err) {
    throw new XmlError('malformed', `malformed XML at ${(err as Error).message}`);
  }
  return root!;
}

// ---- writing ----

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
