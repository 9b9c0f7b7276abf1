// Event queries (MS-WSMV 2.2.4.24: a QueryList of Query elements, each Select and Suppress naming
// a channel and a level-1 XPath over the event, DSP0226 Annex D.1), evaluated on events as
// winrmd knows them. The subset real forwarding subscriptions use: `*`, and `*[System[...]]`
// with Level, EventID, Task, Opcode, Provider[@Name='…'], TimeCreated[timediff(@SystemTime) <= N],
// comparisons = != < <= > >=, `and`, `or`, parentheses. Anything else is refused with what it was,
// never guessed at.
import { parseXml, type XmlNode } from '../soap/xml.js';

/** What a query can ask of an event. */
export interface QueryableEvent {
  channel: string;
  level: number;
  eventId: number;
  task?: number;
  opcode?: number;
  provider: string;
  /** Milliseconds since the epoch. */
  timeCreated: number;
}

export class EventQueryError extends Error {}

type Test = (e: QueryableEvent, now: number) => boolean;
interface Part { channel: string; test: Test }
export interface EventQuery { selects: Part[]; suppresses: Part[]; channels: string[] }

/** Parse a QueryList (as a subscription stores it) into something that judges events. */
export function compileQuery(query: string): EventQuery {
  let root: XmlNode;
  try {
    root = parseXml(query, { maxDepth: 16, maxAttributes: 16 });
  } catch (err) {
    throw new EventQueryError(`the query is not well-formed XML: ${(err as Error).message}`);
  }
  if (root.name !== 'QueryList') throw new EventQueryError('the query must be a QueryList');
  const selects: Part[] = [];
  const suppresses: Part[] = [];
  for (const q of root.children.filter((c) => c.name === 'Query')) {
    for (const part of q.children) {
      if (part.name !== 'Select' && part.name !== 'Suppress') continue;
      const channel = part.attrs.Path ?? q.attrs.Path;
      if (!channel) throw new EventQueryError(`a ${part.name} has no Path`);
      (part.name === 'Select' ? selects : suppresses).push({ channel, test: compileXPath(part.text.trim()) });
    }
  }
  if (selects.length === 0) throw new EventQueryError('the QueryList selects nothing');
  return { selects, suppresses, channels: [...new Set(selects.map((s) => s.channel))] };
}

/** Whether a query takes an event: a Select of its channel takes it, and no Suppress of its channel does. */
export function matches(q: EventQuery, e: QueryableEvent, now = Date.now()): boolean {
  const same = (p: Part) => p.channel.toLowerCase() === e.channel.toLowerCase();
  return q.selects.some((p) => same(p) && p.test(e, now)) && !q.suppresses.some((p) => same(p) && p.test(e, now));
}

// ---- the XPath subset ----

type Tok = { kind: 'name' | 'num' | 'str' | 'op' | 'punct'; text: string };

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  const re = /\s*(?:(\d+)|('[^']*'|"[^"]*")|(<=|>=|!=|=|<|>)|([[\]()*@,])|([A-Za-z_][\w.-]*))/y;
  let at = 0;
  while (at < s.length) {
    if (/^\s*$/.test(s.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) throw new EventQueryError(`the XPath "${s}" cannot be read at "${s.slice(at, at + 20)}"`);
    at = re.lastIndex;
    if (m[1]) out.push({ kind: 'num', text: m[1] });
    else if (m[2]) out.push({ kind: 'str', text: m[2].slice(1, -1) });
    else if (m[3]) out.push({ kind: 'op', text: m[3] });
    else if (m[4]) out.push({ kind: 'punct', text: m[4] });
    else out.push({ kind: 'name', text: m[5]! });
  }
  return out;
}

const compare = (a: number, op: string, b: number): boolean =>
  op === '=' ? a === b : op === '!=' ? a !== b : op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;

/** `*` or `*[System[cond]]` (also `Event/System[...]` forms are not used by subscriptions: refused). */
export function compileXPath(xpath: string): Test {
  const toks = tokenize(xpath);
  let i = 0;
  const peek = () => toks[i];
  const take = (text?: string): Tok => {
    const t = toks[i];
    if (!t || (text !== undefined && t.text !== text)) throw new EventQueryError(`the XPath "${xpath}": expected ${text ?? 'more'} at ${t ? `"${t.text}"` : 'the end'}`);
    i++;
    return t;
  };
  take('*');
  if (i === toks.length) return () => true;
  take('[');
  const node = take().text;
  if (node !== 'System') throw new EventQueryError(`the XPath "${xpath}": only System can be filtered on (not ${node})`);
  take('[');

  // cond := term ('or' term)* ; term := factor ('and' factor)* ; factor := '(' cond ')' | comparison
  const cond = (): Test => {
    const terms = [term()];
    while (peek()?.text === 'or') {
      i++;
      terms.push(term());
    }
    return terms.length === 1 ? terms[0]! : (e, n) => terms.some((t) => t(e, n));
  };
  const term = (): Test => {
    const factors = [factor()];
    while (peek()?.text === 'and') {
      i++;
      factors.push(factor());
    }
    return factors.length === 1 ? factors[0]! : (e, n) => factors.every((f) => f(e, n));
  };
  const factor = (): Test => {
    if (peek()?.text === '(') {
      i++;
      const c = cond();
      take(')');
      return c;
    }
    const name = take().text;
    if (name === 'Provider') {
      take('[');
      take('@');
      take('Name');
      take('=');
      const value = take();
      if (value.kind !== 'str') throw new EventQueryError(`the XPath "${xpath}": a Provider name is a quoted string`);
      take(']');
      return (e) => e.provider.toLowerCase() === value.text.toLowerCase();
    }
    if (name === 'TimeCreated') {
      take('[');
      take('timediff');
      take('(');
      take('@');
      take('SystemTime');
      take(')');
      const op = take();
      const ms = take();
      if (op.kind !== 'op' || ms.kind !== 'num') throw new EventQueryError(`the XPath "${xpath}": timediff compares with a number of milliseconds`);
      take(']');
      return (e, now) => compare(now - e.timeCreated, op.text, Number(ms.text));
    }
    const field = ({ Level: 'level', EventID: 'eventId', Task: 'task', Opcode: 'opcode' } as const)[name as 'Level'];
    if (!field) throw new EventQueryError(`the XPath "${xpath}": ${name} cannot be filtered on (Level, EventID, Task, Opcode, Provider, TimeCreated can)`);
    const op = take();
    const value = take();
    if (op.kind !== 'op' || value.kind !== 'num') throw new EventQueryError(`the XPath "${xpath}": ${name} compares with a number`);
    return (e) => compare(e[field] ?? 0, op.text, Number(value.text));
  };
  const test = cond();
  take(']');
  take(']');
  if (i !== toks.length) throw new EventQueryError(`the XPath "${xpath}": unexpected "${toks[i]!.text}"`);
  return test;
}
