// The collector's store on PostgreSQL (`store.url: postgres://…`): several collectors behind a
// layer-4 balancer share subscriptions and bookmarks, so a source may enumerate on one and deliver
// to another. It runs the same contract as the SQLite store (test/unit/store/contracts). Commits
// are grouped as there: deliveries that arrive while one commit runs ride in the next, and each
// one's promise resolves once its commit has returned (synchronous_commit as the server has it,
// on by default: durable).
import type { Pool, PoolClient } from 'pg';
import { parseSpec, revision, specOf, type Subscription, type SubscriptionSpec } from '../eventing/subscription.js';
import { sourceStatusOf, type CollectorStore, type Delivery, type SourceRow, type SourceStatus } from './collector.js';
import { foldName } from './db.js';

/** Applied in order, each once, under an advisory lock so that collectors starting together do not race. */
const MIGRATIONS = [
  `CREATE TABLE subscriptions (
     id TEXT PRIMARY KEY,
     name_key TEXT NOT NULL UNIQUE,
     version TEXT NOT NULL,
     enabled BOOLEAN NOT NULL,
     spec JSONB NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE event_sources (
     subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
     source TEXT NOT NULL,
     address TEXT NOT NULL,
     machine_id TEXT,
     version TEXT,
     bookmark TEXT,
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL,
     last_heartbeat TEXT,
     last_events TEXT,
     events_received BIGINT NOT NULL DEFAULT 0,
     recreated_at TEXT,
     PRIMARY KEY (subscription_id, source)
   )`,
];
const LOCK = 0x77696e72; // "winr"

interface SubscriptionRow { id: string; version: string; enabled: boolean; spec: SubscriptionSpec; updated_at: string }

const toSubscription = (r: SubscriptionRow): Subscription => ({ ...r.spec, id: r.id, version: r.version, enabled: r.enabled, updatedAt: r.updated_at });

const UPSERT = `INSERT INTO event_sources (subscription_id, source, address, machine_id, version, bookmark, first_seen, last_seen, last_heartbeat, last_events, events_received, recreated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11)
  ON CONFLICT (subscription_id, source) DO UPDATE SET address = excluded.address, machine_id = coalesce(excluded.machine_id, event_sources.machine_id),
    version = coalesce(excluded.version, event_sources.version), bookmark = coalesce(excluded.bookmark, event_sources.bookmark), last_seen = excluded.last_seen,
    last_heartbeat = coalesce(excluded.last_heartbeat, event_sources.last_heartbeat), last_events = coalesce(excluded.last_events, event_sources.last_events),
    events_received = event_sources.events_received + excluded.events_received, recreated_at = coalesce(excluded.recreated_at, event_sources.recreated_at)`;

export class PgCollectorStore implements CollectorStore {
  private pending: { delivery: Delivery; resolve: () => void; reject: (err: Error) => void }[] = [];
  private committing = false;

  private constructor(private readonly pool: Pool) {}

  /** Connect and bring the schema up to date. pg is loaded only when a PostgreSQL store is configured. */
  static async connect(url: string): Promise<PgCollectorStore> {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 10_000 });
    // An idle connection the server drops is an error event on the pool: reconnect on next use, do not crash.
    pool.on('error', () => undefined);
    const store = new PgCollectorStore(pool);
    try {
      await store.transaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
        await c.query('CREATE TABLE IF NOT EXISTS winrmd_schema (version INTEGER NOT NULL)');
        const { rows } = await c.query<{ version: number }>('SELECT version FROM winrmd_schema');
        const current = rows[0]?.version ?? 0;
        for (let v = current; v < MIGRATIONS.length; v++) await c.query(MIGRATIONS[v]!);
        if (rows.length === 0) await c.query('INSERT INTO winrmd_schema (version) VALUES ($1)', [MIGRATIONS.length]);
        else await c.query('UPDATE winrmd_schema SET version = $1', [MIGRATIONS.length]);
      });
    } catch (err) {
      await pool.end();
      throw err;
    }
    return store;
  }

  private async transaction<T>(work: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const result = await work(c);
      await c.query('COMMIT');
      return result;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async list(): Promise<Subscription[]> {
    return (await this.pool.query<SubscriptionRow>('SELECT * FROM subscriptions ORDER BY name_key')).rows.map(toSubscription);
  }

  async find(idOrName: string): Promise<Subscription | undefined> {
    const { rows } = await this.pool.query<SubscriptionRow>('SELECT * FROM subscriptions WHERE id = $1 OR name_key = $2 ORDER BY (id = $1) DESC LIMIT 1', [idOrName, foldName(idOrName)]);
    return rows[0] && toSubscription(rows[0]);
  }

  async save(spec: SubscriptionSpec, enabled?: boolean): Promise<Subscription> {
    const checked = parseSpec(spec);
    const sub = revision(checked, await this.find(checked.name), enabled);
    await this.pool.query(`INSERT INTO subscriptions (id, name_key, version, enabled, spec, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (id) DO UPDATE SET name_key = excluded.name_key, version = excluded.version, enabled = excluded.enabled, spec = excluded.spec, updated_at = excluded.updated_at`,
    [sub.id, foldName(sub.name), sub.version, sub.enabled, JSON.stringify(checked), sub.updatedAt]);
    return sub;
  }

  async setEnabled(idOrName: string, enabled: boolean): Promise<Subscription | undefined> {
    const sub = await this.find(idOrName);
    return sub && this.save(specOf(sub), enabled);
  }

  async remove(idOrName: string): Promise<boolean> {
    const sub = await this.find(idOrName);
    return sub ? ((await this.pool.query('DELETE FROM subscriptions WHERE id = $1', [sub.id])).rowCount ?? 0) > 0 : false;
  }

  async bookmark(subscriptionId: string, source: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ bookmark: string | null }>('SELECT bookmark FROM event_sources WHERE subscription_id = $1 AND source = $2', [subscriptionId, foldName(source)]);
    return rows[0]?.bookmark ?? undefined;
  }

  record(delivery: Delivery): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ delivery, resolve, reject });
      if (!this.committing) void this.commit();
    });
  }

  /** One transaction for every delivery waiting; those that arrive meanwhile go in the next. */
  private async commit(): Promise<void> {
    this.committing = true;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.transaction(async (c) => {
          for (const { delivery: d } of batch) {
            const at = d.at.toISOString();
            await c.query(UPSERT, [d.subscriptionId, foldName(d.source), d.address, d.machineId ?? null, d.version ?? null, d.bookmark ?? null, at,
              d.kind === 'heartbeat' ? at : null, d.events > 0 ? at : null, d.events, d.recreated ? at : null]);
          }
        });
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err as Error);
      }
    }
    this.committing = false;
  }

  async sources(subscriptionId?: string): Promise<SourceStatus[]> {
    const { rows } = subscriptionId
      ? await this.pool.query<SourceRow>('SELECT * FROM event_sources WHERE subscription_id = $1 ORDER BY source', [subscriptionId])
      : await this.pool.query<SourceRow>('SELECT * FROM event_sources ORDER BY subscription_id, source');
    return rows.map(sourceStatusOf);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
