// A user removed, or given a new password, while winrmd runs (issue 12, part B 11): their shells
// and the processes Win32_Process.Create started for them end, and an NTLM connection that
// authenticated with the old password is refused. A real socket, so the NTLM connection persists.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsFor } from '../../src/auth/passwords.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type Winrmd } from '../../src/server.js';
import type { MemoryUserStore } from '../../src/store/users.js';
import { envelope, identify, URI } from '../helpers/envelope.js';
import { NtlmTestClient } from '../helpers/ntlm-client.js';
import { ALICE, basic, BOB, NO_LOCKOUT, testUsers } from '../helpers/server.js';
import { eventually, processesWith, ShellClient } from '../helpers/shell-client.js';
import { xp } from '../helpers/xpath.js';

/** The pids of `sleep N` processes, for each N given. */
const sleeps = async (...ns: number[]) => (await Promise.all(ns.map((n) => processesWith(`sleep ${n}`)))).flat();

describe('a user removed or given a new password while winrmd runs', () => {
  let server: Winrmd;
  let users: MemoryUserStore;
  let url: string;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-ended-'));
  const post = async (xml: string, auth?: string | null) => {
    const r = await fetch(url, { method: 'POST', headers: { Authorization: auth ?? '', 'Content-Type': 'application/soap+xml;charset=UTF-8' }, body: xml });
    return { status: r.status, text: await r.text() };
  };

  beforeAll(async () => {
    users = await testUsers();
    const config = configSchema.parse({
      stateDir,
      listeners: { http: { host: '127.0.0.1', port: 0 }, https: { enabled: false } },
      service: { allowUnencrypted: true },
      security: NO_LOCKOUT,
      logging: { level: 'silent' },
    });
    server = await startServer({ config, users });
    url = `http://127.0.0.1:${server.httpPort}/wsman`;
  });
  afterAll(async () => {
    await server.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('removed: their shells and Win32_Process.Create processes end, and their requests are refused; others are untouched', async () => {
    const alice = new ShellClient(post, ALICE);
    const bob = new ShellClient(post, BOB);
    await alice.command(await alice.create(), 'sleep 319');
    const bobShell = await bob.create();
    await bob.command(bobShell, 'sleep 321');
    const proc = `${URI.wmi}/Win32_Process`;
    const created = await post(envelope({ action: `${proc}/Create`, resourceUri: proc, body: `<p:Create_INPUT xmlns:p="${proc}"><p:CommandLine>sleep 320</p:CommandLine></p:Create_INPUT>` }), basic(ALICE));
    expect(xp(created.text, 'string(//*[local-name()="ReturnValue"])')).toBe('0');
    expect(await eventually(() => sleeps(319, 320, 321), (p) => p.length === 3)).toHaveLength(3);

    users.remove(ALICE.user);
    expect(await eventually(() => sleeps(319, 320), (p) => p.length === 0, 8_000)).toEqual([]);
    expect((await post(identify(), basic(ALICE))).status).toBe(401);
    expect(await processesWith('sleep 321')).toHaveLength(1);
    await bob.delete(bobShell);
    users.put({ name: ALICE.user, ...(await credentialsFor(ALICE.password)), runAs: 'nobody' });
  });

  it('a new password: the NTLM connection that authenticated with the old one is refused, and their shells end', async () => {
    const ntlm = new NtlmTestClient(url);
    try {
      expect((await ntlm.handshake(BOB)).status).toBe(200);
      expect((await ntlm.post(identify())).status).toBe(200);
      const bob = new ShellClient(post, BOB);
      await bob.command(await bob.create(), 'sleep 322');
      users.put({ name: BOB.user, ...(await credentialsFor('bob-New-Secret-9')), runAs: 'nobody' });
      expect((await ntlm.post(identify())).status).toBe(401);
      expect(await eventually(() => processesWith('sleep 322'), (p) => p.length === 0, 8_000)).toEqual([]);
      expect((await post(identify(), basic({ user: BOB.user, password: 'bob-New-Secret-9' }))).status).toBe(200);
    } finally {
      ntlm.close();
    }
  });
});
