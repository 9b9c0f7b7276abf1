// Run by transport.test.ts in a child process: argv = fake BMC port, a port nothing listens on.
// An in-flight request must keep Node alive until it settles; an idle transport must not.
import { LanplusTransport } from '../../../../../providers/ipmi/lanplus/index.js';

const [bmcPort, deadPort] = process.argv.slice(2).map(Number);
const dead = new LanplusTransport({ host: '127.0.0.1', port: deadPort, user: 'admin', password: 'password', timeoutMs: 100, retries: 1 });
await dead.request({ netFn: 0x06, cmd: 0x01 }).catch((e: { kind: string }) => console.log(e.kind));
const t = new LanplusTransport({ host: '127.0.0.1', port: bmcPort, user: 'admin', password: 'password', cipherSuite: 17, timeoutMs: 500 });
console.log('cc', (await t.request({ netFn: 0x06, cmd: 0x01 })).cc);
// No close(): the process ends here by itself.
