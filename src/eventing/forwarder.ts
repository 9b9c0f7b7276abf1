// winrmd as a Windows event forwarder (source-initiated, MS-WSMV 3.1.4.1.30): for each configured
// `Server=` target it enumerates the collector's subscriptions as Windows does, reads the journal
// from the bookmark the collector offers (its own, from the last Ack; `bookmark/earliest`; or, with
// none, from now), selects with each subscription's QueryList, and posts batches of events with the
// bookmark after the last entry read, one batch in flight per subscription, sent again until
// acknowledged; a heartbeat when nothing was sent for the heartbeat interval. Over HTTPS with a
// client certificate (the collector's Group Policy IssuerCA case), or with NTLM and message
// encryption (an account the collector knows this machine as).
import os from 'node:os';
import type { Logger } from 'pino';
import { parseDuration } from '../provider-api.js';
import { ACTION, EVENTING, NS } from '../soap/names.js';
import { child, children, el, raw, serialize, textOf, type XmlNode } from '../soap/xml.js';
import { ClientError, requestEnvelope, wsmanClient, type Credentials, type WsmanClient } from './client.js';
import { compileQuery, matches, type EventQuery } from './event-query.js';
import { journalEventXml, journalFacts, readJournal, type JournalSource } from './journal.js';
import { bookmarkXml, cursorOf } from './journal-feed.js';

export interface ForwarderTarget {
  /** The Group Policy's Server= URL: `https://collector:5986/wsman/`, or http:// with NTLM. */
  server: string;
  refreshSeconds: number;
  /** A client certificate over HTTPS (the collector's IssuerCA case), or NTLM: the account the collector knows this machine as. */
  credentials: Credentials;
}

export interface ForwarderOptions {
  targets: ForwarderTarget[];
  journal: JournalSource;
  log: Logger;
  /** The MachineID sent (this host's name by default). */
  machineId?: string;
  /** How often a subscription's journal is read for new entries. */
  pollMs?: number;
}

/** Events per batch at most, when the collector names no MaxElements (Windows' own batches are MaxItems or MaxEnvelopeSize bound). */
const MAX_BATCH = 1000;
/** Room for the envelope around a batch's events. */
const ENVELOPE_ROOM = 4096;
/** Journal entries read at a time. */
const READ_PAGE = 5000;

interface Offer {
  version: string;
  name: string;
  address: string;
  identifier: string;
  query: EventQuery;
  bookmark?: string;
  heartbeatMs: number;
  maxTimeMs: number;
  maxItems: number;
  /** The collector's MaxEnvelopeSize: a batch's envelope stays under it (DSP0226 §10.2.9.4). */
  maxEnvelopeSize: number;
  rendered: boolean;
}

/** An xs:duration in milliseconds, or the default when absent or unreadable. */
const durationMs = (text: string | undefined, dflt: number) => {
  const ms = text ? parseDuration(text.trim()) : undefined;
  return ms === undefined ? dflt : ms;
};

/** The subscriptions of an EnumerateResponse, as a Windows forwarder reads them (each inner Subscribe on its own). */
export function readOffers(envelope: XmlNode): Offer[] {
  const items = child(child(child(envelope, NS.soap, 'Body'), NS.wsen, 'EnumerateResponse'), NS.wsman, 'Items');
  return children(items, NS.subscription, 'Subscription').flatMap((sub) => {
    const inner = child(sub, NS.soap, 'Envelope');
    const subscribe = child(child(inner, NS.soap, 'Body'), NS.wse, 'Subscribe');
    const delivery = child(subscribe, NS.wse, 'Delivery');
    const notifyTo = child(delivery, NS.wse, 'NotifyTo');
    const filter = child(subscribe, NS.wsman, 'Filter');
    const options = children(child(child(inner, NS.soap, 'Header'), NS.wsman, 'OptionSet'), NS.wsman, 'Option');
    const option = (n: string) => options.find((o) => o.attrs.Name === n);
    const queryList = filter?.children[0];
    if (!queryList) return [];
    const bookmark = child(subscribe, NS.wsman, 'Bookmark');
    return [{
      version: textOf(child(sub, NS.subscription, 'Version'))?.trim() ?? '',
      name: textOf(option('SubscriptionName'))?.trim() ?? '',
      address: textOf(child(notifyTo, NS.wsa, 'Address'))?.trim() ?? '',
      identifier: textOf(child(child(notifyTo, NS.wsa, 'ReferenceProperties'), NS.wse, 'Identifier'))?.trim() ?? '',
      query: compileQuery(serialize(queryList)),
      bookmark: bookmark ? (bookmark.children[0] ? serialize(bookmark.children[0]) : textOf(bookmark)?.trim()) : undefined,
      heartbeatMs: durationMs(textOf(child(delivery, NS.wsman, 'Heartbeats')), 3_600_000),
      maxTimeMs: durationMs(textOf(child(delivery, NS.wsman, 'MaxTime')), 30_000),
      maxItems: Math.min(Number(textOf(child(delivery, NS.wsman, 'MaxElements')) ?? MAX_BATCH) || MAX_BATCH, MAX_BATCH),
      maxEnvelopeSize: Math.max(8192, Number(textOf(child(delivery, NS.wsman, 'MaxEnvelopeSize')) ?? 512_000) || 512_000),
      rendered: textOf(option('ContentFormat'))?.trim() === 'RenderedText',
    }];
  });
}

export class Forwarder {
  private readonly stops: (() => void)[] = [];
  private readonly machineId: string;

  constructor(private readonly o: ForwarderOptions) {
    this.machineId = o.machineId ?? os.hostname();
  }

  private envelope(to: string, action: string, body: XmlNode[], extra: XmlNode[] = [], resourceUri?: string): string {
    return requestEnvelope({ to, action, resourceUri, body, headers: [el(NS.machineId, 'MachineID', { 's:mustUnderstand': 'false' }, this.machineId), ...extra] });
  }

  start(): void {
    for (const t of this.o.targets) this.stops.push(this.runTarget(t));
  }

  stop(): void {
    for (const s of this.stops.splice(0)) s();
  }

  /** Enumerate now and every refreshSeconds; a subscription whose version changed starts over. */
  private runTarget(t: ForwarderTarget): () => void {
    const client = wsmanClient(t.credentials);
    const running = new Map<string, () => void>();
    let stopped = false;
    // One refresh at a time: an Enumerate slower than refreshSeconds must not start a second
    // loop for the same subscription (two loops would send the same events twice).
    let refreshing = false;
    const refresh = async () => {
      if (refreshing || stopped) return;
      refreshing = true;
      try {
        await refreshOnce();
      } finally {
        refreshing = false;
      }
    };
    const refreshOnce = async () => {
      let offers: Offer[];
      try {
        const reply = await client.post(t.server, this.envelope(t.server, ACTION.enumerate, [el(NS.wsen, 'Enumerate', {}, el(NS.wsman, 'OptimizeEnumeration'), el(NS.wsman, 'MaxElements', {}, '32000'))], [], EVENTING.subscriptionManager));
        if (reply.status !== 200 || !reply.body) throw new ClientError(`Enumerate answered ${reply.status}`);
        // The collector names where to deliver; winrmd follows only addresses of the server it was
        // configured with (scheme, host and port): a collector cannot send this machine's
        // credentials, or its events, anywhere else (DESIGN: an outbound client never follows an
        // address the configuration does not allow).
        const origin = new URL(t.server).origin;
        offers = readOffers(reply.body).filter((o) => {
          let same = false;
          try {
            same = new URL(o.address).origin === origin;
          } catch {
            same = false;
          }
          if (!same) this.o.log.warn({ event: 'forwarder_address_refused', server: t.server, subscription: o.name, address: o.address });
          return same;
        });
        await client.post(t.server, this.envelope(t.server, EVENTING.end, [], [], EVENTING.fullDuplex)).catch(() => undefined);
      } catch (err) {
        this.o.log.warn({ event: 'forwarder_enumerate_failed', server: t.server, reason: (err as Error).message });
        return;
      }
      const versions = new Set(offers.map((o) => o.version));
      for (const [version, stop] of running) {
        if (!versions.has(version)) {
          stop();
          running.delete(version);
        }
      }
      for (const offer of offers) {
        if (!running.has(offer.version) && !stopped) running.set(offer.version, this.runSubscription(client, offer));
      }
      this.o.log.info({ event: 'forwarder_subscriptions', server: t.server, subscriptions: offers.map((o) => o.name) });
    };
    void refresh();
    const timer = setInterval(() => void refresh(), t.refreshSeconds * 1000);
    timer.unref();
    return () => {
      stopped = true;
      clearInterval(timer);
      for (const stop of running.values()) stop();
      client.close();
    };
  }

  /** One batch in flight: read, select, post, wait for the Ack; again until stopped. */
  private runSubscription(client: WsmanClient, offer: Offer): () => void {
    let stopped = false;
    let wake: (() => void) | undefined;
    const sleep = (ms: number) => new Promise<void>((r) => {
      const timer = setTimeout(r, ms);
      timer.unref();
      wake = () => {
        clearTimeout(timer);
        r();
      };
    });
    const pollMs = this.o.pollMs ?? 1000;
    const loop = async () => {
      const start = offer.bookmark ? cursorOf(offer.bookmark) : undefined;
      // No bookmark: from now on (the journal's last entry); earliest: from its first.
      let cursor: string | undefined = start === 'earliest' ? undefined : start?.cursor ?? await this.lastCursor();
      let lastSent = Date.now();
      const identifier = el(NS.wse, 'Identifier', {}, offer.identifier);
      const send = async (action: string, events: string[], bookmark?: string) => {
        const body = [el(NS.wsman, 'Events', {}, ...events.map((e) => el(NS.wsman, 'Event', { Action: EVENTING.event }, raw(`<![CDATA[${e.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`))))];
        const extra = [identifier, ...(bookmark ? [el(NS.wsman, 'Bookmark', {}, raw(bookmarkXml(bookmark)))] : []), el(NS.wsman, 'AckRequested')];
        for (let attempt = 0; !stopped; attempt++) {
          try {
            const reply = await client.post(offer.address, this.envelope(offer.address, action, body, extra));
            const ack = textOf(child(child(reply.body, NS.soap, 'Header'), NS.wsa, 'Action'))?.trim();
            if (reply.status === 200 && ack === EVENTING.ack) return true;
            if (reply.status === 404 || reply.status === 403) return false; // the subscription is gone, or not ours
            throw new ClientError(`answered ${reply.status}`);
          } catch (err) {
            this.o.log.warn({ event: 'forwarder_delivery_failed', subscription: offer.name, attempt, reason: (err as Error).message });
            await sleep(Math.min(60_000, 500 * 2 ** Math.min(attempt, 7)));
          }
        }
        return false;
      };
      while (!stopped) {
        let entries;
        try {
          entries = await readJournal(this.o.journal, { afterCursor: cursor, limit: READ_PAGE });
        } catch (err) {
          this.o.log.warn({ event: 'forwarder_journal_unreadable', reason: (err as Error).message });
          await sleep(pollMs * 5);
          continue;
        }
        const now = Date.now();
        const selected = entries.filter((e) => matches(offer.query, journalFacts(e), now));
        if (entries.length > 0) {
          // Batches of at most maxItems within the envelope size; the bookmark after each batch's
          // last entry read (the last batch's: after the page's last entry, selected or not).
          const last = String(entries.at(-1)!.__CURSOR);
          const events = selected.map((e) => ({ cursor: String(e.__CURSOR), xml: journalEventXml(e, { rendered: offer.rendered }) }));
          for (let i = 0; i < events.length && !stopped;) {
            let size = ENVELOPE_ROOM;
            let n = 0;
            while (i + n < events.length && n < offer.maxItems && (n === 0 || size + events[i + n]!.xml.length + 128 <= offer.maxEnvelopeSize)) size += events[i + n++]!.xml.length + 128;
            const batch = events.slice(i, i + n);
            i += n;
            if (!(await send(EVENTING.events, batch.map((e) => e.xml), i >= events.length ? last : batch.at(-1)!.cursor))) return;
            lastSent = Date.now();
          }
          cursor = last;
          if (selected.length === 0 && Date.now() - lastSent >= offer.heartbeatMs) {
            if (!(await send(EVENTING.heartbeat, [], cursor))) return;
            lastSent = Date.now();
          }
        } else if (Date.now() - lastSent >= offer.heartbeatMs) {
          if (!(await send(EVENTING.heartbeat, []))) return;
          lastSent = Date.now();
        }
        // A full page means more is waiting: read on at once (a backlog is not paced by the poll).
        if (entries.length < READ_PAGE) await sleep(pollMs);
      }
    };
    void loop().catch((err: Error) => this.o.log.error({ event: 'forwarder_failed', subscription: offer.name, err }));
    return () => {
      stopped = true;
      wake?.();
    };
  }

  private async lastCursor(): Promise<string | undefined> {
    // The journal's newest entry: start after it.
    const [newest] = await readJournal(this.o.journal, { limit: 1, newest: true }).catch(() => []);
    return newest ? String(newest.__CURSOR) : undefined;
  }
}
