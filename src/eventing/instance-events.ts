// WMI intrinsic instance events (__InstanceCreationEvent, __InstanceDeletionEvent,
// __InstanceModificationEvent and their parent __InstanceOperationEvent) over any provider's class,
// as a feed a subscription reads (DSP0226 §10). Providers do not signal changes, so this is what
// WMI does for classes without an event provider (WQL event queries, WITHIN clause): list the
// class every WITHIN seconds, compare with the previous listing by key, and report the difference.
//   SELECT * FROM __Instance…Event WITHIN <s> WHERE TargetInstance ISA '<Class>' [AND <condition>]
// (the ISA may also follow the condition). The condition names TargetInstance.<property> only and
// is evaluated as WQL (src/cim/wql.ts) on the instance; a deleted instance is judged as last seen.
import { wmiClassUri, type ClassEntry } from '../cim/registry.js';
import { instanceToXml, selectorsOf } from '../cim/serialize.js';
import { matches, parseWql, WqlError, type WqlQuery } from '../cim/wql.js';
import type { CimValue, Instance } from '../provider-api.js';
import { NS } from '../soap/names.js';
import { escapeText } from '../soap/xml.js';
import type { Feed, FeedEvent } from './feed.js';

export type InstanceEventKind = 'creation' | 'deletion' | 'modification' | 'operation';
export interface InstanceEventQuery { kind: InstanceEventKind; withinMs: number; className: string; condition?: WqlQuery; text: string }

export class InstanceEventQueryError extends Error {}

const EVENT_CLASSES: Record<InstanceEventKind, string> = {
  creation: '__InstanceCreationEvent', deletion: '__InstanceDeletionEvent',
  modification: '__InstanceModificationEvent', operation: '__InstanceOperationEvent',
};
const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'LIKE', 'IS', 'NULL', 'TRUE', 'FALSE']);
/** WMI's bounds: WITHIN is at most a day; winrmd polls no more often than once a second. */
const MAX_WITHIN_S = 86400;
const MIN_POLL_MS = 1000;

function fail(what: string, at: number): never {
  throw new InstanceEventQueryError(`the event query ${what} at position ${at}`);
}

/** Parse an instance event query; anything outside the grammar above is refused with what and where. */
export function parseInstanceEventQuery(text: string): InstanceEventQuery {
  let at = 0;
  const take = (re: RegExp): RegExpExecArray | undefined => {
    re.lastIndex = at;
    const m = re.exec(text) ?? undefined;
    if (m) at = re.lastIndex;
    return m;
  };
  if (!take(/\s*SELECT\b/iy)) fail('must start with SELECT', at);
  const fromAt = text.slice(at).search(/\bFROM\b/i);
  if (fromAt < 0) fail('has no FROM', at);
  const list = text.slice(at, at + fromAt).trim();
  if (list !== '*') fail(`may only select * (not "${list}")`, text.indexOf(list, at));
  at += fromAt + 4;
  const from = take(/\s*(\w*)/y)!;
  const kind = (Object.keys(EVENT_CLASSES) as InstanceEventKind[]).find((k) => EVENT_CLASSES[k].toLowerCase() === from[1]!.toLowerCase());
  if (!kind) fail(`must select from ${Object.values(EVENT_CLASSES).join(', ')} (not "${from[1]}")`, at - from[1]!.length);
  if (!take(/\s*WITHIN\b/iy)) fail('needs WITHIN <seconds>: instance events are found by polling the class', at);
  const within = take(/\s*(\d+(?:\.\d*)?|\.\d+)(?![\w.])/y) ?? fail('needs a number of seconds after WITHIN', at);
  const seconds = Number(within[1]);
  if (!(seconds > 0 && seconds <= MAX_WITHIN_S)) fail(`needs WITHIN more than 0 and at most ${MAX_WITHIN_S} seconds (not ${within[1]})`, at - within[1]!.length);
  if (!take(/\s*WHERE\b/iy)) fail("needs WHERE TargetInstance ISA '<class>' after WITHIN", at);
  const { className, condition } = readCondition(text, at);
  return { kind, withinMs: Math.max(MIN_POLL_MS, Math.round(seconds * 1000)), className, condition, text };
}

interface Word { text: string; at: number; depth: number }
const WORD = /[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*|[\w.]+/y;

/** The words of text[from…] outside quoted strings, each with its place and its depth in parentheses. */
function wordsOf(text: string, from: number): Word[] {
  const words: Word[] = [];
  let depth = 0;
  for (let i = from; i < text.length;) {
    const c = text[i]!;
    if (c === "'" || c === '"') { // escapes as WQL reads them: a backslash takes the next character
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) fail('has an unterminated string', i);
      i = j + 1;
    } else if (/\w/.test(c)) { // a name (TargetInstance.Name), or a number, which is no word (1e5, 0x1F)
      WORD.lastIndex = i;
      const word = WORD.exec(text)![0];
      if (/[A-Za-z_]/.test(c)) words.push({ text: word, at: i, depth });
      i += word.length;
    } else {
      depth += c === '(' ? 1 : c === ')' ? -1 : 0;
      i++;
    }
  }
  return words;
}

/** The ISA class, and the rest of the WHERE clause as WQL over the class's own properties. */
function readCondition(text: string, from: number): { className: string; condition?: WqlQuery } {
  const words = wordsOf(text, from);
  const top = (name: string) => words.filter((w) => w.depth === 0 && w.text.toUpperCase() === name);
  const or = top('OR')[0];
  if (or) fail('cannot have OR beside TargetInstance ISA (put the alternatives in parentheses)', or.at);
  const isas = words.filter((w) => w.text.toUpperCase() === 'ISA');
  if (isas.length === 0) fail("must name its class: WHERE TargetInstance ISA '<class>'", from);
  if (isas.length > 1 || isas[0]!.depth > 0) fail('may have one TargetInstance ISA, joined to the rest with AND', isas[isas.length - 1]!.at);
  // The conjuncts at the top level: the ISA one is cut out with the AND that joins it to the rest.
  const ands = top('AND');
  const starts = [from, ...ands.map((w) => w.at + w.text.length)];
  const ends = [...ands.map((w) => w.at), text.length];
  const empty = starts.findIndex((s, i) => text.slice(s, ends[i]).trim() === '');
  if (empty >= 0) fail('has an AND with no condition on one side', ands[Math.min(empty, ands.length - 1)]!.at);
  const k = starts.filter((s) => s <= isas[0]!.at).length - 1;
  const isa = /^\s*TargetInstance\s+ISA\s+(['"])([A-Za-z_]\w*)\1\s*$/i.exec(text.slice(starts[k], ends[k]));
  if (!isa) fail("needs TargetInstance ISA '<class>' as a condition of its own", starts[k]!);
  const cut = ands.length === 0 ? [from, text.length] : k === 0 ? [from, starts[1]!] : [ends[k - 1]!, ends[k]!];
  const className = isa[2]!;

  // What is left, with TargetInstance.<prop> written <prop>; origin maps each character back for errors.
  let rest = '';
  const origin: number[] = [];
  const emit = (s: string, at: number) => {
    rest += s;
    for (let i = 0; i < s.length; i++) origin.push(at + i);
  };
  const byAt = new Map(words.map((w) => [w.at, w]));
  for (const [a, b] of [[from, cut[0]!], [cut[1]!, text.length]] as const) {
    for (let i = a; i < b;) {
      const w = byAt.get(i);
      const name = w ? propertyOf(w) : text[i]!;
      emit(name, i + (w ? w.text.length - name.length : 0));
      i += w ? w.text.length : 1;
    }
  }
  if (rest.trim() === '') return { className };
  const head = `SELECT * FROM ${className} WHERE `;
  try {
    return { className, condition: parseWql(head + rest) };
  } catch (err) {
    if (!(err instanceof WqlError)) throw err;
    const at = origin[err.position - head.length] ?? text.length;
    throw new InstanceEventQueryError(`the event query's condition: ${err.message.replace(/at position \d+/, `at position ${at}`)}`);
  }
}

/** A word of the condition as WQL over the class: a keyword, or the property of TargetInstance.<property>. */
function propertyOf(w: Word): string {
  if (KEYWORDS.has(w.text.toUpperCase())) return w.text;
  const prop = /^TargetInstance\.([A-Za-z_]\w*)$/i.exec(w.text);
  if (prop) return prop[1]!;
  if (/^PreviousInstance\b/i.test(w.text)) fail(`cannot test ${w.text}: a condition tests TargetInstance only`, w.at);
  return fail(`names "${w.text}", which is not TargetInstance.<property>`, w.at);
}

// ---- the feed ----

export interface InstanceEventSource {
  /** The class named by ISA, and its subclasses (ancestors first), as the core's ClassRegistry.family() returns them. */
  entries: ClassEntry[];
  /** Lists one class's instances (the caller wraps provider.enumerate with a ProviderRequest). */
  list(entry: ClassEntry): AsyncIterable<Instance>;
}

interface Seen { inst: Instance; entry: ClassEntry }
type Change = Seen & { kind: Exclude<InstanceEventKind, 'operation'>; previous?: Instance };

/**
 * Polls the class family every WITHIN and reports what was created, deleted or modified since the
 * last poll. `existing`: the first poll reports every instance as created (bookmark/earliest);
 * `watch`: only a change of these properties is a modification (all of them without it).
 */
export function instanceEventFeed(q: InstanceEventQuery, src: InstanceEventSource, o: { existing: boolean; watch?: string[] }): Feed {
  const watched = o.watch && new Set(o.watch.map((n) => n.toLowerCase()));
  let last: Map<string, Seen> | undefined;
  let running: Promise<FeedEvent[]> | undefined;
  const wanted = (c: Change) => (q.kind === 'operation' || q.kind === c.kind) && (!q.condition || matches(q.condition, c.inst.properties));
  const run = async (): Promise<FeedEvent[]> => {
    const now = await snapshot(src);
    const changes = last ? diff(last, now, watched) : o.existing ? [...now.values()].map((s): Change => ({ ...s, kind: 'creation' })) : [];
    last = now; // only once the whole listing succeeded: a failed poll keeps the previous one
    const time = filetime(Date.now());
    return changes.filter(wanted).map((c) => ({ xml: eventXml(c, time) }));
  };
  return {
    intervalMs: q.withinMs,
    poll: () => (running ??= run().finally(() => (running = undefined))),
  };
}

async function snapshot(src: InstanceEventSource): Promise<Map<string, Seen>> {
  const out = new Map<string, Seen>();
  for (const entry of src.entries) {
    const name = entry.cls.name.toLowerCase();
    for await (const inst of src.list(entry)) {
      if (inst.className.toLowerCase() !== name) continue; // a subclass's instance: listed with its own class
      const keys = Object.entries(selectorsOf(inst, entry.cls)).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]).sort(([a], [b]) => (a! < b! ? -1 : 1));
      out.set(JSON.stringify([name, keys]), { inst, entry });
    }
  }
  return out;
}

function diff(before: Map<string, Seen>, after: Map<string, Seen>, watched?: Set<string>): Change[] {
  const out: Change[] = [];
  for (const [key, now] of after) {
    const was = before.get(key);
    if (!was) out.push({ ...now, kind: 'creation' });
    else if (!sameProperties(was.inst, now.inst, watched)) out.push({ ...now, kind: 'modification', previous: was.inst });
  }
  for (const [key, was] of before) if (!after.has(key)) out.push({ ...was, kind: 'deletion' });
  return out;
}

function sameProperties(a: Instance, b: Instance, watched?: Set<string>): boolean {
  const names = [...new Set([...Object.keys(a.properties), ...Object.keys(b.properties)])];
  return names.filter((n) => !watched || watched.has(n.toLowerCase())).every((n) => sameValue(a.properties[n] ?? null, b.properties[n] ?? null));
}

function sameValue(a: CimValue, b: CimValue): boolean {
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameValue(v, b[i]!));
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** A Windows FILETIME: 100-ns intervals since 1601-01-01 UTC (TIME_CREATED of __Event). */
function filetime(ms: number): bigint {
  return BigInt(ms) * 10_000n + 116_444_736_000_000_000n;
}

/** The event as WMI writes it over WS-Management: the class actually observed, in the namespace's URI. */
function eventXml(c: Change, time: bigint): string {
  const name = EVENT_CLASSES[c.kind];
  const uri = wmiClassUri(c.entry.cls.namespace, name);
  const instance = (i: Instance) => instanceToXml(i, c.entry.cls, c.entry.uri).text;
  return `<p:${name} xmlns:p="${escapeText(uri)}" xmlns:xsi="${NS.xsi}" xmlns:cim="${NS.cim}" xsi:type="p:${name}_Type">`
    + `<p:SECURITY_DESCRIPTOR xsi:nil="true"/><p:TIME_CREATED>${time}</p:TIME_CREATED>`
    + `<p:TargetInstance>${instance(c.inst)}</p:TargetInstance>`
    + (c.previous ? `<p:PreviousInstance>${instance(c.previous)}</p:PreviousInstance>` : '')
    + `</p:${name}>`;
}
