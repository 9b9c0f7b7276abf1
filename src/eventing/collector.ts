// The event collector: source-initiated subscriptions (Windows Event Forwarding, MS-WSMV
// 3.1.4.1.30). A forwarder enumerates its subscriptions on the Server= address of its Group
// Policy, ends that connection (End, 204), then delivers heartbeats and batches of events to the
// address each subscription names, and is acknowledged once they are stored. It joins the core
// as routes, a resolver and an authorize hook (DESIGN.md "Where the next capabilities plug in").
import type { Caller } from '../provider-api.js';
import type { ReplyMessage } from '../soap/envelope.js';
import { WsmanFault } from '../soap/faults.js';
import { ACTION, EVENTING, NS } from '../soap/names.js';
import { child, children, el, serialize, textOf, type XmlNode } from '../soap/xml.js';
import type { Core } from '../wsman/core.js';
import type { Exchange, StatusReply } from '../wsman/exchange.js';
import type { OpContext } from '../wsman/operations/context.js';
import type { Handler, Target } from '../wsman/routes.js';
import type { WsmanRequest } from '../wsman/request.js';
import type { CollectorStore, Delivery } from '../store/collector.js';
import type { Outputs } from './outputs.js';
import { appliesTo, offeredOn, subscriptionElement, type Subscription } from './subscription.js';

export interface CollectorOptions {
  store: CollectorStore;
  outputs: Outputs;
  /** SHA-1 thumbprints (upper-case hex) of the CAs that issue sources' certificates: the IssuerCA a subscription names. */
  issuerThumbprints: string[];
}

/** Where sources deliver: `/wsman/subscriptions/<subscription id>`. */
export const DELIVERY_PATH = '/wsman/subscriptions/';
const DELIVERY = /^\/wsman\/subscriptions\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/?$/i;

const ROUTE = { subscriptions: 'collector/subscriptions', fullDuplex: 'collector/full-duplex', delivery: 'collector/delivery' } as const;
const COLLECTOR_ROUTES = new Set<string>(Object.values(ROUTE));

const isSource = (caller: Caller | undefined) => caller?.kind === 'event-source';

/** scheme://host:port of the address the source used for this server (its Server= URL), else of the Host header. */
function serverBase(req: WsmanRequest, secure: boolean, host: string | undefined): string {
  if (req.to) {
    try {
      const url = new URL(req.to);
      if (url.protocol === 'http:' || url.protocol === 'https:') return `${url.protocol}//${url.host}`;
    } catch {
      // not a URL: fall through
    }
  }
  return `${secure ? 'https' : 'http'}://${host ?? 'localhost'}`;
}

/** The events of a w:Events body: each w:Event's CDATA text, or its element written out (a source that sends no CDATA). */
function eventsOf(body: XmlNode | undefined): string[] {
  if (!body || body.ns !== NS.wsman || body.name !== 'Events') throw new WsmanFault('SchemaValidationError', 'The body of an Events delivery must be a w:Events element.');
  return children(body, NS.wsman, 'Event').map((e) => (e.children.length > 0 ? serialize(e.children[0]!) : e.text.trim()));
}

/** With the collector off, an event source has nothing it may reach (its one place is the collector). */
export function confineEventSources(core: Core): void {
  core.addHook('authorize', (ex: Exchange) => {
    if (isSource(ex.caller)) throw new WsmanFault('AccessDenied', `${ex.caller!.user} is an event source, and this server's event collector is off.`);
  });
}

export function registerCollector(core: Core, opts: CollectorOptions): void {
  const { store, outputs } = opts;

  core.routes.resolvers.push((req, path) => {
    const uri = req.resourceUri.toLowerCase();
    if (uri === EVENTING.subscriptionManager.toLowerCase()) return { kind: 'capability', route: ROUTE.subscriptions, selectors: {} };
    if (uri === EVENTING.fullDuplex.toLowerCase()) return { kind: 'capability', route: ROUTE.fullDuplex, selectors: {} };
    const delivery = DELIVERY.exec(path);
    if (delivery) return { kind: 'capability', route: ROUTE.delivery, selectors: {}, key: delivery[1]!.toLowerCase() };
    return undefined;
  });

  // Sources are principals of their own kind: the collector's routes are theirs alone, and they have no other.
  core.addHook('authorize', (ex: Exchange) => {
    const collectorRoute = ex.target?.kind === 'capability' && COLLECTOR_ROUTES.has(ex.target.route);
    if (isSource(ex.caller) && !collectorRoute) {
      throw new WsmanFault('AccessDenied', `${ex.caller!.user} is an event source: it may enumerate its subscriptions and deliver events, nothing else.`);
    }
    // Only the collector answers on paths other than /wsman (its Server= addresses and delivery paths).
    if (!collectorRoute && ex.info.path !== '/wsman') throw new WsmanFault('DestinationUnreachable', `Nothing but the event collector is served at ${ex.info.path}.`);
    if (collectorRoute && !isSource(ex.caller)) {
      throw new WsmanFault('AccessDenied', `${ex.caller?.user ?? 'The caller'} is not an event source (winrmd user add --event-source, or a certificate from collector.sourceCaFiles).`);
    }
  });

  // Deliveries being stored, by subscription and source: a source's bookmark is offered only once
  // its delivery in flight is stored. A forwarder restarted between our writing its batch and
  // storing the bookmark after it would otherwise be offered the bookmark before, and send the
  // batch again.
  const storing = new Map<string, Promise<unknown>>();
  const storingKey = (subscriptionId: string, source: string) => `${subscriptionId}\0${source.toLowerCase()}`;

  // MS-WSMV 3.1.4.1.30: the forwarder's Enumerate, answered in one reply with an empty
  // EnumerationContext (a context would make it Pull) and one m:Subscription per subscription
  // that applies to it.
  core.routes.add(ROUTE.subscriptions, ACTION.enumerate, {
    operation: 'enumerate-subscriptions',
    handler: async (req, ctx): Promise<ReplyMessage> => {
      const source = ctx.caller.user;
      const base = serverBase(req, ctx.info.secure, header(ctx.info.headers.host));
      const policy = ctx.info.authMethod === 'certificate' ? { kind: 'certificate' as const, issuerThumbprints: opts.issuerThumbprints } : { kind: 'negotiate' as const };
      const offered = (await store.list()).filter((s) => s.enabled && s.outputs.length > 0 && offeredOn(s, ctx.info.path) && appliesTo(s, source));
      const bookmarkOf = async (id: string) => {
        await storing.get(storingKey(id, source))?.catch(() => undefined);
        return store.bookmark(id, source);
      };
      const items = await Promise.all(offered.map(async (s) => subscriptionElement(s, { deliveryAddress: `${base}${DELIVERY_PATH}${s.id}`, policy, bookmark: await bookmarkOf(s.id) })));
      ctx.log.info({ event: 'subscriptions_enumerated', source, machineId: machineIdOf(req), offered: offered.map((s) => s.name) });
      return {
        action: ACTION.enumerateResponse,
        relatesTo: req.messageId,
        body: [el(NS.wsen, 'EnumerateResponse', {}, el(NS.wsen, 'EnumerationContext'), el(NS.wsman, 'Items', {}, ...items), el(NS.wsman, 'EndOfSequence'))],
      };
    },
  });

  // MS-WSMV 3.1.4.19: End closes the forwarder's enumeration connection; Windows' collector answers 204.
  core.routes.add(ROUTE.fullDuplex, EVENTING.end, { operation: 'end', handler: async (): Promise<StatusReply> => ({ status: 204 }) });

  /** The subscription a delivery is for, if this source may deliver to it: else 404 (unknown, disabled) or 403 (not for this source). */
  const deliveryTarget = async (key: string | undefined, source: string): Promise<Subscription | StatusReply> => {
    const sub = key ? await store.find(key) : undefined;
    if (!sub || sub.id !== key || !sub.enabled) return { status: 404 };
    if (!appliesTo(sub, source)) return { status: 403 };
    return sub;
  };

  const delivery = (kind: Delivery['kind']): Handler => async (req: WsmanRequest, ctx: OpContext, target: Target): Promise<ReplyMessage | StatusReply> => {
    const source = ctx.caller.user;
    const key = target.kind === 'capability' ? target.key : undefined;
    const sub = await deliveryTarget(key, source);
    if (!('id' in sub)) {
      ctx.log.warn({ event: 'delivery_refused', source, subscriptionId: key, status: sub.status });
      return sub;
    }
    const receivedAt = new Date();
    const version = textOf(child(req.header, NS.wse, 'Identifier'))?.trim();
    const machineId = machineIdOf(req);
    const events = kind === 'events' ? eventsOf(req.body) : [];
    const bookmarkList = child(req.header, NS.wsman, 'Bookmark')?.children[0];
    /** The batch written to the outputs, then the bookmark after it stored; false: not written, not acknowledged. */
    const keep = async (): Promise<boolean> => {
      if (events.length > 0) {
        try {
          await outputs.write({ subscription: sub, events, origin: { source, machineId, address: ctx.info.clientAddress, subscription: { name: sub.name, id: sub.id, version }, receivedAt: receivedAt.toISOString() } });
        } catch {
          return false;
        }
      }
      // A forwarder that re-creates its subscription although a bookmark was stored (after a
      // collector restart, seen with certificate sources: OpenWEC issue #291) starts over with its
      // event 111, and events of the gap may never come: said loudly, and kept in the status.
      const recreated = events.some(isSubscriptionCreated) && (await store.bookmark(sub.id, source)) !== undefined;
      if (recreated) ctx.log.warn({ event: 'subscription_recreated_by_source', source, subscription: sub.name, detail: 'the source discarded the stored bookmark; events from before may be missing' });
      await store.record({
        subscriptionId: sub.id, source, address: ctx.info.clientAddress, machineId, version, kind, at: receivedAt, events: events.length,
        ...(bookmarkList ? { bookmark: serialize(bookmarkList) } : {}), ...(recreated ? { recreated } : {}),
      });
      return true;
    };
    // One at a time per subscription and source, in arrival order (a source has one batch in flight).
    const inFlight = storingKey(sub.id, source);
    const kept = (storing.get(inFlight) ?? Promise.resolve()).catch(() => undefined).then(keep);
    storing.set(inFlight, kept);
    let written;
    try {
      written = await kept;
    } finally {
      if (storing.get(inFlight) === kept) storing.delete(inFlight);
    }
    // Not acknowledged, bookmark unchanged: the source keeps the batch and sends it again.
    if (!written) return { status: 503 };
    ctx.log.debug({ event: 'collector_delivery', subscription: sub.name, source, kind, events: events.length });
    if (kind === 'end') {
      ctx.log.info({ event: 'subscription_ended_by_source', source, subscription: sub.name, status: textOf(child(req.body, NS.wse, 'Status'))?.trim() });
      return { status: 200 };
    }
    // DSP0226 §10.7: the Ack relates to the delivery it acknowledges.
    return { action: EVENTING.ack, relatesTo: req.messageId, body: [] };
  };
  core.routes.add(ROUTE.delivery, EVENTING.events, { operation: 'deliver-events', handler: delivery('events') });
  core.routes.add(ROUTE.delivery, EVENTING.heartbeat, { operation: 'heartbeat', handler: delivery('heartbeat') });
  core.routes.add(ROUTE.delivery, EVENTING.subscriptionEnd, { operation: 'subscription-end', handler: delivery('end') });
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** The forwarder's own event 111 (Microsoft-Windows-EventForwarder), sent first after it creates a subscription. */
function isSubscriptionCreated(event: string): boolean {
  return /Name=['"]Microsoft-Windows-EventForwarder['"]/.test(event) && /<EventID[^>]*>111</.test(event);
}

function machineIdOf(req: WsmanRequest): string | undefined {
  return textOf(child(req.header, NS.machineId, 'MachineID'))?.trim() || undefined;
}
