// Collector-initiated subscriptions (MS-WSMV 3.1.4.1.30 via DSP0226 §10.2; the reference's §4):
// the collector subscribes to each configured source with a stored subscription's query, and what
// arrives goes through the same outputs, bookmarks and status as source-initiated events.
// - pull: winrmd pulls from the enumeration context the SubscribeResponse gave; a batch is
//   written to the outputs and its bookmark committed before the next Pull (which is the
//   acknowledgement), so a restart of either side resumes after the last batch stored;
// - push: the source delivers Events to this collector's delivery path as an event source
//   (collector.ts stores them); a source silent for two heartbeat intervals is subscribed again.
// Windows sources cannot Renew (MS-WSMV 3.1.4.1.30.4): a subscription is made again before it
// expires, and after any failure, always from the stored bookmark.
import type { Logger } from 'pino';
import type { CollectorStore } from '../store/collector.js';
import { ACTION, DIALECT, EVENTING, NS } from '../soap/names.js';
import { child, el, raw, serialize, textOf, type XmlNode } from '../soap/xml.js';
import { faultSubcode, requestEnvelope, wsmanClient, type Credentials, type WsmanClient } from './client.js';
import { DELIVERY_PATH } from './collector.js';
import type { Outputs } from './outputs.js';
import type { Subscription } from './subscription.js';

export interface CollectedSource {
  /** The source's WS-Management address: https://web01:5986/wsman. */
  url: string;
  /** The stored subscription whose query, batching and outputs apply. */
  subscription: string;
  mode: 'pull' | 'push';
  /** What is subscribed to (default: the EventLog, with the subscription's QueryList). */
  resourceUri?: string;
  /** The instance event query, for a class or namespace resource. */
  wql?: string;
  /** push: this collector's base address as the source reaches it (https://collector:5986). */
  notifyTo?: string;
  /** The name the source's events are stored under (push: the principal it authenticates as). Default: the URL's host. */
  principal?: string;
  expiresSeconds: number;
  credentials: Credentials;
}

export interface SubscriberOptions {
  sources: CollectedSource[];
  store: CollectorStore;
  outputs: Outputs;
  log: Logger;
}

class SubscribeError extends Error {}

/** How a collector-initiated subscription is doing, as the dashboard shows it. */
export interface CollectedSourceState {
  url: string;
  subscription: string;
  mode: 'pull' | 'push';
  /** Subscribed now, or failing (and retrying) since the last failure. */
  state: 'starting' | 'subscribed' | 'failing';
  since: number;
  failures: number;
  lastError?: string;
}

/** The EventLog is filtered by the subscription's QueryList; a class by the configured WQL; the SEL takes none. */
function filterFor(source: CollectedSource, sub: Subscription): XmlNode | undefined {
  if (source.wql) return el(NS.wsman, 'Filter', { Dialect: DIALECT.wql }, source.wql);
  if ((source.resourceUri ?? EVENTING.eventLog) === EVENTING.eventLog) return el(NS.wsman, 'Filter', { Dialect: DIALECT.eventQuery }, raw(sub.query));
  return undefined;
}

export class CollectorSubscriber {
  private readonly stops: (() => Promise<void>)[] = [];
  private readonly states = new Map<CollectedSource, CollectedSourceState>();

  constructor(private readonly o: SubscriberOptions) {}

  start(): void {
    for (const source of this.o.sources) this.stops.push(this.run(source));
  }

  /** Each configured source's subscription: subscribed, or failing and retrying. */
  status(): CollectedSourceState[] {
    return [...this.states.values()].map((x) => ({ ...x }));
  }

  /** Stops every loop; each unsubscribes what it holds (bounded by the client's timeout) before its connections close. */
  async stop(): Promise<void> {
    await Promise.all(this.stops.splice(0).map((stop) => stop()));
  }

  private run(source: CollectedSource): () => Promise<void> {
    const client = wsmanClient(source.credentials);
    const principal = source.principal ?? new URL(source.url).hostname;
    const log = this.o.log.child({ source: principal, mode: source.mode });
    const state: CollectedSourceState = { url: source.url, subscription: source.subscription, mode: source.mode, state: 'starting', since: Date.now(), failures: 0 };
    this.states.set(source, state);
    let stopped = false;
    // Aborts a Pull in flight (a long poll) when the collector stops.
    const abort = new AbortController();
    let wake: (() => void) | undefined;
    const sleep = (ms: number) => new Promise<void>((r) => {
      if (stopped) return r();
      const t = setTimeout(r, ms);
      t.unref();
      wake = () => {
        clearTimeout(t);
        r();
      };
    });
    const loop = async () => {
      for (let failures = 0; !stopped;) {
        let made: { identifier: string; context?: string } | undefined;
        try {
          const sub = await this.o.store.find(source.subscription);
          if (!sub?.enabled) throw new SubscribeError(`no enabled subscription is named ${source.subscription}`);
          made = await this.subscribe(client, source, sub, principal);
          log.info({ event: 'collector_subscribed', url: source.url, subscription: sub.name, expiresSeconds: source.expiresSeconds });
          failures = 0;
          Object.assign(state, { state: 'subscribed', since: Date.now(), failures: 0 });
          const until = Date.now() + source.expiresSeconds * 1000 * 0.9;
          if (source.mode === 'pull') await this.pullUntil(client, source, sub, principal, made.context!, until, () => stopped, abort.signal);
          else await this.watchUntil(sub, principal, until, () => stopped, sleep);
        } catch (err) {
          if (!stopped) {
            failures++;
            log.warn({ event: 'collector_subscription_failed', url: source.url, reason: (err as Error).message, failures });
            Object.assign(state, { state: 'failing', since: state.state === 'failing' ? state.since : Date.now(), failures, lastError: (err as Error).message });
          }
        }
        // Made again below (or not at all once stopped): the source can let this one go.
        if (made) await this.unsubscribe(client, source.url, made.identifier).catch(() => undefined);
        if (failures > 0) await sleep(Math.min(60_000, 1000 * 2 ** Math.min(failures, 6)));
      }
    };
    const done = loop();
    return async () => {
      stopped = true;
      abort.abort();
      wake?.();
      await done;
      client.close();
    };
  }

  private async subscribe(client: WsmanClient, source: CollectedSource, sub: Subscription, principal: string): Promise<{ identifier: string; context?: string }> {
    const bookmark = (await this.o.store.bookmark(sub.id, principal)) ?? (sub.readExistingEvents ? EVENTING.bookmarkEarliest : undefined);
    const heartbeat = `PT${sub.heartbeatIntervalS}S`;
    const delivery = source.mode === 'pull'
      ? el(NS.wse, 'Delivery', { Mode: EVENTING.pullMode }, el(NS.wsman, 'Heartbeats', {}, heartbeat))
      : el(NS.wse, 'Delivery', { Mode: EVENTING.eventsMode },
        el(NS.wse, 'NotifyTo', {}, el(NS.wsa, 'Address', {}, `${source.notifyTo!.replace(/\/+$/, '')}${DELIVERY_PATH}${sub.id}`),
          el(NS.wsa, 'ReferenceProperties', {}, el(NS.wse, 'Identifier', {}, sub.version))),
        el(NS.wsman, 'Heartbeats', {}, heartbeat),
        el(NS.wsman, 'ConnectionRetry', { Total: String(sub.connectionRetry.count) }, `PT${sub.connectionRetry.intervalS}S`),
        el(NS.wsman, 'MaxElements', {}, String(sub.maxItems ?? 100)),
        el(NS.wsman, 'MaxTime', {}, `PT${sub.maxTimeS}S`),
        el(NS.wsman, 'MaxEnvelopeSize', { Policy: 'Notify' }, String(sub.maxEnvelopeSize)));
    const body = el(NS.wse, 'Subscribe', {},
      delivery,
      el(NS.wse, 'Expires', {}, `PT${source.expiresSeconds}S`),
      filterFor(source, sub),
      bookmark ? el(NS.wsman, 'Bookmark', {}, bookmark === EVENTING.bookmarkEarliest ? bookmark : raw(bookmark)) : undefined,
      el(NS.wsman, 'SendBookmarks'));
    const options = el(NS.wsman, 'OptionSet', {}, el(NS.wsman, 'Option', { Name: 'ContentFormat' }, sub.contentFormat), el(NS.wsman, 'Option', { Name: 'SubscriptionName' }, sub.name));
    const reply = await client.post(source.url, requestEnvelope({ to: source.url, action: EVENTING.subscribe, resourceUri: source.resourceUri ?? EVENTING.eventLog, headers: [options], body: [body] }));
    const response = child(child(reply.body, NS.soap, 'Body'), NS.wse, 'SubscribeResponse');
    if (reply.status !== 200 || !response) throw new SubscribeError(`Subscribe answered ${reply.status}${faultSubcode(reply.body) ? ` (${faultSubcode(reply.body)})` : ''}`);
    const identifier = textOf(child(child(child(response, NS.wse, 'SubscriptionManager'), NS.wsa, 'ReferenceParameters'), NS.wse, 'Identifier'))
      ?? textOf(child(child(child(response, NS.wse, 'SubscriptionManager'), NS.wsa, 'ReferenceProperties'), NS.wse, 'Identifier')) ?? '';
    return { identifier, context: textOf(child(response, NS.wsen, 'EnumerationContext')) };
  }

  /** Pull until the subscription is to be made again: each batch stored, then the next Pull. */
  private async pullUntil(client: WsmanClient, source: CollectedSource, sub: Subscription, principal: string, context: string, until: number, stopped: () => boolean, signal: AbortSignal): Promise<void> {
    const address = new URL(source.url).hostname;
    while (!stopped() && Date.now() < until) {
      // Within the heartbeat interval, or the source ends the subscription (Windows' 0x8033800A).
      const wait = Math.max(1, Math.min(sub.heartbeatIntervalS / 2, 60, (until - Date.now()) / 1000));
      const reply = await client.post(source.url, requestEnvelope({
        to: source.url, action: ACTION.pull, resourceUri: EVENTING.eventLog, operationTimeout: `PT${wait.toFixed(3)}S`,
        body: [el(NS.wsen, 'Pull', {}, el(NS.wsen, 'EnumerationContext', {}, context), el(NS.wsen, 'MaxElements', {}, String(sub.maxItems ?? 100)))],
      }), (wait + 30) * 1000, signal);
      const at = new Date();
      if (faultSubcode(reply.body) === 'TimedOut') {
        await this.o.store.record({ subscriptionId: sub.id, source: principal, address, version: sub.version, kind: 'heartbeat', at, events: 0 });
        continue;
      }
      const response = child(child(reply.body, NS.soap, 'Body'), NS.wsen, 'PullResponse');
      if (reply.status !== 200 || !response) throw new SubscribeError(`Pull answered ${reply.status}${faultSubcode(reply.body) ? ` (${faultSubcode(reply.body)})` : ''}`);
      const events = (child(response, NS.wsen, 'Items')?.children ?? []).map((e) => serialize(e));
      const bookmark = child(child(reply.body, NS.soap, 'Header'), NS.wsman, 'Bookmark')?.children[0];
      if (events.length > 0) {
        await this.o.outputs.write({ subscription: sub, events, origin: { source: principal, address, subscription: { name: sub.name, id: sub.id, version: sub.version }, receivedAt: at.toISOString() } });
      }
      // The bookmark is committed after the outputs have the events: the next Pull acknowledges them.
      await this.o.store.record({ subscriptionId: sub.id, source: principal, address, version: sub.version, kind: events.length > 0 ? 'events' : 'heartbeat', at, events: events.length, ...(bookmark ? { bookmark: serialize(bookmark) } : {}) });
      const next = textOf(child(response, NS.wsen, 'EnumerationContext'));
      if (!next) throw new SubscribeError('the source ended the enumeration');
      context = next;
    }
  }

  /** Push: the deliveries arrive on their own; subscribe again when the source falls silent for two heartbeat intervals. */
  private async watchUntil(sub: Subscription, principal: string, until: number, stopped: () => boolean, sleep: (ms: number) => Promise<void>): Promise<void> {
    const started = Date.now();
    const silence = 2 * sub.heartbeatIntervalS * 1000 + 5000;
    while (!stopped() && Date.now() < until) {
      await sleep(Math.min(1000, sub.heartbeatIntervalS * 250));
      const status = (await this.o.store.sources(sub.id)).find((s) => s.source.toLowerCase() === principal.toLowerCase());
      const last = Math.max(started, status ? Date.parse(status.lastSeen) : 0);
      if (Date.now() - last > silence) throw new SubscribeError(`nothing delivered for ${Math.round((Date.now() - last) / 1000)} s (heartbeat ${sub.heartbeatIntervalS} s)`);
    }
  }

  private async unsubscribe(client: WsmanClient, url: string, identifier: string): Promise<void> {
    await client.post(url, requestEnvelope({ to: url, action: EVENTING.unsubscribe, resourceUri: EVENTING.eventLog, headers: [el(NS.wse, 'Identifier', {}, identifier)], body: [el(NS.wse, 'Unsubscribe')] }), 5000);
  }
}

