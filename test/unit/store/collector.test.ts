// The SQLite collector store runs the CollectorStore contract.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteCollectorStore } from '../../../src/store/collector.js';
import { openDb } from '../../../src/store/db.js';
import { collectorStoreContract } from './contracts/collector-store.js';

collectorStoreContract('SQLite', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'winrmd-collector-store-')), 'winrmd.db');
  const dbs = [openDb(file)];
  return {
    store: new SqliteCollectorStore(dbs[0]!),
    async reopen() {
      const db = openDb(file);
      dbs.push(db);
      return new SqliteCollectorStore(db);
    },
    async close() {
      for (const db of dbs) db.close();
    },
  };
});
