// WMI intrinsic instance events (WQL event queries, WITHIN clause): the query, and the feed that
// finds creations, deletions and modifications by polling a class and comparing listings.
import { describe, expect, it } from 'vitest';
import type { ClassEntry } from '../../../src/cim/registry.js';
import { instanceEventFeed, InstanceEventQueryError, parseInstanceEventQuery, type InstanceEventSource } from '../../../src/eventing/instance-events.js';
import type { CimClass, CimValue, Instance } from '../../../src/provider-api.js';
import { RESOURCE } from '../../../src/soap/names.js';
import { parseXml, type XmlNode } from '../../../src/soap/xml.js';

const cls: CimClass = {
  name: 'Test_Service', namespace: 'root/cimv2', keys: ['Name'],
  properties: { Name: { type: 'string' }, State: { type: 'string' }, Pids: { type: 'uint32', array: true }, Started: { type: 'datetime' } },
};
const sub: CimClass = { ...cls, name: 'Test_Daemon', superclass: 'Test_Service' };
const entry = (c: CimClass): ClassEntry => ({ cls: c, provider: {} as never, uri: `${RESOURCE.wmi}/root/cimv2/${c.name}` });
const service = (Name: string, State = 'Running', more: Record<string, CimValue> = {}): Instance =>
  ({ className: 'Test_Service', properties: { Name, State, Pids: [1], Started: new Date('2026-01-01T00:00:00Z'), ...more } });

/**
 * A source whose listing the test changes between polls (every class lists all of them, as a
 * superclass's enumerate may); `fail` makes the listing throw.
 */
function source(instances: Instance[], entries = [entry(cls)]) {
  const s = {
    instances, entries, fail: false, listings: 0,
    async *list(): AsyncIterable<Instance> {
      s.listings++;
      if (s.fail) throw new Error('provider down');
      yield* s.instances;
    },
  };
  return s satisfies InstanceEventSource;
}

const query = (kind = 'Operation', cond = '') =>
  parseInstanceEventQuery(`SELECT * FROM __Instance${kind}Event WITHIN 2 WHERE TargetInstance ISA 'Test_Service'${cond}`);
const parse = (xml: string): XmlNode => parseXml(xml, { maxDepth: 16, maxAttributes: 16 });
/** Each event as [class, Name of TargetInstance]. */
const summary = (events: { xml: string }[]) => events.map((e) => {
  const root = parse(e.xml);
  const target = root.children.find((c) => c.name === 'TargetInstance')!.children[0]!;
  return [root.name, target.children.find((c) => c.name === 'Name')!.text];
});

describe('instance event queries', () => {
  it.each([
    ['Creation', 'creation'], ['Deletion', 'deletion'], ['Modification', 'modification'], ['Operation', 'operation'],
  ])('reads __Instance%sEvent', (name, kind) => {
    const q = parseInstanceEventQuery(`select * from __instance${name}event within 5 where targetinstance isa 'Win32_Service'`);
    expect(q).toMatchObject({ kind, withinMs: 5000, className: 'Win32_Service' });
    expect(q.condition).toBeUndefined();
  });

  it('takes a condition either side of ISA, fractional WITHIN, and clamps it to a second', () => {
    const before = parseInstanceEventQuery("SELECT * FROM __InstanceModificationEvent WITHIN 0.25 WHERE TargetInstance.Name = 'x' AND TargetInstance ISA 'Win32_Service'");
    const after = parseInstanceEventQuery("SELECT *\nFROM __InstanceModificationEvent WITHIN 1.5 WHERE TargetInstance ISA \"Win32_Service\" AND (TargetInstance.State = 'Running' OR TargetInstance.Pid > 3)");
    expect(before).toMatchObject({ withinMs: 1000, className: 'Win32_Service' });
    expect(before.condition!.where).toMatchObject({ kind: 'compare', property: { name: 'Name' }, value: 'x' });
    expect(after.withinMs).toBe(1500);
    expect(after.condition!.where).toMatchObject({ kind: 'or' });
  });

  it('leaves TargetInstance. inside quoted strings as it is', () => {
    const q = parseInstanceEventQuery(`SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'C' AND TargetInstance.Caption = 'see TargetInstance.Name' AND TargetInstance.Path LIKE "%TargetInstance.\\"x%"`);
    expect(q.condition!.where).toMatchObject({ kind: 'and', operands: [{ value: 'see TargetInstance.Name' }, { kind: 'like', pattern: '%TargetInstance."x%' }] });
  });

  it.each([
    ['no WITHIN', "SELECT * FROM __InstanceCreationEvent WHERE TargetInstance ISA 'C'", /needs WITHIN/],
    ['a select list', "SELECT TargetInstance FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'C'", /may only select \* \(not "TargetInstance"\) at position 7/],
    ['PreviousInstance', "SELECT * FROM __InstanceModificationEvent WITHIN 1 WHERE TargetInstance ISA 'C' AND PreviousInstance.State = 'x'", /cannot test PreviousInstance.State.* at position 84/],
    ['another class', "SELECT * FROM Win32_Service WITHIN 1 WHERE TargetInstance ISA 'C'", /must select from .*\(not "Win32_Service"\) at position 14/],
    ['WITHIN 0', "SELECT * FROM __InstanceCreationEvent WITHIN 0 WHERE TargetInstance ISA 'C'", /WITHIN more than 0 .* \(not 0\)/],
    ['WITHIN over a day', "SELECT * FROM __InstanceCreationEvent WITHIN 86401 WHERE TargetInstance ISA 'C'", /at most 86400 seconds/],
    ['WITHIN not a number', "SELECT * FROM __InstanceCreationEvent WITHIN x WHERE TargetInstance ISA 'C'", /number of seconds after WITHIN/],
    ['no ISA', "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance.Name = 'x'", /must name its class/],
    ['OR at the top level', "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'C' OR TargetInstance.Name = 'x'", /cannot have OR beside TargetInstance ISA .* at position 76/],
    ['ISA inside parentheses', "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE (TargetInstance ISA 'C')", /one TargetInstance ISA/],
    ['a dangling AND', "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'C' AND ", /an AND with no condition on one side at position 76/],
    ['a bare property', "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'C' AND Name = 'x'", /names "Name", which is not TargetInstance.<property>/],
    ['bad WQL', "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'C' AND TargetInstance.Name = = 'x'", /condition: expected literal at position 102, found '='/],
    ['an unterminated string', "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'C", /unterminated string at position 72/],
  ])('refuses %s, saying what and where', (_, text, message) => {
    let err: unknown;
    try {
      parseInstanceEventQuery(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InstanceEventQueryError);
    expect((err as Error).message).toMatch(message);
  });
});

describe('the instance event feed', () => {
  it('sets a baseline, then reports creation, modification and deletion', async () => {
    const src = source([service('a'), service('b')]);
    const feed = instanceEventFeed(query(), src, { existing: false });
    expect(feed.intervalMs).toBe(2000);
    expect(await feed.poll()).toEqual([]);
    expect(await feed.poll()).toEqual([]);
    src.instances = [service('A', 'Stopped'), service('c')]; // a's key compares case-insensitively: modified, not replaced
    expect(summary(await feed.poll())).toEqual([['__InstanceModificationEvent', 'A'], ['__InstanceCreationEvent', 'c'], ['__InstanceDeletionEvent', 'b']]);
    expect(await feed.poll()).toEqual([]);
  });

  it.each([
    ['an array element', { Pids: [1, 2] }],
    ['a datetime', { Started: new Date('2026-01-02T00:00:00Z') }],
    ['a null', { State: null }],
    ['a bigint', { Extra: 5n }],
  ])('sees a change of %s, and no change in equal values', async (_, more) => {
    const src = source([service('a', 'Running', { Extra: 4n })]);
    const feed = instanceEventFeed(query(), src, { existing: false });
    await feed.poll();
    src.instances = [service('a', 'Running', { Extra: 4n })]; // new objects, same values
    expect(await feed.poll()).toEqual([]);
    src.instances = [service('a', 'Running', { Extra: 4n, ...more })];
    expect(summary(await feed.poll())).toEqual([['__InstanceModificationEvent', 'a']]);
  });

  it('with watch, only a change of the watched properties is a modification', async () => {
    const src = source([service('a')]);
    const feed = instanceEventFeed(query('Modification'), src, { existing: false, watch: ['state'] });
    await feed.poll();
    src.instances = [service('a', 'Running', { Pids: [7] })];
    expect(await feed.poll()).toEqual([]);
    src.instances = [service('a', 'Stopped', { Pids: [7] })];
    expect(summary(await feed.poll())).toEqual([['__InstanceModificationEvent', 'a']]);
  });

  it('reports only the kind asked for', async () => {
    const src = source([service('a'), service('b')]);
    const feed = instanceEventFeed(query('Deletion'), src, { existing: false });
    await feed.poll();
    src.instances = [service('a', 'Stopped'), service('c')];
    expect(summary(await feed.poll())).toEqual([['__InstanceDeletionEvent', 'b']]);
  });

  it('judges the condition on the instance, a deleted one as last seen', async () => {
    const src = source([service('a'), service('b', 'Stopped')]);
    const feed = instanceEventFeed(query('Operation', " AND TargetInstance.State = 'Stopped'"), src, { existing: false });
    await feed.poll();
    src.instances = [service('a', 'Stopped'), service('c', 'Running'), service('d', 'Stopped')];
    expect(summary(await feed.poll())).toEqual([['__InstanceModificationEvent', 'a'], ['__InstanceCreationEvent', 'd'], ['__InstanceDeletionEvent', 'b']]);
    src.instances = [service('a', 'Running')];
    expect(summary(await feed.poll())).toEqual([['__InstanceDeletionEvent', 'd']]); // c was Running when last seen
  });

  it('with existing, the first poll reports every matching instance as created', async () => {
    const src = source([service('a'), service('b', 'Stopped')]);
    const feed = instanceEventFeed(query('Creation', " AND TargetInstance.State = 'Running'"), src, { existing: true });
    expect(summary(await feed.poll())).toEqual([['__InstanceCreationEvent', 'a']]);
    expect(await feed.poll()).toEqual([]);
  });

  it('lists each class of the family on its own, keyed by class and key', async () => {
    const daemon: Instance = { className: 'test_daemon', properties: { ...service('a').properties } };
    const src = source([service('a'), daemon], [entry(cls), entry(sub)]);
    const feed = instanceEventFeed(query(), src, { existing: true });
    const events = await feed.poll();
    expect(summary(events)).toEqual([['__InstanceCreationEvent', 'a'], ['__InstanceCreationEvent', 'a']]);
    expect(events.map((e) => parse(e.xml).children[2]!.children[0]!.name)).toEqual(['Test_Service', 'Test_Daemon']);
  });

  it('keeps the previous listing when a poll fails, and re-throws', async () => {
    const src = source([service('a')]);
    const feed = instanceEventFeed(query(), src, { existing: false });
    await feed.poll();
    src.fail = true;
    await expect(feed.poll()).rejects.toThrow('provider down');
    src.fail = false;
    expect(await feed.poll()).toEqual([]);
    src.instances = [];
    src.fail = true;
    await expect(feed.poll()).rejects.toThrow('provider down');
    src.fail = false;
    expect(summary(await feed.poll())).toEqual([['__InstanceDeletionEvent', 'a']]);
  });

  it('a poll asked for while one runs is that same poll', async () => {
    const src = source([service('a')]);
    const feed = instanceEventFeed(query(), src, { existing: true });
    const [one, two] = [feed.poll(), feed.poll()];
    expect(two).toBe(one);
    expect(summary(await one)).toEqual([['__InstanceCreationEvent', 'a']]);
    expect(src.listings).toBe(1);
    expect(await feed.poll()).toEqual([]);
    expect(src.listings).toBe(2);
  });

  it('writes the event as WMI does: class, TIME_CREATED, TargetInstance and PreviousInstance', async () => {
    const src = source([service('a')]);
    const feed = instanceEventFeed(query(), src, { existing: false });
    await feed.poll();
    src.instances = [service('a', 'Stopped & <gone>')];
    const before = BigInt(Date.now()) * 10_000n + 116_444_736_000_000_000n;
    const [event] = await feed.poll();
    expect(event!.bookmark).toBeUndefined();
    const root = parse(event!.xml);
    const ns = `${RESOURCE.wmi}/root/cimv2/__InstanceModificationEvent`;
    expect(root).toMatchObject({ ns, name: '__InstanceModificationEvent', attrs: { type: 'p:__InstanceModificationEvent_Type' } });
    expect(root.children.map((c) => [c.ns, c.name])).toEqual([[ns, 'SECURITY_DESCRIPTOR'], [ns, 'TIME_CREATED'], [ns, 'TargetInstance'], [ns, 'PreviousInstance']]);
    const time = BigInt(root.children[1]!.text);
    expect(time >= before && time < before + 600_000_000n).toBe(true); // within a minute
    const [target, previous] = [root.children[2]!.children[0]!, root.children[3]!.children[0]!];
    expect(target).toMatchObject({ ns: `${RESOURCE.wmi}/root/cimv2/Test_Service`, name: 'Test_Service' });
    expect(target.children.find((c) => c.name === 'State')!.text).toBe('Stopped & <gone>');
    expect(previous.children.find((c) => c.name === 'State')!.text).toBe('Running');
  });
});
