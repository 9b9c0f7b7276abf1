// The systemd journal as Windows events: what winrmd forwards and offers for subscription. Entries
// are read with journalctl (JSON, one per line, from a cursor on), the journal's own reader, so
// that the host's journal, a directory of journal files or one file read the same way.
//   Provider   SYSLOG_IDENTIFIER, else _COMM, else the transport
//   EventID    the low 16 bits of MESSAGE_ID (systemd's catalog id: the same for every message
//              of one kind) when the entry has one, else 0
//   Level      from PRIORITY: 0–2 Critical (1), 3 Error (2), 4 Warning (3), 5–6 Information (4), 7 Verbose (5)
//   Channel    Security for the auth and authpriv facilities, Application for user, else System
//   TimeCreated, EventRecordID (the journal's sequence number), Execution (_PID, _TID), Computer
//   (_HOSTNAME), EventData (MESSAGE and the entry's fields), RenderingInfo (MESSAGE) for RenderedText.
// The bookmark is the journal cursor.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { NS } from '../soap/names.js';
import { escapeText } from '../soap/xml.js';
import type { QueryableEvent } from './event-query.js';

export type JournalEntry = Record<string, string | number[] | string[] | null>;

export interface JournalSource {
  /** A directory of journal files, or files; neither: the host's journal. */
  directory?: string;
  files?: string[];
}

export class JournalError extends Error {}

const READ_TIMEOUT_MS = 30_000;

/** Entries after a cursor (from the start without one), oldest first, at most `limit`; or the newest one alone. */
export function readJournal(src: JournalSource, o: { afterCursor?: string; limit: number; newest?: boolean }): Promise<JournalEntry[]> {
  const args = ['-o', 'json', '--no-pager', '--all', ...(o.newest ? ['-n', '1'] : [])];
  if (src.directory) args.push('--directory', src.directory);
  for (const f of src.files ?? []) args.push(`--file=${f}`);
  if (o.afterCursor) args.push('--after-cursor', o.afterCursor);
  return new Promise((resolve, reject) => {
    const child = spawn('journalctl', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', SYSTEMD_COLORS: '0' } });
    const out: JournalEntry[] = [];
    let err = '';
    let done = false;
    child.stderr.on('data', (d) => (err += d).length > 4096 && (err = err.slice(-4096)));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (done || !line) return;
      try {
        out.push(JSON.parse(line) as JournalEntry);
      } catch {
        return; // a line journalctl cut short: the next read starts from the last whole entry's cursor
      }
      if (out.length >= o.limit) {
        done = true;
        child.kill('SIGTERM');
      }
    });
    // A journalctl that hangs (a journal on a stuck file system) must not hold its readers for ever.
    const timer = setTimeout(() => {
      done = true;
      child.kill('SIGKILL');
      reject(new JournalError(`journalctl did not finish within ${READ_TIMEOUT_MS / 1000} s`));
    }, READ_TIMEOUT_MS);
    child.on('error', (e) => reject(new JournalError(`journalctl cannot run: ${e.message}`)));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (!done && code !== 0) return reject(new JournalError(`the journal cannot be read: ${err.trim().split('\n').pop() || `journalctl exited ${code}`}`));
      resolve(out);
    });
  });
}

const str = (v: JournalEntry[string]): string | undefined => {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return Buffer.from(v as number[]).toString('utf8'); // a binary field
  if (Array.isArray(v)) return (v as string[]).join(' ');
  return undefined;
};

const LEVELS = [1, 1, 1, 2, 3, 4, 4, 5];
const LEVEL_NAMES: Record<number, string> = { 1: 'Critical', 2: 'Error', 3: 'Warning', 4: 'Information', 5: 'Verbose' };

/** What the query judges, from an entry. */
export function journalFacts(e: JournalEntry): QueryableEvent & { recordId: number; computer: string; message: string } {
  const facility = Number(str(e.SYSLOG_FACILITY) ?? NaN);
  const channel = facility === 4 || facility === 10 ? 'Security' : facility === 1 ? 'Application' : 'System';
  const messageId = str(e.MESSAGE_ID);
  const priority = Number(str(e.PRIORITY) ?? 6);
  const cursor = str(e.__CURSOR) ?? '';
  return {
    channel,
    level: LEVELS[Number.isInteger(priority) && priority >= 0 && priority <= 7 ? priority : 6]!,
    eventId: messageId && /^[0-9a-f]{32}$/i.test(messageId) ? parseInt(messageId.slice(-4), 16) : 0,
    provider: str(e.SYSLOG_IDENTIFIER) ?? str(e._COMM) ?? str(e._TRANSPORT) ?? 'journal',
    timeCreated: Math.floor(Number(str(e.__REALTIME_TIMESTAMP) ?? 0) / 1000),
    recordId: parseInt(/(?:^|;)i=([0-9a-f]+)/.exec(cursor)?.[1] ?? '0', 16),
    computer: str(e._HOSTNAME) ?? '',
    message: str(e.MESSAGE) ?? '',
  };
}

/** XML text from journal text, which may hold characters XML 1.0 forbids (§2.2): those become U+FFFD. */
const text = (s: string) => escapeText(s.replace(/[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/g, '\uFFFD'));
const attr = (s: string) => text(s).replace(/'/g, '&apos;');

/** One entry as a Windows event (the event schema), with RenderingInfo when rendered. */
export function journalEventXml(e: JournalEntry, o: { rendered: boolean; culture?: string }): string {
  const f = journalFacts(e);
  const micros = str(e.__REALTIME_TIMESTAMP) ?? '0';
  const time = `${new Date(Math.floor(Number(micros) / 1000)).toISOString().slice(0, 19)}.${micros.slice(-6).padStart(6, '0')}000Z`;
  const pid = str(e._PID);
  const tid = str(e._TID);
  const data = Object.entries(e)
    .filter(([k]) => !k.startsWith('__'))
    .map(([k, v]) => [k, str(v)] as const)
    .filter((kv): kv is readonly [string, string] => kv[1] !== undefined)
    .map(([k, v]) => `<Data Name='${attr(k)}'>${text(v)}</Data>`).join('');
  const rendering = o.rendered
    ? `<RenderingInfo Culture='${attr(o.culture ?? 'en-US')}'><Message>${text(f.message)}</Message><Level>${LEVEL_NAMES[f.level]}</Level><Channel>${f.channel}</Channel><Provider>${text(f.provider)}</Provider></RenderingInfo>`
    : '';
  return `<Event xmlns='${NS.event}'><System><Provider Name='${attr(f.provider)}'/><EventID>${f.eventId}</EventID>`
    + `<Level>${f.level}</Level><Task>0</Task><Keywords>0x80000000000000</Keywords><TimeCreated SystemTime='${time}'/><EventRecordID>${f.recordId}</EventRecordID>`
    + `${pid ? `<Execution ProcessID='${attr(pid)}' ThreadID='${attr(tid ?? pid)}'/>` : ''}<Channel>${f.channel}</Channel><Computer>${text(f.computer)}</Computer></System>`
    + `<EventData>${data}</EventData>${rendering}</Event>`;
}
