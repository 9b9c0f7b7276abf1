// The server under test, in its own process: winrmd on 127.0.0.1 with an ephemeral port, plain
// HTTP with Basic allowed (and HTTPS with a generated certificate when BENCH_HTTPS=1), silent logging, the built-in providers (OS, and the WinRS shell, which
// config.shell.enabled turns on by default, and IPMI with the BMCs BENCH_IPMI_CONFIG names) and the bulk provider. The bench user's processes run
// as `nobody` when winrmd runs as root, else as the current user (the only account winrmd can
// start processes as then). It reports its port, answers memory questions over IPC and stops on
// request or when its parent goes away. On request it records a V8 CPU profile (the sampler
// behind `node --cpu-prof`) of just the measured window, through the inspector, and writes it as
// a .cpuprofile file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { credentialsFor } from '../../src/auth/passwords.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer } from '../../src/server.js';
import { MemoryUserStore } from '../../src/store/users.js';
import { bulkProvider } from './bulk-provider.js';
import { BENCH_USER, exitWithParent, memorySample } from './protocol.js';

async function main(): Promise<void> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-bench-'));
  const cleanup = () => rmSync(stateDir, { recursive: true, force: true });
  exitWithParent(cleanup);
  const config = configSchema.parse({
    stateDir,
    listeners: { http: { host: '127.0.0.1', port: 0 }, https: { enabled: process.env.BENCH_HTTPS === '1', host: '127.0.0.1', port: 0 } },
    service: { allowUnencrypted: true },
    logging: { level: 'silent' },
    // The IPMI section's BMC (ipmi.ts): the ipmi configuration section as JSON.
    ...(process.env.BENCH_IPMI_CONFIG ? { ipmi: JSON.parse(process.env.BENCH_IPMI_CONFIG) } : {}),
    // The event source section (eventing.ts): a journal and room for its subscriptions.
    ...(process.env.BENCH_JOURNAL_DIR ? { journal: { directory: process.env.BENCH_JOURNAL_DIR } } : {}),
    ...(process.env.BENCH_SUBSCRIPTIONS ? {
      eventing: { maxSubscriptionsPerUser: Number(process.env.BENCH_SUBSCRIPTIONS) },
      limits: { maxEnumerationContextsPerUser: Number(process.env.BENCH_SUBSCRIPTIONS) + 64 },
    } : {}),
  });
  const users = new MemoryUserStore();
  const runAs = process.getuid?.() === 0 ? 'nobody' : os.userInfo().username;
  users.put({ name: BENCH_USER.user, ...(await credentialsFor(BENCH_USER.password)), runAs });
  const items = Number(process.env.BENCH_ITEMS ?? 1000);
  const server = await startServer({ config, users, extraProviders: [bulkProvider(items)] });

  let session: Session | undefined;
  process.on('message', (m: { type: string; id?: number; gc?: boolean; file?: string }) => {
    if (m.type === 'profile-start') {
      void (async () => {
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 100 });
        await session.post('Profiler.start');
        process.send!({ type: 'profile-start', id: m.id });
      })();
    } else if (m.type === 'profile-stop') {
      void (async () => {
        const { profile } = await session!.post('Profiler.stop');
        writeFileSync(m.file!, JSON.stringify(profile));
        session!.disconnect();
        session = undefined;
        process.send!({ type: 'profile-stop', id: m.id });
      })();
    } else if (m.type === 'memory') {
      process.send!({ type: 'memory', id: m.id, sample: memorySample(Boolean(m.gc), server.core.openEnumerations) });
    } else if (m.type === 'stop') {
      void server.close().finally(() => {
        cleanup();
        process.exit(0);
      });
    }
  });
  process.send!({ type: 'ready', port: server.httpPort, httpsPort: server.httpsPort });
}

main().catch((err) => {
  console.error('serve-winrmd failed:', err);
  process.exit(1);
});
