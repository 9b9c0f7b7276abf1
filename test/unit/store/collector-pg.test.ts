// The PostgreSQL collector store runs the same CollectorStore contract as SQLite, against a
// throw-away cluster (test/helpers/postgres.ts); each case gets a database of its own.
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { PgCollectorStore } from '../../../src/store/collector-pg.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { collectorStoreContract } from './contracts/collector-store.js';

let server: TestPostgres;
let n = 0;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(() => server?.stop());

collectorStoreContract('PostgreSQL', async () => {
  const name = `contract_${++n}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = server.url.replace(/\/postgres$/, `/${name}`);
  const stores = [await PgCollectorStore.connect(url)];
  return {
    store: stores[0]!,
    async reopen() {
      const s = await PgCollectorStore.connect(url);
      stores.push(s);
      return s;
    },
    async close() {
      for (const s of stores) await s.close();
    },
  };
});
