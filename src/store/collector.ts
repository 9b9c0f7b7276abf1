// What the event collector keeps (MS-WSMV 3.1.4.1.30; DESIGN.md principle 8): subscriptions with
// their versions, and per source and subscription the bookmark and liveness. Deliveries are
// committed in groups: every delivery waiting when a commit starts rides in it, and each one's
// promise resolves only once its commit is on disk (synchronous=FULL), so a source is
// acknowledged after its bookmark is durable, and the rate is not bounded by fsyncs per second.
import { parseSpec, revision, specOf, type Subscription, type SubscriptionSpec } from '../eventing/subscription.js';
import { foldName, type Db } from './db.js';

/** One delivery from a source: what liveness and the bookmark record. */
export interface Delivery {
  subscriptionId: string;
  /** The authenticated principal: the key (never the MachineID it claims). */
  source: string;
  address: string;
  machineId?: string;
  /** The subscription version the source delivered for (its e:Identifier). */
  version?: string;
  /** The BookmarkList after the batch's last event; absent for a heartbeat. */
  bookmark?: string;
  /** Events in the batch (0 for a heartbeat). */
  events: number;
  kind: 'events' | 'heartbeat' | 'end';
  at: Date;
  /** The source re-created its subscription although a bookmark was stored (its event 111). */
  recreated?: boolean;
}

export interface SourceStatus {
  subscriptionId: string;
  source: string;
  address: string;
  machineId?: string;
  version?: string;
  bookmark?: string;
  firstSeen: string;
  lastSeen: string;
  lastHeartbeat?: string;
  lastEvents?: string;
  eventsReceived: number;
  /** When the source last re-created its subscription despite a stored bookmark. */
  recreatedAt?: string;
}

/** Asynchronous throughout, so that a networked backend (PostgreSQL) fits the same contract. */
export interface CollectorStore {
  list(): Promise<Subscription[]>;
  /** By id or by name (case-insensitive). */
  find(idOrName: string): Promise<Subscription | undefined>;
  /** Adds, or replaces the one of the same name keeping its id; either way a new version. Rejects an invalid spec. */
  save(spec: SubscriptionSpec, enabled?: boolean): Promise<Subscription>;
  setEnabled(idOrName: string, enabled: boolean): Promise<Subscription | undefined>;
  remove(idOrName: string): Promise<boolean>;
  bookmark(subscriptionId: string, source: string): Promise<string | undefined>;
  /** Resolves once the delivery is committed to disk. */
  record(delivery: Delivery): Promise<void>;
  sources(subscriptionId?: string): Promise<SourceStatus[]>;
  /** Release what the store holds (its connections); the SQLite file is closed by its owner. */
  close(): Promise<void>;
}

interface SubscriptionRow { id: string; version: string; enabled: number; spec: string; updated_at: string }
/** An event_sources row, as both backends store it (PostgreSQL returns its BIGINT count as text). */
export interface SourceRow {
  subscription_id: string; source: string; address: string; machine_id: string | null; version: string | null; bookmark: string | null;
  first_seen: string; last_seen: string; last_heartbeat: string | null; last_events: string | null; events_received: number | string; recreated_at: string | null;
}

export const sourceStatusOf = (r: SourceRow): SourceStatus => ({
  subscriptionId: r.subscription_id, source: r.source, address: r.address, firstSeen: r.first_seen, lastSeen: r.last_seen, eventsReceived: Number(r.events_received),
  ...(r.machine_id ? { machineId: r.machine_id } : {}), ...(r.version ? { version: r.version } : {}), ...(r.bookmark ? { bookmark: r.bookmark } : {}),
  ...(r.last_heartbeat ? { lastHeartbeat: r.last_heartbeat } : {}), ...(r.last_events ? { lastEvents: r.last_events } : {}),
  ...(r.recreated_at ? { recreatedAt: r.recreated_at } : {}),
});

const toSubscription = (r: SubscriptionRow): Subscription => ({ ...(JSON.parse(r.spec) as SubscriptionSpec), id: r.id, version: r.version, enabled: r.enabled === 1, updatedAt: r.updated_at });

export class SqliteCollectorStore implements CollectorStore {
  private pending: { delivery: Delivery; resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly upsert;
  private readonly byId;
  private readonly byName;
  private readonly bookmarkOf;

  constructor(private readonly db: Db) {
    this.byId = db.prepare('SELECT * FROM subscriptions WHERE id = ?');
    this.byName = db.prepare('SELECT * FROM subscriptions WHERE name_key = ?');
    this.bookmarkOf = db.prepare('SELECT bookmark FROM event_sources WHERE subscription_id = ? AND source = ?');
    // A heartbeat leaves the bookmark as it is; a batch of events replaces it.
    this.upsert = db.prepare(`INSERT INTO event_sources (subscription_id, source, address, machine_id, version, bookmark, first_seen, last_seen, last_heartbeat, last_events, events_received, recreated_at)
      VALUES (@subscriptionId, @source, @address, @machineId, @version, @bookmark, @at, @at, @heartbeat, @eventsAt, @events, @recreatedAt)
      ON CONFLICT (subscription_id, source) DO UPDATE SET address = excluded.address, machine_id = coalesce(excluded.machine_id, machine_id),
        version = coalesce(excluded.version, version), bookmark = coalesce(excluded.bookmark, bookmark), last_seen = excluded.last_seen,
        last_heartbeat = coalesce(excluded.last_heartbeat, last_heartbeat), last_events = coalesce(excluded.last_events, last_events),
        events_received = events_received + excluded.events_received, recreated_at = coalesce(excluded.recreated_at, recreated_at)`);
  }

  async list(): Promise<Subscription[]> {
    return (this.db.prepare('SELECT * FROM subscriptions ORDER BY name_key').all() as SubscriptionRow[]).map(toSubscription);
  }

  async find(idOrName: string): Promise<Subscription | undefined> {
    return this.findNow(idOrName);
  }

  private findNow(idOrName: string): Subscription | undefined {
    const row = (this.byId.get(idOrName) ?? this.byName.get(foldName(idOrName))) as SubscriptionRow | undefined;
    return row && toSubscription(row);
  }

  async save(spec: SubscriptionSpec, enabled?: boolean): Promise<Subscription> {
    const checked = parseSpec(spec);
    const sub = revision(checked, this.findNow(checked.name), enabled);
    this.db.prepare(`INSERT INTO subscriptions (id, name_key, version, enabled, spec, updated_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET name_key = excluded.name_key, version = excluded.version, enabled = excluded.enabled, spec = excluded.spec, updated_at = excluded.updated_at`)
      .run(sub.id, foldName(sub.name), sub.version, sub.enabled ? 1 : 0, JSON.stringify(checked), sub.updatedAt);
    return sub;
  }

  async setEnabled(idOrName: string, enabled: boolean): Promise<Subscription | undefined> {
    const sub = this.findNow(idOrName);
    if (!sub) return undefined;
    // Enabling or disabling changes what sources see: a new version (MS-WSMV 2.2.4.41).
    return this.save(specOf(sub), enabled);
  }

  async remove(idOrName: string): Promise<boolean> {
    const sub = this.findNow(idOrName);
    return sub ? this.db.prepare('DELETE FROM subscriptions WHERE id = ?').run(sub.id).changes > 0 : false;
  }

  async bookmark(subscriptionId: string, source: string): Promise<string | undefined> {
    return (this.bookmarkOf.get(subscriptionId, foldName(source)) as { bookmark: string | null } | undefined)?.bookmark ?? undefined;
  }

  record(delivery: Delivery): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ delivery, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.commit());
    });
  }

  /** One transaction for every delivery waiting: one fsync acknowledges them all. */
  private commit(): void {
    const batch = this.pending;
    this.pending = [];
    try {
      this.db.transaction(() => {
        for (const { delivery: d } of batch) {
          const at = d.at.toISOString();
          this.upsert.run({
            subscriptionId: d.subscriptionId, source: foldName(d.source), address: d.address, machineId: d.machineId ?? null,
            version: d.version ?? null, bookmark: d.bookmark ?? null, at,
            heartbeat: d.kind === 'heartbeat' ? at : null, eventsAt: d.events > 0 ? at : null, events: d.events, recreatedAt: d.recreated ? at : null,
          });
        }
      })();
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      return;
    }
    for (const p of batch) p.resolve();
  }

  async sources(subscriptionId?: string): Promise<SourceStatus[]> {
    const rows = (subscriptionId
      ? this.db.prepare('SELECT * FROM event_sources WHERE subscription_id = ? ORDER BY source').all(subscriptionId)
      : this.db.prepare('SELECT * FROM event_sources ORDER BY subscription_id, source').all()) as SourceRow[];
    return rows.map(sourceStatusOf);
  }

  async close(): Promise<void> {
    // The database belongs to whoever opened it (the server, the CLI).
  }
}
