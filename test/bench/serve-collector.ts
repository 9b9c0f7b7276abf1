// The collector under test, in its own process: winrmd on 127.0.0.1 (HTTP; NTLM must seal, as a
// Windows forwarder's Negotiate does), silent logging, no providers, N event-source accounts
// (WS00001$ …, password `bench-Source-1`), and one enabled subscription `bench` writing JSON lines
// (or raw XML, BENCH_COLLECTOR_FORMAT) to a temporary folder, fsynced before every Ack. It reports
// its port, answers memory questions over IPC and stops on request or when its parent goes away.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ntHash } from '../../src/auth/ntlm/crypto.js';
import { configSchema } from '../../src/config/schema.js';
import { simpleQuery } from '../../src/eventing/subscription.js';
import { startServer } from '../../src/server.js';
import { SqliteCollectorStore } from '../../src/store/collector.js';
import { openDb } from '../../src/store/db.js';
import { SqliteUserStore } from '../../src/store/users.js';
import { exitWithParent, memorySample, SOURCE_PASSWORD, sourceName } from './protocol.js';


async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-bench-collector-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  exitWithParent(cleanup);
  const sources = Number(process.env.BENCH_COLLECTOR_ACCOUNTS ?? 2000);
  const config = configSchema.parse({
    stateDir: path.join(dir, 'state'),
    listeners: { http: { host: '127.0.0.1', port: 0 }, https: { enabled: false } },
    logging: { level: 'silent' },
    limits: { maxConnections: sources + 100, maxUnauthenticatedConnectionsPerAddress: sources + 100 },
  });
  const db = openDb(path.join(config.stateDir, 'winrmd.db'));
  const users = new SqliteUserStore(db);
  // NTLM verifies against the NT hash only: no scrypt hash is needed (Basic is never used here).
  const nt = ntHash(SOURCE_PASSWORD).toString('hex');
  db.transaction(() => {
    for (let i = 0; i < sources; i++) users.put({ name: sourceName(i), passwordHash: 'none', ntHash: nt, runAs: '', eventSource: true });
  })();
  await new SqliteCollectorStore(db).save({
    name: 'bench', description: '', query: simpleQuery(['Security']), contentFormat: 'RenderedText', heartbeatIntervalS: 3600, maxTimeS: 30, maxEnvelopeSize: 512_000,
    readExistingEvents: process.env.BENCH_COLLECTOR_EXISTING === '1', ignoreChannelError: true, connectionRetry: { count: 5, intervalS: 60 }, sources: { allow: [], deny: [] }, uris: [],
    outputs: [{ type: 'file', format: process.env.BENCH_COLLECTOR_FORMAT === 'raw' ? 'raw' : 'json', path: path.join(dir, 'out', '{source}.jsonl') }],
  }, true);
  db.close();
  const server = await startServer({ config, providers: [] });
  process.on('message', (m: { type: string; id?: number; gc?: boolean }) => {
    if (m.type === 'memory') process.send!({ type: 'memory', id: m.id, sample: memorySample(Boolean(m.gc)) });
    else if (m.type === 'stop') void server.close().finally(() => {
      cleanup();
      process.exit(0);
    });
  });
  process.send!({ type: 'ready', port: server.httpPort, dir });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
