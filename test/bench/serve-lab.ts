// The lab under test, in its own process: the bundled profile (config/lab.yaml) served by
// BENCH_LAB_HOSTS virtual hosts from 127.0.60.1 on ephemeral ports, silent. It reports the hosts'
// addresses and ports, answers memory questions over IPC and stops on request or when its parent
// goes away.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { readLab, startLab } from '../../src/lab/index.js';
import { BENCH_USER, exitWithParent, memorySample } from './protocol.js';

const here = path.dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  exitWithParent();
  const hosts = Number(process.env.BENCH_LAB_HOSTS ?? 1000);
  const bundled = readFileSync(path.resolve(here, '../../../config/lab.yaml'), 'utf8');
  const text = bundled
    .replace(/^users:\n(?: {2}- .*\n)+/m, `users:\n  - { name: ${BENCH_USER.user}, password: ${BENCH_USER.password}, roles: [administrator] }\n`)
    .replace(/^hosts:\n(?: {2}- .*\n)+/m, `hosts:\n  - { name: 'vm{{n:04}}', count: ${hosts}, profile: server2022, address: 127.0.60.1, port: 0, vars: { domain: BENCH } }\n`)
    .replace(/^faults:\n(?: {2}.*\n)+/m, 'faults: []\n')
    .replace(/^stateDir: .*$/m, '');
  const lab = await startLab(readLab('bench-lab.yaml', () => text), pino({ level: 'silent' }));
  process.on('message', (m: { type: string; id?: number; gc?: boolean }) => {
    if (m.type === 'memory') process.send!({ type: 'memory', id: m.id, sample: memorySample(Boolean(m.gc)) });
    else if (m.type === 'stop') void lab.close().finally(() => process.exit(0));
  });
  process.send!({ type: 'ready', hosts: lab.hosts.map((h) => ({ address: h.spec.address, port: h.port })) });
}

main().catch((err) => {
  console.error('serve-lab failed:', err);
  process.exit(1);
});
