// Replies read back as plain instances, for suites that compare whole classes with another source.
import { ACTIONS, enumerateBody, envelope, pullBody } from './envelope.js';
import { parse, xp } from './xpath.js';

export interface WireInstance {
  className: string;
  /** Property → text; repeated elements → array; xsi:nil → null. Datetimes as their text. */
  props: Record<string, string | string[] | null>;
}

const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

/** The instances among a reply's Items (or a Get's body): each element whose children are properties. */
export function instancesIn(xml: string, container: 'Items' | 'Body' = 'Items'): WireInstance[] {
  const doc = parse(xml);
  const holders = Array.from(doc.getElementsByTagNameNS('*', container) as unknown as ArrayLike<Element>);
  const out: WireInstance[] = [];
  for (const holder of holders) {
    for (const node of Array.from(holder.childNodes as unknown as ArrayLike<Node>)) {
      if (node.nodeType !== 1) continue;
      const el = node as Element;
      // EnumerateObjectAndEPR wraps each in w:Item; objects are the non-EPR children.
      const objects = el.localName === 'Item' ? Array.from(el.childNodes as unknown as ArrayLike<Node>).filter((n) => n.nodeType === 1 && (n as Element).localName !== 'EndpointReference') as Element[] : [el];
      for (const obj of objects) {
        const props: WireInstance['props'] = {};
        for (const p of Array.from(obj.childNodes as unknown as ArrayLike<Node>)) {
          if (p.nodeType !== 1) continue;
          const pe = p as Element;
          const value = pe.getAttributeNS(XSI, 'nil') === 'true' ? null : (pe.textContent ?? '');
          const prev = Object.hasOwn(props, pe.localName) ? props[pe.localName] : undefined; // a property may be named toString
          if (prev === undefined) props[pe.localName] = value;
          else props[pe.localName] = [...(Array.isArray(prev) ? prev : [prev as string]), value as string];
        }
        out.push({ className: obj.localName, props });
      }
    }
  }
  return out;
}

type Post = (xml: string) => Promise<{ status: number; text: string }>;

/** Enumerate + Pull to the end; throws with the fault text when the server faults. */
export async function enumerateAll(post: Post, resourceUri: string, o: { wql?: string; operationTimeout?: string } = {}): Promise<WireInstance[]> {
  let res = await post(envelope({ action: ACTIONS.enumerate, resourceUri, operationTimeout: o.operationTimeout, body: enumerateBody({ wql: o.wql, optimize: true, maxElements: 50 }) }));
  const items: WireInstance[] = [];
  for (let i = 0; i < 100; i++) {
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${xp(res.text, 'string(//s:Reason/s:Text)')}`);
    items.push(...instancesIn(res.text));
    if (xp(res.text, 'count(//w:EndOfSequence | //n:EndOfSequence)') !== '0') return items;
    const ctx = xp(res.text, 'string(//n:EnumerationContext)');
    res = await post(envelope({ action: ACTIONS.pull, resourceUri, body: pullBody(ctx, 50) }));
  }
  throw new Error('enumeration did not end');
}
