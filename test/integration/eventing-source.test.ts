// winrmd as a WS-Eventing event source (DSP0226 §10), driven by a subscriber written in the tests
// (test/helpers/event-sink.ts): the four delivery modes, heartbeats, bookmarks, Renew, GetStatus,
// Unsubscribe, expiry, retries ending in SubscriptionEnd, a sink that refuses, and the faults for
// each refusal. Instance events come from the widget fixture provider, which the tests change;
// EventLog events from journal files written by systemd-journal-remote.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envelope, pullBody } from '../helpers/envelope.js';
import { contextOf, EVT, identifierOf, manage, startSink, subscribe, type Sink } from '../helpers/event-sink.js';
import { writeJournal } from '../helpers/journal.js';
import { basic, BOB, NO_LOCKOUT, NO_SHEDDING, testServer } from '../helpers/server.js';
import { eventually } from '../helpers/shell-client.js';
import { xp, xpAll } from '../helpers/xpath.js';

const TEST_NS = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/test/*';
const WIDGET = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/test/Test_Widget';
const CREATED = "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Test_Widget'";
const PULL_ACTION = 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull';

type Server = Awaited<ReturnType<typeof testServer>>;
let s: Server;
let sink: Sink;
let dir: string;
let journalDir: string;

const widget = (id: string, color = 'green') => ({ className: 'Test_Widget', properties: { Id: id, Color: color, Size: 1, Tags: [], Made: new Date(0), Note: null } });
const faultOf = (xml: string) => xp(xml, '/s:Envelope/s:Body/s:Fault/s:Code/s:Subcode/s:Value').split(':')[1];
const pull = (context: string, timeout = 'PT3S', max = 10) => s.post(envelope({ action: PULL_ACTION, body: pullBody(context, max), operationTimeout: timeout }));

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-eventing-'));
  journalDir = path.join(dir, 'journal');
  mkdirSync(journalDir);
  writeJournal(journalDir, 'a', [
    { MESSAGE: 'disk failing', PRIORITY: '2', SYSLOG_IDENTIFIER: 'smartd', _HOSTNAME: 'web01' },
    { MESSAGE: 'all fine', PRIORITY: '6', SYSLOG_IDENTIFIER: 'cron', _HOSTNAME: 'web01' },
    { MESSAGE: 'fan error', PRIORITY: '3', SYSLOG_IDENTIFIER: 'ipmi', _HOSTNAME: 'web01' },
  ]);
  sink = await startSink();
  s = await testServer({
    limits: NO_SHEDDING,
    security: { ...NO_LOCKOUT, eventLogReaders: ['alice'] },
    journal: { directory: journalDir },
    eventing: { maxSubscriptionsPerUser: 4, deliveryTargets: [{ url: new URL('/', sink.url).href }] },
  });
});

afterEach(() => {
  sink.answer = 'ack';
  sink.delayMs = 0;
  sink.deliveries.length = 0;
});

afterAll(async () => {
  await s.server.close();
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
});

async function subscribed(o: Parameters<typeof subscribe>[0], auth?: string): Promise<string> {
  const res = await s.post(subscribe(o), auth);
  expect(res.status, res.body).toBe(200);
  return res.body as string;
}

describe('Pull (DSP0226 §10.2.9.5)', () => {
  it('creation, modification and deletion of instances reach the subscriber through its enumeration context', async () => {
    const reply = await subscribed({ resourceUri: TEST_NS, mode: EVT.pull, filter: { text: "SELECT * FROM __InstanceOperationEvent WITHIN 1 WHERE TargetInstance ISA 'Test_Widget' AND TargetInstance.Id LIKE 'p%'" } });
    const context = contextOf(reply);
    expect(context).toMatch(/^uuid:/);
    expect(identifierOf(reply)).toMatch(/^uuid:/);
    // The first poll sets the baseline: nothing is reported for what already exists.
    await new Promise((r) => setTimeout(r, 1200));
    s.widgets.widgets.set('p1', widget('p1'));
    s.widgets.widgets.set('q1', widget('q1')); // not matched by the condition
    let res = await pull(context);
    expect(res.status, res.body).toBe(200);
    expect(xpAll(res.body, '//n:Items/*').length).toBe(1);
    expect(xp(res.body, 'local-name(//n:Items/*)')).toBe('__InstanceCreationEvent');
    expect(xp(res.body, '//n:Items/*/*[local-name()="TargetInstance"]/*/*[local-name()="Id"]')).toBe('p1');

    s.widgets.widgets.set('p1', widget('p1', 'purple'));
    res = await pull(context);
    expect(xp(res.body, 'local-name(//n:Items/*)')).toBe('__InstanceModificationEvent');
    expect(xp(res.body, '//n:Items/*/*[local-name()="PreviousInstance"]/*/*[local-name()="Color"]')).toBe('green');
    expect(xp(res.body, '//n:Items/*/*[local-name()="TargetInstance"]/*/*[local-name()="Color"]')).toBe('purple');

    s.widgets.widgets.delete('p1');
    s.widgets.widgets.delete('q1');
    res = await pull(context);
    expect(xp(res.body, 'local-name(//n:Items/*)')).toBe('__InstanceDeletionEvent');

    // Nothing more within the OperationTimeout: TimedOut, and the context stays for the next Pull.
    res = await pull(context, 'PT1.5S');
    expect(faultOf(res.body)).toBe('TimedOut');
    s.widgets.widgets.set('p2', widget('p2'));
    res = await pull(context);
    expect(xp(res.body, '//n:Items/*/*[local-name()="TargetInstance"]/*/*[local-name()="Id"]')).toBe('p2');
    s.widgets.widgets.delete('p2');
    await s.post(manage(EVT.unsubscribe, identifierOf(reply)));
  });

  it('the journal as the EventLog resource: a QueryList selects, bookmarks resume, earliest replays', async () => {
    const queryList = '<QueryList><Query Id="0"><Select Path="System">*[System[(Level=1 or Level=2)]]</Select></Query></QueryList>';
    const reply = await subscribed({ resourceUri: EVT.eventLog, mode: EVT.pull, filter: { dialect: EVT.eventQuery, text: queryList }, bookmark: EVT.earliest, sendBookmarks: true, options: { ContentFormat: 'RenderedText' } });
    let res = await pull(contextOf(reply));
    expect(res.status, res.body).toBe(200);
    const items = xpAll(res.body, '//n:Items/*');
    expect(items.length).toBe(2); // priorities 2 and 3 (Critical and Error); not the info entry
    expect(xpAll(res.body, '//n:Items/ev:Event/ev:RenderingInfo/ev:Message')).toEqual(['disk failing', 'fan error']);
    expect(xpAll(res.body, '//n:Items/ev:Event/ev:System/ev:Provider/@Name')).toEqual(['smartd', 'ipmi']);
    const bookmark = xp(res.body, 'count(/s:Envelope/s:Header/w:Bookmark/*)');
    expect(bookmark).toBe('1');
    const mark = res.body.match(/<w:Bookmark>(.*?)<\/w:Bookmark>/s)![1]!;
    await s.post(manage(EVT.unsubscribe, identifierOf(reply)));

    // A new subscription from that bookmark gets only what came after it.
    writeJournal(journalDir, 'b', [{ MESSAGE: 'raid degraded', PRIORITY: '1', SYSLOG_IDENTIFIER: 'mdadm', _HOSTNAME: 'web01' }]);
    const again = await subscribed({ resourceUri: EVT.eventLog, mode: EVT.pull, filter: { dialect: EVT.eventQuery, text: queryList }, bookmark: mark, sendBookmarks: true });
    res = await pull(contextOf(again));
    expect(xpAll(res.body, '//n:Items/ev:Event/ev:EventData/ev:Data[@Name="MESSAGE"]')).toEqual(['raid degraded']);
    await s.post(manage(EVT.unsubscribe, identifierOf(again)));
  });

  it('no Pull within the heartbeat interval ends the subscription, as Windows does', async () => {
    const reply = await subscribed({ resourceUri: WIDGET, mode: EVT.pull, heartbeats: 'PT1S', filter: { text: CREATED } });
    await new Promise((r) => setTimeout(r, 1600));
    const status = await s.post(manage(EVT.getStatus, identifierOf(reply)));
    expect(faultOf(status.body)).toBe('DestinationUnreachable');
    const res = await pull(contextOf(reply));
    expect(faultOf(res.body)).toBe('InvalidEnumerationContext');
  });
});

describe('Push, PushWithAck and Events', () => {
  it('Push: one event per message, no acknowledgement asked, reference parameters echoed', async () => {
    const reply = await subscribed({ resourceUri: WIDGET, mode: EVT.push, notifyTo: sink.url, identifier: 'sub-42', filter: { text: CREATED } });
    await new Promise((r) => setTimeout(r, 1200));
    s.widgets.widgets.set('h1', widget('h1'));
    s.widgets.widgets.set('h2', widget('h2'));
    const got = await eventually(async () => sink.deliveries.filter((d) => d.action === EVT.event), (d) => d.length >= 2, 8000);
    expect(got.length).toBe(2);
    for (const d of got) {
      expect(d.ackRequested).toBe(false);
      expect(xp(d.xml, '/s:Envelope/s:Header/e:Identifier')).toBe('sub-42');
      expect(xp(d.xml, 'local-name(/s:Envelope/s:Body/*)')).toBe('__InstanceCreationEvent');
    }
    expect(got.map((d) => xp(d.xml, '//*[local-name()="TargetInstance"]/*/*[local-name()="Id"]')).sort()).toEqual(['h1', 'h2']);
    await s.post(manage(EVT.unsubscribe, identifierOf(reply)));
    s.widgets.widgets.delete('h1');
    s.widgets.widgets.delete('h2');
  });

  it('PushWithAck: the next event waits for the Ack of the one before', async () => {
    sink.delayMs = 800;
    const reply = await subscribed({ resourceUri: WIDGET, mode: EVT.pushWithAck, notifyTo: sink.url, filter: { text: CREATED } });
    await new Promise((r) => setTimeout(r, 1200));
    s.widgets.widgets.set('k1', widget('k1'));
    s.widgets.widgets.set('k2', widget('k2'));
    const got = await eventually(async () => sink.deliveries.filter((d) => d.action === EVT.event), (d) => d.length >= 2, 8000);
    expect(got.every((d) => d.ackRequested)).toBe(true);
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(750);
    await s.post(manage(EVT.unsubscribe, identifierOf(reply)));
    s.widgets.widgets.delete('k1');
    s.widgets.widgets.delete('k2');
  });

  it('Events: batches of MaxElements, the rest within MaxTime, with bookmarks; heartbeats when idle', async () => {
    const reply = await subscribed({
      resourceUri: EVT.eventLog, mode: EVT.events, notifyTo: sink.url, maxElements: 2, maxTime: 'PT1S', heartbeats: 'PT1S',
      filter: { dialect: EVT.eventQuery, text: '<QueryList><Query Id="0"><Select Path="System">*</Select></Query></QueryList>' }, bookmark: EVT.earliest, sendBookmarks: true,
    });
    const batches = await eventually(async () => sink.deliveries.filter((d) => d.action === EVT.events), (d) => d.length >= 2, 8000);
    expect(batches.map((d) => xpAll(d.xml, '//w:Events/w:Event').length)).toEqual([2, 2]);
    expect(batches.every((d) => d.ackRequested && xp(d.xml, 'count(/s:Envelope/s:Header/w:Bookmark)') === '1')).toBe(true);
    // The events travel as CDATA text, as Windows sends them.
    expect(batches[0]!.xml).toContain('<w:Event Action="http://schemas.dmtf.org/wbem/wsman/1/wsman/Event"><![CDATA[<Event xmlns=');
    const beats = await eventually(async () => sink.deliveries.filter((d) => d.action === EVT.heartbeat), (d) => d.length >= 1, 5000);
    expect(beats.length).toBeGreaterThanOrEqual(1);
    await s.post(manage(EVT.unsubscribe, identifierOf(reply)));
  });

  it('an event larger than MaxEnvelopeSize is reported with DroppedEvents under Policy="Notify"', async () => {
    const reply = await subscribed({ resourceUri: WIDGET, mode: EVT.pushWithAck, notifyTo: sink.url, maxEnvelopeSize: { size: 8192, policy: 'Notify' }, filter: { text: CREATED } });
    await new Promise((r) => setTimeout(r, 1200));
    s.widgets.widgets.set('big', { ...widget('big'), properties: { ...widget('big').properties, Note: 'x'.repeat(10_000) } });
    s.widgets.widgets.set('small', widget('small'));
    const got = await eventually(async () => sink.deliveries, (d) => d.length >= 2, 8000);
    expect(got.map((d) => d.action).sort()).toEqual([EVT.droppedEvents, EVT.event].sort());
    expect(xp(got.find((d) => d.action === EVT.droppedEvents)!.xml, '//w:DroppedEvents')).toBe('1');
    await s.post(manage(EVT.unsubscribe, identifierOf(reply)));
    s.widgets.widgets.delete('big');
    s.widgets.widgets.delete('small');
  });
});

describe('the life of a subscription', () => {
  it('Renew and GetStatus report the expiry; Unsubscribe ends it; another user cannot touch it', async () => {
    const reply = await subscribed({ resourceUri: WIDGET, mode: EVT.pull, expires: 'PT60S', filter: { text: CREATED } });
    expect(xp(reply, '//e:SubscribeResponse/e:Expires')).toBe('PT60S');
    const id = identifierOf(reply);
    let res = await s.post(manage(EVT.getStatus, id));
    expect(xp(res.body, '//e:GetStatusResponse/e:Expires')).toMatch(/^PT(59|60)\.\d{3}S$/);
    res = await s.post(manage(EVT.renew, id, `<e:Renew xmlns:e="${EVT.wse}"><e:Expires>PT120S</e:Expires></e:Renew>`));
    expect(xp(res.body, '//e:RenewResponse/e:Expires')).toBe('PT120S');
    res = await s.post(manage(EVT.getStatus, id));
    expect(xp(res.body, '//e:GetStatusResponse/e:Expires')).toMatch(/^PT1[12]\d\.\d{3}S$/);
    // Renewed, it goes on delivering.
    await new Promise((r) => setTimeout(r, 1200));
    s.widgets.widgets.set('r1', widget('r1'));
    res = await pull(contextOf(reply));
    expect(xp(res.body, '//n:Items/*/*[local-name()="TargetInstance"]/*/*[local-name()="Id"]')).toBe('r1');
    s.widgets.widgets.delete('r1');
    // Bob's view: no such subscription.
    res = await s.post(manage(EVT.unsubscribe, id), basic(BOB));
    expect(faultOf(res.body)).toBe('DestinationUnreachable');
    res = await s.post(manage(EVT.unsubscribe, id));
    expect(res.status).toBe(200);
    expect(xp(res.body, '/s:Envelope/s:Header/a:Action')).toBe(`${EVT.wse}/UnsubscribeResponse`);
    res = await s.post(manage(EVT.renew, id, `<e:Renew xmlns:e="${EVT.wse}"/>`));
    expect(faultOf(res.body)).toBe('UnableToRenew');
  });

  it('a subscription expires at its Expires, given as a date-time', async () => {
    const reply = await subscribed({ resourceUri: WIDGET, mode: EVT.pull, expires: new Date(Date.now() + 1000).toISOString(), filter: { text: CREATED } });
    await new Promise((r) => setTimeout(r, 1400));
    const res = await s.post(manage(EVT.getStatus, identifierOf(reply)));
    expect(faultOf(res.body)).toBe('DestinationUnreachable');
  });

  it('an unreachable sink is retried per ConnectionRetry, then told SubscriptionEnd (DeliveryFailure) at EndTo', async () => {
    const gone = await startSink('/gone');
    await gone.close(); // an allowed address where nothing listens any more
    // The test server allows 127.0.0.1 on the sink's port only: a second allowed target for this case.
    const t = await testServer({ limits: NO_SHEDDING, eventing: { deliveryTargets: [{ url: new URL('/', sink.url).href }, { url: new URL('/', gone.url).href }] } });
    try {
      const res = await t.post(subscribe({ resourceUri: WIDGET, mode: EVT.pushWithAck, notifyTo: gone.url, endTo: sink.url, heartbeats: 'PT0.5S', connectionRetry: { total: 2, interval: 'PT0.2S' }, filter: { text: CREATED } }));
      expect(res.status, res.body).toBe(200);
      const ends = await eventually(async () => sink.deliveries.filter((d) => d.action === EVT.subscriptionEnd), (d) => d.length >= 1, 8000);
      expect(xp(ends[0]!.xml, '//e:SubscriptionEnd/e:Status')).toBe(EVT.deliveryFailure);
      expect(xp(ends[0]!.xml, '//e:SubscriptionEnd/e:SubscriptionManager/a:ReferenceParameters/e:Identifier')).toBe(identifierOf(res.body));
      expect(t.logLines.filter((l) => l.includes('"delivery_failed"')).length).toBe(3); // the first attempt and two retries
    } finally {
      await t.server.close();
    }
  });

  it('a sink that answers DeliveryRefused cancels the subscription, with no SubscriptionEnd', async () => {
    sink.answer = 'refuse';
    const reply = await subscribed({ resourceUri: WIDGET, mode: EVT.pushWithAck, notifyTo: sink.url, endTo: sink.url, heartbeats: 'PT0.5S', filter: { text: CREATED } });
    await eventually(async () => sink.deliveries.length, (n) => n >= 1, 5000);
    const res = await eventually(async () => (await s.post(manage(EVT.getStatus, identifierOf(reply)))).body as string, (b) => faultOf(b) === 'DestinationUnreachable', 5000);
    expect(faultOf(res)).toBe('DestinationUnreachable');
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.deliveries.filter((d) => d.action === EVT.subscriptionEnd)).toEqual([]);
  });

  it('subscribing again to the same sink replaces the subscription; subscriptions per user are a quota', async () => {
    const first = await subscribed({ resourceUri: WIDGET, mode: EVT.push, notifyTo: sink.url, identifier: 'same', filter: { text: CREATED } });
    const second = await subscribed({ resourceUri: WIDGET, mode: EVT.push, notifyTo: sink.url, identifier: 'same', filter: { text: CREATED } });
    expect(faultOf((await s.post(manage(EVT.getStatus, identifierOf(first)))).body)).toBe('DestinationUnreachable');
    const ids = [identifierOf(second)];
    for (let i = 0; i < 3; i++) ids.push(identifierOf(await subscribed({ resourceUri: WIDGET, mode: EVT.pull, filter: { text: CREATED } })));
    const over = await s.post(subscribe({ resourceUri: WIDGET, mode: EVT.pull, filter: { text: CREATED } }));
    expect(faultOf(over.body)).toBe('QuotaLimit');
    // Subscribes sent at once are counted as they are taken: no more than the quota get through.
    for (const id of ids.slice(1)) await s.post(manage(EVT.unsubscribe, id));
    const burst = await Promise.all(Array.from({ length: 8 }, () => s.post(subscribe({ resourceUri: EVT.eventLog, mode: EVT.pull }))));
    expect(burst.filter((r) => r.status === 200).length).toBe(3);
    expect(burst.filter((r) => faultOf(r.body) === 'QuotaLimit').length).toBe(5);
    ids.splice(1, 3, ...burst.filter((r) => r.status === 200).map((r) => identifierOf(r.body)));
    // Bob has his own quota.
    expect((await s.post(subscribe({ resourceUri: WIDGET, mode: EVT.pull, filter: { text: CREATED } }), basic(BOB))).status).toBe(200);
    for (const id of ids) await s.post(manage(EVT.unsubscribe, id));
  });

  it('the journal is read only by those security.eventLogReaders names', async () => {
    const res = await s.post(subscribe({ resourceUri: EVT.eventLog, mode: EVT.pull }), basic(BOB));
    expect(faultOf(res.body)).toBe('AccessDenied');
    expect(xp(res.body, '//s:Reason/s:Text')).toMatch(/eventLogReaders/);
  });

  it('an address outside eventing.deliveryTargets is refused before anything is sent', async () => {
    const origin = new URL(sink.url).origin;
    for (const notifyTo of ['http://169.254.169.254/latest/meta-data', 'http://127.0.0.1:1/x', 'file:///etc/passwd', `${sink.url.replace('127.0.0.1', 'localhost')}`,
      `http://user:pw@${new URL(sink.url).host}/sink`, `${origin}/sink%2F..%2Fadmin`, `${origin}/sink;x`]) {
      const res = await s.post(subscribe({ resourceUri: WIDGET, mode: EVT.push, notifyTo, filter: { text: CREATED } }));
      expect(faultOf(res.body), notifyTo).toBe('EventDeliverToUnusable');
    }
    const res = await s.post(subscribe({ resourceUri: WIDGET, mode: EVT.pull, endTo: 'http://10.0.0.1/end', filter: { text: CREATED } }));
    expect(faultOf(res.body)).toBe('EventDeliverToUnusable');
    // An allowed address, but the subscriber wants client certificates where the configuration sends none.
    const mutual = await s.post(subscribe({ resourceUri: WIDGET, mode: EVT.push, notifyTo: sink.url, authProfile: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual', filter: { text: CREATED } }));
    expect(faultOf(mutual.body)).toBe('EventDeliverToUnusable');
    expect(xp(mutual.body, '//s:Reason/s:Text')).toMatch(/https\/mutual.*authenticates at .* with none/);
    expect(sink.deliveries).toEqual([]);
  });
});
