// The CollectorStore contract (DESIGN.md principle 8): the SQLite store runs it now, PostgreSQL
// will run the same cases when the collector scales out. Each case awaits every call.
import { afterEach, describe, expect, it } from 'vitest';
import { simpleQuery, type SubscriptionSpec } from '../../../../src/eventing/subscription.js';
import type { CollectorStore, Delivery } from '../../../../src/store/collector.js';

export interface CollectorStoreFixture {
  store: CollectorStore;
  /** The same data through a new connection. */
  reopen(): Promise<CollectorStore>;
  close(): Promise<void>;
}

export const specNamed = (name: string, extra: Partial<SubscriptionSpec> = {}): SubscriptionSpec => ({
  name, description: '', query: simpleQuery(['Security']), contentFormat: 'Raw', heartbeatIntervalS: 3600, maxTimeS: 30, maxEnvelopeSize: 512_000,
  readExistingEvents: false, ignoreChannelError: true, connectionRetry: { count: 5, intervalS: 60 }, sources: { allow: [], deny: [] }, uris: [],
  outputs: [{ type: 'file', format: 'json', path: 'events/{source}.jsonl' }], ...extra,
});

const delivery = (subscriptionId: string, extra: Partial<Delivery> = {}): Delivery => ({
  subscriptionId, source: 'ws01.example.test', address: '192.0.2.1', events: 0, kind: 'heartbeat', at: new Date('2026-12-07T10:00:00Z'), ...extra,
});

export function collectorStoreContract(backend: string, open: () => Promise<CollectorStoreFixture>): void {
  describe(`CollectorStore contract: ${backend}`, () => {
    const opened: CollectorStoreFixture[] = [];
    const fixture = async () => {
      const f = await open();
      opened.push(f);
      return f;
    };
    afterEach(async () => {
      for (const f of opened.splice(0)) await f.close();
    });

    it('saves a subscription, finds it by id and by name in any case, and every save is a new version under the same id', async () => {
      const { store } = await fixture();
      const first = await store.save(specNamed('Logons'));
      expect(first.enabled).toBe(false);
      expect((await store.find(first.id))?.name).toBe('Logons');
      expect((await store.find('LOGONS'))?.id).toBe(first.id);
      const second = await store.save(specNamed('logons', { contentFormat: 'RenderedText' }));
      expect(second.id).toBe(first.id);
      expect(second.version).not.toBe(first.version);
      expect((await store.list()).map((s) => s.contentFormat)).toEqual(['RenderedText']);
      const enabled = (await store.setEnabled('logons', true))!;
      expect(enabled.enabled).toBe(true);
      expect(enabled.version).not.toBe(second.version);
      expect(await store.setEnabled('nothing', true)).toBeUndefined();
    });

    it('refuses an invalid definition and keeps the stored one', async () => {
      const { store } = await fixture();
      await store.save(specNamed('one'));
      await expect(store.save(specNamed('one', { query: '<NotAQueryList/>' }))).rejects.toThrow(/QueryList/);
      expect((await store.find('one'))?.query).toContain('<QueryList>');
    });

    it('records deliveries: a heartbeat keeps the bookmark, a batch replaces it and counts its events', async () => {
      const { store } = await fixture();
      const sub = await store.save(specNamed('s'), true);
      await store.record(delivery(sub.id, { kind: 'events', events: 3, bookmark: '<BookmarkList><Bookmark Channel="Security" RecordId="3"/></BookmarkList>' }));
      await store.record(delivery(sub.id, { kind: 'heartbeat', at: new Date('2026-12-07T11:00:00Z') }));
      expect(await store.bookmark(sub.id, 'WS01.example.test')).toContain('RecordId="3"');
      const [status] = await store.sources(sub.id);
      expect(status).toMatchObject({ source: 'ws01.example.test', eventsReceived: 3, lastEvents: '2026-12-07T10:00:00.000Z', lastHeartbeat: '2026-12-07T11:00:00.000Z', lastSeen: '2026-12-07T11:00:00.000Z', firstSeen: '2026-12-07T10:00:00.000Z' });
    });

    it('commits many deliveries at once, each acknowledged only when durable, and keeps them for the next connection', async () => {
      const f = await fixture();
      const sub = await f.store.save(specNamed('many'), true);
      await Promise.all(Array.from({ length: 200 }, (_, i) => f.store.record(delivery(sub.id, { source: `ws${i}`, kind: 'events', events: 1, bookmark: `<BookmarkList><Bookmark RecordId="${i}"/></BookmarkList>` }))));
      const again = await f.reopen();
      expect(await again.sources(sub.id)).toHaveLength(200);
      expect(await again.bookmark(sub.id, 'ws199')).toContain('RecordId="199"');
    });

    it('removing a subscription removes its sources\' bookmarks', async () => {
      const { store } = await fixture();
      const sub = await store.save(specNamed('gone'), true);
      await store.record(delivery(sub.id, { kind: 'events', events: 1, bookmark: '<BookmarkList/>' }));
      expect(await store.remove('gone')).toBe(true);
      expect(await store.remove('gone')).toBe(false);
      expect(await store.bookmark(sub.id, 'ws01.example.test')).toBeUndefined();
      expect(await store.sources()).toEqual([]);
    });
  });
}
