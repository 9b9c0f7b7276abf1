// An in-process winrmd for integration tests: the real app, a memory user store, the OS provider
// and the widget fixture provider.
import { pino } from 'pino';
import request from 'supertest';
import { createOsProvider } from '../../providers/os/index.js';
import { credentialsFor } from '../../src/auth/passwords.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import type { Provider } from '../../src/provider-api.js';
import { buildServer } from '../../src/server.js';
import { MemoryUserStore } from '../../src/store/users.js';
import { widgetProvider, type WidgetProvider } from '../fixtures/widget-provider.js';

export const ALICE = { user: 'alice', password: 'alice-Secret-1' };
export const BOB = { user: 'bob', password: 'bob-Secret-2' };

export function basic(c: { user: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;
}

/** The test users, with both stored forms of their passwords (scrypt for Basic, NT hash for NTLM). */
export async function testUsers(): Promise<MemoryUserStore> {
  const users = new MemoryUserStore();
  users.put({ name: ALICE.user, ...(await credentialsFor(ALICE.password)), runAs: 'nobody' });
  users.put({ name: BOB.user, ...(await credentialsFor(BOB.password)), runAs: 'nobody' });
  users.put({ name: 'rooty', ...(await credentialsFor('rooty-Secret-3')), runAs: 'root' });
  return users;
}

/**
 * Suites that send many wrong passwords from 127.0.0.1 on purpose raise the lockout thresholds,
 * so the refusals they assert come from the credential and not from the back-off (which
 * security.test.ts proves on its own).
 */
export const NO_LOCKOUT = { lockout: { userThreshold: 1_000_000, addressThreshold: 1_000_000 } };

/**
 * An in-process server shares its event loop with the test runner, and a loaded CI machine makes
 * that loop late and busy with work that is not the server's: suites about clients turn load
 * shedding off (pipeline.test.ts proves shedding on its own).
 */
export const NO_SHEDDING = { shedLoadAtLagMs: 0 };

export async function testServer(overrides: Record<string, unknown> = {}, extraProviders: Provider[] = []) {
  const config: Config = configSchema.parse({ service: { allowUnencrypted: true }, security: NO_LOCKOUT, ...overrides });
  const users = await testUsers();
  const widgets: WidgetProvider = widgetProvider();
  const logLines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  const server = await buildServer({ config, users, log, providers: [createOsProvider(), widgets, ...extraProviders] });
  const http = server.app.callback();
  /** auth: undefined → Alice's Basic credentials; null → no Authorization header at all. */
  const post = (xml: string | Buffer, auth: string | null = basic(ALICE), path = '/wsman') => {
    let r = request(http).post(path).set('Content-Type', 'application/soap+xml;charset=UTF-8');
    if (auth !== null) r = r.set('Authorization', auth);
    return r.send(xml).buffer(true).parse((res, cb) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      // A UTF-16 request is answered in UTF-16LE with a byte-order mark (as Windows answers it).
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        cb(null, body[0] === 0xff && body[1] === 0xfe ? body.subarray(2).toString('utf16le') : body.toString('utf8'));
      });
    });
  };
  return { server, widgets, post, http, logLines, config };
}
