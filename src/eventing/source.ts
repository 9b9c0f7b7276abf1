// winrmd as a WS-Eventing event source (DSP0226 §10; MS-WSMV 3.1.4.6 lists the four delivery
// modes as MUST where Subscribe is supported): Subscribe, Renew, GetStatus and Unsubscribe, and
// SubscriptionEnd when the source ends a subscription itself. What can be subscribed to is a feed
// (feed.ts): the journal as the EventLog resource with the eventquery dialect, instance events
// over any class with WQL, and the BMCs' event log and sensors (the SEL resource).
//
// Deliveries: Push (one event per message), PushWithAck (one, acknowledged), Events (batches by
// MaxElements, MaxTime and MaxEnvelopeSize, acknowledged), each with heartbeats, bookmarks and
// ConnectionRetry, to a NotifyTo address the configuration allows, authenticated as it says; and
// Pull, through the enumeration context the SubscribeResponse returns (the next Pull is the
// acknowledgement; no Pull within the heartbeat interval ends the subscription, as Windows does).
// Subscriptions live in memory: a subscriber that loses its subscription subscribes again with
// its last bookmark (Windows collectors do the same: a Windows source cannot Renew either).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { parseDuration, type ProviderRequest } from '../provider-api.js';
import type { ReplyMessage } from '../soap/envelope.js';
import { WsmanFault } from '../soap/faults.js';
import { DIALECT, EVENTING, FAULT_DETAIL, NS } from '../soap/names.js';
import { child, el, raw, serialize, textOf, type XmlNode } from '../soap/xml.js';
import type { Core } from '../wsman/core.js';
import type { OpContext } from '../wsman/operations/context.js';
import type { WsmanRequest } from '../wsman/request.js';
import type { Target } from '../wsman/routes.js';
import type { ClassEntry } from '../cim/registry.js';
import { validateQuery, WqlError } from '../cim/wql.js';
import { ClientError, faultSubcode, isUnder, requestEnvelope, wsmanClient, type Credentials, type WsmanClient } from './client.js';
import { compileQuery, EventQueryError } from './event-query.js';
import type { Feed, FeedEvent } from './feed.js';
import { instanceEventFeed, InstanceEventQueryError, parseInstanceEventQuery, type InstanceEventQuery } from './instance-events.js';
import { JournalError } from './journal.js';
import { cursorOf, journalFeed, type JournalHub } from './journal-feed.js';

export interface DeliveryTarget {
  /** NotifyTo and EndTo addresses must lie under this one (client.ts isUnder). */
  url: string;
  credentials: Credentials;
}

export interface EventSourceOptions {
  journal: JournalHub;
  deliveryTargets: DeliveryTarget[];
  maxSubscriptionsPerUser: number;
  /** How often the SEL resource reads the BMCs' state (the IPMI provider's poll interval). */
  selPollMs: number;
  /** How long a pull subscription without heartbeats waits for a Pull (EnumerationTimeoutms). */
  pullTimeoutMs: number;
  log: Logger;
}

type Mode = 'push' | 'pushWithAck' | 'events' | 'pull';
const MODES = new Map<string, Mode>([[EVENTING.pushMode, 'push'], [EVENTING.pushWithAckMode, 'pushWithAck'], [EVENTING.eventsMode, 'events'], [EVENTING.pullMode, 'pull']]);

/** An endpoint reference (WS-Addressing 2004/08): where, and the headers each message to it carries. */
interface Epr { address: string; parameters: XmlNode[] }

const ROUTE = { eventLog: 'eventing/eventlog', sel: 'eventing/sel' } as const;
const STEERING = new Set<string>([NS.wsa, NS.wsman, NS.wsmv, NS.soap]);
/** Room kept in a delivery for the envelope around the events (DSP0226 §10.2.9.4: the envelope counts). */
const ENVELOPE_ROOM = 2048;
/** setTimeout's bound: longer expiries are waited for in steps. */
const MAX_TIMER = 2 ** 31 - 1;
/** Events kept per subscription before its feed is read no further (the journal waits where it is). */
const MAX_QUEUE = 10_000;
/** Bounds of what a subscriber may ask: retries, their interval, heartbeats and batching times, and expiry. */
const MAX_RETRIES = 100;
const MIN_RETRY_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 7 * 86_400_000;
/** Windows' own collectors ask PT3960732748.184S (about 125 years): room for that, not for Infinity. */
const MAX_EXPIRY_MS = 200 * 365 * 86_400_000;

class Subscription {
  readonly id = `uuid:${randomUUID().toUpperCase()}`;
  readonly created = Date.now();
  queue: FeedEvent[] = [];
  /** When the oldest event waiting was queued (Events mode sends it within MaxTime). */
  oldestAt = 0;
  ended = false;
  expiresAt?: number;
  /** What the Pull iterator handed out, in order, not yet counted into a PullResponse. */
  handedOut: (string | undefined)[] = [];
  private readonly wakers = new Set<() => void>();
  expiryTimer?: NodeJS.Timeout;
  pollTimer?: NodeJS.Timeout;
  stopDelivery?: () => void;
  dropContext?: () => void;

  constructor(
    readonly owner: string,
    readonly mode: Mode,
    readonly feed: Feed,
    readonly settings: Settings,
    readonly manager: string,
  ) {}

  wake(): void {
    const now = [...this.wakers];
    this.wakers.clear();
    for (const w of now) w();
  }

  /** Resolves at the next wake() or after ms. */
  waitFor(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waker = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.wakers.delete(waker);
        resolve();
      }, Math.min(ms, MAX_TIMER));
      this.wakers.add(waker);
    });
  }
}

interface Settings {
  notifyTo?: Epr;
  endTo?: Epr;
  heartbeatMs?: number;
  retries: number;
  retryIntervalMs: number;
  maxElements: number;
  maxTimeMs: number;
  maxEnvelopeSize: number;
  envelopePolicy: 'CancelSubscription' | 'Skip' | 'Notify';
  sendBookmarks: boolean;
  /** EventLog events travel as CDATA text, as Windows sends them; instance events as elements. */
  cdata: boolean;
  /** The Expires element as the subscriber wrote it (a duration or a date-time), for the replies. */
  expires?: string;
}

// ---- reading a Subscribe ----

function epr(node: XmlNode | undefined, what: string): Epr | undefined {
  if (!node) return undefined;
  const address = textOf(child(node, NS.wsa, 'Address'));
  if (!address) throw new WsmanFault('EventDeliverToUnusable', `The ${what} endpoint reference has no Address.`, FAULT_DETAIL.unusableAddress);
  // Reference parameters become headers of every delivery (WS-Addressing 2004/08 §2.3): those in
  // the addressing and WS-Management namespaces would steer the receiver (its Action, To,
  // ResourceURI, selectors, options) and are not taken.
  const parameters = [...(child(node, NS.wsa, 'ReferenceProperties')?.children ?? []), ...(child(node, NS.wsa, 'ReferenceParameters')?.children ?? [])]
    .filter((p) => !STEERING.has(p.ns));
  return { address, parameters };
}

/** e:Expires (W3C WS-Eventing §3.1): a duration from now, or a date-time. Undefined: never. */
export function readExpires(text: string | undefined, now = Date.now()): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  let at: number;
  if (t.startsWith('P')) {
    const ms = parseDuration(t);
    if (ms === undefined) throw new WsmanFault('UnsupportedExpirationType', `The expiration ${t} is not an xs:duration winrmd reads (days, hours, minutes, seconds), nor an xs:dateTime.`, FAULT_DETAIL.expirationTime);
    at = now + ms;
  } else {
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(t) || Number.isNaN(Date.parse(t))) {
      throw new WsmanFault('UnsupportedExpirationType', `The expiration ${t} is neither an xs:duration nor an xs:dateTime.`, FAULT_DETAIL.expirationTime);
    }
    at = Date.parse(t);
  }
  if (at <= now) throw new WsmanFault('InvalidExpirationTime', `The expiration ${t} is zero or in the past.`, FAULT_DETAIL.expirationTime);
  if (!(at - now <= MAX_EXPIRY_MS)) throw new WsmanFault('InvalidExpirationTime', `The expiration ${t} is more than 200 years away.`, FAULT_DETAIL.expirationTime);
  return at;
}

function durationOf(node: XmlNode | undefined, what: string, detail: string, min: number, max = MAX_INTERVAL_MS): number | undefined {
  const text = textOf(node);
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms < min || ms > max) throw new WsmanFault('InvalidParameter', `${what} must be an xs:duration from ${min / 1000} s to ${max / 86_400_000} days, not "${text}".`, detail);
  return ms;
}

function positive(node: XmlNode | undefined, what: string, detail?: string): number | undefined {
  const text = textOf(node);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new WsmanFault('InvalidParameter', `${what} must be a positive integer, not "${text}".`, detail);
  return n;
}

function readSettings(subscribe: XmlNode, mode: Mode, maxEnvelopeSize: number): Settings {
  const delivery = child(subscribe, NS.wse, 'Delivery');
  const retry = child(delivery, NS.wsman, 'ConnectionRetry');
  const retryIntervalMs = durationOf(retry, 'ConnectionRetry', FAULT_DETAIL.deliveryRetries, 0) ?? 60_000;
  const retries = retry ? Number(retry.attrs.Total ?? 0) : 5;
  // MS-WSMV 3.1.4.1.30.2: the interval and Total are both zero or both more than zero; winrmd
  // also bounds them, so that a sink that fails is not hammered for ever.
  if (retry && (!Number.isInteger(retries) || retries < 0 || (retries === 0) !== (retryIntervalMs === 0))) {
    throw new WsmanFault('InvalidParameter', 'ConnectionRetry needs a Total and an interval both zero or both more than zero.', FAULT_DETAIL.deliveryRetries);
  }
  if (retries > MAX_RETRIES || (retries > 0 && retryIntervalMs < MIN_RETRY_INTERVAL_MS)) {
    throw new WsmanFault('InvalidParameter', `ConnectionRetry allows at most ${MAX_RETRIES} retries, at least ${MIN_RETRY_INTERVAL_MS / 1000} s apart.`, FAULT_DETAIL.deliveryRetries);
  }
  const size = child(delivery, NS.wsman, 'MaxEnvelopeSize');
  const policy = size?.attrs.Policy ?? 'Skip';
  if (policy !== 'CancelSubscription' && policy !== 'Skip' && policy !== 'Notify') throw new WsmanFault('InvalidParameter', `MaxEnvelopeSize Policy ${policy} is not CancelSubscription, Skip or Notify.`);
  const expires = textOf(child(subscribe, NS.wse, 'Expires'));
  return {
    notifyTo: mode === 'pull' ? undefined : epr(child(delivery, NS.wse, 'NotifyTo'), 'NotifyTo'),
    endTo: epr(child(subscribe, NS.wse, 'EndTo'), 'EndTo'),
    heartbeatMs: durationOf(child(delivery, NS.wsman, 'Heartbeats'), 'Heartbeats', FAULT_DETAIL.heartbeats, 500),
    retries: retry ? retries : 5,
    retryIntervalMs,
    maxElements: mode === 'events' ? positive(child(delivery, NS.wsman, 'MaxElements'), 'MaxElements', FAULT_DETAIL.maxElements) ?? 100 : 1,
    maxTimeMs: mode === 'events' ? durationOf(child(delivery, NS.wsman, 'MaxTime'), 'MaxTime', FAULT_DETAIL.maxTime, 0) ?? 30_000 : 0,
    maxEnvelopeSize: Math.min(positive(size, 'MaxEnvelopeSize') ?? maxEnvelopeSize, 4 * 1024 * 1024),
    envelopePolicy: policy,
    sendBookmarks: child(subscribe, NS.wsman, 'SendBookmarks') !== undefined,
    cdata: false,
    expires,
  };
}

// ---- the event source ----

export interface EventSource {
  readonly size: number;
  /** The open subscriptions (`winrmd session list`). */
  list(): { id: string; owner: string; mode: string; notifyTo?: string; expiresAt?: number; created: number }[];
  /** Ends one, telling its subscriber (SubscriptionEnd SourceCancelling); false when there is none. */
  endById(id: string): boolean;
  /** The user was removed or given a new password: their subscriptions end. */
  endUser(user: string): Promise<void>;
  /** Ends every subscription, telling each subscriber with an EndTo that the source is shutting down. */
  close(): Promise<void>;
}

export function registerEventSource(core: Core, o: EventSourceOptions): EventSource {
  const subscriptions = new Map<string, Subscription>();
  const clients = new Map<string, WsmanClient>();
  const log = o.log;

  const clientFor = (address: string): { client: WsmanClient; url: string } | undefined => {
    const target = o.deliveryTargets.find((t) => isUnder(address, t.url));
    if (!target) return undefined;
    let client = clients.get(target.url);
    if (!client) clients.set(target.url, (client = wsmanClient(target.credentials)));
    return { client, url: target.url };
  };

  /** DESIGN.md: an outbound client never follows an address the configuration does not allow. */
  const checkAddress = (e: Epr | undefined, what: string) => {
    if (e && !clientFor(e.address)) {
      throw new WsmanFault('EventDeliverToUnusable', `The ${what} address ${e.address} is not under any of eventing.deliveryTargets: winrmd delivers nowhere else.`, FAULT_DETAIL.unusableAddress);
    }
  };

  /**
   * The authentication a subscriber asks deliveries to use (DSP0226 §10.2.2 w:Auth Profile, or
   * MS-WSMV 3.1.4.1.30.3's c:Policy of alternatives in NotifyTo) must be how the configuration
   * authenticates at that address: winrmd does not take credentials from a subscriber.
   */
  const checkProfiles = (delivery: XmlNode | undefined, e: Epr | undefined) => {
    const asked = profilesIn(delivery);
    if (!e || asked.length === 0) return;
    const target = o.deliveryTargets.find((t) => isUnder(e.address, t.url))!;
    const has = authKind(target.credentials);
    if (!asked.some((p) => profileKind(p) === has)) {
      throw new WsmanFault('EventDeliverToUnusable', `The subscription asks deliveries authenticated by ${asked.join(' or ')}; eventing.deliveryTargets authenticates at ${target.url} with ${has}.`, FAULT_DETAIL.unusableAddress);
    }
  };

  core.routes.resolvers.push((req) => {
    const uri = req.resourceUri.toLowerCase();
    if (uri === EVENTING.eventLog.toLowerCase()) return { kind: 'capability', route: ROUTE.eventLog, selectors: {} };
    if (uri === EVENTING.sel.toLowerCase()) return { kind: 'capability', route: ROUTE.sel, selectors: {} };
    return undefined;
  });

  const subscribe = async (req: WsmanRequest, ctx: OpContext, target: Target): Promise<ReplyMessage> => {
    const body = req.body;
    if (!body || body.ns !== NS.wse || body.name !== 'Subscribe') throw new WsmanFault('SchemaValidationError', 'The body must be an e:Subscribe element.');
    const delivery = child(body, NS.wse, 'Delivery');
    const modeUri = delivery?.attrs.Mode ?? EVENTING.pushMode; // WS-Eventing §3.1: Push when absent
    const mode = MODES.get(modeUri);
    if (!mode) throw new WsmanFault('DeliveryModeRequestedUnavailable', `The delivery mode ${modeUri} is not supported: ${[...MODES.keys()].join(', ')}.`);
    const settings = readSettings(body, mode, req.maxEnvelopeSize);
    if (mode !== 'pull' && !settings.notifyTo) throw new WsmanFault('EventDeliverToUnusable', `A ${mode} subscription needs e:NotifyTo.`, FAULT_DETAIL.unusableAddress);
    checkAddress(settings.notifyTo, 'NotifyTo');
    checkAddress(settings.endTo, 'EndTo');
    checkProfiles(delivery, settings.notifyTo);
    const expiresAt = readExpires(settings.expires);
    const owner = ctx.caller.user;
    const feed = await feedFor(req, ctx, target, body, settings);
    // From here to the registration nothing waits: the quota is counted where it is taken.
    const owned = [...subscriptions.values()].filter((s) => s.owner === owner);
    // The same subscriber subscribing again to the same sink (after it lost track, or restarted)
    // replaces its subscription, so one sink is not delivered the same events twice.
    const replaced = settings.notifyTo && owned.find((s) => sameEpr(s.settings.notifyTo, settings.notifyTo));
    if (!replaced && owned.length >= o.maxSubscriptionsPerUser) {
      feed.close?.();
      throw new WsmanFault('QuotaLimit', `The user ${owner} has ${owned.length} subscriptions (eventing.maxSubscriptionsPerUser = ${o.maxSubscriptionsPerUser}).`);
    }
    const manager = req.to && /^https?:/i.test(req.to) ? req.to : `${ctx.info.secure ? 'https' : 'http'}://${ctx.info.headers.host ?? 'localhost'}/wsman`;
    const sub = new Subscription(owner, mode, feed, settings, manager);
    const response = el(NS.wse, 'SubscribeResponse', {},
      el(NS.wse, 'SubscriptionManager', {},
        el(NS.wsa, 'Address', {}, manager),
        el(NS.wsa, 'ReferenceParameters', {}, el(NS.wse, 'Identifier', {}, sub.id))),
      settings.expires ? el(NS.wse, 'Expires', {}, settings.expires) : undefined);
    if (mode === 'pull') {
      // DSP0226 §10.2.9.5: the events are pulled through an enumeration context (which has its
      // own quota: taken first, so that a refusal leaves nothing behind).
      let open;
      try {
        open = ctx.enumerations.create(owner, pullIterator(sub), {
          timeoutMs: settings.heartbeatMs ?? o.pullTimeoutMs,
          replyHeaders: (taken) => pulledBookmark(sub, taken),
          eager: true,
          onDrop: () => end(sub, 'not pulled'),
          partOf: sub.id, // listed by `winrmd session list` as this subscription, not twice
        });
      } catch (err) {
        feed.close?.();
        throw err;
      }
      sub.dropContext = () => ctx.enumerations.drop(open);
      ctx.enumerations.yield(open);
      response.children.push(el(NS.wsen, 'EnumerationContext', {}, open.id));
    }
    if (replaced) end(replaced, 'replaced');
    subscriptions.set(sub.id, sub);
    setExpiry(sub, expiresAt);
    if (mode !== 'pull') sub.stopDelivery = deliver(sub);
    startPolling(sub);
    log.info({ event: 'subscription_created', id: sub.id, user: owner, mode, resourceUri: req.resourceUri, notifyTo: settings.notifyTo?.address, expires: settings.expires });
    return { action: EVENTING.subscribeResponse, relatesTo: req.messageId, body: [response] };
  };

  /** The subscription a Renew, GetStatus or Unsubscribe names with its e:Identifier header: another user's is reported as unknown. */
  const named = (req: WsmanRequest, ctx: OpContext): Subscription | undefined => {
    const id = textOf(child(req.header, NS.wse, 'Identifier'));
    const sub = id ? subscriptions.get(id) : undefined;
    return sub && sub.owner === ctx.caller.user && !sub.ended ? sub : undefined;
  };
  const unknown = (req: WsmanRequest) => `No subscription ${textOf(child(req.header, NS.wse, 'Identifier')) ?? '(no e:Identifier header)'} is open for this user: it ended, expired or never existed.`;

  core.routes.addUntargeted(EVENTING.renew, {
    operation: 'renew',
    handler: async (req, ctx) => {
      const sub = named(req, ctx);
      if (!sub) throw new WsmanFault('UnableToRenew', unknown(req));
      const expires = textOf(child(req.body, NS.wse, 'Expires'));
      setExpiry(sub, readExpires(expires));
      sub.settings.expires = expires;
      return { action: EVENTING.renewResponse, relatesTo: req.messageId, body: [el(NS.wse, 'RenewResponse', {}, expires ? el(NS.wse, 'Expires', {}, expires) : undefined)] };
    },
  });
  core.routes.addUntargeted(EVENTING.getStatus, {
    operation: 'get-status',
    handler: async (req, ctx) => {
      const sub = named(req, ctx);
      if (!sub) throw new WsmanFault('DestinationUnreachable', unknown(req));
      const left = sub.expiresAt === undefined ? undefined : `PT${Math.max(0, (sub.expiresAt - Date.now()) / 1000).toFixed(3)}S`;
      return { action: EVENTING.getStatusResponse, relatesTo: req.messageId, body: [el(NS.wse, 'GetStatusResponse', {}, left ? el(NS.wse, 'Expires', {}, left) : undefined)] };
    },
  });
  core.routes.addUntargeted(EVENTING.unsubscribe, {
    operation: 'unsubscribe',
    handler: async (req, ctx) => {
      const sub = named(req, ctx);
      if (!sub) throw new WsmanFault('DestinationUnreachable', unknown(req));
      end(sub, 'unsubscribed');
      return { action: EVENTING.unsubscribeResponse, relatesTo: req.messageId, body: [] };
    },
  });
  const subscribeRoute = { operation: 'subscribe', handler: subscribe };
  for (const route of ['class', 'namespace', ROUTE.sel]) core.routes.add(route, EVENTING.subscribe, subscribeRoute);
  core.routes.add(ROUTE.eventLog, EVENTING.subscribe, { ...subscribeRoute, effects: ['readsEventLog'] });

  // ---- feeds ----

  async function feedFor(req: WsmanRequest, ctx: OpContext, target: Target, body: XmlNode, settings: Settings): Promise<Feed> {
    const filter = child(body, NS.wsman, 'Filter') ?? child(body, NS.wse, 'Filter');
    const bookmark = child(body, NS.wsman, 'Bookmark');
    const bookmarkText = bookmark ? (bookmark.children[0] ? serialize(bookmark.children[0]) : textOf(bookmark) ?? '') : undefined;
    const earliest = bookmarkText?.trim() === EVENTING.bookmarkEarliest || /^true$/i.test(req.options.ReadExistingEvents ?? '');
    if (target.kind === 'capability' && target.route === ROUTE.eventLog) {
      const dialect = filter?.attrs.Dialect ?? DIALECT.eventQuery;
      if (dialect !== DIALECT.eventQuery) throw new WsmanFault('FilteringRequestedUnavailable', `The EventLog resource is filtered with ${DIALECT.eventQuery} only, not ${dialect}.`);
      const queryList = filter ? filter.children[0] : undefined;
      let query;
      try {
        query = compileQuery(queryList ? serialize(queryList) : '<QueryList><Query Id="0"><Select Path="System">*</Select><Select Path="Application">*</Select><Select Path="Security">*</Select></Query></QueryList>');
      } catch (err) {
        if (err instanceof EventQueryError) throw new WsmanFault('CannotProcessFilter', `The event query is not valid: ${err.message}.`);
        throw err;
      }
      const read = bookmarkText !== undefined && !earliest ? cursorOf(bookmarkText) : undefined;
      const start = typeof read === 'object' ? read : undefined;
      if (bookmarkText !== undefined && !earliest && !start) {
        throw new WsmanFault('InvalidBookmark', 'The bookmark is not one this source gave: a BookmarkList with a journal Cursor, or bookmark/earliest.');
      }
      let now: string | undefined;
      try {
        now = await o.journal.now();
      } catch (err) {
        if (err instanceof JournalError) throw new WsmanFault('EventSourceUnableToProcess', `No journal can be read: ${err.message}.`);
        throw err;
      }
      // The journal reads: a cursor it cannot seek to is the bookmark's fault.
      if (start) await o.journal.after(start.cursor, 1).catch((err: Error) => {
        throw new WsmanFault('InvalidBookmark', `The bookmark's journal cursor cannot be used: ${err.message}.`);
      });
      const after = earliest ? undefined : start ? start.cursor : now;
      settings.cdata = true;
      return journalFeed(o.journal, { query, after, rendered: req.options.ContentFormat === 'RenderedText', culture: req.locale });
    }
    if (bookmarkText !== undefined && !earliest) throw new WsmanFault('InvalidBookmark', `${req.resourceUri} takes no bookmark but bookmark/earliest (its events are found by polling, not read from a log).`);
    if (target.kind === 'capability' && target.route === ROUTE.sel) {
      if (filter) throw new WsmanFault('FilteringNotSupported', 'The SEL resource delivers every new event log record and sensor state change: it takes no filter.');
      const entry = (name: string) => ctx.resources.classInNamespace(SEL_NAMESPACE, name);
      const lister = listerFor(ctx);
      return mergeFeeds([
        instanceEventFeed({ kind: 'creation', withinMs: o.selPollMs, className: 'LogRecord', text: '' }, { entries: [entry('LogRecord')], list: lister }, { existing: earliest }),
        // A threshold crossing is a change of a sensor's state, not of its reading.
        instanceEventFeed({ kind: 'modification', withinMs: o.selPollMs, className: 'CIM_Sensor', text: '' }, { entries: [entry('NumericSensor'), entry('Sensor')], list: lister }, { existing: false, watch: ['CurrentState'] }),
      ]);
    }
    if (target.kind !== 'class' && target.kind !== 'namespace') throw new WsmanFault('ActionNotSupported', `${req.resourceUri} cannot be subscribed to.`);
    if (!filter) throw new WsmanFault('CannotProcessFilter', `A subscription to ${req.resourceUri} needs a WQL filter: SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA '<class>'.`);
    const dialect = filter.attrs.Dialect ?? DIALECT.wql;
    if (dialect !== DIALECT.wql) throw new WsmanFault('FilteringRequestedUnavailable', `Instance events are filtered with ${DIALECT.wql} only, not ${dialect}.`);
    let q: InstanceEventQuery;
    try {
      q = parseInstanceEventQuery(textOf(filter) ?? '');
    } catch (err) {
      if (err instanceof InstanceEventQueryError) throw new WsmanFault('CannotProcessFilter', `The event query is not valid: ${err.message}.`);
      throw err;
    }
    const root = ctx.resources.classes.find(target.namespace, q.className);
    if (!root) throw new WsmanFault('CannotProcessFilter', `The event query names ${q.className}, which is not a class of ${target.namespace}.`);
    if (target.kind === 'class' && !ctx.resources.classes.derivesFrom(root, target.entry.cls.name)) {
      throw new WsmanFault('CannotProcessFilter', `The event query names ${q.className}, which is not ${target.entry.cls.name} or a subclass of it.`);
    }
    if (q.condition) {
      try {
        validateQuery(q.condition, Object.keys(root.cls.properties));
      } catch (err) {
        if (err instanceof WqlError) throw new WsmanFault('CannotProcessFilter', `The event query's condition is not valid: ${err.message}.`);
        throw err;
      }
    }
    return instanceEventFeed(q, { entries: ctx.resources.classes.family(root.cls.namespace, root.cls.name), list: listerFor(ctx) }, { existing: earliest });
  }

  /** Lists a class for a subscription: as its subscriber, with a signal of its own (the subscription outlives the request). */
  function listerFor(ctx: OpContext) {
    return (entry: ClassEntry) => {
      if (!entry.provider.enumerate) return (async function* () {})();
      const preq: ProviderRequest = {
        caller: ctx.caller, resourceUri: entry.uri, className: entry.cls.name, namespace: entry.cls.namespace, selectors: {}, options: {},
        signal: AbortSignal.timeout(60_000), deadline: Date.now() + 60_000, maxEnvelopeSize: 512_000, log: ctx.log,
      };
      return entry.provider.enumerate(preq);
    };
  }

  // ---- the life of a subscription ----

  function setExpiry(sub: Subscription, at: number | undefined) {
    clearTimeout(sub.expiryTimer);
    sub.expiresAt = at;
    if (at === undefined) return;
    const arm = () => {
      const left = at - Date.now();
      if (left <= 0) return end(sub, 'expired');
      sub.expiryTimer = setTimeout(arm, Math.min(left, MAX_TIMER));
      sub.expiryTimer.unref();
    };
    arm();
  }

  function startPolling(sub: Subscription) {
    const poll = async () => {
      if (sub.ended) return;
      if (sub.queue.length < MAX_QUEUE) {
        try {
          const events = await sub.feed.poll();
          if (events.length > 0) {
            if (sub.queue.length === 0) sub.oldestAt = Date.now();
            sub.queue.push(...events);
            sub.wake();
          }
        } catch (err) {
          log.warn({ event: 'subscription_feed_failed', id: sub.id, reason: (err as Error).message });
        }
      }
      if (!sub.ended) {
        sub.pollTimer = setTimeout(() => void poll(), sub.feed.intervalMs);
        sub.pollTimer.unref();
      }
    };
    void poll();
  }

  /** Ends a subscription; a SubscriptionEnd goes to its EndTo only when the source cancels it (WS-Eventing §3.5). */
  function end(sub: Subscription, reason: string, status?: string) {
    if (sub.ended) return;
    sub.ended = true;
    subscriptions.delete(sub.id);
    clearTimeout(sub.expiryTimer);
    clearTimeout(sub.pollTimer);
    sub.feed.close?.();
    sub.stopDelivery?.();
    sub.dropContext?.();
    sub.wake();
    log.info({ event: 'subscription_ended', id: sub.id, user: sub.owner, reason });
    if (status && sub.settings.endTo) void sendEnd(sub, status, reason);
  }

  async function sendEnd(sub: Subscription, status: string, reason: string): Promise<void> {
    const to = sub.settings.endTo!;
    const body = el(NS.wse, 'SubscriptionEnd', {},
      el(NS.wse, 'SubscriptionManager', {}, el(NS.wsa, 'Address', {}, sub.manager), el(NS.wsa, 'ReferenceParameters', {}, el(NS.wse, 'Identifier', {}, sub.id))),
      el(NS.wse, 'Status', {}, status),
      el(NS.wse, 'Reason', { 'xml:lang': 'en-US' }, reason));
    try {
      await clientFor(to.address)!.client.post(to.address, requestEnvelope({ to: to.address, action: EVENTING.subscriptionEnd, headers: to.parameters, body: [body] }), 10_000);
    } catch (err) {
      log.warn({ event: 'subscription_end_undelivered', id: sub.id, reason: (err as Error).message });
    }
  }

  // ---- Pull ----

  async function* pullIterator(sub: Subscription): AsyncGenerator<string> {
    while (!sub.ended) {
      const next = sub.queue.shift();
      if (!next) {
        await sub.waitFor(MAX_TIMER);
        continue;
      }
      sub.handedOut.push(next.bookmark);
      yield next.xml;
    }
  }

  /** DSP0226 §10.2.6: with SendBookmarks, a PullResponse carries the bookmark after its last event. */
  function pulledBookmark(sub: Subscription, taken: number): XmlNode[] {
    const marks = sub.handedOut.splice(0, taken).filter((b): b is string => b !== undefined);
    return sub.settings.sendBookmarks && marks.length > 0 ? [el(NS.wsman, 'Bookmark', {}, raw(marks.at(-1)!))] : [];
  }

  // ---- Push, PushWithAck, Events ----

  type Outcome = 'sent' | 'refused' | 'failed';

  /** One message to the sink, sent again per ConnectionRetry until it is taken (or acknowledged). */
  async function send(sub: Subscription, action: string, body: XmlNode[], o2: { ack: boolean; bookmark?: string }): Promise<Outcome> {
    const to = sub.settings.notifyTo!;
    const { client } = clientFor(to.address)!;
    for (let attempt = 0; attempt <= sub.settings.retries && !sub.ended; attempt++) {
      if (attempt > 0) await sub.waitFor(sub.settings.retryIntervalMs);
      if (sub.ended) break;
      const messageId = `uuid:${randomUUID().toUpperCase()}`;
      const headers = [...to.parameters, o2.ack ? el(NS.wsman, 'AckRequested') : undefined, o2.bookmark && sub.settings.sendBookmarks ? el(NS.wsman, 'Bookmark', {}, raw(o2.bookmark)) : undefined];
      try {
        const reply = await client.post(to.address, requestEnvelope({ to: to.address, action, headers, body, messageId }));
        const head = child(reply.body, NS.soap, 'Header');
        // DSP0226 R10.8-1: a sink that refuses deliveries cancels the subscription, with no SubscriptionEnd.
        if (faultSubcode(reply.body) === 'DeliveryRefused' || reply.status === 404 || reply.status === 403) return 'refused';
        const acked = textOf(child(head, NS.wsa, 'Action')) === EVENTING.ack && textOf(child(head, NS.wsa, 'RelatesTo')) === messageId;
        if (o2.ack ? reply.status === 200 && acked : reply.status >= 200 && reply.status < 300) return 'sent';
        log.warn({ event: 'delivery_failed', id: sub.id, attempt, status: reply.status, reason: o2.ack ? 'no Ack for this message' : 'not accepted' });
      } catch (err) {
        log.warn({ event: 'delivery_failed', id: sub.id, attempt, reason: err instanceof ClientError ? err.message : (err as Error).message });
      }
    }
    return 'failed';
  }

  const wrap = (sub: Subscription, e: FeedEvent) => el(NS.wsman, 'Event', { Action: EVENTING.event }, raw(sub.settings.cdata ? `<![CDATA[${e.xml.replaceAll(']]>', ']]]]><![CDATA[>')}]]>` : e.xml));

  /** The delivery loop: one message in flight, heartbeats when idle; returns its stop. */
  function deliver(sub: Subscription): () => void {
    const s = sub.settings;
    let lastSent = Date.now();
    const loop = async () => {
      while (!sub.ended) {
        if (sub.queue.length === 0) {
          const idle = s.heartbeatMs === undefined ? MAX_TIMER : s.heartbeatMs - (Date.now() - lastSent);
          if (idle > 0) {
            await sub.waitFor(idle);
            continue;
          }
          // DSP0226 §10.2.5: nothing to send for a heartbeat interval: a Heartbeat.
          const outcome = await send(sub, EVENTING.heartbeat, sub.mode === 'events' ? [el(NS.wsman, 'Events')] : [], { ack: sub.mode !== 'push' });
          if (outcome !== 'sent') return fail(outcome);
          lastSent = Date.now();
          continue;
        }
        // Events mode: wait for MaxElements, or MaxTime after the oldest waiting event.
        if (sub.mode === 'events' && sub.queue.length < s.maxElements) {
          const left = s.maxTimeMs - (Date.now() - sub.oldestAt);
          if (left > 0) {
            await sub.waitFor(left);
            continue;
          }
        }
        const batch = takeBatch(sub);
        if (batch.dropped.length > 0) {
          if (!(await dropped(sub, batch.dropped))) return;
          continue;
        }
        const outcome = sub.mode === 'events'
          ? await send(sub, EVENTING.events, [el(NS.wsman, 'Events', {}, ...batch.events.map((e) => wrap(sub, e)))], { ack: true, bookmark: batch.events.at(-1)!.bookmark })
          : await send(sub, EVENTING.event, [raw(batch.events[0]!.xml)], { ack: sub.mode === 'pushWithAck', bookmark: batch.events[0]!.bookmark });
        if (outcome !== 'sent') return fail(outcome);
        sub.queue.splice(0, batch.events.length);
        lastSent = Date.now();
      }
    };
    const fail = (outcome: Outcome) => {
      if (outcome === 'refused') end(sub, 'the sink refused the delivery');
      else end(sub, `no delivery after ${s.retries + 1} attempts`, EVENTING.deliveryFailure);
    };
    void loop().catch((err: Error) => {
      log.error({ event: 'delivery_loop_failed', id: sub.id, err });
      end(sub, 'internal error', EVENTING.sourceCancelling);
    });
    return () => sub.wake();
  }

  /**
   * The next message's events: at most MaxElements, within MaxEnvelopeSize. Events too large for
   * any envelope at the head of the queue come back as `dropped`, alone, for the policy.
   */
  function takeBatch(sub: Subscription): { events: FeedEvent[]; dropped: FeedEvent[] } {
    const s = sub.settings;
    const events: FeedEvent[] = [];
    const dropped: FeedEvent[] = [];
    let size = ENVELOPE_ROOM;
    for (const e of sub.queue) {
      const n = Buffer.byteLength(e.xml) + 64;
      if (ENVELOPE_ROOM + n > s.maxEnvelopeSize && events.length === 0) {
        dropped.push(e);
        continue;
      }
      if (dropped.length > 0 || events.length >= s.maxElements || size + n > s.maxEnvelopeSize) break;
      size += n;
      events.push(e);
    }
    return { events, dropped };
  }

  /** DSP0226 §10.2.9.4, MaxEnvelopeSize Policy: an event too large is skipped, reported (DroppedEvents), or ends the subscription. */
  async function dropped(sub: Subscription, events: FeedEvent[]): Promise<boolean> {
    sub.queue.splice(0, events.length);
    log.warn({ event: 'events_dropped', id: sub.id, count: events.length, policy: sub.settings.envelopePolicy });
    if (sub.settings.envelopePolicy === 'CancelSubscription') {
      end(sub, 'an event exceeds MaxEnvelopeSize', EVENTING.sourceCancelling);
      return false;
    }
    if (sub.settings.envelopePolicy === 'Notify') {
      const outcome = await send(sub, EVENTING.droppedEvents, [el(NS.wsman, 'DroppedEvents', { Action: EVENTING.event }, String(events.length))], { ack: sub.mode !== 'push' });
      if (outcome !== 'sent') {
        end(sub, 'DroppedEvents undelivered', outcome === 'failed' ? EVENTING.deliveryFailure : undefined);
        return false;
      }
    }
    return true;
  }

  return {
    get size() {
      return subscriptions.size;
    },
    list() {
      return [...subscriptions.values()].map((x) => ({ id: x.id, owner: x.owner, mode: x.mode, notifyTo: x.settings.notifyTo?.address, expiresAt: x.expiresAt, created: x.created }));
    },
    endById(id) {
      const sub = subscriptions.get(id);
      if (!sub) return false;
      end(sub, 'ended_by_admin', EVENTING.sourceCancelling);
      return true;
    },
    async endUser(user) {
      for (const sub of [...subscriptions.values()]) if (sub.owner.toLowerCase() === user.toLowerCase()) end(sub, 'user_ended', EVENTING.sourceCancelling);
    },
    async close() {
      const open = [...subscriptions.values()];
      for (const sub of open) end(sub, 'the server is stopping');
      await Promise.all(open.filter((s) => s.settings.endTo).map((s) => sendEnd(s, EVENTING.sourceShuttingDown, 'the server is stopping')));
      for (const c of clients.values()) c.close();
    },
  };
}

const SEL_NAMESPACE = 'root/hardware';

type AuthKind = 'certificate' | 'negotiate' | 'basic' | 'none';
const authKind = (c: Credentials): AuthKind => (c.cert ? 'certificate' : c.ntlm ? 'negotiate' : c.basic ? 'basic' : 'none');
const profileKind = (profile: string): AuthKind | undefined =>
  profile.endsWith('/mutual') ? 'certificate' : profile.endsWith('/spnego-kerberos') ? 'negotiate' : profile.endsWith('/basic') ? 'basic' : undefined;

/** Every security profile named under e:Delivery (w:Auth, or the Authentication alternatives of a c:Policy). */
function profilesIn(node: XmlNode | undefined): string[] {
  if (!node) return [];
  const own = (node.name === 'Auth' || node.name === 'Authentication') && node.attrs.Profile ? [node.attrs.Profile] : [];
  return [...own, ...node.children.flatMap(profilesIn)];
}

const sameEpr = (a: Epr | undefined, b: Epr | undefined) =>
  a !== undefined && b !== undefined && a.address === b.address && a.parameters.map((p) => serialize(p)).join() === b.parameters.map((p) => serialize(p)).join();

/** Several feeds read as one, each at its own interval's pace (the fastest decides the polling). */
function mergeFeeds(feeds: Feed[]): Feed {
  return {
    intervalMs: Math.min(...feeds.map((f) => f.intervalMs)),
    async poll() {
      return (await Promise.all(feeds.map((f) => f.poll()))).flat();
    },
    close() {
      for (const f of feeds) f.close?.();
    },
  };
}

