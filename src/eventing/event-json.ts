// A Windows event (the event schema, `…/win/2004/08/events/event`) as JSON: System, EventData or
// UserData, RenderingInfo (RenderedText), and where winrmd got it. Numbers that the schema
// declares as numbers are numbers; everything else keeps its text. An event that cannot be read
// is kept whole with the reason, never dropped.
import { parseXml, textOf, type XmlNode } from '../soap/xml.js';

export interface EventOrigin {
  /** The authenticated principal that delivered it. */
  source: string;
  machineId?: string;
  address: string;
  subscription: { name: string; id: string; version?: string };
  receivedAt: string;
}

const NUMERIC = new Set(['EventID', 'Version', 'Level', 'Task', 'Opcode', 'EventRecordID', 'ProcessID', 'ThreadID', 'Qualifiers']);
const LIMITS = { maxDepth: 64, maxAttributes: 64 };

type Json = string | number | Json[] | { [k: string]: Json };

/** An element as JSON: its attributes, then its children by name (repeated names become arrays), or its text alone. */
function value(node: XmlNode, name = node.name): Json {
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(node.attrs)) out[k] = NUMERIC.has(k) ? numberOr(v) : v;
  for (const c of node.children) {
    const v = value(c);
    const prev = out[c.name];
    out[c.name] = prev === undefined ? v : Array.isArray(prev) && c.name !== 'Keyword' ? [...prev, v] : [prev, v].flat();
  }
  const text = node.text.trim();
  if (Object.keys(out).length === 0) return NUMERIC.has(name) ? numberOr(text) : text;
  if (text) out['#text'] = text;
  return out;
}

const numberOr = (s: string): number | string => (/^-?\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : s);

/** EventData: named Data as an object (as most events carry it), unnamed as a list. */
function eventData(node: XmlNode): Json {
  const data = node.children.filter((c) => c.name === 'Data');
  const named = data.length > 0 && data.every((d) => d.attrs.Name !== undefined);
  const rest = node.children.filter((c) => c.name !== 'Data');
  const out: Record<string, Json> = {};
  if (named) for (const d of data) out[d.attrs.Name!] = d.text;
  else if (data.length > 0) out.Data = data.map((d) => d.text);
  for (const c of rest) out[c.name] = value(c);
  return out;
}

export function eventToJson(xml: string, origin: EventOrigin): Record<string, unknown> {
  let root: XmlNode;
  try {
    root = parseXml(xml, LIMITS);
  } catch (err) {
    return { winrmd: origin, error: `the event cannot be read: ${(err as Error).message}`, raw: xml };
  }
  // Not a Windows event: a CIM instance event (__InstanceCreationEvent, …) from a collector-initiated subscription.
  if (root.name !== 'Event') return { [root.name]: value(root), winrmd: origin };
  const out: Record<string, unknown> = {};
  for (const c of root.children) {
    if (c.name === 'System') {
      const system = value(c) as Record<string, Json>;
      // TimeCreated's one attribute is the time itself.
      const created = c.children.find((x) => x.name === 'TimeCreated')?.attrs.SystemTime;
      if (created) system.TimeCreated = created;
      const computer = textOf(c.children.find((x) => x.name === 'Computer'));
      if (computer !== undefined) system.Computer = computer;
      out.System = system;
    } else if (c.name === 'EventData') out.EventData = eventData(c);
    else out[c.name] = value(c);
  }
  out.winrmd = origin;
  return out;
}
