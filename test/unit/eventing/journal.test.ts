// The journal as Windows events: journal files written by systemd-journal-remote, read with
// journalctl from a cursor on, rendered in the event schema, and judged by a query; and
// `winrmd journal query`, which prints what a forwarder would send.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventToJson } from '../../../src/eventing/event-json.js';
import { compileQuery, matches } from '../../../src/eventing/event-query.js';
import { journalEventXml, journalFacts, JournalError, readJournal } from '../../../src/eventing/journal.js';
import { simpleQuery } from '../../../src/eventing/subscription.js';
import { writeJournal } from '../../helpers/journal.js';

const root = new URL('../../..', import.meta.url).pathname;
let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-journal-'));
  file = writeJournal(dir, 'host', [
    { MESSAGE: 'Accepted publickey for alice from 192.0.2.10 port 5022 ssh2', PRIORITY: '6', SYSLOG_IDENTIFIER: 'sshd', SYSLOG_FACILITY: '10', _PID: '812', _HOSTNAME: 'linux01' },
    { MESSAGE: 'EXT4-fs error: <bad> & \u0001 block', PRIORITY: '2', SYSLOG_IDENTIFIER: 'kernel', _TRANSPORT: 'kernel', _HOSTNAME: 'linux01' },
    { MESSAGE: 'Started session 4.', PRIORITY: '6', SYSLOG_IDENTIFIER: 'systemd', MESSAGE_ID: '8d45620c1a4348dbb17410da57c60c66', _HOSTNAME: 'linux01' },
  ]);
});

describe('reading the journal', () => {
  it('from the start, then from a cursor on, at most a limit at a time', async () => {
    const all = await readJournal({ files: [file] }, { limit: 100 });
    expect(all.map((e) => e.MESSAGE)).toHaveLength(3);
    const first = await readJournal({ files: [file] }, { limit: 1 });
    expect(first).toHaveLength(1);
    const rest = await readJournal({ files: [file] }, { afterCursor: String(first[0]!.__CURSOR), limit: 100 });
    expect(rest.map((e) => journalFacts(e).provider)).toEqual(['kernel', 'systemd']);
    expect(await readJournal({ files: [file] }, { afterCursor: String(all[2]!.__CURSOR), limit: 100 })).toEqual([]);
  });

  it('a journal that cannot be read is an error that says so, not an empty success', async () => {
    await expect(readJournal({ directory: path.join(dir, 'nothing-here') }, { limit: 10 })).rejects.toThrow(JournalError);
  });
});

describe('journal entries as Windows events', () => {
  it('provider, level from the priority, channel from the facility, record id, computer, message; well-formed whatever the text holds', async () => {
    const [ssh, kernel, session] = await readJournal({ files: [file] }, { limit: 100 });
    expect(journalFacts(ssh!)).toMatchObject({ channel: 'Security', level: 4, provider: 'sshd', eventId: 0, recordId: 1, computer: 'linux01' });
    expect(journalFacts(kernel!)).toMatchObject({ channel: 'System', level: 1, provider: 'kernel' });
    expect(journalFacts(session!).eventId).toBe(0x0c66); // the low 16 bits of its MESSAGE_ID
    const origin = { source: 's', address: 'a', subscription: { name: 'n', id: 'i' }, receivedAt: '' };
    const json = eventToJson(journalEventXml(kernel!, { rendered: true }), origin) as Record<string, any>;
    expect(json.error).toBeUndefined();
    expect(json.System).toMatchObject({ EventID: 0, Level: 1, Channel: 'System', Computer: 'linux01', Provider: { Name: 'kernel' } });
    expect(json.RenderingInfo.Message).toBe('EXT4-fs error: <bad> & \uFFFD block');
    expect(json.EventData.MESSAGE).toBe('EXT4-fs error: <bad> & \uFFFD block');
    expect(String(json.System.TimeCreated)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  });

  it('a forwarding query picks its events', async () => {
    const entries = await readJournal({ files: [file] }, { limit: 100 });
    const q = compileQuery(simpleQuery(['System'], [1, 2]));
    expect(entries.filter((e) => matches(q, journalFacts(e))).map((e) => journalFacts(e).provider)).toEqual(['kernel']);
  });
});

describe('winrmd journal query', () => {
  it('prints the events a query selects, one per line, and the cursor to go on from', () => {
    const cli = [path.join(root, 'node_modules/tsx/dist/cli.mjs'), path.join(root, 'src/main.ts')];
    const r = spawnSync(process.execPath, [...cli, 'journal', 'query', '--channel', 'Security', '--journal-dir', dir, '--format', 'RenderedText'], { encoding: 'utf8', env: { ...process.env, WINRMD_STATE_DIR: dir } });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("<Provider Name='sshd'/>");
    expect(lines[0]).toContain('<RenderingInfo');
    expect(r.stderr).toMatch(/^cursor: s=/m);
    const bad = spawnSync(process.execPath, [...cli, 'journal', 'query', '--channel', 'System', '--journal-dir', path.join(dir, 'none')], { encoding: 'utf8', env: { ...process.env, WINRMD_STATE_DIR: dir } });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/the journal cannot be read/);
  });
});
